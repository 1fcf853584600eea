//! How a runtime process ended, worded as Lambda words it ("exit status 1", "signal: killed").

use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// The end of a runtime process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitReason {
    Code(i32),
    Signal(i32),
    /// Killed by the kernel for using more memory than the environment has (SIGKILL).
    OutOfMemory,
    /// The exit status could not be read.
    Unknown,
}

impl From<ExitStatus> for ExitReason {
    fn from(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitReason::Code(code),
            (None, Some(signal)) => ExitReason::Signal(signal),
            (None, None) => ExitReason::Unknown,
        }
    }
}

impl ExitReason {
    /// Decodes a `waitpid(2)` status.
    pub(crate) fn from_wait_status(status: i32) -> ExitReason {
        ExitStatus::from_raw(status).into()
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::Code(code) => write!(f, "exit status {code}"),
            ExitReason::Signal(signal) => write!(f, "signal: {}", signal_name(*signal)),
            ExitReason::OutOfMemory => f.write_str("signal: killed"),
            ExitReason::Unknown => f.write_str("unknown exit status"),
        }
    }
}

/// Signal descriptions in the words Lambda uses (those of Go's `os.ProcessState`).
fn signal_name(signal: i32) -> String {
    match signal {
        1 => "hangup".into(),
        2 => "interrupt".into(),
        4 => "illegal instruction".into(),
        6 => "aborted".into(),
        7 => "bus error".into(),
        8 => "floating point exception".into(),
        9 => "killed".into(),
        11 => "segmentation fault".into(),
        13 => "broken pipe".into(),
        15 => "terminated".into(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_exits_like_lambda() {
        assert_eq!(ExitReason::Code(3).to_string(), "exit status 3");
        assert_eq!(ExitReason::Signal(9).to_string(), "signal: killed");
        assert_eq!(
            ExitReason::Signal(11).to_string(),
            "signal: segmentation fault"
        );
        assert_eq!(ExitReason::Signal(64).to_string(), "signal: signal 64");
        assert_eq!(ExitReason::OutOfMemory.to_string(), "signal: killed");
    }

    #[test]
    fn decodes_wait_statuses() {
        assert_eq!(ExitReason::from_wait_status(3 << 8), ExitReason::Code(3));
        assert_eq!(ExitReason::from_wait_status(9), ExitReason::Signal(9));
        assert_eq!(
            ExitReason::from_wait_status(0x80 | 11),
            ExitReason::Signal(11),
            "core dumped"
        );
    }
}
