//! Where things live on disk:
//!
//! ```text
//! <root>/<encoded group>/.created                   creation time of the group (ms)
//! <root>/<encoded group>/<encoded stream>/.created  creation time of the stream (ms)
//! <root>/<encoded group>/<encoded stream>/<start>.log
//! ```
//!
//! A stream is a run of segment files. `<start>` (20 digits) is the stream's logical byte
//! position at which the segment begins: the number of bytes ever written to the stream before
//! it. Logical positions only grow, so they identify events and resume reads even after older
//! segments were dropped.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use crate::line::{Line, parse_line};
use crate::{LogError, names};

/// Name of the file holding the creation time of a group or stream directory.
const CREATED_MARKER: &str = ".created";
const SEGMENT_SUFFIX: &str = ".log";
/// Directories being deleted are first renamed to this prefix, so nobody sees them half-removed.
const TOMBSTONE_PREFIX: &str = ".deleting-";

/// One segment file of a stream, as listed.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) start: u64,
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
}

pub(crate) fn segment_path(stream_dir: &Path, start: u64) -> PathBuf {
    stream_dir.join(format!("{start:020}{SEGMENT_SUFFIX}"))
}

/// The segments of a stream, oldest first. A missing stream directory has none.
pub(crate) fn list_segments(stream_dir: &Path) -> Result<Vec<Segment>, LogError> {
    let mut segments = Vec::new();
    for entry in entries(stream_dir)? {
        let Some(start) = parse_segment_name(&entry.file_name()) else {
            continue;
        };
        // A segment dropped by rotation between listing and stat is simply not listed.
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        segments.push(Segment {
            start,
            path: entry.path(),
            len: metadata.len(),
        });
    }
    segments.sort_by_key(|segment| segment.start);
    Ok(segments)
}

fn parse_segment_name(file_name: &OsStr) -> Option<u64> {
    let digits = file_name.to_str()?.strip_suffix(SEGMENT_SUFFIX)?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// The decoded names and directories of the entries of `dir` written by [`names::encode`],
/// sorted by name. A missing directory has none.
pub(crate) fn named_dirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, LogError> {
    let mut dirs = Vec::new();
    for entry in entries(dir)? {
        if let Some(name) = names::decode(&entry.file_name()) {
            dirs.push((name, entry.path()));
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// The entries of `dir`; none if it does not exist (it may have just been deleted).
fn entries(dir: &Path) -> Result<Vec<fs::DirEntry>, LogError> {
    let list_error = |source| LogError::ListDir {
        path: dir.to_owned(),
        source,
    };
    match fs::read_dir(dir) {
        Ok(entries) => entries.collect::<Result<_, _>>().map_err(list_error),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(list_error(error)),
    }
}

/// Creates the group and stream directories and their creation markers if they are missing.
pub(crate) fn ensure_stream_dir(
    group_dir: &Path,
    stream_dir: &Path,
    now_ms: i64,
) -> Result<(), LogError> {
    fs::create_dir_all(stream_dir).map_err(|source| LogError::CreateDir {
        path: stream_dir.to_owned(),
        source,
    })?;
    write_created_marker(group_dir, now_ms)?;
    write_created_marker(stream_dir, now_ms)
}

fn write_created_marker(dir: &Path, now_ms: i64) -> Result<(), LogError> {
    let path = dir.join(CREATED_MARKER);
    let write_error = |source| LogError::WriteFile {
        path: path.clone(),
        source,
    };
    match OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut file) => file
            .write_all(now_ms.to_string().as_bytes())
            .map_err(write_error),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(write_error(error)),
    }
}

/// When the group or stream directory was created, in ms. Falls back to the directory's
/// modification time if the marker is missing or unreadable.
pub(crate) fn created_ms(dir: &Path) -> i64 {
    let marker = fs::read_to_string(dir.join(CREATED_MARKER)).ok();
    marker
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or_else(|| {
            let modified = fs::metadata(dir).and_then(|metadata| metadata.modified());
            modified
                .ok()
                .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |elapsed| {
                    i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
                })
        })
}

/// Removes a directory tree. It is first renamed to a tombstone next to it, so writers and
/// readers see it either whole or gone, and a writer creating files in it cannot make the
/// removal fail. `Ok(false)` if the directory did not exist.
pub(crate) fn remove_tree(dir: &Path) -> Result<bool, LogError> {
    static NEXT_TOMBSTONE: AtomicU64 = AtomicU64::new(0);
    let serial = NEXT_TOMBSTONE.fetch_add(1, Ordering::Relaxed);
    let tombstone =
        dir.with_file_name(format!("{TOMBSTONE_PREFIX}{}-{serial}", std::process::id()));
    match fs::rename(dir, &tombstone) {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(LogError::Remove {
                path: dir.to_owned(),
                source,
            });
        }
    }
    fs::remove_dir_all(&tombstone).map_err(|source| LogError::Remove {
        path: tombstone,
        source,
    })?;
    Ok(true)
}

/// Removes tombstones a crash left behind in `dir`.
pub(crate) fn remove_tombstones(dir: &Path) -> Result<(), LogError> {
    for entry in entries(dir)? {
        let is_tombstone = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(TOMBSTONE_PREFIX));
        if is_tombstone {
            let path = entry.path();
            fs::remove_dir_all(&path).map_err(|source| LogError::Remove { path, source })?;
        }
    }
    Ok(())
}

/// The offset of the last '\n' in the first `end` bytes of `file`, read backwards in blocks.
pub(crate) fn last_newline_before(file: &File, end: u64) -> io::Result<Option<u64>> {
    const BLOCK: u64 = 8 * 1024;
    let mut block = vec![0; BLOCK as usize];
    let mut end = end;
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let block = &mut block[..(end - start) as usize];
        file.read_exact_at(block, start)?;
        if let Some(index) = block.iter().rposition(|&byte| byte == b'\n') {
            return Ok(Some(start + index as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The newest well-formed event line of a stream, looking back through its segments (a
/// segment just started by rotation may hold nothing yet).
pub(crate) fn last_stored_line(segments: &[Segment]) -> Result<Option<Line>, LogError> {
    for segment in segments.iter().rev() {
        let line = last_line(&segment.path).map_err(|source| LogError::ReadFile {
            path: segment.path.clone(),
            source,
        })?;
        if let Some(line) = line.as_deref().and_then(parse_line) {
            return Ok(Some(line));
        }
    }
    Ok(None)
}

/// The last complete line of a segment file, without its '\n'. A segment dropped by rotation
/// meanwhile has none.
fn last_line(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let len = file.metadata()?.len();
    let Some(end) = last_newline_before(&file, len)? else {
        return Ok(None);
    };
    let start = last_newline_before(&file, end)?.map_or(0, |newline| newline + 1);
    let mut line = vec![0; (end - start) as usize];
    file.read_exact_at(&mut line, start)?;
    Ok(Some(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_segments_in_order_and_skips_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "00000000000000000300.log",
            "00000000000000000000.log",
            ".created",
            "7.log",
        ] {
            fs::write(dir.path().join(name), "x\n").unwrap();
        }
        let starts: Vec<u64> = list_segments(dir.path())
            .unwrap()
            .iter()
            .map(|s| s.start)
            .collect();
        assert_eq!(starts, [0, 300]);
        assert!(
            list_segments(&dir.path().join("missing"))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn finds_last_complete_line() {
        let check = |content: &[u8], expect: Option<&str>| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("segment");
            fs::write(&path, content).unwrap();
            let line = last_line(&path).unwrap();
            assert_eq!(line.as_deref(), expect.map(str::as_bytes), "{content:?}");
        };
        check(b"", None);
        check(b"torn", None);
        check(b"one\n", Some("one"));
        check(b"one\ntwo\n", Some("two"));
        check(b"one\ntwo\ntorn", Some("two"));
        let long = format!("{}\n{}\n", "a".repeat(20_000), "b".repeat(20_000));
        check(long.as_bytes(), Some(&"b".repeat(20_000)));
    }

    #[test]
    fn remove_tree_removes_everything() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("group");
        fs::create_dir_all(dir.join("stream")).unwrap();
        fs::write(dir.join("stream").join("00000000000000000000.log"), "x\n").unwrap();
        assert!(remove_tree(&dir).unwrap());
        assert!(!remove_tree(&dir).unwrap());
        assert_eq!(fs::read_dir(root.path()).unwrap().count(), 0);
    }
}
