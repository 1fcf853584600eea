//! An external extension that subscribes to INVOKE and SHUTDOWN and prints each event it gets,
//! so tests can read them from the function's log. With `EXT_POST_INVOKE_MS` set it works that
//! long after each INVOKE before asking for the next event (post-invoke work).

use std::time::Duration;

use lambda_extension::{Error, LambdaEvent, NextEvent, service_fn};

async fn handle(event: LambdaEvent) -> Result<(), Error> {
    match event.next {
        NextEvent::Invoke(invoke) => {
            println!(
                "[events-ext] INVOKE {} {}",
                invoke.request_id, invoke.invoked_function_arn
            );
            let post_invoke_ms: u64 = std::env::var("EXT_POST_INVOKE_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if post_invoke_ms > 0 {
                tokio::time::sleep(Duration::from_millis(post_invoke_ms)).await;
                println!(
                    "[events-ext] post-invoke work done for {}",
                    invoke.request_id
                );
            }
        }
        NextEvent::Shutdown(shutdown) => {
            println!("[events-ext] SHUTDOWN {}", shutdown.shutdown_reason);
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    if std::env::var("EXT_CRASH_AT_INIT").is_ok() {
        eprintln!("[events-ext] crashing during init on purpose");
        std::process::exit(3);
    }
    lambda_extension::run(service_fn(handle)).await
}
