//! Identifiers that Lambda hands out: request ids, revision ids, X-Ray trace headers and log
//! stream names.

use jiff::Timestamp;
use rand::Rng;

/// A new request id (UUID v4, as Lambda's).
pub fn request_id() -> String {
    // From the thread's generator (seeded from the OS), not a system call per invocation.
    uuid::Builder::from_random_bytes(rand::rng().random())
        .into_uuid()
        .to_string()
}

/// A new revision id (UUID v4).
pub fn revision_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A new X-Ray trace header for an invocation that arrived without one.
pub fn trace_header(now: Timestamp) -> String {
    let mut rng = rand::rng();
    let root: u128 = rng.random::<u128>() & ((1u128 << 96) - 1);
    let parent: u64 = rng.random();
    format!(
        "Root=1-{:08x}-{root:024x};Parent={parent:016x};Sampled=0;Lineage=1:{:08x}:0",
        now.as_second(),
        rng.random::<u32>()
    )
}

/// A log stream name as Lambda makes them: `2026/09/14/[$LATEST]<32 hex>`.
pub fn log_stream_name(now: Timestamp, version: &str) -> String {
    let date = now.strftime("%Y/%m/%d");
    format!("{date}/[{version}]{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_distinct_random_uuids() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let parsed = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(parsed.get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(parsed.to_string(), id, "lower-case hyphenated");
        }
    }

    #[test]
    fn trace_header_has_the_xray_shape() {
        let now: Timestamp = "2024-01-29T16:41:15Z".parse().unwrap();
        let header = trace_header(now);
        let root = header.split(';').next().unwrap();
        let parts: Vec<&str> = root.trim_start_matches("Root=").split('-').collect();
        assert_eq!(parts.len(), 3, "{header}");
        assert_eq!(parts[1], format!("{:08x}", now.as_second()));
        assert_eq!(parts[2].len(), 24);
    }

    #[test]
    fn log_stream_names_carry_date_and_version() {
        let now: Timestamp = "2026-09-14T10:00:00Z".parse().unwrap();
        let name = log_stream_name(now, "$LATEST");
        assert!(name.starts_with("2026/09/14/[$LATEST]"), "{name}");
        assert_eq!(name.len(), "2026/09/14/[$LATEST]".len() + 32);
    }
}
