//! Unpacking a package into a new directory, all or nothing.

use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::contents::{self, Contents};
use crate::error::io_error;
use crate::layout::{ItemKind, Layout};
use crate::{Limits, PackageError};

const DIRECTORY_MODE: u32 = 0o755;

/// How many names `Staging::create` tries before giving up; a clash needs a leftover from a
/// crashed process that had the same process id.
const STAGING_ATTEMPTS: u32 = 16;

/// Extracts a package into `dest`, which must not exist yet, and returns the bytes written (file
/// contents plus symlink targets).
///
/// The tree is built in a temporary sibling directory and renamed to `dest` at the end, so `dest`
/// either appears whole or not at all; on failure the sibling is removed. Directories get mode
/// `0755`; files keep their permission bits, at least `0644`, without setuid, setgid or sticky;
/// symlinks whose targets stay inside the tree are recreated. Everything [`crate::inspect`]
/// refuses is refused here too, and the size limit applies to the bytes actually written.
pub fn extract(zip: &[u8], dest: &Path, limits: &Limits) -> Result<u64, PackageError> {
    match dest.symlink_metadata() {
        Ok(_) => {
            return Err(PackageError::DestinationExists {
                path: dest.to_path_buf(),
            });
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(source) => return Err(io_error("inspect destination", dest)(source)),
    }
    let (layout, mut contents) = contents::open(zip, limits)?;
    let staging = Staging::create(dest)?;
    write_tree(&layout, &mut contents, &staging.path)?;
    staging.commit(dest)?;
    Ok(contents.unzipped_bytes())
}

/// Writes directories first, then files, then symlinks: no symlink exists while anything else is
/// written, so nothing can be written through one.
fn write_tree(
    layout: &Layout,
    contents: &mut Contents<'_>,
    root: &Path,
) -> Result<(), PackageError> {
    for dir in &layout.dirs {
        create_dir(&root.join(dir))?;
    }
    let mut links = Vec::new();
    for item in &layout.items {
        let path = root.join(&item.path);
        match item.kind {
            ItemKind::File { mode } => {
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_error("create file", &path))?;
                contents.copy_file(item, |chunk| {
                    file.write_all(chunk).map_err(io_error("write file", &path))
                })?;
                // Set after writing, because the mode may forbid writing and the umask may have
                // narrowed the mode given at creation.
                file.set_permissions(Permissions::from_mode(mode))
                    .map_err(io_error("set permissions of", &path))?;
            }
            ItemKind::Symlink => links.push((path, contents.link_target(item)?)),
        }
    }
    for (path, target) in links {
        symlink(&target, &path).map_err(io_error("create symlink", &path))?;
    }
    Ok(())
}

fn create_dir(path: &Path) -> Result<(), PackageError> {
    DirBuilder::new()
        .mode(DIRECTORY_MODE)
        .create(path)
        .map_err(io_error("create directory", path))?;
    // The umask may have narrowed the mode given at creation.
    fs::set_permissions(path, Permissions::from_mode(DIRECTORY_MODE))
        .map_err(io_error("set permissions of", path))
}

/// A temporary sibling of the destination, removed on drop unless committed.
#[derive(Debug)]
struct Staging {
    path: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(dest: &Path) -> Result<Self, PackageError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let Some(name) = dest.file_name() else {
            let error = io::Error::new(io::ErrorKind::InvalidInput, "no final path component");
            return Err(io_error("extract into", dest)(error));
        };
        let parent = match dest.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut attempt = 0;
        loop {
            let mut staging_name = std::ffi::OsString::from(".");
            staging_name.push(name);
            staging_name.push(format!(
                ".partial-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let path = parent.join(staging_name);
            match create_dir(&path) {
                Ok(()) => {
                    return Ok(Self {
                        path,
                        committed: false,
                    });
                }
                Err(PackageError::Io { source, .. })
                    if source.kind() == io::ErrorKind::AlreadyExists
                        && attempt + 1 < STAGING_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Renames the staging directory to `dest`. If `dest` appeared meanwhile as an empty
    /// directory the rename replaces it; otherwise the rename fails and nothing is changed.
    fn commit(mut self, dest: &Path) -> Result<(), PackageError> {
        fs::rename(&self.path, dest).map_err(io_error("rename extracted tree to", dest))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a failed package is already being reported, and a leftover
            // directory carries a name no destination uses.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::test_zip::{Entry, bomb_300_mib, understate, zeros, zip_of};

    const SMALL: Limits = Limits {
        max_unzipped_bytes: 1024 * 1024,
        max_entries: 10,
    };

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    /// Extraction must fail with `expect`, leaving neither `dest` nor a staging directory.
    fn check_refused(zip: &[u8], limits: &Limits, expect: &str) {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("task");
        let error = extract(zip, &dest, limits).expect_err("extraction should be refused");
        assert_eq!(error.to_string(), expect);
        let left: Vec<_> = fs::read_dir(parent.path()).unwrap().collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }

    #[test]
    fn modes_are_kept_within_bounds() {
        let zip = zip_of(&[
            Entry::File("bootstrap", b"#!/bin/sh\n", 0o755),
            Entry::File("private", b"p", 0o600),
            Entry::File("setuid", b"s", 0o4755),
            Entry::File("read-only", b"r", 0o444),
            Entry::Dir("closed/"),
            Entry::File("deep/er/file", b"d", 0o644),
        ]);
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("task");
        let written = extract(&zip, &dest, &SMALL).unwrap();
        assert_eq!(written, 10 + 1 + 1 + 1 + 1);
        assert_eq!(mode(&dest), 0o755);
        assert_eq!(mode(&dest.join("bootstrap")), 0o755);
        assert_eq!(mode(&dest.join("private")), 0o644);
        assert_eq!(mode(&dest.join("setuid")), 0o755);
        assert_eq!(mode(&dest.join("read-only")), 0o644);
        assert_eq!(mode(&dest.join("closed")), 0o755);
        assert_eq!(mode(&dest.join("deep/er")), 0o755);
        assert_eq!(fs::read(dest.join("deep/er/file")).unwrap(), b"d");
        let names: Vec<_> = fs::read_dir(parent.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["task"], "only the destination remains");
    }

    #[test]
    fn symlinks_are_recreated_with_normalised_targets() {
        let zip = zip_of(&[
            Entry::File("lib/data.txt", b"hello", 0o644),
            Entry::Symlink("current", "lib/data.txt"),
            Entry::Symlink("lib/up", "./../current"),
            Entry::Symlink("lib/odd", "x/../data.txt"),
        ]);
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("task");
        extract(&zip, &dest, &SMALL).unwrap();
        let link = |name: &str| fs::read_link(dest.join(name)).unwrap();
        assert_eq!(link("current"), Path::new("lib/data.txt"));
        assert_eq!(link("lib/up"), Path::new("../current"));
        assert_eq!(link("lib/odd"), Path::new("data.txt"));
        assert_eq!(fs::read(dest.join("lib/up")).unwrap(), b"hello");
    }

    #[test]
    fn an_empty_zip_gives_an_empty_directory() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("task");
        assert_eq!(extract(&zip_of(&[]), &dest, &SMALL).unwrap(), 0);
        assert_eq!(fs::read_dir(&dest).unwrap().count(), 0);
    }

    #[test]
    fn an_existing_destination_is_left_alone() {
        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("task");
        fs::create_dir(&dest).unwrap();
        fs::write(dest.join("keep"), b"mine").unwrap();
        let error = extract(&zip_of(&[]), &dest, &SMALL).unwrap_err();
        assert!(matches!(error, PackageError::DestinationExists { .. }));
        assert_eq!(fs::read(dest.join("keep")).unwrap(), b"mine");
    }

    #[test]
    fn unsafe_packages_leave_nothing_behind() {
        check_refused(b"PK but not a zip", &SMALL, "read zip archive");
        check_refused(
            &zip_of(&[Entry::File("../evil", b"x", 0o644)]),
            &SMALL,
            r#"zip entry "../evil" has an unsafe path"#,
        );
        check_refused(
            &zip_of(&[Entry::File("/etc/x", b"x", 0o644)]),
            &SMALL,
            r#"zip entry "/etc/x" has an unsafe path"#,
        );
        check_refused(
            &zip_of(&[Entry::File("a/../../x", b"x", 0o644)]),
            &SMALL,
            r#"zip entry "a/../../x" has an unsafe path"#,
        );
        check_refused(
            &zip_of(&[
                Entry::File("ok", b"fine", 0o644),
                Entry::Symlink("l", "/etc/passwd"),
            ]),
            &SMALL,
            r#"zip symlink "l" has an unsafe target "/etc/passwd""#,
        );
        check_refused(
            &zip_of(&[
                Entry::File("a/ok", b"fine", 0o644),
                Entry::Symlink("a/l", "../../x"),
            ]),
            &SMALL,
            r#"zip symlink "a/l" has an unsafe target "../../x""#,
        );
        check_refused(
            &zip_of(&[
                Entry::Symlink("lib", "."),
                Entry::File("lib/x", b"x", 0o644),
            ]),
            &SMALL,
            r#"zip entry "lib/x" lies under symlink "lib""#,
        );
    }

    #[test]
    fn bombs_leave_nothing_behind() {
        // The first file is written before the bomb is met; the whole tree must go.
        let mut zip = zip_of(&[
            Entry::File("first", b"fine", 0o644),
            Entry::Zeros("zeros", 8 * 1024 * 1024),
        ]);
        understate(&mut zip, 1, 1024);
        check_refused(&zip, &SMALL, r#"read zip entry "zeros""#);
        check_refused(
            &bomb_300_mib(),
            &Limits::lambda(),
            "unzipped size exceeds 262144000 bytes",
        );
        check_refused(
            &zeros("zeros", SMALL.max_unzipped_bytes + 1),
            &SMALL,
            "unzipped size exceeds 1048576 bytes",
        );
    }
}
