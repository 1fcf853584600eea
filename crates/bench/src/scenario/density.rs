//! Density: how many idle warm environments fit in a GiB of the host's memory. N copies of the
//! echo function are deployed and invoked once each, so each keeps one idle (frozen)
//! environment; the growth of the host's used memory, divided by N, is one environment's cost,
//! kernel objects (page tables, cgroups, network namespaces) included.

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
    /// Host memory in use (MemTotal - MemAvailable) before and after, in KiB.
    pub(crate) used_before_kib: u64,
    pub(crate) used_after_kib: u64,
}

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
        let used_before_kib = settled_used_kib().await?;
        for name in &names {
            let invocation = Invocation::new(endpoint, name, echo::payload())?;
            invocation
                .connect()
                .await?
                .invoke(false)
                .await
                .map_err(|failure| anyhow!("invoke {name}: {failure}"))?;
        }
        let used_after_kib = settled_used_kib().await?;
        Ok(Density {
            environments: count,
            used_before_kib,
            used_after_kib,
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

/// The median of a few reads of used memory, after the environments had time to go idle.
async fn settled_used_kib() -> anyhow::Result<u64> {
    tokio::time::sleep(SETTLE).await;
    let mut reads = Vec::with_capacity(READS);
    for _ in 0..READS {
        let meminfo = std::fs::read_to_string("/proc/meminfo").context("read /proc/meminfo")?;
        reads.push(used_kib(&meminfo).context("/proc/meminfo has no MemTotal or MemAvailable")?);
        tokio::time::sleep(READ_PAUSE).await;
    }
    reads.sort_unstable();
    Ok(reads[READS / 2])
}

/// MemTotal - MemAvailable of a `/proc/meminfo` text, in KiB: memory the kernel cannot hand
/// out without taking it from someone (reclaimable caches do not count).
fn used_kib(meminfo: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = meminfo.lines().find(|line| line.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    field("MemTotal:")?.checked_sub(field("MemAvailable:")?)
}

impl Density {
    /// KiB of used memory per idle environment.
    pub(crate) fn per_environment_kib(&self) -> f64 {
        self.used_after_kib.saturating_sub(self.used_before_kib) as f64
            / self.environments.max(1) as f64
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
                 each keeps one idle environment (frozen after 100 ms). The host's used memory \
                 (MemTotal - MemAvailable: page tables, cgroups, network namespaces and the \
                 processes count, reclaimable caches do not) is read before the invokes and \
                 after them, each time as the median of {READS} reads once things settled; the \
                 growth divided by the number of environments is one environment's cost. flint \
                 must run on this machine, and anything else that grew meanwhile counts too.",
                thousands(self.environments as u64)
            ),
            header: [
                "Environments",
                "Used before (MiB)",
                "Used after (MiB)",
                "Per environment (KiB)",
                "Per GiB",
            ]
            .map(str::to_owned)
            .to_vec(),
            rows: vec![vec![
                thousands(self.environments as u64),
                mib(self.used_before_kib),
                mib(self.used_after_kib),
                thousands(self.per_environment_kib().round() as u64),
                thousands(per_gib.round() as u64),
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
    fn used_memory_is_total_minus_available() {
        let meminfo =
            "MemTotal:       24000000 kB\nMemFree:        1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(used_kib(meminfo), Some(4_000_000));
        assert_eq!(used_kib("MemTotal: 10 kB\n"), None);
    }

    #[test]
    fn density_divides_the_growth() {
        let density = Density {
            environments: 400,
            used_before_kib: 800 * 1024,
            used_after_kib: 1_100 * 1024,
        };
        assert_eq!(density.per_environment_kib(), 768.0);
        assert!((density.per_gib() - 1365.33).abs() < 0.01);
        let section = density.section();
        assert_eq!(section.rows[0], ["400", "800", "1,100", "768", "1,365"]);
        assert!(section.notes[0].ends_with("met."), "{:?}", section.notes);
    }
}
