//! What isolation this host supports, and why not where it does not (`flint doctor`, and the
//! checks the isolated launcher makes before it starts).

use std::path::{Path, PathBuf};

use crate::cgroup::{self, Layout};

/// The findings about one host.
#[derive(Debug, Clone)]
pub struct HostSupport {
    /// Whether flint runs as root (full isolation needs it; without it, isolation is rootless).
    pub root: bool,
    pub(crate) cgroups: Result<Layout, String>,
    /// Whether this user can make user namespaces (rootless isolation needs them).
    pub user_namespaces: Result<(), String>,
    pub seccomp: Result<(), String>,
    pub(crate) jail: Result<PathBuf, String>,
    pub egress_tools: Result<(), String>,
}

/// One line of a report: what, whether it works, and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub what: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl HostSupport {
    /// Why isolation is impossible here, if it is. As root it is full isolation; otherwise it
    /// is rootless, which needs user namespaces.
    pub fn isolation_blocker(&self) -> Option<String> {
        if !self.root
            && let Err(why) = &self.user_namespaces
        {
            return Some(format!(
                "flint does not run as root, and user namespaces are unavailable ({why})"
            ));
        }
        if self.root
            && let Err(why) = &self.cgroups
        {
            return Some(format!("no usable cgroups: {why}"));
        }
        if let Err(why) = &self.seccomp {
            return Some(format!("no seccomp filters: {why}"));
        }
        if let Err(why) = &self.jail {
            return Some(why.clone());
        }
        None
    }

    /// Every finding, for `flint doctor`.
    pub fn findings(&self) -> Vec<Finding> {
        let finding = |what, result: Result<String, String>| match result {
            Ok(detail) => Finding {
                what,
                ok: true,
                detail,
            },
            Err(detail) => Finding {
                what,
                ok: false,
                detail,
            },
        };
        vec![
            finding(
                "root",
                if self.root {
                    Ok("flint runs as root: it can build namespaces, mounts and cgroups".into())
                } else {
                    Err("flint does not run as root: isolation is rootless, in user namespaces".into())
                },
            ),
            finding(
                "user namespaces",
                self.user_namespaces.clone().map(|()| {
                    if self.root {
                        "available (not needed as root)".into()
                    } else {
                        "available: every environment gets one, in which flint's user is the sandbox user".into()
                    }
                }),
            ),
            finding(
                "cgroups",
                if self.root {
                    self.cgroups.clone()
                } else {
                    Err("need root: rootless environments have no memory or CPU limits and are not frozen when idle".into())
                }
                .map(|layout| match layout {
                    Layout::V1 { memory, .. } => format!(
                        "cgroup v1 (memory, cpu, pids, freezer); environments under {}/flint",
                        memory.display()
                    ),
                    Layout::V2 { own } => {
                        format!("cgroup v2; environments under {}/flint", own.display())
                    }
                }),
            ),
            finding(
                "seccomp",
                self.seccomp
                    .clone()
                    .map(|()| "filters can be installed".into()),
            ),
            finding(
                "jail",
                self.jail
                    .clone()
                    .map(|path| format!("{} found", path.display())),
            ),
            finding(
                "egress",
                self.egress_tools.clone().map(|()| {
                    "ip and iptables work: environments get outbound connections through NAT".into()
                }),
            ),
        ]
    }
}

/// Looks at this host; `jail` is where the jailer program is expected.
pub fn probe(jail: &Path) -> HostSupport {
    // SAFETY: geteuid cannot fail and has no side effects.
    let root = unsafe { libc::geteuid() } == 0;
    HostSupport {
        root,
        cgroups: probe_cgroups(),
        user_namespaces: probe_user_namespaces(),
        seccomp: probe_seccomp(),
        jail: probe_jail(jail),
        egress_tools: probe_egress(root),
    }
}

pub(crate) fn probe_cgroups() -> Result<Layout, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    cgroup::detect(&mountinfo, &own, |dir| {
        std::fs::read_to_string(dir.join("cgroup.controllers")).ok()
    })
}

/// Whether this user can make a user namespace: the kernel's switches, then a real try in a
/// child process (a multi-threaded process cannot make one itself).
fn probe_user_namespaces() -> Result<(), String> {
    user_namespace_switches()?;
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new("/proc/self/exe");
    command
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec and only calls unshare and
    // _exit, which are async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWUSER) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Made: end here instead of executing anything.
            libc::_exit(0)
        });
    }
    match command.status() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("making one failed ({status})")),
        Err(error) => Err(format!("making one failed: {error}")),
    }
}

fn user_namespace_switches() -> Result<(), String> {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    if max.trim() == "0" {
        return Err("user.max_user_namespaces is 0".into());
    }
    if std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        .is_ok_and(|v| v.trim() == "0")
    {
        return Err("kernel.unprivileged_userns_clone is 0".into());
    }
    Ok(())
}

fn probe_seccomp() -> Result<(), String> {
    // SAFETY: PR_GET_SECCOMP only reads the calling thread's mode.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if mode < 0 {
        return Err(format!(
            "the kernel has no seccomp: {}",
            std::io::Error::last_os_error()
        ));
    }
    crate::seccomp::filters()
        .map(drop)
        .map_err(|e| e.to_string())
}

fn probe_jail(jail: &Path) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    match jail.metadata() {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => {
            Ok(jail.to_path_buf())
        }
        Ok(_) => Err(format!("{} is not an executable file", jail.display())),
        Err(_) => Err(format!(
            "the jailer {} is missing (build it with `cargo build -p sandbox --bin flint-jail` and keep it next to flint)",
            jail.display()
        )),
    }
}

fn probe_egress(root: bool) -> Result<(), String> {
    if !root {
        return Err("needs root".into());
    }
    let ip = std::process::Command::new("ip")
        .args(["-V"])
        .output()
        .map_err(|_| "`ip` (iproute2) is not installed".to_string())?;
    if !ip.status.success() {
        return Err("`ip -V` failed".into());
    }
    crate::egress::iptables_works().map_err(|e| format!("iptables does not work: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(root: bool, user_namespaces: Result<(), String>) -> HostSupport {
        HostSupport {
            root,
            cgroups: Err("no cgroup file system".into()),
            user_namespaces,
            seccomp: Ok(()),
            jail: Ok(PathBuf::from("/usr/lib/flint/flint-jail")),
            egress_tools: Err("needs root".into()),
        }
    }

    #[test]
    fn without_root_user_namespaces_decide() {
        let rootless = host(false, Ok(()));
        assert_eq!(
            rootless.isolation_blocker(),
            None,
            "cgroups are not needed rootless"
        );
        let findings = rootless.findings();
        let cgroups = findings.iter().find(|f| f.what == "cgroups").unwrap();
        assert!(!cgroups.ok && cgroups.detail.contains("no memory or CPU limits"));
        let blocked = host(false, Err("user.max_user_namespaces is 0".into()));
        assert_eq!(
            blocked.isolation_blocker().as_deref(),
            Some(
                "flint does not run as root, and user namespaces are unavailable (user.max_user_namespaces is 0)"
            )
        );
    }

    #[test]
    fn as_root_cgroups_are_needed() {
        assert_eq!(
            host(true, Ok(())).isolation_blocker().as_deref(),
            Some("no usable cgroups: no cgroup file system")
        );
    }
}
