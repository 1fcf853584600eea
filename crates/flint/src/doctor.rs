//! `flint doctor`: what isolation this host supports, and why not where it does not; and
//! whether local connections can take the loopback shortcut.

use std::fmt::Write as _;

/// Prints the report; fails when no isolation is possible here.
pub(crate) fn run() -> anyhow::Result<()> {
    let jail = crate::isolation::jail_path();
    let support = sandbox::probe(&jail);
    // Installing is the only true test of the shortcut; it ends with this process.
    let shortcut = sandbox::loopback::install();
    print!("{}", report(&support, &shortcut));
    match support.isolation_blocker() {
        None => Ok(()),
        Some(_) => anyhow::bail!("isolation is not possible on this host"),
    }
}

/// The report's text.
fn report(
    support: &sandbox::HostSupport,
    shortcut: &Result<(), sandbox::loopback::ShortcutError>,
) -> String {
    let mut text = String::new();
    for finding in support.findings() {
        let mark = if finding.ok { "ok" } else { "--" };
        let _ = writeln!(text, "{mark:>3}  {:<16} {}", finding.what, finding.detail);
    }
    let (mark, detail) = match shortcut {
        Ok(()) => (
            "ok",
            "local connections to the API and the Runtime API skip the TCP stack".to_string(),
        ),
        Err(error) => ("--", format!("{error}; local connections use plain TCP")),
    };
    let _ = writeln!(text, "{mark:>3}  {:<16} {detail}", "loopback");
    let verdict = match support.isolation_blocker() {
        None if !support.root => "rootless isolation (`flint serve` default as this user): namespaces, seccomp and the sandbox user in a user namespace per environment; no memory or CPU limits, no idle freezing, no outbound connections (run as root for full isolation)".to_string(),
        None if support.egress_tools.is_ok() => {
            "full isolation with outbound connections (`flint serve` default)".to_string()
        }
        None => "full isolation without outbound connections (`--isolation auto`; `full` refuses)"
            .to_string(),
        Some(why) => {
            format!("no isolation possible: {why}; `flint serve` needs `--isolation none`")
        }
    };
    let _ = writeln!(text, "\nisolation: {verdict}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_finding_and_a_verdict() {
        let support = sandbox::probe(std::path::Path::new("/nonexistent/flint-jail"));
        let text = report(
            &support,
            &Err(sandbox::loopback::ShortcutError::NoUnifiedHierarchy),
        );
        for what in [
            "root",
            "user namespaces",
            "cgroups",
            "seccomp",
            "jail",
            "egress",
            "loopback",
        ] {
            assert!(text.contains(what), "{what} missing in:\n{text}");
        }
        assert!(
            text.contains("/nonexistent/flint-jail is missing"),
            "{text}"
        );
        assert!(text.contains("isolation: no isolation possible"), "{text}");
        assert!(
            text.contains(
                "no unified (v2) cgroup hierarchy is mounted; local connections use plain TCP"
            ),
            "{text}"
        );
    }
}
