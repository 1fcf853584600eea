//! Resource limits with cgroups, behind one interface for the v1 and the v2 hierarchy: memory =
//! MemorySize without swap, a CPU share proportional to memory, at most 1024 tasks, the freezer,
//! the peak memory, out-of-memory kills, killing a whole tree, and removal.
//!
//! Everything flint creates sits under `<server's cgroup>/flint/i<server pid>-<n>/e<m>` (`n`
//! tells launchers of one process apart), so one look at `flint/` at start finds what a killed
//! server left behind.
//!
//! The file writes go through [`CgroupSys`], so what each backend writes is tested as data.

mod layout;
mod sys;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

pub(crate) use layout::{Layout, detect, unified_mount};
pub(crate) use sys::{CgroupSys, HostCgroupSys, Reread};

/// Lambda's limit on processes and threads of one environment.
pub(crate) const PIDS_MAX: u32 = 1024;
/// Memory that buys one full vCPU on Lambda.
const MB_PER_VCPU: u64 = 1769;
/// The CPU accounting period. Short, so a throttled environment waits milliseconds, not a
/// tenth of a second, before it runs again.
const CPU_PERIOD_US: u64 = 10_000;
/// The smallest quota the kernel accepts.
const CPU_QUOTA_MIN_US: u64 = 1_000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CgroupError {
    #[error("could not create cgroup {path}: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("could not write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
}

/// The cgroups of one launcher: `flint/i<pid>-<n>` in every hierarchy.
pub(crate) struct Cgroups {
    layout: Layout,
    sys: Arc<dyn CgroupSys>,
    /// `<root>/flint` per hierarchy, in the order of [`Layout::roots`].
    parents: Vec<PathBuf>,
    /// `<root>/flint/i<pid>-<n>` per hierarchy.
    instance: Vec<PathBuf>,
    next: AtomicU64,
}

impl fmt::Debug for Cgroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cgroups")
            .field("layout", &self.layout)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl Cgroups {
    /// Creates the instance cgroups of launcher `n` of process `pid` (and `flint/` where
    /// missing).
    pub(crate) fn open(
        layout: Layout,
        sys: Arc<dyn CgroupSys>,
        pid: u32,
        n: u32,
    ) -> Result<Self, CgroupError> {
        let parents: Vec<PathBuf> = layout
            .roots()
            .iter()
            .map(|root| root.join("flint"))
            .collect();
        let instance: Vec<PathBuf> = parents
            .iter()
            .map(|p| p.join(format!("i{pid}-{n}")))
            .collect();
        let cgroups = Cgroups {
            layout,
            sys,
            parents,
            instance,
            next: AtomicU64::new(0),
        };
        for parent in &cgroups.parents {
            cgroups.make_dir(parent)?;
        }
        if let Layout::V2 { own } = &cgroups.layout {
            // A v2 cgroup hands controllers to its children only when each ancestor does.
            cgroups.enable_controllers(own)?;
            cgroups.enable_controllers(&cgroups.parents[0])?;
        }
        for dir in &cgroups.instance {
            cgroups.make_dir(dir)?;
        }
        if let Layout::V2 { .. } = &cgroups.layout {
            cgroups.enable_controllers(&cgroups.instance[0])?;
        }
        Ok(cgroups)
    }

    /// Looks at the existing `flint/` cgroups without creating an instance of its own (for the
    /// reaper, which only cleans up after a server).
    pub(crate) fn observe(layout: Layout, sys: Arc<dyn CgroupSys>) -> Self {
        let parents = layout
            .roots()
            .iter()
            .map(|root| root.join("flint"))
            .collect();
        Cgroups {
            layout,
            sys,
            parents,
            instance: Vec::new(),
            next: AtomicU64::new(0),
        }
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(crate) fn instance_dirs(&self) -> &[PathBuf] {
        &self.instance
    }

    fn make_dir(&self, path: &Path) -> Result<(), CgroupError> {
        match self.sys.make_dir(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(source) => Err(CgroupError::Create {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn enable_controllers(&self, dir: &Path) -> Result<(), CgroupError> {
        let available = self
            .sys
            .read(&dir.join("cgroup.controllers"))
            .unwrap_or_default();
        let wanted: Vec<String> = ["memory", "pids", "cpu"]
            .into_iter()
            .filter(|c| available.split_whitespace().any(|a| a == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        write(
            self.sys.as_ref(),
            &dir.join("cgroup.subtree_control"),
            &wanted.join(" "),
        )
    }

    /// Removes the instances of servers that no longer run (`alive` says which pids do), killing
    /// whatever they left running. Returns how many were removed.
    pub(crate) fn clean_stale(&self, alive: impl Fn(u32) -> bool) -> usize {
        let own: Vec<String> = self
            .instance
            .iter()
            .filter_map(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        let mut removed = 0;
        // Every hierarchy is looked at: a server started from another memory cgroup than the
        // one before it (a service manager moving it) finds the old instance only in the others.
        for name in self.union_of_children(&self.parents) {
            let pid = name
                .strip_prefix('i')
                .and_then(|rest| rest.split('-').next());
            let Some(pid) = pid.and_then(|p| p.parse::<u32>().ok()) else {
                continue;
            };
            if own.contains(&name) || alive(pid) {
                continue;
            }
            if self.reap_instance(&name) {
                removed += 1;
            }
        }
        removed
    }

    /// Kills everything in the environments of instance `name` (a server that is gone) and
    /// removes its cgroups. True when nothing of it is left.
    pub(crate) fn reap_instance(&self, name: &str) -> bool {
        let instance: Vec<PathBuf> = self.parents.iter().map(|p| p.join(name)).collect();
        for env in self.union_of_children(&instance) {
            let cgroup = self.cgroup_at(instance.iter().map(|dir| dir.join(&env)).collect());
            cgroup.kill_all();
            let _ = cgroup.remove();
        }
        instance.iter().all(|dir| match self.sys.remove_dir(dir) {
            Err(error) => error.kind() == std::io::ErrorKind::NotFound,
            Ok(()) => true,
        })
    }

    /// The names of the subdirectories of any of `dirs`, each once, sorted.
    fn union_of_children(&self, dirs: &[PathBuf]) -> Vec<String> {
        let mut names: Vec<String> = dirs
            .iter()
            .flat_map(|dir| self.sys.children(dir).unwrap_or_default())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Creates the cgroup of a new environment.
    pub(crate) fn create(&self) -> Result<Cgroup, CgroupError> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let dirs: Vec<PathBuf> = self
            .instance
            .iter()
            .map(|dir| dir.join(format!("e{n}")))
            .collect();
        for dir in &dirs {
            self.make_dir(dir)?;
        }
        Ok(self.cgroup_at(dirs))
    }

    fn cgroup_at(&self, dirs: Vec<PathBuf>) -> Cgroup {
        Cgroup {
            v2: matches!(self.layout, Layout::V2 { .. }),
            dirs,
            sys: Arc::clone(&self.sys),
            peak: OnceLock::new(),
        }
    }

    /// Removes this server's instance cgroups; environments' cgroups must be gone already.
    pub(crate) fn remove_instance(&self) -> bool {
        // Every directory is tried, even after one failed.
        let failed = self
            .instance
            .iter()
            .filter(|dir| self.sys.remove_dir(dir).is_err())
            .count();
        failed == 0
    }
}

fn write(sys: &dyn CgroupSys, path: &Path, value: &str) -> Result<(), CgroupError> {
    sys.write(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source,
    })
}

/// One environment's cgroup (one directory per hierarchy).
pub(crate) struct Cgroup {
    v2: bool,
    /// v1: memory, cpu, pids, freezer; v2: the one directory.
    dirs: Vec<PathBuf>,
    sys: Arc<dyn CgroupSys>,
    /// The peak memory file, opened at its first read.
    peak: OnceLock<Box<dyn Reread>>,
}

impl fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cgroup")
            .field("dirs", &self.dirs)
            .finish_non_exhaustive()
    }
}

/// Which hierarchy a v1 file lives in.
#[derive(Clone, Copy)]
enum Controller {
    Memory = 0,
    Cpu = 1,
    Pids = 2,
    Freezer = 3,
}

impl Cgroup {
    fn file(&self, controller: Controller, name: &str) -> PathBuf {
        let dir = if self.v2 {
            &self.dirs[0]
        } else {
            &self.dirs[controller as usize]
        };
        dir.join(name)
    }

    fn write(&self, controller: Controller, name: &str, value: &str) -> Result<(), CgroupError> {
        write(self.sys.as_ref(), &self.file(controller, name), value)
    }

    /// Limits memory to `memory_mb` without swap, and tasks to [`PIDS_MAX`].
    pub(crate) fn limit(&self, memory_mb: u32) -> Result<(), CgroupError> {
        let bytes = (u64::from(memory_mb) * 1024 * 1024).to_string();
        if self.v2 {
            self.write(Controller::Memory, "memory.max", &bytes)?;
            let swap = self.file(Controller::Memory, "memory.swap.max");
            if self.sys.exists(&swap) {
                write(self.sys.as_ref(), &swap, "0")?;
            }
        } else {
            self.write(Controller::Memory, "memory.limit_in_bytes", &bytes)?;
            // memory+swap equal to memory means no swap; the file exists only with swap
            // accounting.
            let memsw = self.file(Controller::Memory, "memory.memsw.limit_in_bytes");
            if self.sys.exists(&memsw) {
                write(self.sys.as_ref(), &memsw, &bytes)?;
            }
        }
        self.write(Controller::Pids, "pids.max", &PIDS_MAX.to_string())
    }

    /// Gives the environment the CPU share Lambda gives its memory size (one vCPU at 1769 MB).
    pub(crate) fn limit_cpu(&self, memory_mb: u32) -> Result<(), CgroupError> {
        let quota = (u64::from(memory_mb) * CPU_PERIOD_US / MB_PER_VCPU).max(CPU_QUOTA_MIN_US);
        if self.v2 {
            self.write(
                Controller::Cpu,
                "cpu.max",
                &format!("{quota} {CPU_PERIOD_US}"),
            )
        } else {
            self.write(
                Controller::Cpu,
                "cpu.cfs_period_us",
                &CPU_PERIOD_US.to_string(),
            )?;
            self.write(Controller::Cpu, "cpu.cfs_quota_us", &quota.to_string())
        }
    }

    /// The `cgroup.procs` files a process writes `0` into to join this cgroup.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    /// Stops every task of the cgroup until [`Cgroup::thaw`].
    pub(crate) fn freeze(&self) -> Result<(), CgroupError> {
        if self.v2 {
            self.write(Controller::Freezer, "cgroup.freeze", "1")
        } else {
            self.write(Controller::Freezer, "freezer.state", "FROZEN")
        }
    }

    pub(crate) fn thaw(&self) -> Result<(), CgroupError> {
        if self.v2 {
            self.write(Controller::Freezer, "cgroup.freeze", "0")
        } else {
            self.write(Controller::Freezer, "freezer.state", "THAWED")
        }
    }

    /// Whether every task is frozen.
    pub(crate) fn is_frozen(&self) -> bool {
        if self.v2 {
            let events = self
                .sys
                .read(&self.file(Controller::Freezer, "cgroup.events"));
            events.is_ok_and(|text| field(&text, "frozen") == Some(1))
        } else {
            let state = self
                .sys
                .read(&self.file(Controller::Freezer, "freezer.state"));
            state.is_ok_and(|text| text.trim() == "FROZEN")
        }
    }

    /// The most memory the cgroup used at once, in bytes.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        let name = if self.v2 {
            "memory.peak"
        } else {
            "memory.max_usage_in_bytes"
        };
        let peak = match self.peak.get() {
            Some(peak) => peak,
            None => {
                let opened = self
                    .sys
                    .open_for_rereads(&self.file(Controller::Memory, name))
                    .ok()?;
                self.peak.get_or_init(|| opened)
            }
        };
        peak.reread().ok()?.trim().parse().ok()
    }

    /// How many tasks the kernel killed for exceeding the memory limit.
    pub(crate) fn oom_kills(&self) -> u64 {
        let name = if self.v2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        let text = self
            .sys
            .read(&self.file(Controller::Memory, name))
            .unwrap_or_default();
        field(&text, "oom_kill").unwrap_or(0)
    }

    /// Kills every task of the cgroup, frozen or not.
    pub(crate) fn kill_all(&self) {
        if self.v2 {
            let kill = self.file(Controller::Freezer, "cgroup.kill");
            if self.sys.write(&kill, "1").is_ok() {
                return;
            }
        }
        // Frozen tasks cannot fork while they are signalled, and SIGKILL takes effect as soon
        // as they are thawed.
        let _ = self.freeze();
        let procs = self
            .sys
            .read(&self.file(Controller::Freezer, "cgroup.procs"))
            .unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            self.sys.kill(pid);
        }
        let _ = self.thaw();
    }

    /// Removes the cgroup's directories; fails while tasks remain.
    pub(crate) fn remove(&self) -> std::io::Result<()> {
        let mut result = Ok(());
        for dir in &self.dirs {
            match self.sys.remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => result = Err(e),
                _ => {}
            }
        }
        result
    }
}

/// The number after `name` in a `key value` file (`memory.events`, `memory.oom_control`).
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::sys::Recorder;
    use super::*;

    fn v1() -> Layout {
        Layout::V1 {
            memory: "/cg/memory/own".into(),
            cpu: "/cg/cpu".into(),
            pids: "/cg/pids".into(),
            freezer: "/cg/freezer".into(),
        }
    }

    fn v2() -> Layout {
        Layout::V2 {
            own: "/cg/own".into(),
        }
    }

    #[track_caller]
    fn check(
        layout: Layout,
        existing: &[(&str, &str)],
        act: impl FnOnce(&Cgroups),
        expect: &[&str],
    ) {
        let recorder = Arc::new(Recorder::with_files(existing));
        let cgroups = Cgroups::open(layout, recorder.clone(), 7, 0).unwrap();
        recorder.clear();
        act(&cgroups);
        assert_eq!(recorder.log(), expect);
    }

    #[test]
    fn opening_creates_the_instance_and_hands_down_v2_controllers() {
        let recorder = Arc::new(Recorder::with_files(&[(
            "/cg/own/cgroup.controllers",
            "cpu io memory pids",
        )]));
        Cgroups::open(v2(), recorder.clone(), 7, 0).unwrap();
        assert_eq!(
            recorder.log(),
            [
                "mkdir /cg/own/flint",
                "write /cg/own/cgroup.subtree_control +memory +pids +cpu",
                "mkdir /cg/own/flint/i7-0",
            ]
        );
        let recorder = Arc::new(Recorder::default());
        Cgroups::open(v1(), recorder.clone(), 7, 0).unwrap();
        assert_eq!(
            recorder.log().len(),
            8,
            "flint and flint/i7-0 in four hierarchies"
        );
    }

    #[test]
    fn v1_limits_memory_without_swap_cpu_and_tasks() {
        check(
            v1(),
            &[(
                "/cg/memory/own/flint/i7-0/e0/memory.memsw.limit_in_bytes",
                "",
            )],
            |cgroups| {
                let cgroup = cgroups.create().unwrap();
                cgroup.limit(128).unwrap();
                cgroup.limit_cpu(1769).unwrap();
            },
            &[
                "mkdir /cg/memory/own/flint/i7-0/e0",
                "mkdir /cg/cpu/flint/i7-0/e0",
                "mkdir /cg/pids/flint/i7-0/e0",
                "mkdir /cg/freezer/flint/i7-0/e0",
                "write /cg/memory/own/flint/i7-0/e0/memory.limit_in_bytes 134217728",
                "write /cg/memory/own/flint/i7-0/e0/memory.memsw.limit_in_bytes 134217728",
                "write /cg/pids/flint/i7-0/e0/pids.max 1024",
                "write /cg/cpu/flint/i7-0/e0/cpu.cfs_period_us 10000",
                "write /cg/cpu/flint/i7-0/e0/cpu.cfs_quota_us 10000",
            ],
        );
    }

    #[test]
    fn v2_limits_memory_without_swap_cpu_and_tasks() {
        check(
            v2(),
            &[("/cg/own/flint/i7-0/e0/memory.swap.max", "max")],
            |cgroups| {
                let cgroup = cgroups.create().unwrap();
                cgroup.limit(3538).unwrap();
                cgroup.limit_cpu(128).unwrap();
            },
            &[
                "mkdir /cg/own/flint/i7-0/e0",
                "write /cg/own/flint/i7-0/e0/memory.max 3709861888",
                "write /cg/own/flint/i7-0/e0/memory.swap.max 0",
                "write /cg/own/flint/i7-0/e0/pids.max 1024",
                "write /cg/own/flint/i7-0/e0/cpu.max 1000 10000",
            ],
        );
    }

    #[test]
    fn freezing_and_killing_per_version() {
        check(
            v1(),
            &[("/cg/freezer/flint/i7-0/e0/cgroup.procs", "12\n13\n")],
            |cgroups| {
                let cgroup = cgroups.create().unwrap();
                cgroup.freeze().unwrap();
                cgroup.thaw().unwrap();
                cgroup.kill_all();
            },
            &[
                "mkdir /cg/memory/own/flint/i7-0/e0",
                "mkdir /cg/cpu/flint/i7-0/e0",
                "mkdir /cg/pids/flint/i7-0/e0",
                "mkdir /cg/freezer/flint/i7-0/e0",
                "write /cg/freezer/flint/i7-0/e0/freezer.state FROZEN",
                "write /cg/freezer/flint/i7-0/e0/freezer.state THAWED",
                "write /cg/freezer/flint/i7-0/e0/freezer.state FROZEN",
                "kill 12",
                "kill 13",
                "write /cg/freezer/flint/i7-0/e0/freezer.state THAWED",
            ],
        );
        check(
            v2(),
            &[],
            |cgroups| {
                let cgroup = cgroups.create().unwrap();
                cgroup.freeze().unwrap();
                cgroup.thaw().unwrap();
                cgroup.kill_all();
            },
            &[
                "mkdir /cg/own/flint/i7-0/e0",
                "write /cg/own/flint/i7-0/e0/cgroup.freeze 1",
                "write /cg/own/flint/i7-0/e0/cgroup.freeze 0",
                "write /cg/own/flint/i7-0/e0/cgroup.kill 1",
            ],
        );
    }

    #[test]
    fn reads_peak_memory_and_oom_kills() {
        let recorder = Arc::new(Recorder::with_files(&[
            (
                "/cg/memory/own/flint/i7-0/e0/memory.max_usage_in_bytes",
                "4096\n",
            ),
            (
                "/cg/memory/own/flint/i7-0/e0/memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
            ),
            ("/cg/own/flint/i7-0/e0/memory.peak", "8192\n"),
            (
                "/cg/own/flint/i7-0/e0/memory.events",
                "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
            ),
        ]));
        let first = Cgroups::open(v1(), recorder.clone(), 7, 0)
            .unwrap()
            .create()
            .unwrap();
        assert_eq!((first.peak_bytes(), first.oom_kills()), (Some(4096), 2));
        let second = Cgroups::open(v2(), recorder, 7, 0)
            .unwrap()
            .create()
            .unwrap();
        assert_eq!((second.peak_bytes(), second.oom_kills()), (Some(8192), 1));
    }

    #[test]
    fn a_stale_instance_is_found_in_any_hierarchy() {
        // The old server ran in another memory cgroup: its instance is left in the others.
        check(
            v1(),
            &[
                ("/cg/freezer/flint/i5-2/e3/cgroup.procs", "99\n"),
                ("/cg/cpu/flint/i5-2/e3/cpu.shares", "1024"),
            ],
            |cgroups| assert_eq!(cgroups.clean_stale(|_| false), 1),
            &[
                "write /cg/freezer/flint/i5-2/e3/freezer.state FROZEN",
                "kill 99",
                "write /cg/freezer/flint/i5-2/e3/freezer.state THAWED",
                "rmdir /cg/memory/own/flint/i5-2/e3",
                "rmdir /cg/cpu/flint/i5-2/e3",
                "rmdir /cg/pids/flint/i5-2/e3",
                "rmdir /cg/freezer/flint/i5-2/e3",
                "rmdir /cg/memory/own/flint/i5-2",
                "rmdir /cg/cpu/flint/i5-2",
                "rmdir /cg/pids/flint/i5-2",
                "rmdir /cg/freezer/flint/i5-2",
            ],
        );
    }

    #[test]
    fn stale_instances_are_killed_and_removed() {
        check(
            v2(),
            &[
                ("/cg/own/flint/i7-0", ""),
                ("/cg/own/flint/i5-2/e3/cgroup.procs", "99\n"),
                ("/cg/own/flint/i6-0/e0/cgroup.procs", ""),
                ("/cg/own/flint/other", ""),
            ],
            |cgroups| assert_eq!(cgroups.clean_stale(|pid| pid == 6), 1),
            &[
                "write /cg/own/flint/i5-2/e3/cgroup.kill 1",
                "rmdir /cg/own/flint/i5-2/e3",
                "rmdir /cg/own/flint/i5-2",
            ],
        );
    }
}
