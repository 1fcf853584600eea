//! A `lambda_runtime` function that returns its event unchanged.
//!
//! The integration tests and the benchmark deploy it as a `bootstrap` to measure the platform
//! with the thinnest possible function.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(echo)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::json;

    #[tokio::test]
    async fn returns_the_event_unchanged() {
        let event = json!({"a": 1, "b": [true, null, "x"]});
        let reply = echo(LambdaEvent::new(event.clone(), Context::default()))
            .await
            .unwrap();
        assert_eq!(reply, event);
    }
}
