//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): each takes any
//! bytes and must neither panic nor hang, whatever they hold.

use crate::check::{Effects, Kinds};
use crate::config::Config;
use crate::deployment::{Deployment, Facts, Phase};
use crate::event::HookEvent;
use crate::expect::Expect;
use crate::template::{self, Vars};
use std::collections::BTreeMap;
use std::time::Duration;

/// The lifecycle event parser: bytes as the Runtime API would hand them over.
pub fn event(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = HookEvent::parse(&value);
    }
}

/// The config reader and validator, then everything a valid config goes on to:
/// the worst-case timing check and building every check for a deployment.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::parse(text, &Kinds::builtin()) else {
        return;
    };
    let _ = config.timing_problems(Duration::from_secs(60));
    let deployment = deployment();
    let env = BTreeMap::from([("API".to_owned(), "https://api.example.com".to_owned())]);
    for built in config.build_checks(&deployment, &env, &Effects::inert()) {
        if let Ok(spec) = built {
            let _ = spec.worst_case();
        }
    }
}

/// `expect` over arbitrary JSON: the first line is the condition, the rest the
/// measurement.
pub fn expect(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (condition, measurement) = text.split_once('\n').unwrap_or((text, "null"));
    let Ok(expect) = Expect::compile(&[condition]) else {
        return;
    };
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(measurement) {
        let _ = expect.first_unmet(&value);
    }
}

/// `{{variable}}` rendering of text, and of JSON when the text is JSON.
pub fn template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = BTreeMap::from([("STAGE".to_owned(), "prod".to_owned())]);
    let vars = Vars::new(&deployment(), env);
    let _ = template::render(text, &vars);
    let _ = template::render(text, &Vars::placeholders());
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = template::render_value(&value, &vars, "x");
        let _ = template::env_values(&value, &vars);
    }
}

fn deployment() -> Deployment {
    Deployment::from_facts(
        Some("d-FUZZ".to_owned()),
        Facts {
            function: Some("fn".to_owned()),
            alias: Some("live".to_owned()),
            current_version: Some("1".to_owned()),
            target_version: Some("2".to_owned()),
            target_weight: Some(0.5),
            phase: Some(Phase::Pre),
        },
        "fuzz",
    )
}

/// An HTTP/1.1 response as a server might send it, in pieces: the head parser and the
/// body framing (length, chunks, until close) that `http` and `load` trust with it.
/// The first byte picks how the bytes are split and whether the request was a `HEAD`.
pub fn wire(data: &[u8]) {
    let Some((&knob, rest)) = data.split_first() else {
        return;
    };
    let step = usize::from(knob & 0x3f) + 1;
    let head_request = knob & 0x40 != 0;
    let Ok(Some((head, used))) = crate::wire::parse_head(rest, head_request, knob & 0x80 != 0)
    else {
        return;
    };
    let mut body = head.body;
    let mut seen = 0usize;
    for piece in rest[used..].chunks(step) {
        let mut at = 0;
        while at < piece.len() && !body.is_done() {
            match body.feed(&piece[at..], &mut |d| {
                seen += d.len();
                Ok(())
            }) {
                // Each call takes at least one byte until the body is done.
                Ok(0) => panic!("a body that is not done took no byte"),
                Ok(n) => at += n,
                Err(_) => return,
            }
        }
    }
    let _ = body.closed();
    assert!(seen <= rest.len(), "more body than bytes");
}
