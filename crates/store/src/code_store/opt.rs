//! The `/opt` of functions with layers: the layers' trees merged in order into `opt/<key>/`,
//! where the key is the SHA-256 of the ordered digests, so every function using the same layers
//! in the same order shares one directory.
//!
//! Merging follows Lambda: a later layer's file replaces an earlier layer's entry of the same
//! path, whatever its kind. Each layer comes from `extracted/<digest>/`, which
//! `package::extract` made safe (no entry outside the tree, symlink targets that stay inside and
//! have `..` only at their start). The merge keeps that safe: every directory on the path of a
//! merged entry is a real directory (a symlink in the way of a later layer's directory is
//! replaced by one), so a symlink's leading `..` climbs exactly as far as its text says and no
//! entry is written through a symlink. The tree is built under a dot-name beside its final name
//! and renamed into place, like extracted packages.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::PoisonError;

use super::{CodeStore, temp_name};
use crate::{StoreError, digest};

impl CodeStore {
    /// The directory holding `digests`' trees merged in order, made the first time it is asked
    /// for. Every digest must name a stored package.
    pub fn merged_layers(&self, digests: &[String]) -> Result<PathBuf, StoreError> {
        for layer in digests {
            digest::validate(layer)?;
        }
        let key = package::sha256_hex(digests.join("\n").as_bytes());
        let dest = self.opt.join(&key);
        if dest.is_dir() {
            return Ok(dest);
        }
        let lock = self.extraction_lock(&format!("opt/{key}"));
        let _merging = lock.lock().unwrap_or_else(PoisonError::into_inner);
        if dest.is_dir() {
            return Ok(dest);
        }
        let trees = digests
            .iter()
            .map(|layer| self.extracted(layer))
            .collect::<Result<Vec<_>, _>>()?;
        let staging = self.opt.join(temp_name(&key));
        let merged = merge(&trees, &staging).and_then(|()| fs::rename(&staging, &dest));
        match merged {
            Ok(()) => {
                tracing::info!(key, layers = digests.len(), "merged layers");
                Ok(dest)
            }
            Err(source) => {
                // The staging tree is useless now; if removing it fails too, the next open will.
                let _ = fs::remove_dir_all(&staging);
                if dest.is_dir() {
                    // Another process renamed its complete tree into place first.
                    return Ok(dest);
                }
                Err(StoreError::MergeLayers { path: dest, source })
            }
        }
    }
}

/// Removes every merged tree: they are caches, and the layers some of them hold may be gone.
pub(super) fn clear(dir: &Path) -> Result<(), StoreError> {
    for entry in super::read_dir(dir)? {
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(err) => Err(err),
        };
        removed.map_err(|source| StoreError::RemoveCode { path, source })?;
    }
    Ok(())
}

/// Builds `dest` from `trees`, later trees overriding earlier ones.
fn merge(trees: &[PathBuf], dest: &Path) -> io::Result<()> {
    fs::create_dir(dest)?;
    for tree in trees {
        overlay(tree, dest)?;
    }
    Ok(())
}

/// Copies the entries of `from` into `into`, replacing what is in the way. `into` is a real
/// directory.
fn overlay(from: &Path, into: &Path) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let source = entry.path();
        let target = into.join(entry.file_name());
        // `DirEntry::file_type` does not follow symlinks.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            let real_dir = fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir());
            if !real_dir {
                remove_entry(&target)?;
                fs::create_dir(&target)?;
            }
            overlay(&source, &target)?;
        } else if kind.is_symlink() {
            remove_entry(&target)?;
            symlink(fs::read_link(&source)?, &target)?;
        } else if kind.is_file() {
            remove_entry(&target)?;
            // Copies the permission bits too, so executables stay executable.
            fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (a file, a symlink itself, or a directory tree); nothing there
/// is fine.
fn remove_entry(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write as _};
    use std::os::unix::fs::PermissionsExt as _;

    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    use super::*;

    /// An entry of a test zip: a file with its mode, a directory, or a symlink.
    enum Entry<'a> {
        File(&'a str, &'a str, u32),
        Dir(&'a str),
        Link(&'a str, &'a str),
    }

    /// Stores a zip of `entries` and returns its digest.
    fn layer(store: &CodeStore, entries: &[Entry<'_>]) -> String {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for entry in entries {
            match entry {
                Entry::File(name, content, mode) => {
                    let options = SimpleFileOptions::default().unix_permissions(*mode);
                    writer.start_file(*name, options).unwrap();
                    writer.write_all(content.as_bytes()).unwrap();
                }
                Entry::Dir(name) => writer
                    .add_directory(*name, SimpleFileOptions::default())
                    .unwrap(),
                Entry::Link(name, target) => writer
                    .add_symlink(*name, *target, SimpleFileOptions::default())
                    .unwrap(),
            }
        }
        let bytes = writer.finish().unwrap().into_inner();
        let digest = package::sha256_hex(&bytes);
        store.put_zip(&digest, &bytes).unwrap();
        digest
    }

    fn open_temp() -> (tempfile::TempDir, CodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn read(root: &Path, path: &str) -> String {
        fs::read_to_string(root.join(path)).unwrap()
    }

    #[test]
    fn later_layers_override_earlier_files() {
        let (_dir, store) = open_temp();
        let first = layer(
            &store,
            &[
                Entry::File("shared.txt", "first", 0o644),
                Entry::File("only-first.txt", "1", 0o644),
                Entry::File("bin/tool", "#!/bin/sh\necho first\n", 0o755),
            ],
        );
        let second = layer(
            &store,
            &[
                Entry::File("shared.txt", "second", 0o644),
                Entry::File("bin/other", "#!/bin/sh\n", 0o755),
            ],
        );

        let opt = store
            .merged_layers(&[first.clone(), second.clone()])
            .unwrap();
        assert_eq!(read(&opt, "shared.txt"), "second");
        assert_eq!(read(&opt, "only-first.txt"), "1");
        assert_eq!(read(&opt, "bin/tool"), "#!/bin/sh\necho first\n");
        let mode = fs::metadata(opt.join("bin/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(opt.join("bin/other").is_file());

        // The other order is another directory, where the first layer wins.
        let reversed = store.merged_layers(&[second, first]).unwrap();
        assert_ne!(reversed, opt);
        assert_eq!(read(&reversed, "shared.txt"), "first");
    }

    #[test]
    fn the_same_list_gives_the_same_directory_once() {
        let (dir, store) = open_temp();
        let only = layer(
            &store,
            &[Entry::File("extensions/ext", "#!/bin/sh\n", 0o755)],
        );
        let opt = store.merged_layers(std::slice::from_ref(&only)).unwrap();
        fs::write(opt.join("marker"), "").unwrap();
        assert_eq!(store.merged_layers(&[only]).unwrap(), opt);
        assert!(opt.join("marker").exists(), "the tree was not built again");
        let names: Vec<_> = fs::read_dir(dir.path().join("opt")).unwrap().collect();
        assert_eq!(names.len(), 1, "no staging tree is left behind");
    }

    #[test]
    fn entries_of_another_kind_are_replaced() {
        let (_dir, store) = open_temp();
        let first = layer(
            &store,
            &[
                Entry::File("lib/a.so", "dir in first", 0o644),
                Entry::File("conf", "file in first", 0o644),
                Entry::File("real/data", "data", 0o644),
                Entry::Link("python", "real"),
            ],
        );
        let second = layer(
            &store,
            &[
                Entry::File("lib", "file in second", 0o644),
                Entry::File("conf/x", "dir in second", 0o644),
                // A directory where the first layer had a symlink: the symlink goes, so nothing
                // is written through it into `real/`.
                Entry::File("python/mod.py", "module", 0o644),
            ],
        );
        let opt = store.merged_layers(&[first, second]).unwrap();
        assert_eq!(read(&opt, "lib"), "file in second");
        assert_eq!(read(&opt, "conf/x"), "dir in second");
        let python = fs::symlink_metadata(opt.join("python")).unwrap();
        assert!(python.is_dir(), "the symlink was replaced by a directory");
        assert_eq!(read(&opt, "python/mod.py"), "module");
        assert!(!opt.join("real/mod.py").exists());
        assert_eq!(read(&opt, "real/data"), "data");
    }

    #[test]
    fn symlinks_are_kept_as_symlinks() {
        let (_dir, store) = open_temp();
        let first = layer(
            &store,
            &[
                Entry::Dir("lib/"),
                Entry::File("lib/libx.so.1", "x", 0o644),
                Entry::Link("lib/libx.so", "libx.so.1"),
            ],
        );
        let second = layer(&store, &[Entry::Link("current", "lib/libx.so")]);
        let opt = store.merged_layers(&[first, second]).unwrap();
        assert_eq!(
            fs::read_link(opt.join("lib/libx.so")).unwrap(),
            PathBuf::from("libx.so.1")
        );
        assert_eq!(read(&opt, "current"), "x");
    }

    #[test]
    fn unknown_or_malformed_digests_are_refused() {
        let (dir, store) = open_temp();
        let missing = package::sha256_hex(b"never stored");
        let err = store
            .merged_layers(std::slice::from_ref(&missing))
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::CodeNotFound { digest } if *digest == missing),
            "{err:?}"
        );
        let err = store.merged_layers(&["../../etc".to_owned()]).unwrap_err();
        assert!(matches!(err, StoreError::InvalidDigest { .. }), "{err:?}");
        assert_eq!(fs::read_dir(dir.path().join("opt")).unwrap().count(), 0);
    }

    #[test]
    fn opening_the_store_clears_merged_trees() {
        let dir = tempfile::tempdir().unwrap();
        let opt = {
            let store = CodeStore::open(dir.path()).unwrap();
            let only = layer(&store, &[Entry::File("a", "1", 0o644)]);
            store.merged_layers(&[only]).unwrap()
        };
        assert!(opt.is_dir());
        CodeStore::open(dir.path()).unwrap();
        assert!(!opt.exists());
        assert!(dir.path().join("opt").is_dir());
    }
}
