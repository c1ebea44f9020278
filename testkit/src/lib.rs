//! Test doubles for traffic-hooks, all on loopback:
//!
//! - [`FakeAws`]: CodeDeploy (awsJson1.1) and Lambda `Invoke` (restJson1) on one port,
//!   so a single `AWS_ENDPOINT_URL` reaches both; calls are recorded and faults can be
//!   injected.
//! - [`FakeHttp`]: HTTP endpoints with a scripted status, headers, body and delay, and
//!   bodies that misbehave (huge, dripped, not UTF-8).
//! - [`SelfSignedTls`]: a TLS endpoint whose certificate no client should trust.
//! - [`Moto`]: moto's server from the project virtualenv, with a bridge for the Rust
//!   SDK's CloudWatch protocol.
//! - [`RuntimeHost`]: a Lambda Runtime API that starts a hook binary as a child
//!   process and feeds it events with deadlines, as Lambda would.
//!
//! Event fixtures live in `testkit/events/`, scenarios in `testkit/fixtures/`.

mod aws;
pub mod bench;
mod cbor;
mod http;
mod moto;
mod runtime;
mod server;
pub mod sim;
mod tls;

pub use aws::{
    Call, Delivery, FakeAlarm, FakeAws, FakeDeployment, FakeFunction, Fault, Invocation, MetricKey,
    MetricStore, Report, Stats, VersionBehaviour,
};
pub use http::{FakeHttp, Route};
pub use moto::{venv_bin, venv_python, Moto};
pub use runtime::{HostError, Outcome, RuntimeHost};
pub use server::Server;
pub use tls::SelfSignedTls;

use std::path::PathBuf;

/// An AWS SDK config for a test's own clients of the fakes or of moto at `endpoint`:
/// region `us-east-1`, static test credentials, the hooks' HTTP client (rustls on
/// ring).
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(Provider::Rustls(CryptoMode::Ring))
                .build_https(),
        )
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testkit", "testkit", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .load()
        .await
}

/// The directory of this crate's fixtures (`testkit/`), for tests in any crate.
pub fn testkit_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The default scenario, `testkit/fixtures/scenario.json`: `demo-fn` (versions 1 and 2
/// healthy, 3 throwing), `echo-fn`, and a deployment of each kind. Panics with the path
/// when the file is unreadable: it is a fixture of this crate.
pub fn scenario() -> serde_json::Value {
    let path = testkit_dir().join("fixtures/scenario.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Reads `testkit/events/<name>` as JSON.
pub fn event(name: &str) -> serde_json::Value {
    let path = testkit_dir().join("events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
