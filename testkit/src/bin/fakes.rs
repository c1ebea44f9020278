//! Starts the fake AWS (CodeDeploy + Lambda) and fake HTTP endpoints on loopback and
//! serves until killed. Used by `make invoke` and scripts that drive other clients
//! (cargo-lambda, boto3) against the fakes.
//!
//! Usage: `fakes [--scenario FILE] [--env-file FILE]`. Prints (and writes to the env
//! file) `AWS_ENDPOINT_URL=...` and `HEALTH_URL=...`.

use serde_json::{json, Value};
use std::process::ExitCode;
use traffic_hooks_testkit::{testkit_dir, FakeAws, FakeHttp, Route};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fakes: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut scenario = testkit_dir().join("fixtures/scenario.json");
    let mut env_file = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => scenario = args.next().ok_or("--scenario needs a file")?.into(),
            "--env-file" => env_file = Some(args.next().ok_or("--env-file needs a file")?),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: fakes [--scenario FILE] [--env-file FILE]"
                ))
            }
        }
    }
    let text =
        std::fs::read_to_string(&scenario).map_err(|e| format!("{}: {e}", scenario.display()))?;
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", scenario.display()))?;
    let aws = FakeAws::new();
    aws.load_scenario(&doc)?;
    let aws_server = aws.start().await.map_err(|e| e.to_string())?;
    let http = FakeHttp::new();
    http.route("/live/health", Route::new(200, json!({ "ok": true })));
    http.route("/metrics", Route::new(200, json!({ "errors": 0 })));
    let http_server = http.start().await.map_err(|e| e.to_string())?;
    let lines = format!(
        "AWS_ENDPOINT_URL={}\nHEALTH_URL={}\n",
        aws_server.url(),
        http_server.url()
    );
    print!("{lines}");
    if let Some(path) = env_file {
        // Written last and whole, so a script can wait for the file to appear.
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, &lines).map_err(|e| format!("{tmp}: {e}"))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{path}: {e}"))?;
    }
    std::future::pending::<()>().await;
    Ok(())
}
