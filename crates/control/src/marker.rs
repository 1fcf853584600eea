//! The opaque `Marker` / `NextMarker` of ListFunctions: the name of the last function of the
//! previous page, base64url-encoded so callers do not build markers themselves.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use model::{ValidationError, validate};

/// The marker that continues a listing after the function `last_name`.
pub(crate) fn encode(last_name: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_name)
}

/// The function name a marker continues after.
pub(crate) fn decode(marker: &str) -> Result<String, ValidationError> {
    URL_SAFE_NO_PAD
        .decode(marker)
        .ok()
        .and_then(|raw| String::from_utf8(raw).ok())
        .filter(|name| model::arn::is_plain_name(name))
        .ok_or_else(|| validate::invalid(format!("Invalid marker: {marker}")))
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
    fn foreign_markers_are_refused() {
        for marker in ["", "not base64!", &URL_SAFE_NO_PAD.encode("has space")] {
            let err = decode(marker).unwrap_err();
            assert!(err.message.starts_with("Invalid marker"), "{marker}");
        }
    }
}
