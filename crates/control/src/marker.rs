//! The opaque `Marker` / `NextMarker` of every list operation: the key of the last item of the
//! previous page (a function name, an alias, a qualifier, a version), base64url-encoded so
//! callers do not build markers themselves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use model::{ValidationError, validate};

/// The marker that continues a listing after the item whose key is `last`.
pub(crate) fn encode(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last)
}

/// The function name a marker continues after.
pub(crate) fn decode(marker: &str) -> Result<String, ValidationError> {
    decode_key(marker, model::arn::is_plain_name)
}

/// The key a marker continues after, if it is one `valid` accepts.
pub(crate) fn decode_key(
    marker: &str,
    valid: impl Fn(&str) -> bool,
) -> Result<String, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .filter(|key| valid(key))
        .ok_or_else(|| validate::invalid(format!("Invalid marker: {marker}")))
}

/// Cuts `items`, fetched with one item more than `limit`, to a page; returns the `NextMarker`
/// when there is more.
pub(crate) fn next_page<T>(
    items: &mut Vec<T>,
    limit: usize,
    key: impl Fn(&T) -> String,
) -> Option<String> {
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(|last| encode(&key(last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for name in ["a", "hello-world_2", &"x".repeat(64)] {
            assert_eq!(decode(&encode(name)).unwrap(), name);
        }
    }

    #[test]
    fn pages_stop_at_the_limit_and_name_their_last_key() {
        let mut items = vec!["a", "b", "c"];
        assert_eq!(
            next_page(&mut items, 2, |s| s.to_string()),
            Some(encode("b"))
        );
        assert_eq!(items, ["a", "b"]);
        let mut items = vec!["a", "b"];
        assert_eq!(next_page(&mut items, 2, |s| s.to_string()), None);
        assert!(decode_key(&encode("x y"), |k| !k.contains(' ')).is_err());
    }

    #[test]
    fn foreign_markers_are_refused() {
        for marker in ["", "not base64!", &URL_SAFE_NO_PAD.encode("has space")] {
            let err = decode(marker).unwrap_err();
            assert!(err.message.starts_with("Invalid marker"), "{marker}");
        }
    }
}
