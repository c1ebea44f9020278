//! The smallest Lambda function `lambda_runtime` makes: it echoes its event. `make
//! bench` builds it with the hook's profile and compares cold starts and sizes.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(echo)).await
}
