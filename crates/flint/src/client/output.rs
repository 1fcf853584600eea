//! How the client shows sizes, times and progress.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// A byte count as people read it: `512 B`, `1.5 KB`, `3.2 MB` (powers of 1024, as Lambda's
/// limits are).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Parses Lambda's `LastModified` (`2020-04-10T19:06:32.563+0000`).
pub(crate) fn parse_last_modified(text: &str) -> Option<Timestamp> {
    jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", text)
        .ok()?
        .to_timestamp()
        .ok()
}

/// A `LastModified` value shown in `zone` to the second; text that does not parse is shown as is.
pub(crate) fn format_last_modified(text: &str, zone: &TimeZone) -> String {
    match parse_last_modified(text) {
        Some(time) => time
            .to_zoned(zone.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        None => text.to_owned(),
    }
}

/// A spinner on stderr for a step that may take a while, cleared when dropped (also when the
/// step fails); indicatif hides it when stderr is not a terminal.
pub(crate) fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner()
        .with_message(message)
        .with_finish(ProgressFinish::AndClear);
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_people_write_them() {
        let check = |bytes, expect: &str| assert_eq!(human_size(bytes), expect);
        check(0, "0 B");
        check(1023, "1023 B");
        check(1024, "1.0 KB");
        check(1536, "1.5 KB");
        check(3_355_443, "3.2 MB");
        check(52_428_800, "50.0 MB");
        check(5 * 1024 * 1024 * 1024, "5.0 GB");
        check(u64::MAX, "16777216.0 TB");
    }

    #[test]
    fn last_modified_is_shown_in_the_given_zone() {
        let check =
            |text, expect: &str| assert_eq!(format_last_modified(text, &TimeZone::UTC), expect);
        check("2020-04-10T19:06:32.563+0000", "2020-04-10 19:06:32");
        check("2020-04-10T21:06:32.563+0200", "2020-04-10 19:06:32");
        check("2020-04-10T19:06:32+0000", "2020-04-10 19:06:32");
        check("yesterday", "yesterday");
    }
}
