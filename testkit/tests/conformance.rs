//! boto3 (the official AWS SDK for Python) against the fakes: their wire format is
//! checked by a client we did not write, with AWS's own service models.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use traffic_hooks_testkit::{testkit_dir, venv_python, FakeAws};

/// The project virtualenv's Python (made by `make venv`).
fn python() -> PathBuf {
    let path = venv_python();
    assert!(
        path.exists(),
        "{} is missing: run `make venv` (make test does) to install boto3",
        path.display()
    );
    path
}

#[tokio::test]
async fn boto3_accepts_the_fakes() {
    let aws = FakeAws::with_scenario();
    let server = aws.start().await.unwrap();
    let script = testkit_dir().join("tests/conformance.py");
    let url = server.url();
    let out = tokio::process::Command::new(python())
        .arg(script)
        .arg(url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 conformance failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("7 passed, 0 failed"), "{stdout}");
    assert_eq!(aws.reports().len(), 1, "boto3's report was recorded once");
}
