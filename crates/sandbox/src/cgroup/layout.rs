//! Finding the cgroup hierarchies of this host and the server's own place in them, from the
//! text of `/proc/self/mountinfo` and `/proc/self/cgroup`. Pure, so every host shape is a test.

use std::path::{Path, PathBuf};

/// The controllers flint limits an environment with.
pub(crate) const V1_CONTROLLERS: [&str; 4] = ["memory", "cpu", "pids", "freezer"];

/// Which cgroup interface environments are placed in, and where the server's own cgroup is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The legacy hierarchies, one per controller: the server's cgroup in each, by controller.
    V1 {
        memory: PathBuf,
        cpu: PathBuf,
        pids: PathBuf,
        freezer: PathBuf,
    },
    /// The unified hierarchy: the server's cgroup.
    V2 { own: PathBuf },
}

impl Layout {
    /// Every directory a new cgroup is created in, one per hierarchy.
    pub(crate) fn roots(&self) -> Vec<&Path> {
        match self {
            Layout::V1 {
                memory,
                cpu,
                pids,
                freezer,
            } => vec![memory, cpu, pids, freezer],
            Layout::V2 { own } => vec![own],
        }
    }

    pub(crate) fn version(&self) -> u8 {
        match self {
            Layout::V1 { .. } => 1,
            Layout::V2 { .. } => 2,
        }
    }
}

/// One cgroup mount: its mount point, the cgroup it shows at that point and, for v1, its
/// controllers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupMount {
    point: PathBuf,
    root: String,
    v2: bool,
    controllers: Vec<String>,
}

/// Reads the cgroup mounts from `/proc/self/mountinfo` lines.
fn mounts(mountinfo: &str) -> Vec<CgroupMount> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split(' ').collect();
            let root = (*fields.get(3)?).to_string();
            let point = PathBuf::from(unescape(fields.get(4)?));
            let mut right = right.split(' ');
            let fstype = right.next()?;
            let _source = right.next();
            let options = right.next().unwrap_or("");
            match fstype {
                "cgroup2" => Some(CgroupMount {
                    point,
                    root,
                    v2: true,
                    controllers: Vec::new(),
                }),
                "cgroup" => Some(CgroupMount {
                    point,
                    root,
                    v2: false,
                    controllers: options.split(',').map(str::to_string).collect(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// mountinfo writes spaces, tabs, newlines and backslashes in paths as octal escapes.
fn unescape(text: &str) -> String {
    text.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The server's cgroup path in the v2 hierarchy (`0::/path`) and per v1 controller.
fn own_paths(self_cgroup: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut v2 = None;
    let mut v1 = Vec::new();
    for line in self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            v2 = Some(path.to_string());
        } else {
            for controller in controllers.split(',') {
                v1.push((controller.to_string(), path.to_string()));
            }
        }
    }
    (v2, v1)
}

/// Joins a mount point and a cgroup path seen from the mount's root.
fn place(mount: &CgroupMount, path: &str) -> Option<PathBuf> {
    let relative = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str())?
    };
    Some(mount.point.join(relative.trim_start_matches('/')))
}

/// Where the unified hierarchy is mounted, if it is.
pub(crate) fn unified_mount(mountinfo: &str) -> Option<PathBuf> {
    mounts(mountinfo)
        .into_iter()
        .find(|mount| mount.v2)
        .map(|mount| mount.point)
}

/// Chooses where environments' cgroups go. The unified hierarchy is used when the server's
/// cgroup there can hand out the memory and pids controllers; else the v1 hierarchies when each
/// of memory, cpu, pids and freezer is mounted. `controllers_of` reads a v2 cgroup's
/// `cgroup.controllers`.
pub(crate) fn detect(
    mountinfo: &str,
    self_cgroup: &str,
    controllers_of: impl Fn(&Path) -> Option<String>,
) -> Result<Layout, String> {
    let mounts = mounts(mountinfo);
    let (own_v2, own_v1) = own_paths(self_cgroup);
    let unified = own_v2.as_deref().and_then(|own| {
        let mount = mounts.iter().find(|m| m.v2)?;
        let dir = place(mount, own)?;
        let controllers = controllers_of(&dir)?;
        let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
        (has("memory") && has("pids")).then_some(dir)
    });
    if let Some(own) = unified {
        return Ok(Layout::V2 { own });
    }
    let mut found = Vec::new();
    for controller in V1_CONTROLLERS {
        let mount = mounts
            .iter()
            .find(|m| !m.v2 && m.controllers.iter().any(|c| c == controller));
        let path = own_v1
            .iter()
            .find(|(name, _)| name == controller)
            .map(|(_, path)| path.as_str());
        match (mount, path) {
            (Some(mount), Some(path)) => match place(mount, path) {
                Some(dir) => found.push(dir),
                None => {
                    return Err(format!(
                        "the {controller} cgroup of this process is outside its mount"
                    ));
                }
            },
            _ => {
                return Err(format!(
                    "no cgroup v2 hierarchy with the memory and pids controllers, and no cgroup v1 {controller} controller"
                ));
            }
        }
    }
    let [memory, cpu, pids, freezer]: [PathBuf; 4] = found
        .try_into()
        .map_err(|_| "cgroup v1 controllers missing".to_string())?;
    Ok(Layout::V1 {
        memory,
        cpu,
        pids,
        freezer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine: v1 hybrid, the server in a memory cgroup of its own, a v2 mount with only
    /// hugetlb.
    const HYBRID: &str = "\
25 30 0:22 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
26 25 0:23 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
27 25 0:24 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
28 25 0:25 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
30 25 0:27 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
31 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_SELF: &str = "\
8:pids:/
6:freezer:/
4:memory:/process_api/abc
1:cpu:/
0::/
";

    const UNIFIED: &str = "\
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
";

    #[track_caller]
    fn check(
        mountinfo: &str,
        self_cgroup: &str,
        v2_controllers: &str,
        expect: Result<Layout, &str>,
    ) {
        let found = detect(mountinfo, self_cgroup, |_| Some(v2_controllers.to_string()));
        assert_eq!(found, expect.map_err(str::to_string));
    }

    #[test]
    fn finds_the_unified_mount_beside_v1_or_alone() {
        assert_eq!(unified_mount(HYBRID), Some("/sys/fs/cgroup/unified".into()));
        assert_eq!(unified_mount(UNIFIED), Some("/sys/fs/cgroup".into()));
        assert_eq!(unified_mount(&HYBRID.replace("cgroup2", "tmpfs")), None);
    }

    #[test]
    fn finds_the_servers_cgroups() {
        check(
            HYBRID,
            HYBRID_SELF,
            "hugetlb",
            Ok(Layout::V1 {
                memory: "/sys/fs/cgroup/memory/process_api/abc".into(),
                cpu: "/sys/fs/cgroup/cpu".into(),
                pids: "/sys/fs/cgroup/pids".into(),
                freezer: "/sys/fs/cgroup/freezer".into(),
            }),
        );
        check(
            UNIFIED,
            "0::/system.slice/flint.service\n",
            "cpu memory pids",
            Ok(Layout::V2 {
                own: "/sys/fs/cgroup/system.slice/flint.service".into(),
            }),
        );
        check(
            "40 1 0:31 /user.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "0::/user.slice/session-1.scope\n",
            "memory pids",
            Ok(Layout::V2 {
                own: "/sys/fs/cgroup/session-1.scope".into(),
            }),
        );
    }

    #[test]
    fn says_what_is_missing() {
        check(
            UNIFIED,
            "0::/\n",
            "cpu io",
            Err(
                "no cgroup v2 hierarchy with the memory and pids controllers, and no cgroup v1 memory controller",
            ),
        );
        let without_freezer: String = HYBRID
            .lines()
            .filter(|l| !l.contains("freezer"))
            .map(|l| format!("{l}\n"))
            .collect();
        check(
            &without_freezer,
            HYBRID_SELF,
            "hugetlb",
            Err(
                "no cgroup v2 hierarchy with the memory and pids controllers, and no cgroup v1 freezer controller",
            ),
        );
    }
}
