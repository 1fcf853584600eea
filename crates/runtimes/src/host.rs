//! Looking at the host: finding programs and asking them about themselves.

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::process::Command;

/// How long a program may take to answer a question about itself; a hung interpreter must not
/// hang the first invocation forever.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// How many lines of a failed program's output an error message quotes.
const QUOTED_LINES: usize = 5;

/// Why asking a program something failed, for the list of attempts in an error message.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("cannot run: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("{0}")]
    Failed(String),
    #[error("no answer within {} s", PROBE_TIMEOUT.as_secs())]
    TimedOut,
}

/// The first executable file called `name` in the directories of `PATH`.
pub(crate) fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable_file(candidate))
}

/// Whether `path` is a regular file (after symlinks) that someone may execute.
pub(crate) fn is_executable_file(path: &Path) -> bool {
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Runs `program` with `args` (and extra `env`), and returns its standard output when it exits
/// successfully.
pub(crate) async fn probe(
    program: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> Result<String, ProbeError> {
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(PROBE_TIMEOUT, command.output())
        .await
        .map_err(|_| ProbeError::TimedOut)?
        .map_err(ProbeError::Spawn)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(ProbeError::Failed(failure_summary(&output)))
    }
}

/// The exit status and the last lines a failed program printed, on one line.
pub(crate) fn failure_summary(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = if stderr.trim().is_empty() {
        stdout
    } else {
        stderr
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let quoted = lines[lines.len().saturating_sub(QUOTED_LINES)..].join(" / ");
    if quoted.is_empty() {
        format!("{}", output.status)
    } else {
        format!("{}: {quoted}", output.status)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::*;

    #[track_caller]
    fn check(stdout: &str, stderr: &str, expect: &str) {
        let output = Output {
            status: ExitStatus::from_raw(1 << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        };
        assert_eq!(failure_summary(&output), expect);
    }

    #[test]
    fn failure_summary_quotes_the_last_lines_of_stderr_else_stdout() {
        check("", "", "exit status: 1");
        check("only stdout\n", "  \n", "exit status: 1: only stdout");
        check(
            "ignored",
            "a\nb\n\nc\nd\ne\nf\n",
            "exit status: 1: b / c / d / e / f",
        );
    }

    #[tokio::test]
    async fn probe_returns_stdout_or_says_why_it_failed() {
        let sh = Path::new("/bin/sh");
        let env = [("GREETING", Path::new("hi"))];
        let answer = probe(sh, &["-c", "echo $GREETING"], &env).await.unwrap();
        assert_eq!(answer, "hi\n");

        let failed = probe(sh, &["-c", "echo oops >&2; exit 3"], &[])
            .await
            .unwrap_err();
        assert_eq!(failed.to_string(), "exit status: 3: oops");

        let missing = probe(Path::new("/nonexistent/program"), &[], &[])
            .await
            .unwrap_err();
        assert!(matches!(missing, ProbeError::Spawn(_)), "{missing}");
    }

    #[test]
    fn finds_programs_on_path() {
        assert!(find_on_path("sh").is_some_and(|p| p.ends_with("sh")));
        assert_eq!(find_on_path("surely-no-such-program-here"), None);
    }
}
