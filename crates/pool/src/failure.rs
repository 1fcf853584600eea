//! Invocations the platform ends on the runtime's behalf, with Lambda's error documents and log
//! lines. Pure.

use bytes::Bytes;
use sandbox::ExitReason;

use crate::report::ReportStatus;

/// Why an invocation ended without an answer from the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The runtime could not be started (no bootstrap, not executable, missing interpreter).
    Launch {
        request_id: String,
        error_type: String,
        message: String,
    },
    /// The runtime reported `/init/error`; its document is returned as it is.
    InitError { error_type: String, body: Bytes },
    /// The runtime process exited.
    Exit {
        request_id: String,
        reason: ExitReason,
    },
    /// The function ran past its timeout.
    Timeout { request_id: String, timeout_s: u32 },
    /// The runtime did not finish initialising in time.
    InitTimeout { request_id: String, limit_ms: u64 },
    /// An extension reported an init error (`Extension.InitError`).
    Extension {
        request_id: String,
        name: String,
        reported: String,
    },
}

impl Failure {
    pub(crate) fn launch(request_id: &str, error_type: &str, message: &str) -> Failure {
        Failure::Launch {
            request_id: request_id.to_string(),
            error_type: error_type.to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn exit(request_id: &str, reason: ExitReason) -> Failure {
        Failure::Exit {
            request_id: request_id.to_string(),
            reason,
        }
    }

    pub(crate) fn extension(request_id: &str, name: &str, reported: &str) -> Failure {
        Failure::Extension {
            request_id: request_id.to_string(),
            name: name.to_string(),
            reported: reported.to_string(),
        }
    }

    pub(crate) fn init_timeout(request_id: &str, limit_ms: u64) -> Failure {
        Failure::InitTimeout {
            request_id: request_id.to_string(),
            limit_ms,
        }
    }

    pub(crate) fn error_type(&self) -> &str {
        match self {
            Failure::Launch { error_type, .. } | Failure::InitError { error_type, .. } => {
                error_type
            }
            Failure::Exit {
                reason: ExitReason::OutOfMemory,
                ..
            } => "Runtime.OutOfMemory",
            Failure::Exit { .. } => "Runtime.ExitError",
            Failure::Extension { .. } => "Extension.InitError",
            Failure::Timeout { .. } | Failure::InitTimeout { .. } => "Sandbox.Timedout",
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::Launch {
                request_id,
                message,
                ..
            } => format!("RequestId: {request_id} Error: {message}"),
            Failure::InitError { body, .. } => String::from_utf8_lossy(body).into_owned(),
            Failure::Extension {
                request_id,
                name,
                reported,
            } => format!(
                "RequestId: {request_id} Error: extension {name} failed to initialise: {reported}"
            ),
            Failure::Exit {
                request_id,
                reason: ExitReason::Code(0),
            } => {
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason")
            }
            Failure::Exit { request_id, reason } => {
                format!("RequestId: {request_id} Error: Runtime exited with error: {reason}")
            }
            Failure::Timeout {
                request_id,
                timeout_s,
            } => {
                format!(
                    "RequestId: {request_id} Error: Task timed out after {timeout_s}.00 seconds"
                )
            }
            Failure::InitTimeout {
                request_id,
                limit_ms,
            } => format!(
                "RequestId: {request_id} Error: Init phase timed out after {:.2} seconds",
                *limit_ms as f64 / 1000.0
            ),
        }
    }

    /// The error document the caller receives.
    pub(crate) fn body(&self) -> Bytes {
        match self {
            Failure::InitError { body, .. } => body.clone(),
            other => {
                let document = serde_json::json!({
                    "errorType": other.error_type(),
                    "errorMessage": other.message(),
                });
                Bytes::from(document.to_string())
            }
        }
    }

    pub(crate) fn report_status(&self) -> ReportStatus {
        match self {
            Failure::Timeout { .. } | Failure::InitTimeout { .. } => ReportStatus::Timeout,
            other => ReportStatus::Error(other.error_type().to_string()),
        }
    }

    /// The platform's lines between the function's output and `END`: Lambda prints the timeout
    /// notice, or the error message followed by its type.
    pub(crate) fn log_lines_for(
        status: &ReportStatus,
        request_id: &str,
        body: &[u8],
        timeout_s: u32,
    ) -> Vec<String> {
        match status {
            ReportStatus::Success | ReportStatus::FunctionError => Vec::new(),
            ReportStatus::Timeout => vec![format!(
                "{} {request_id} Task timed out after {timeout_s}.00 seconds",
                model::clock::iso_millis(jiff::Timestamp::now())
            )],
            ReportStatus::Error(error_type) => {
                let message = serde_json::from_slice::<serde_json::Value>(body)
                    .ok()
                    .and_then(|v| {
                        v.get("errorMessage")
                            .and_then(|m| m.as_str())
                            .map(str::to_string)
                    })
                    .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
                vec![message, error_type.clone()]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(failure: &Failure) -> serde_json::Value {
        serde_json::from_slice(&failure.body()).unwrap()
    }

    #[test]
    fn error_documents_match_lambda() {
        let timeout = Failure::Timeout {
            request_id: "r1".into(),
            timeout_s: 3,
        };
        assert_eq!(
            document(&timeout),
            serde_json::json!({"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: r1 Error: Task timed out after 3.00 seconds"})
        );
        let exit = Failure::exit("r2", ExitReason::Code(3));
        assert_eq!(
            document(&exit),
            serde_json::json!({"errorType": "Runtime.ExitError", "errorMessage": "RequestId: r2 Error: Runtime exited with error: exit status 3"})
        );
        let killed = Failure::exit("r3", ExitReason::Signal(9));
        assert!(
            document(&killed)["errorMessage"]
                .as_str()
                .unwrap()
                .ends_with("signal: killed")
        );
        let out_of_memory = Failure::exit("r5", ExitReason::OutOfMemory);
        assert_eq!(
            document(&out_of_memory),
            serde_json::json!({"errorType": "Runtime.OutOfMemory", "errorMessage": "RequestId: r5 Error: Runtime exited with error: signal: killed"})
        );
        let clean = Failure::exit("r4", ExitReason::Code(0));
        assert!(
            document(&clean)["errorMessage"]
                .as_str()
                .unwrap()
                .ends_with("without providing a reason")
        );
        let init = Failure::InitError {
            error_type: "Runtime.ImportModuleError".into(),
            body: Bytes::from_static(b"{\"x\":1}"),
        };
        assert_eq!(init.body().as_ref(), b"{\"x\":1}");
        assert_eq!(
            init.report_status(),
            ReportStatus::Error("Runtime.ImportModuleError".into())
        );
    }

    #[test]
    fn log_lines_name_the_error_then_its_type() {
        let exit = Failure::exit("r2", ExitReason::Code(1));
        let lines = Failure::log_lines_for(&exit.report_status(), "r2", &exit.body(), 3);
        assert_eq!(
            lines,
            [
                "RequestId: r2 Error: Runtime exited with error: exit status 1",
                "Runtime.ExitError"
            ]
        );
        let lines = Failure::log_lines_for(&ReportStatus::Timeout, "r1", b"", 3);
        assert!(
            lines[0].ends_with(" r1 Task timed out after 3.00 seconds"),
            "{}",
            lines[0]
        );
        assert!(Failure::log_lines_for(&ReportStatus::FunctionError, "r", b"{}", 3).is_empty());
    }
}
