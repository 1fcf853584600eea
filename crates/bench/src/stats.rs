//! Latency statistics: nearest-rank percentiles over recorded samples.

use std::time::Duration;

/// A percentile in parts per thousand, so that p99.9 is exact (999) rather than a float that
/// rounds the rank up by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Permille(pub(crate) u64);

pub(crate) const P50: Permille = Permille(500);
pub(crate) const P90: Permille = Permille(900);
pub(crate) const P99: Permille = Permille(990);
pub(crate) const P999: Permille = Permille(999);

/// The distribution of a set of latency samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) count: usize,
    pub(crate) p50: Duration,
    pub(crate) p90: Duration,
    pub(crate) p99: Duration,
    pub(crate) p999: Duration,
    pub(crate) max: Duration,
}

impl Summary {
    /// Summarises `samples` (sorting them in place), or `None` when there are none.
    pub(crate) fn of(samples: &mut [Duration]) -> Option<Self> {
        samples.sort_unstable();
        let max = *samples.last()?;
        Some(Self {
            count: samples.len(),
            p50: percentile(samples, P50),
            p90: percentile(samples, P90),
            p99: percentile(samples, P99),
            p999: percentile(samples, P999),
            max,
        })
    }
}

/// The nearest-rank percentile of `sorted`: the smallest sample that at least `p` of the samples
/// are less than or equal to. `sorted` must be sorted ascending and not empty.
pub(crate) fn percentile(sorted: &[Duration], p: Permille) -> Duration {
    let n = sorted.len() as u64;
    let rank = (p.0 * n).div_ceil(1000).clamp(1, n);
    // The rank is at most `n`, which came from a `usize`.
    sorted[(rank - 1) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_micros).collect()
    }

    fn check(values: &[u64], p: Permille, expect: u64) {
        let mut sorted = micros(values.iter().copied());
        sorted.sort_unstable();
        assert_eq!(
            percentile(&sorted, p),
            Duration::from_micros(expect),
            "p{} of {values:?}",
            p.0
        );
    }

    #[test]
    fn nearest_rank_percentiles_of_known_data() {
        let thousand: Vec<u64> = (1..=1000).collect();
        check(&thousand, P50, 500);
        check(&thousand, P90, 900);
        check(&thousand, P99, 990);
        check(&thousand, P999, 999);
        check(&thousand, Permille(1000), 1000);

        let ten: Vec<u64> = (1..=10).map(|v| v * 10).collect();
        check(&ten, P50, 50);
        check(&ten, P90, 90);
        check(&ten, P99, 100);
        check(&ten, P999, 100);

        check(&[7], P50, 7);
        check(&[7], P999, 7);
        check(&[1, 2], P50, 1);
        check(&[1, 2], P90, 2);
        check(&[5, 5, 5, 100], P50, 5);
        check(&[5, 5, 5, 100], P90, 100);
        check(&[3, 1, 2], Permille(0), 1);
    }

    #[test]
    fn summary_sorts_and_reports_every_percentile() {
        let mut samples = micros((1..=10_000).rev());
        let summary = Summary::of(&mut samples).unwrap();
        assert_eq!(
            summary,
            Summary {
                count: 10_000,
                p50: Duration::from_micros(5_000),
                p90: Duration::from_micros(9_000),
                p99: Duration::from_micros(9_900),
                p999: Duration::from_micros(9_990),
                max: Duration::from_micros(10_000),
            }
        );
        assert!(samples.is_sorted());
    }

    #[test]
    fn a_tail_outlier_shows_in_p999_and_max_only() {
        let mut samples = micros(std::iter::repeat_n(100, 999).chain([50_000]));
        let summary = Summary::of(&mut samples).unwrap();
        assert_eq!(summary.p99, Duration::from_micros(100));
        assert_eq!(summary.p999, Duration::from_micros(100));
        assert_eq!(summary.max, Duration::from_micros(50_000));
    }

    #[test]
    fn no_samples_have_no_summary() {
        assert_eq!(Summary::of(&mut []), None);
    }
}
