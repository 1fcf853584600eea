//! The one place that reads the wall clock. Decisions take `now` as an argument; the server passes
//! `SystemClock`, tests pass fixed instants.

use jiff::Timestamp;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Formats a timestamp the way Lambda writes `LastModified`: `2020-04-10T19:06:32.563+0000`.
pub fn lambda_timestamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Formats a timestamp as ISO-8601 with milliseconds and a `Z`, as the Telemetry API and
/// destination records do.
pub fn iso_millis(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_lambda() {
        let t: Timestamp = "2020-04-10T19:06:32.563Z".parse().unwrap();
        assert_eq!(lambda_timestamp(t), "2020-04-10T19:06:32.563+0000");
        assert_eq!(iso_millis(t), "2020-04-10T19:06:32.563Z");
        let whole: Timestamp = "2020-04-10T19:06:32Z".parse().unwrap();
        assert_eq!(lambda_timestamp(whole), "2020-04-10T19:06:32.000+0000");
    }
}
