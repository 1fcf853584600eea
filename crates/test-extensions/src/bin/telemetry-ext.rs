//! An external extension that subscribes to the Telemetry API and prints one line per record it
//! receives, so tests can check what the platform delivered.

use lambda_extension::{
    Error, Extension, LambdaTelemetry, LambdaTelemetryRecord, SharedService, service_fn,
};

async fn handle(events: Vec<LambdaTelemetry>) -> Result<(), Error> {
    for event in events {
        match event.record {
            LambdaTelemetryRecord::PlatformStart { request_id, .. } => {
                println!("[telemetry-ext] platform.start {request_id}");
            }
            LambdaTelemetryRecord::PlatformRuntimeDone {
                request_id, status, ..
            } => {
                println!("[telemetry-ext] platform.runtimeDone {request_id} {status:?}");
            }
            LambdaTelemetryRecord::PlatformReport {
                request_id,
                status,
                metrics,
                ..
            } => {
                println!(
                    "[telemetry-ext] platform.report {request_id} {status:?} duration={} billed={} memory={}",
                    metrics.duration_ms, metrics.billed_duration_ms, metrics.memory_size_mb
                );
            }
            LambdaTelemetryRecord::Function(line) => {
                println!("[telemetry-ext] function {line}");
            }
            other => println!("[telemetry-ext] other {other:?}"),
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let processor = SharedService::new(service_fn(handle));
    Extension::new()
        .with_telemetry_types(&["platform", "function"])
        .with_telemetry_processor(processor)
        .run()
        .await
}
