//! Facts about the machine the benchmark ran on, for the report.

use std::fs;

/// What a reader needs to compare results between machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) kernel: String,
    /// The 1, 5 and 15 minute load averages when the benchmark started: other work on the
    /// machine takes CPU from flint and the load generator and skews every number.
    pub(crate) load: String,
    /// When the benchmark ran, in UTC.
    pub(crate) date: String,
}

impl Machine {
    /// Reads `/proc`; a fact that cannot be read is shown as `unknown`.
    pub(crate) fn detect() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| format!("Linux {}", release.trim()))
            .unwrap_or_else(|_| "unknown".to_owned());
        let loadavg = fs::read_to_string("/proc/loadavg").unwrap_or_default();
        Self {
            load: load_averages(&loadavg).unwrap_or_else(|| "unknown".to_owned()),
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".to_owned()),
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            kernel,
            date: jiff::Timestamp::now()
                .strftime("%Y-%m-%d %H:%M UTC")
                .to_string(),
        }
    }
}

/// The first `model name` in `/proc/cpuinfo`, with runs of spaces squeezed.
fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

/// `1.02 / 0.51 / 0.20` from the first three fields of `/proc/loadavg`.
fn load_averages(loadavg: &str) -> Option<String> {
    let averages: Vec<&str> = loadavg.split_whitespace().take(3).collect();
    (averages.len() == 3).then(|| averages.join(" / "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_model_comes_from_the_first_processor() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\n\
                       model name\t: Intel(R) Xeon(R)  Platinum 8488C\nflags\t\t: fpu\n\n\
                       processor\t: 1\nmodel name\t: Other\n";
        assert_eq!(
            cpu_model(cpuinfo).as_deref(),
            Some("Intel(R) Xeon(R) Platinum 8488C")
        );
        assert_eq!(cpu_model("processor\t: 0\nmodel\t\t: 143\n"), None);
        assert_eq!(cpu_model(""), None);
    }

    #[test]
    fn load_averages_are_the_first_three_fields() {
        assert_eq!(
            load_averages("4.85 4.59 3.41 3/512 19168\n").as_deref(),
            Some("4.85 / 4.59 / 3.41")
        );
        assert_eq!(load_averages("4.85\n"), None);
    }

    #[test]
    fn this_machine_is_described() {
        let machine = Machine::detect();
        assert!(machine.cores >= 1);
        assert!(machine.kernel.starts_with("Linux "), "{}", machine.kernel);
        assert!(machine.date.ends_with(" UTC"), "{}", machine.date);
        assert_eq!(machine.load.matches(" / ").count(), 2, "{}", machine.load);
    }
}
