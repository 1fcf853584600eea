//! Lambda deployment packages (zip files), handled without trusting them.
//!
//! [`inspect`] validates an upload without writing anything, [`extract`] unpacks one into a new
//! directory, and [`zip_dir`] builds one from a directory for `flint deploy DIR`.
//!
//! Invariant: nothing read from a package is written outside the target directory. Entry names
//! that are absolute or climb out with `..`, symlinks whose targets leave the package, and
//! entries that would be written through a symlink are refused before any byte is decompressed
//! or written. The unzipped size is checked twice: the sizes the headers declare, then the bytes
//! actually decompressed, so a package that lies about its sizes is stopped at the limit.

mod contents;
mod error;
mod extract;
mod inspect;
mod layout;
mod safe_path;
mod zip_dir;

#[cfg(test)]
mod test_zip;

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

pub use error::PackageError;
pub use extract::extract;
pub use inspect::{Inspected, inspect};
pub use zip_dir::zip_dir;

/// Lower-case hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest.iter() {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Limits applied while reading a package.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most bytes the package may hold once unzipped: file contents plus symlink targets.
    pub max_unzipped_bytes: u64,
    /// Most entries (files, directories and symlinks) the archive may hold.
    pub max_entries: usize,
}

impl Limits {
    /// Lambda's: 250 MB unzipped ([`model::limits::UNZIPPED_MAX`]) and
    /// [`model::limits::ZIP_ENTRIES_MAX`] entries.
    pub fn lambda() -> Self {
        Self {
            max_unzipped_bytes: model::limits::UNZIPPED_MAX,
            max_entries: model::limits::ZIP_ENTRIES_MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_is_lower_case_hex() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn lambda_limits_match_the_quotas() {
        let limits = Limits::lambda();
        assert_eq!(limits.max_unzipped_bytes, 262_144_000);
        assert_eq!(limits.max_entries, model::limits::ZIP_ENTRIES_MAX);
    }
}
