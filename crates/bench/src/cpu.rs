//! Where the CPU of an invoke goes: the CPU time (user + system, every thread) that flint, the
//! function's processes and the load generator spent during a timed window, from `/proc`.
//!
//! Processes are told apart by name: `flint` (the server), `bootstrap` (the echo function, as
//! deployed) and this process. On a machine where flint runs elsewhere (`--endpoint`), its
//! share and the function's read as zero.

use std::collections::HashMap;
use std::time::Duration;

/// The process name of the benchmarked server.
const SERVER: &str = "flint";
/// The process name of the deployed function (its executable is `bootstrap`).
const FUNCTION: &str = "bootstrap";
/// `/proc` counts CPU time in `USER_HZ` ticks: 100 per second on Linux, whatever the kernel's
/// own tick rate (`sysconf(_SC_CLK_TCK)` reports the same constant).
const USER_HZ: u32 = 100;

/// Who spent the CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Server,
    Function,
    Generator,
}

/// The CPU time every process of a role had spent at one moment, per pid (so a process that
/// ended or started in between counts only for what is known).
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    ticks: HashMap<u32, (Role, u64)>,
}

impl Snapshot {
    /// Reads `/proc/<pid>/stat` of every process of a role.
    pub(crate) fn take() -> Snapshot {
        let own = std::process::id();
        let mut ticks = HashMap::new();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Snapshot { ticks };
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some((name, spent)) = parse_stat(&stat) else {
                continue;
            };
            let role = match name {
                _ if pid == own => Role::Generator,
                SERVER => Role::Server,
                FUNCTION => Role::Function,
                _ => continue,
            };
            ticks.insert(pid, (role, spent));
        }
        Snapshot { ticks }
    }

    /// What each role spent from `self` until `later`.
    pub(crate) fn until(&self, later: &Snapshot) -> Split {
        let tick = Duration::from_secs(1) / USER_HZ;
        let mut split = Split::default();
        for (pid, (role, after)) in &later.ticks {
            let before = self.ticks.get(pid).map_or(0, |(_, before)| *before);
            let spent = tick * u32::try_from(after.saturating_sub(before)).unwrap_or(u32::MAX);
            match role {
                Role::Server => split.server += spent,
                Role::Function => split.function += spent,
                Role::Generator => split.generator += spent,
            }
        }
        split
    }
}

/// CPU time spent by each role over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Split {
    pub(crate) server: Duration,
    pub(crate) function: Duration,
    pub(crate) generator: Duration,
}

impl Split {
    /// Microseconds of each role per invoke: "server / function / generator".
    pub(crate) fn per_invoke(&self, invokes: usize) -> String {
        let Ok(invokes) = u32::try_from(invokes) else {
            return "-".to_owned();
        };
        if invokes == 0 {
            return "-".to_owned();
        }
        let each = |spent: Duration| (spent / invokes).as_micros();
        format!(
            "{} / {} / {}",
            each(self.server),
            each(self.function),
            each(self.generator)
        )
    }
}

/// The process name and its user + system time in clock ticks, from `/proc/<pid>/stat`. The
/// name sits in parentheses and may itself contain spaces and parentheses.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    // After the name: state (field 3) ... utime (14), stime (15).
    let mut fields = stat.get(close + 1..)?.split_ascii_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((name, user + system))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_name_and_cpu_time_from_stat() {
        let stat = "4172 (flint) S 1 4172 1 0 -1 4194560 12 0 0 0 250 75 0 0 20 0 3 0 1 0 0";
        assert_eq!(parse_stat(stat), Some(("flint", 325)));
        let odd = "9 (a (b) c) R 1 9 1 0 -1 0 0 0 0 0 7 5 0 0 20 0 1 0 1 0 0";
        assert_eq!(parse_stat(odd), Some(("a (b) c", 12)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn splits_per_role_and_counts_new_processes_whole() {
        let before = Snapshot {
            ticks: HashMap::from([
                (1, (Role::Server, 100)),
                (2, (Role::Function, 10)),
                (3, (Role::Function, 50)),
            ]),
        };
        let after = Snapshot {
            ticks: HashMap::from([
                (1, (Role::Server, 150)),
                (2, (Role::Function, 30)),
                (4, (Role::Function, 5)),
                (5, (Role::Generator, 8)),
            ]),
        };
        let tick = Duration::from_secs(1) / USER_HZ;
        let split = before.until(&after);
        assert_eq!(split.server, tick * 50);
        assert_eq!(
            split.function,
            tick * 25,
            "pid 3 ended: unknown, not negative"
        );
        assert_eq!(split.generator, tick * 8);
        assert_eq!(
            Split {
                server: Duration::from_millis(300),
                function: Duration::from_millis(400),
                generator: Duration::from_millis(100),
            }
            .per_invoke(4_000),
            "75 / 100 / 25"
        );
        assert_eq!(Split::default().per_invoke(0), "-");
    }
}
