//! Content-addressed deployment packages on disk: `zips/<digest>` holds each uploaded zip and
//! `extracted/<digest>/` its unpacked tree, made the first time an environment needs it;
//! `opt/<key>/` holds the layers of functions merged in order (see the `opt` module).
//!
//! Invariant: a name in `zips/` or `extracted/` that is a digest is complete. Zips are written to
//! a temporary name and renamed; trees are extracted beside their final name and renamed. The
//! temporary names start with a dot, which no digest does, so leftovers of a crash are told apart
//! and removed when the store opens.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::{StoreError, digest};

mod opt;

/// Deployment packages stored under their SHA-256, shared by every version that uses them.
///
/// One process owns a root: opening it removes the temporary files other writers could still be
/// using. Clones share the same locks.
#[derive(Debug, Clone)]
pub struct CodeStore {
    zips: PathBuf,
    extracted: PathBuf,
    /// Merged layers, one tree per ordered list of layer digests.
    opt: PathBuf,
    /// One lock per digest (or merged tree), held while it is extracted (or merged), so
    /// concurrent callers wait for the first one instead of racing it.
    extracting: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl CodeStore {
    /// Opens (creates) `root` with `zips/`, `extracted/` and `opt/` inside; merged layers are
    /// caches and are made again as needed.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        let store = CodeStore {
            zips: root.join("zips"),
            extracted: root.join("extracted"),
            opt: root.join("opt"),
            extracting: Arc::default(),
        };
        for dir in [&store.zips, &store.extracted, &store.opt] {
            fs::create_dir_all(dir).map_err(|source| StoreError::CreateCodeDir {
                path: dir.clone(),
                source,
            })?;
            remove_leftovers(dir)?;
        }
        opt::clear(&store.opt)?;
        Ok(store)
    }

    /// Stores a zip under its digest durably: temp file, fsync, rename, fsync the directory.
    /// Idempotent (an existing file with that digest is kept). Refuses bytes whose SHA-256 is
    /// not `sha256_hex`, so a name in the store always matches its contents.
    pub fn put_zip(&self, sha256_hex: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let digest = digest::validate(sha256_hex)?;
        let actual = package::sha256_hex(bytes);
        if actual != digest {
            return Err(StoreError::DigestMismatch {
                expected: digest.to_owned(),
                actual,
            });
        }
        let path = self.zips.join(digest);
        let write_failed = |source| StoreError::WriteZip {
            path: path.clone(),
            source,
        };
        if path.try_exists().map_err(write_failed)? {
            // Uploaded again: it counts as new for the collection of unreferenced code, which
            // spares packages younger than its grace (a function on its way into the store).
            return touch(&path).map_err(write_failed);
        }

        let temp = self.zips.join(temp_name(digest));
        let written = write_synced(&temp, bytes).and_then(|()| fs::rename(&temp, &path));
        if let Err(source) = written {
            // The temporary file is useless now; if removing it fails too, the next open will.
            let _ = fs::remove_file(&temp);
            return Err(write_failed(source));
        }
        // The rename is durable only once the directory entry is.
        File::open(&self.zips)
            .and_then(|dir| dir.sync_all())
            .map_err(|source| StoreError::WriteZip {
                path: self.zips.clone(),
                source,
            })?;
        tracing::debug!(digest, size = bytes.len(), "stored package");
        Ok(())
    }

    /// The zip stored under `sha256_hex`; `CodeNotFound` if there is none.
    pub fn read_zip(&self, sha256_hex: &str) -> Result<Vec<u8>, StoreError> {
        let digest = digest::validate(sha256_hex)?;
        let path = self.zips.join(digest);
        fs::read(&path).map_err(|source| {
            if source.kind() == io::ErrorKind::NotFound {
                StoreError::CodeNotFound {
                    digest: digest.to_owned(),
                }
            } else {
                StoreError::ReadZip { path, source }
            }
        })
    }

    /// The directory holding the extracted package, extracting it the first time.
    ///
    /// `package::extract` builds the tree beside its final name and renames it, so a crash never
    /// leaves half a tree under the digest. Callers in this process wait on a per-digest lock; if
    /// another process won the race, its finished tree is used.
    pub fn extracted(&self, sha256_hex: &str) -> Result<PathBuf, StoreError> {
        let digest = digest::validate(sha256_hex)?;
        let dest = self.extracted.join(digest);
        if dest.is_dir() {
            return Ok(dest);
        }

        let lock = self.extraction_lock(digest);
        let _extracting = lock.lock().unwrap_or_else(PoisonError::into_inner);
        // Whoever held the lock before may have finished the job.
        if dest.is_dir() {
            return Ok(dest);
        }
        let zip = self.read_zip(digest)?;
        match package::extract(&zip, &dest, &package::Limits::lambda()) {
            Ok(unzipped_bytes) => {
                tracing::info!(digest, unzipped_bytes, "extracted package");
                Ok(dest)
            }
            // Another process renamed its complete tree into place first.
            Err(_) if dest.is_dir() => Ok(dest),
            Err(source) => Err(StoreError::ExtractZip {
                digest: digest.to_owned(),
                source,
            }),
        }
    }

    /// Removes zips and extracted trees whose digest is not in `keep`, unless the zip was
    /// stored (or uploaded again) less than `grace` ago; returns how many digests went (a zip
    /// and its tree count once).
    ///
    /// An upload on its way into the `Store` is not in `keep` yet: a `grace` longer than any
    /// upload takes spares it while the server runs; at start, with nothing on its way, the
    /// grace can be zero.
    pub fn retain(&self, keep: &HashSet<String>, grace: Duration) -> Result<usize, StoreError> {
        let recent = |digest: &str| {
            fs::metadata(self.zips.join(digest))
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|stored| stored.elapsed().map_or(true, |age| age < grace))
        };
        let mut removed = BTreeSet::new();
        for digest in unkept_digests(&self.zips, keep)? {
            if recent(&digest) {
                continue;
            }
            let path = self.zips.join(&digest);
            fs::remove_file(&path).map_err(|source| StoreError::RemoveCode { path, source })?;
            removed.insert(digest);
        }
        for digest in unkept_digests(&self.extracted, keep)? {
            if recent(&digest) {
                continue;
            }
            let path = self.extracted.join(&digest);
            fs::remove_dir_all(&path).map_err(|source| StoreError::RemoveCode { path, source })?;
            removed.insert(digest);
        }
        if !removed.is_empty() {
            tracing::info!(count = removed.len(), "removed unreferenced packages");
        }
        Ok(removed.len())
    }

    fn extraction_lock(&self, digest: &str) -> Arc<Mutex<()>> {
        // The map only hands out locks; a panic elsewhere cannot leave it inconsistent.
        let mut locks = self
            .extracting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Arc::clone(locks.entry(digest.to_owned()).or_default())
    }
}

/// A name for a zip being written: unique in this process, and starting with a dot.
fn temp_name(digest: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!(".tmp-{digest}-{}-{n}", std::process::id())
}

/// Sets a file's modification time to now.
fn touch(path: &Path) -> io::Result<()> {
    File::options()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

/// Writes a new file and waits until its contents are on disk.
fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Names in `dir` that are digests not in `keep`; other names are not the store's to judge.
fn unkept_digests(dir: &Path, keep: &HashSet<String>) -> Result<Vec<String>, StoreError> {
    let mut digests = Vec::new();
    for entry in read_dir(dir)? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if digest::validate(name).is_ok() && !keep.contains(name) {
            digests.push(name.to_owned());
        }
    }
    Ok(digests)
}

/// Removes what a crash left mid-write: the dot-names of temporary zips and staging trees.
fn remove_leftovers(dir: &Path) -> Result<(), StoreError> {
    for entry in read_dir(dir)? {
        if !entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let removed = match entry.file_type() {
            Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(err) => Err(err),
        };
        removed.map_err(|source| StoreError::RemoveCode { path, source })?;
        tracing::debug!(path = %entry.path().display(), "removed leftover of an interrupted write");
    }
    Ok(())
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, StoreError> {
    let listed = |source| StoreError::ListCode {
        path: dir.to_owned(),
        source,
    };
    fs::read_dir(dir)
        .map_err(listed)?
        .collect::<io::Result<_>>()
        .map_err(listed)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Write as _};
    use std::sync::Barrier;

    use zip::ZipWriter;
    use zip::write::SimpleFileOptions;

    use super::*;

    /// A zip of `files` and its digest.
    fn zip_of(files: &[(&str, &str)]) -> (String, Vec<u8>) {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (name, content) in files {
            let options = SimpleFileOptions::default().unix_permissions(0o755);
            writer.start_file(*name, options).unwrap();
            writer.write_all(content.as_bytes()).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        (package::sha256_hex(&bytes), bytes)
    }

    fn open_temp() -> (tempfile::TempDir, CodeStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = CodeStore::open(dir.path()).unwrap();
        (dir, store)
    }

    /// Sorted names in `dir`.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn put_then_read_returns_the_zip() {
        let (dir, store) = open_temp();
        let (digest, zip) = zip_of(&[("bootstrap", "#!/bin/sh\n")]);

        store.put_zip(&digest, &zip).unwrap();
        store.put_zip(&digest, &zip).unwrap();

        assert_eq!(store.read_zip(&digest).unwrap(), zip);
        // One file under the digest, no temporary file left behind.
        assert_eq!(names(&dir.path().join("zips")), [digest]);
    }

    #[test]
    fn put_zip_refuses_bytes_that_do_not_match_the_digest() {
        let (dir, store) = open_temp();
        let (digest, _) = zip_of(&[("a", "1")]);
        let (other_digest, other) = zip_of(&[("b", "2")]);

        let err = store.put_zip(&digest, &other).unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::DigestMismatch { expected, actual }
                    if *expected == digest && *actual == other_digest
            ),
            "{err:?}"
        );
        assert!(names(&dir.path().join("zips")).is_empty());
    }

    #[test]
    fn missing_code_is_reported_as_not_found() {
        let (_dir, store) = open_temp();
        let (digest, _) = zip_of(&[("a", "1")]);
        let is_not_found =
            |err: StoreError| matches!(err, StoreError::CodeNotFound { digest: d } if d == digest);
        assert!(is_not_found(store.read_zip(&digest).unwrap_err()));
        assert!(is_not_found(store.extracted(&digest).unwrap_err()));
    }

    #[test]
    fn extracted_unpacks_the_package_once() {
        let (dir, store) = open_temp();
        let (digest, zip) = zip_of(&[
            ("bootstrap", "#!/bin/sh\necho hi\n"),
            ("lib/data.txt", "42"),
        ]);
        store.put_zip(&digest, &zip).unwrap();

        let tree = store.extracted(&digest).unwrap();
        assert_eq!(tree, dir.path().join("extracted").join(&digest));
        assert_eq!(
            fs::read_to_string(tree.join("bootstrap")).unwrap(),
            "#!/bin/sh\necho hi\n"
        );
        assert_eq!(fs::read_to_string(tree.join("lib/data.txt")).unwrap(), "42");

        // A second call finds the tree: the marker survives, so nothing was extracted again.
        fs::write(tree.join("marker"), "").unwrap();
        assert_eq!(store.extracted(&digest).unwrap(), tree);
        assert!(tree.join("marker").exists());
    }

    #[test]
    fn concurrent_callers_share_one_extraction() {
        let (dir, store) = open_temp();
        let (digest, zip) = zip_of(&[("bootstrap", "#!/bin/sh\n")]);
        store.put_zip(&digest, &zip).unwrap();

        let callers = 8;
        let barrier = Barrier::new(callers);
        let trees: Vec<PathBuf> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..callers)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        store.clone().extracted(&digest).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });

        let expected = dir.path().join("extracted").join(&digest);
        assert!(trees.iter().all(|tree| *tree == expected), "{trees:?}");
        // No staging directory of a losing extraction is left beside the tree.
        assert_eq!(names(&dir.path().join("extracted")), [digest]);
    }

    #[test]
    fn a_package_that_fails_to_extract_leaves_no_tree() {
        let (dir, store) = open_temp();
        let not_a_zip = b"plain text, not a zip";
        let digest = package::sha256_hex(not_a_zip);
        store.put_zip(&digest, not_a_zip).unwrap();

        let err = store.extracted(&digest).unwrap_err();
        assert!(
            matches!(&err, StoreError::ExtractZip { digest: d, .. } if *d == digest),
            "{err:?}"
        );
        assert!(names(&dir.path().join("extracted")).is_empty());
    }

    #[test]
    fn retain_removes_only_unkept_digests() {
        let (dir, store) = open_temp();
        let packages: Vec<(String, Vec<u8>)> = ["a", "b", "c"]
            .iter()
            .map(|name| zip_of(&[(name, name)]))
            .collect();
        for (digest, zip) in &packages {
            store.put_zip(digest, zip).unwrap();
        }
        let [(a, _), (b, _), (c, _)] = &packages[..] else {
            unreachable!("three packages were built")
        };
        store.extracted(a).unwrap();
        store.extracted(b).unwrap();
        // Names that are not digests belong to someone else.
        fs::write(dir.path().join("zips").join("README"), "").unwrap();

        let keep = HashSet::from([a.clone()]);
        // b had a zip and a tree, c only a zip: two digests went.
        assert_eq!(store.retain(&keep, Duration::ZERO).unwrap(), 2);
        assert_eq!(names(&dir.path().join("zips")), [a.as_str(), "README"]);
        assert_eq!(names(&dir.path().join("extracted")), [a.as_str()]);
        assert_eq!(store.read_zip(a).unwrap(), packages[0].1);
        for gone in [b, c] {
            assert!(matches!(
                store.read_zip(gone),
                Err(StoreError::CodeNotFound { .. })
            ));
        }

        assert_eq!(store.retain(&keep, Duration::ZERO).unwrap(), 0);
        assert_eq!(store.retain(&HashSet::new(), Duration::ZERO).unwrap(), 1);
        assert_eq!(names(&dir.path().join("zips")), ["README"]);
    }

    #[test]
    fn code_stored_within_the_grace_stays() {
        let (dir, store) = open_temp();
        let (old, old_zip) = zip_of(&[("old", "1")]);
        let (new, new_zip) = zip_of(&[("new", "2")]);
        store.put_zip(&old, &old_zip).unwrap();
        store.put_zip(&new, &new_zip).unwrap();
        store.extracted(&old).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        let set_stored = |digest: &str, at: SystemTime| {
            File::options()
                .write(true)
                .open(dir.path().join("zips").join(digest))
                .unwrap()
                .set_modified(at)
                .unwrap();
        };
        set_stored(&old, hour_ago);
        set_stored(&new, hour_ago);
        // Uploaded again: young once more.
        store.put_zip(&new, &new_zip).unwrap();

        let grace = Duration::from_secs(600);
        assert_eq!(store.retain(&HashSet::new(), grace).unwrap(), 1);
        assert_eq!(names(&dir.path().join("zips")), [new.as_str()]);
        assert!(
            names(&dir.path().join("extracted")).is_empty(),
            "the old tree went with its zip"
        );
    }

    #[test]
    fn malformed_digests_are_refused_before_touching_the_disk() {
        let (dir, store) = open_temp();
        let (digest, zip) = zip_of(&[("a", "1")]);
        let bad = [
            String::new(),
            digest.to_uppercase(),
            digest[..63].to_owned(),
            format!("{digest}0"),
            format!("../../{}", &digest[6..]),
            format!("{}/..", &digest[..61]),
            "z".repeat(64),
        ];
        for candidate in &bad {
            let refused = |result: Result<(), StoreError>, op: &str| {
                let err = result.unwrap_err();
                assert!(
                    matches!(&err, StoreError::InvalidDigest { digest } if digest == candidate),
                    "{op} {candidate:?}: {err:?}"
                );
            };
            refused(store.put_zip(candidate, &zip), "put_zip");
            refused(store.read_zip(candidate).map(drop), "read_zip");
            refused(store.extracted(candidate).map(drop), "extracted");
        }
        assert!(names(&dir.path().join("zips")).is_empty());
        assert_eq!(names(dir.path()), ["extracted", "opt", "zips"]);
    }

    #[test]
    fn open_removes_leftovers_of_interrupted_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (digest, zip) = zip_of(&[("bootstrap", "#!/bin/sh\n")]);
        {
            let store = CodeStore::open(dir.path()).unwrap();
            store.put_zip(&digest, &zip).unwrap();
            store.extracted(&digest).unwrap();
        }
        let zips = dir.path().join("zips");
        let extracted = dir.path().join("extracted");
        fs::write(zips.join(format!(".tmp-{digest}-1-0")), "half a zip").unwrap();
        let staging = extracted.join(format!(".{digest}.partial-1-0"));
        fs::create_dir_all(staging.join("lib")).unwrap();
        fs::write(staging.join("lib/half"), "").unwrap();

        let store = CodeStore::open(dir.path()).unwrap();
        assert_eq!(names(&zips), [digest.as_str()]);
        assert_eq!(names(&extracted), [digest.as_str()]);
        assert_eq!(store.read_zip(&digest).unwrap(), zip);
    }
}
