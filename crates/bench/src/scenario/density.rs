//! Density: how many idle warm environments fit in a GiB of the host's memory. N copies of the
//! echo function are deployed and invoked once each, so each keeps one idle (frozen)
//! environment; the growth of the memory held on the host (private memory of every process,
//! flint's included, and unreclaimable kernel objects: page tables, cgroups, network
//! namespaces), divided by N, is one environment's cost.

use std::time::Duration;

use anyhow::{Context, anyhow};

use crate::control::ControlPlane;
use crate::echo;
use crate::loadgen::Invocation;
use crate::report::{Section, thousands, verdict};
use crate::server::Endpoint;

/// Target of the sandbox issue.
const TARGET_PER_GIB: f64 = 1_000.0;

/// How long environments get to go idle and be frozen before memory is read.
const SETTLE: Duration = Duration::from_secs(2);

/// Reads of used memory whose median is taken, and the pause between them.
const READS: usize = 5;
const READ_PAUSE: Duration = Duration::from_millis(400);

/// What the density scenario measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Density {
    pub(crate) environments: usize,
    pub(crate) before: Memory,
    pub(crate) after: Memory,
}

/// The parts of `/proc/meminfo` an idle environment grows, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Memory {
    /// Memory nothing but the end of its owner gives back: anonymous pages (the processes'
    /// heaps and stacks, flint's own included), tmpfs contents, unreclaimable slab (network
    /// namespaces, cgroups, mounts, tasks, sockets), kernel stacks, page tables and per-CPU
    /// data. Page cache and reclaimable slab are left out: the kernel takes them back when
    /// memory runs short, and shared program text is one copy for every environment.
    pub(crate) held_kib: u64,
    /// MemTotal - MemAvailable: the kernel's own estimate, which also moves with the page
    /// cache (writeback, other processes), so it is shown but not judged.
    pub(crate) used_kib: u64,
}

/// The `/proc/meminfo` fields that make up [`Memory::held_kib`].
const HELD: [&str; 6] = [
    "AnonPages:",
    "Shmem:",
    "SUnreclaim:",
    "KernelStack:",
    "PageTables:",
    "Percpu:",
];

/// Deploys `count` copies of the echo, measures used memory, invokes each copy once, measures
/// again, and deletes the copies.
pub(crate) async fn run(
    control: &ControlPlane,
    endpoint: &Endpoint,
    function: &str,
    zip: &[u8],
    count: usize,
) -> anyhow::Result<Density> {
    let names: Vec<String> = (0..count).map(|n| format!("{function}-d{n}")).collect();
    let mut created = Vec::with_capacity(count);
    let outcome = async {
        for name in &names {
            control.create_function(name, zip).await?;
            created.push(name.clone());
        }
        let before = settled_memory().await?;
        for name in &names {
            let invocation = Invocation::new(endpoint, name, echo::payload())?;
            invocation
                .connect()
                .await?
                .invoke(false)
                .await
                .map_err(|failure| anyhow!("invoke {name}: {failure}"))?;
        }
        let after = settled_memory().await?;
        Ok(Density {
            environments: count,
            before,
            after,
        })
    }
    .await;
    for name in &created {
        if let Err(error) = control.delete_function(name).await {
            eprintln!("warning: could not delete {name}: {error:#}");
        }
    }
    outcome
}

/// The median of a few reads of memory, after the environments had time to go idle.
async fn settled_memory() -> anyhow::Result<Memory> {
    tokio::time::sleep(SETTLE).await;
    let mut reads = Vec::with_capacity(READS);
    for _ in 0..READS {
        let meminfo = std::fs::read_to_string("/proc/meminfo").context("read /proc/meminfo")?;
        reads.push(Memory::parse(&meminfo).context("/proc/meminfo lacks a field density reads")?);
        tokio::time::sleep(READ_PAUSE).await;
    }
    let median = |key: fn(&Memory) -> u64| {
        let mut values: Vec<u64> = reads.iter().map(key).collect();
        values.sort_unstable();
        values[READS / 2]
    };
    Ok(Memory {
        held_kib: median(|memory| memory.held_kib),
        used_kib: median(|memory| memory.used_kib),
    })
}

impl Memory {
    /// Reads a `/proc/meminfo` text; `None` when a field is missing.
    fn parse(meminfo: &str) -> Option<Memory> {
        let field = |name: &str| -> Option<u64> {
            let line = meminfo.lines().find(|line| line.starts_with(name))?;
            line[name.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        let held_kib = HELD.iter().map(|name| field(name)).sum::<Option<u64>>()?;
        let used_kib = field("MemTotal:")?.checked_sub(field("MemAvailable:")?)?;
        Some(Memory { held_kib, used_kib })
    }
}

impl Density {
    /// KiB held per idle environment.
    pub(crate) fn per_environment_kib(&self) -> f64 {
        self.per_environment(self.before.held_kib, self.after.held_kib)
    }

    /// KiB of MemTotal - MemAvailable per idle environment.
    pub(crate) fn used_per_environment_kib(&self) -> f64 {
        self.per_environment(self.before.used_kib, self.after.used_kib)
    }

    fn per_environment(&self, before: u64, after: u64) -> f64 {
        after.saturating_sub(before) as f64 / self.environments.max(1) as f64
    }

    /// Idle environments per GiB.
    pub(crate) fn per_gib(&self) -> f64 {
        (1024.0 * 1024.0) / self.per_environment_kib().max(1.0)
    }

    pub(crate) fn section(&self) -> Section {
        let mib = |kib: u64| thousands(kib / 1024);
        let per_gib = self.per_gib();
        Section {
            title: "Density".to_owned(),
            measured: format!(
                "{} copies of the echo function are deployed, then each is invoked once, so \
                 each keeps one idle environment (frozen after 100 ms). The memory held on the \
                 host (/proc/meminfo AnonPages + Shmem + SUnreclaim + KernelStack + PageTables \
                 + Percpu: the processes' private memory, flint's included, and the kernel \
                 objects of namespaces, cgroups, mounts, tasks and sockets; not the page cache \
                 or reclaimable slab) is read before the invokes and after them, each time as \
                 the median of {READS} reads once things settled; the growth divided by the \
                 number of environments is one environment's cost. MemTotal - MemAvailable is \
                 shown beside it; it also moves with the page cache. flint must run on this \
                 machine, and anything else that grew meanwhile counts too.",
                thousands(self.environments as u64)
            ),
            header: [
                "Environments",
                "Held before (MiB)",
                "Held after (MiB)",
                "Per environment (KiB)",
                "Per GiB",
                "Used per environment (KiB)",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: vec![vec![
                thousands(self.environments as u64),
                mib(self.before.held_kib),
                mib(self.after.held_kib),
                thousands(self.per_environment_kib().round() as u64),
                thousands(per_gib.round() as u64),
                thousands(self.used_per_environment_kib().round() as u64),
            ]],
            notes: vec![format!(
                "Target: >= 1,000 idle environments per GiB: {}.",
                verdict(per_gib >= TARGET_PER_GIB)
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_adds_what_environments_hold_and_subtracts_what_is_available() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:        1000 kB\n\
                       MemAvailable:   20000000 kB\nAnonPages:  300 kB\nShmem:  20 kB\n\
                       SReclaimable: 999 kB\nSUnreclaim:  500 kB\nKernelStack:  32 kB\n\
                       PageTables:  100 kB\nPercpu:  8 kB\n";
        assert_eq!(
            Memory::parse(meminfo),
            Some(Memory {
                held_kib: 960,
                used_kib: 4_000_000
            })
        );
        assert_eq!(Memory::parse("MemTotal: 10 kB\n"), None);
    }

    #[test]
    fn density_divides_the_growth() {
        let density = Density {
            environments: 400,
            before: Memory {
                held_kib: 800 * 1024,
                used_kib: 1_000 * 1024,
            },
            after: Memory {
                held_kib: 1_100 * 1024,
                used_kib: 1_400 * 1024,
            },
        };
        assert_eq!(density.per_environment_kib(), 768.0);
        assert_eq!(density.used_per_environment_kib(), 1024.0);
        assert!((density.per_gib() - 1365.33).abs() < 0.01);
        let section = density.section();
        assert_eq!(
            section.rows[0],
            ["400", "800", "1,100", "768", "1,365", "1,024"]
        );
        assert!(section.notes[0].ends_with("met."), "{:?}", section.notes);
    }
}
