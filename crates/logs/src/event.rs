//! Events as readers get them.

use crate::cursor::StoredEvent;

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Name of the stream the event belongs to.
    pub stream: String,
    /// When the event happened, as given by the writer (ms since the epoch).
    pub timestamp_ms: i64,
    /// When the store received it (ms since the epoch).
    pub ingestion_ms: i64,
    pub message: String,
    /// Unique within the group and stable across reads: a 40-digit decimal string.
    pub event_id: String,
}

impl LogEvent {
    pub(crate) fn new(stream: &str, stored: StoredEvent) -> Self {
        LogEvent {
            event_id: format!("{:020}{:020}", stream_key(stream), stored.pos),
            stream: stream.to_owned(),
            timestamp_ms: stored.timestamp_ms,
            ingestion_ms: stored.ingestion_ms,
            message: stored.message,
        }
    }
}

/// A short, stable key of a stream name (64-bit FNV-1a), for event ids and pagination tokens.
/// It must not change between releases, which rules out `std`'s `DefaultHasher`.
pub(crate) fn stream_key(stream: &str) -> u64 {
    stream.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_key_is_fnv1a() {
        assert_eq!(stream_key(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_key("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(
            stream_key("2026/09/14/[$LATEST]0"),
            stream_key("2026/09/14/[$LATEST]1")
        );
    }
}
