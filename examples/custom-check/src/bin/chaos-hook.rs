//! `chaos-hook`: `traffic-hook` plus a `chaos` kind that misbehaves on purpose, for the
//! fault matrix (docs/reliability.md): `chaos: { panic: "message" }` panics inside the
//! measurement, and `chaos: { block_ms: N }` blocks its thread for N ms (against
//! `Check`'s rule), as a buggy check of a user's own would. Not for deploying.

use serde::Deserialize;
use std::sync::Arc;
use traffic_hooks::{
    async_trait, BuildContext, BuildError, Check, CheckContext, Errors, Kind, Kinds, MeasureError,
    Section,
};

/// `chaos: { panic: "message" }` or `chaos: { block_ms: N }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Chaos {
    panic: Option<String>,
    block_ms: Option<u64>,
}

struct ChaosCheck(Chaos);

#[async_trait]
impl Check for ChaosCheck {
    async fn measure(&self, _: &CheckContext) -> Result<serde_json::Value, MeasureError> {
        if let Some(ms) = self.0.block_ms {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        match &self.0.panic {
            Some(message) => panic!("{message}"),
            None => Ok(serde_json::json!({})),
        }
    }
}

impl Kind for Chaos {
    const NAME: &'static str = "chaos";
    fn parse(section: &Section<'_>, errors: &mut Errors) -> Option<Self> {
        section.deserialize(errors)
    }
    fn default_expect(&self) -> Option<&'static str> {
        Some("`true`")
    }
    fn build(self, _: &BuildContext<'_>) -> Result<Arc<dyn Check>, BuildError> {
        Ok(Arc::new(ChaosCheck(self)))
    }
}

fn main() -> std::process::ExitCode {
    traffic_hooks::main(Kinds::builtin().with::<Chaos>())
}
