//! The platform's log lines for an invocation, in Lambda's exact text format. Pure: durations and
//! memory come in as numbers.

use std::time::Duration;

/// How an invocation ended, as far as the `REPORT` line cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReportStatus {
    Success,
    /// The handler returned an error: Lambda adds nothing to the line.
    FunctionError,
    Timeout,
    /// The platform ended it (crash, init failure, out of memory).
    Error(String),
}

/// Numbers of one invocation.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    pub request_id: String,
    pub duration: Duration,
    pub memory_size_mb: u32,
    pub max_memory_used_mb: u64,
    /// Present on the first invocation of an environment.
    pub init_duration: Option<Duration>,
    pub status: ReportStatus,
}

pub(crate) fn start_line(request_id: &str, version: &str) -> String {
    format!("START RequestId: {request_id} Version: {version}")
}

pub(crate) fn end_line(request_id: &str) -> String {
    format!("END RequestId: {request_id}")
}

/// Milliseconds with two decimals, as Lambda prints durations.
fn millis(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

impl Report {
    /// Billed duration in whole milliseconds, rounded up; since August 2025 an on-demand cold
    /// start also bills its init time.
    pub(crate) fn billed_ms(&self) -> u64 {
        let total = self.duration + self.init_duration.unwrap_or_default();
        (total.as_secs_f64() * 1000.0).ceil().max(1.0) as u64
    }

    pub(crate) fn line(&self) -> String {
        let mut line = format!(
            "REPORT RequestId: {}\tDuration: {} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            millis(self.duration),
            self.billed_ms(),
            self.memory_size_mb,
            self.max_memory_used_mb,
        );
        if let Some(init) = self.init_duration {
            line.push_str(&format!("Init Duration: {} ms\t", millis(init)));
        }
        match &self.status {
            ReportStatus::Success | ReportStatus::FunctionError => {}
            ReportStatus::Timeout => line.push_str("Status: timeout\t"),
            ReportStatus::Error(error_type) => {
                line.push_str(&format!("Status: error\tError Type: {error_type}\t"));
            }
        }
        line
    }
}

/// `INIT_START`, naming the runtime the way Lambda's runtime versions read
/// (`python:3.12`, `nodejs:20`, `provided:al2023`).
pub(crate) fn init_start_line(runtime: model::Runtime) -> String {
    use model::runtime::ProvidedFlavour;
    let version = match runtime {
        model::Runtime::Provided(ProvidedFlavour::Provided) => "provided:al1".to_string(),
        model::Runtime::Provided(ProvidedFlavour::Al2) => "provided:al2".to_string(),
        model::Runtime::Provided(ProvidedFlavour::Al2023) => "provided:al2023".to_string(),
        model::Runtime::Python { minor } => format!("python:3.{minor}"),
        model::Runtime::Node { major } => format!("nodejs:{major}"),
    };
    format!("INIT_START Runtime Version: {version}.flint")
}

/// `EXTENSION`, one per extension once Init is over.
pub(crate) fn extension_line(name: &str, events: &[&str]) -> String {
    format!(
        "EXTENSION\tName: {name}\tState: Ready\tEvents: [{}]",
        events.join(", ")
    )
}

/// `TELEMETRY`, one per subscription.
pub(crate) fn telemetry_line(name: &str, types: &str) -> String {
    format!("TELEMETRY\tName: {name}\tState: Subscribed\tTypes: {types}")
}

/// `INIT_REPORT`, printed when initialisation failed or timed out.
pub(crate) fn init_report_line(duration: Duration, status: &ReportStatus) -> String {
    let mut line = format!(
        "INIT_REPORT Init Duration: {} ms\tPhase: init\t",
        millis(duration)
    );
    match status {
        ReportStatus::Timeout => line.push_str("Status: timeout"),
        ReportStatus::Error(error_type) => {
            line.push_str(&format!("Status: error\tError Type: {error_type}"));
        }
        ReportStatus::Success | ReportStatus::FunctionError => line.push_str("Status: success"),
    }
    line
}

/// The Telemetry API's word for a status.
pub(crate) fn status_word(status: &ReportStatus) -> &'static str {
    match status {
        ReportStatus::Success => "success",
        ReportStatus::FunctionError => "error",
        ReportStatus::Timeout => "timeout",
        ReportStatus::Error(_) => "failure",
    }
}

/// Milliseconds with two decimals, as the Telemetry API reports durations.
pub(crate) fn round2(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// Peak memory in whole megabytes, rounded up.
pub(crate) fn megabytes(bytes: u64) -> u64 {
    bytes.div_ceil(1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: ReportStatus, init: Option<u64>) -> Report {
        Report {
            request_id: "9a14a9d0-e6a4-4761-aeb6-e572ef6971e7".into(),
            duration: Duration::from_micros(19_070),
            memory_size_mb: 128,
            max_memory_used_mb: 56,
            init_duration: init.map(Duration::from_micros),
            status,
        }
    }

    #[track_caller]
    fn check(report: Report, expect: &str) {
        assert_eq!(report.line(), expect);
    }

    #[test]
    fn report_lines_match_lambda() {
        check(
            report(ReportStatus::Success, Some(108_390)),
            "REPORT RequestId: 9a14a9d0-e6a4-4761-aeb6-e572ef6971e7\tDuration: 19.07 ms\tBilled Duration: 128 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tInit Duration: 108.39 ms\t",
        );
        check(
            report(ReportStatus::FunctionError, None),
            "REPORT RequestId: 9a14a9d0-e6a4-4761-aeb6-e572ef6971e7\tDuration: 19.07 ms\tBilled Duration: 20 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\t",
        );
        check(
            report(ReportStatus::Timeout, None),
            "REPORT RequestId: 9a14a9d0-e6a4-4761-aeb6-e572ef6971e7\tDuration: 19.07 ms\tBilled Duration: 20 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tStatus: timeout\t",
        );
        check(
            report(ReportStatus::Error("Runtime.ExitError".into()), None),
            "REPORT RequestId: 9a14a9d0-e6a4-4761-aeb6-e572ef6971e7\tDuration: 19.07 ms\tBilled Duration: 20 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\tStatus: error\tError Type: Runtime.ExitError\t",
        );
    }

    #[test]
    fn start_end_and_init_lines() {
        assert_eq!(
            start_line("abc", "$LATEST"),
            "START RequestId: abc Version: $LATEST"
        );
        assert_eq!(end_line("abc"), "END RequestId: abc");
        let runtime = |name: &str| name.parse::<model::Runtime>().unwrap();
        assert_eq!(
            init_start_line(runtime("python3.12")),
            "INIT_START Runtime Version: python:3.12.flint"
        );
        assert_eq!(
            init_start_line(runtime("provided.al2023")),
            "INIT_START Runtime Version: provided:al2023.flint"
        );
        assert_eq!(
            init_start_line(runtime("nodejs20.x")),
            "INIT_START Runtime Version: nodejs:20.flint"
        );
        assert_eq!(
            init_report_line(
                Duration::from_micros(154_030),
                &ReportStatus::Error("Runtime.ExitError".into())
            ),
            "INIT_REPORT Init Duration: 154.03 ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError"
        );
    }

    #[test]
    fn extension_and_telemetry_lines() {
        assert_eq!(
            extension_line("AppConfigAgent", &["INVOKE", "SHUTDOWN"]),
            "EXTENSION\tName: AppConfigAgent\tState: Ready\tEvents: [INVOKE, SHUTDOWN]"
        );
        assert_eq!(
            telemetry_line("datadog-agent", "[Platform, Function, Extension]"),
            "TELEMETRY\tName: datadog-agent\tState: Subscribed\tTypes: [Platform, Function, Extension]"
        );
    }

    #[test]
    fn billing_rounds_up_and_bills_init() {
        let mut r = report(ReportStatus::Success, None);
        r.duration = Duration::from_micros(1);
        assert_eq!(r.billed_ms(), 1);
        r.duration = Duration::from_millis(600_000);
        r.init_duration = Some(Duration::from_micros(476_750));
        assert_eq!(r.billed_ms(), 600_477);
        assert_eq!(megabytes(0), 0);
        assert_eq!(megabytes(1), 1);
        assert_eq!(megabytes(56 * 1024 * 1024), 56);
    }
}
