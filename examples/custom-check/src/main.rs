//! `custom-check-hook`: `traffic-hook`'s Lambda mode plus the configuration policy check.
//! The config's checks (from TRAFFIC_HOOK_CONFIG, ...) run beside it.

use custom_check::{spec, LambdaConfiguration};
use std::collections::BTreeMap;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    traffic_hooks::lambda::init_logs();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    traffic_hooks::lambda::serve(env, |hook, sdk| {
        hook.with_check(spec(LambdaConfiguration(aws_sdk_lambda::Client::new(sdk))))
    })
    .await
}
