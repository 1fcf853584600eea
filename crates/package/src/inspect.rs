//! Validating a package without writing anything.

use crate::layout::ItemKind;
use crate::{Limits, PackageError, contents, sha256_hex};

/// What `inspect` learned about a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Lower-case hex SHA-256 of the zip bytes.
    pub sha256_hex: String,
    /// Size of the zip in bytes.
    pub size: u64,
    /// Bytes actually decompressed: file contents plus symlink targets.
    pub unzipped_size: u64,
    /// Number of entries, directories included.
    pub entries: usize,
}

/// Validates a package without writing anything: it is a readable zip, every entry name stays
/// inside the target (no absolute paths, no `..` escaping, no NUL), no entry lies under a symlink
/// or collides with another, symlink targets stay inside the package, declared and actual
/// decompressed sizes are within limits, and the entry count is within limits.
pub fn inspect(zip: &[u8], limits: &Limits) -> Result<Inspected, PackageError> {
    let (layout, mut contents) = contents::open(zip, limits)?;
    for item in &layout.items {
        match item.kind {
            ItemKind::File { .. } => {
                contents.copy_file(item, |_| Ok(()))?;
            }
            ItemKind::Symlink => {
                contents.link_target(item)?;
            }
        }
    }
    Ok(Inspected {
        sha256_hex: sha256_hex(zip),
        size: zip.len() as u64,
        unzipped_size: contents.unzipped_bytes(),
        entries: layout.entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_zip::{Entry, bomb_300_mib, understate, zeros, zip_of};

    const SMALL: Limits = Limits {
        max_unzipped_bytes: 1024 * 1024,
        max_entries: 3,
    };

    fn check_refused(zip: &[u8], limits: &Limits, expect: &str) {
        let error = inspect(zip, limits).expect_err("package should be refused");
        assert_eq!(error.to_string(), expect);
    }

    #[test]
    fn a_valid_package_is_described() {
        let zip = zip_of(&[
            Entry::File("bootstrap", b"#!/bin/sh\n", 0o755),
            Entry::Dir("lib/"),
            Entry::File("lib/data.txt", b"hello", 0o644),
            Entry::Symlink("current", "lib/data.txt"),
        ]);
        let inspected = inspect(&zip, &Limits::lambda()).unwrap();
        assert_eq!(
            inspected,
            Inspected {
                sha256_hex: sha256_hex(&zip),
                size: zip.len() as u64,
                unzipped_size: 10 + 5 + 12,
                entries: 4,
            }
        );
    }

    #[test]
    fn an_empty_zip_is_accepted() {
        let inspected = inspect(&zip_of(&[]), &Limits::lambda()).unwrap();
        assert_eq!((inspected.entries, inspected.unzipped_size), (0, 0));
    }

    #[test]
    fn bytes_that_are_not_a_zip_are_refused() {
        check_refused(b"not a zip at all", &SMALL, "read zip archive");
        check_refused(b"", &SMALL, "read zip archive");
    }

    #[test]
    fn zip_slip_entries_are_refused() {
        for name in ["../evil", "/etc/x", "a/../../x"] {
            let zip = zip_of(&[Entry::File(name, b"x", 0o644)]);
            check_refused(
                &zip,
                &SMALL,
                &format!("zip entry {name:?} has an unsafe path"),
            );
        }
    }

    #[test]
    fn escaping_symlinks_are_refused() {
        for (name, target) in [("l", "/etc/passwd"), ("a/l", "../../x"), ("l", "..")] {
            let zip = zip_of(&[Entry::Symlink(name, target)]);
            check_refused(
                &zip,
                &SMALL,
                &format!("zip symlink {name:?} has an unsafe target {target:?}"),
            );
        }
    }

    #[test]
    fn entries_under_a_symlink_are_refused() {
        let zip = zip_of(&[
            Entry::Symlink("lib", "."),
            Entry::File("lib/x", b"x", 0o644),
        ]);
        check_refused(
            &zip,
            &SMALL,
            r#"zip entry "lib/x" lies under symlink "lib""#,
        );
    }

    #[test]
    fn too_many_entries_are_refused() {
        let entries = [
            Entry::File("a", b"", 0o644),
            Entry::File("b", b"", 0o644),
            Entry::File("c", b"", 0o644),
            Entry::File("d", b"", 0o644),
        ];
        assert!(inspect(&zip_of(&entries[..3]), &SMALL).is_ok());
        check_refused(
            &zip_of(&entries),
            &SMALL,
            "zip archive has 4 entries, more than 3",
        );
    }

    #[test]
    fn a_300_mb_bomb_is_refused() {
        let zip = bomb_300_mib();
        check_refused(
            &zip,
            &Limits::lambda(),
            "unzipped size exceeds 262144000 bytes",
        );
    }

    #[test]
    fn a_header_understating_the_size_is_refused() {
        let mut zip = zeros("zeros", 8 * 1024 * 1024);
        understate(&mut zip, 0, 1024);
        check_refused(&zip, &SMALL, r#"read zip entry "zeros""#);
    }

    #[test]
    fn the_size_limit_is_inclusive() {
        let limits = Limits {
            max_unzipped_bytes: 1000,
            max_entries: 10,
        };
        assert!(inspect(&zeros("zeros", 1000), &limits).is_ok());
        check_refused(
            &zeros("zeros", 1001),
            &limits,
            "unzipped size exceeds 1000 bytes",
        );
    }
}
