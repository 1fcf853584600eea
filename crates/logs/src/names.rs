//! Reversible mapping from log group and stream names to directory names.
//!
//! Group names contain '/', stream names contain '/', '[' and '$'. Every byte other than an
//! ASCII letter, digit, '-' or '_' is percent-encoded, so an encoded name never contains '/' and
//! never starts with '.': dot-names stay free for the store's own bookkeeping files.

use std::ffi::OsStr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::LogError;

const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// The longest file name Linux file systems accept.
const MAX_ENCODED_LEN: usize = 255;

/// Encodes a group or stream name into a directory name.
pub(crate) fn encode(name: &str) -> Result<String, LogError> {
    let invalid = |reason| LogError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("is empty"));
    }
    let encoded = utf8_percent_encode(name, ESCAPED).to_string();
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(invalid("is too long to store"));
    }
    Ok(encoded)
}

/// Decodes a directory name written by [`encode`]. Anything else (bookkeeping files, names
/// another tool put there) is `None`, because only the canonical encoding round-trips.
pub(crate) fn decode(file_name: &OsStr) -> Option<String> {
    let encoded = file_name.to_str()?;
    let name = percent_decode_str(encoded).decode_utf8().ok()?;
    let canonical = !name.is_empty() && utf8_percent_encode(&name, ESCAPED).to_string() == encoded;
    canonical.then(|| name.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_trip(name: &str, expect_encoded: &str) {
        let encoded = encode(name).unwrap();
        assert_eq!(encoded, expect_encoded);
        assert_eq!(decode(OsStr::new(&encoded)).as_deref(), Some(name));
    }

    #[test]
    fn names_round_trip() {
        check_round_trip("/aws/lambda/my-fn_1", "%2Faws%2Flambda%2Fmy-fn_1");
        check_round_trip(
            "2026/09/14/[$LATEST]0123456789abcdef",
            "2026%2F09%2F14%2F%5B%24LATEST%5D0123456789abcdef",
        );
        check_round_trip(".created", "%2Ecreated");
        check_round_trip("..", "%2E%2E");
        check_round_trip("é 100%", "%C3%A9%20100%25");
    }

    #[test]
    fn rejects_unstorable_names() {
        for name in ["", &"/".repeat(86)] {
            assert!(
                matches!(encode(name), Err(LogError::InvalidName { .. })),
                "{name:?}"
            );
        }
        assert!(encode(&"a".repeat(255)).is_ok());
    }

    #[test]
    fn ignores_names_it_did_not_write() {
        for file_name in [".created", ".deleting-1-2", "%2f", "a%zz", "%FF", "a/b", ""] {
            assert_eq!(decode(OsStr::new(file_name)), None, "{file_name:?}");
        }
    }
}
