//! Code digests: the lower-case hex SHA-256 that names a package in the code store.

use crate::StoreError;

/// Returns `digest` if it is 64 lower-case hex characters, the only shape that is safe to use as
/// a file name (no separators, no `..`, one spelling per digest).
pub(crate) fn validate(digest: &str) -> Result<&str, StoreError> {
    let well_formed = digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if well_formed {
        Ok(digest)
    } else {
        Err(StoreError::InvalidDigest {
            digest: digest.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn check(digest: &str, valid: bool) {
        assert_eq!(validate(digest).is_ok(), valid, "digest {digest:?}");
    }

    #[test]
    fn only_64_lower_case_hex_characters_are_digests() {
        check(EMPTY, true);
        check(&"0".repeat(64), true);
        check("", false);
        check(&EMPTY[..63], false);
        check(&format!("{EMPTY}0"), false);
        check(&EMPTY.to_uppercase(), false);
        check(&format!("../{}", &EMPTY[3..]), false);
        check(&format!("{}/x", &EMPTY[..62]), false);
        check(&"g".repeat(64), false);
        check(&format!("{}é", &EMPTY[..62]), false);
    }
}
