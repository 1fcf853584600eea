//! The first pass over a package: names, kinds and declared sizes from the central directory,
//! checked before a single byte is decompressed.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::safe_path::entry_path;
use crate::{Limits, PackageError};

const FILE_TYPE_MASK: u32 = 0o170_000;
const DIRECTORY_TYPE: u32 = 0o040_000;
const SYMLINK_TYPE: u32 = 0o120_000;

/// What the central directory says about one entry.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) name: String,
    /// The name ends with `/`.
    pub(crate) is_dir: bool,
    pub(crate) unix_mode: Option<u32>,
    pub(crate) declared_size: u64,
}

/// An entry with content: a regular file or a symlink.
#[derive(Debug)]
pub(crate) struct Item {
    /// Position in the archive.
    pub(crate) index: usize,
    pub(crate) name: String,
    /// Where the entry goes, relative to the target directory.
    pub(crate) path: PathBuf,
    pub(crate) kind: ItemKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemKind {
    /// A regular file and the mode to give it.
    File {
        mode: u32,
    },
    Symlink,
}

/// A package whose paths have been checked: no entry leaves the target, lies under a symlink of
/// the package or collides with another entry, and the declared sizes fit the limit.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Number of entries in the archive, directories included.
    pub(crate) entries: usize,
    /// Every directory to create, explicit or implied by a deeper entry; parents sort first.
    pub(crate) dirs: BTreeSet<PathBuf>,
    /// Files and symlinks, in archive order.
    pub(crate) items: Vec<Item>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Dir,
    File,
    Symlink,
}

/// Checks the headers of a package against `limits` and works out where each entry goes.
pub(crate) fn plan(headers: &[Header], limits: &Limits) -> Result<Layout, PackageError> {
    let mut declared_size: u64 = 0;
    let mut placed = Vec::with_capacity(headers.len());
    for header in headers {
        let path = entry_path(&header.name).ok_or_else(|| PackageError::UnsafePath {
            name: header.name.clone(),
        })?;
        let (shape, kind) = classify(header);
        if path.as_os_str().is_empty() && shape != Shape::Dir {
            return Err(PackageError::UnsafePath {
                name: header.name.clone(),
            });
        }
        declared_size = declared_size.saturating_add(header.declared_size);
        placed.push((path, shape, kind));
    }
    if declared_size > limits.max_unzipped_bytes {
        return Err(PackageError::UnzippedTooLarge {
            limit: limits.max_unzipped_bytes,
        });
    }

    // Every path is recorded before ancestors are checked, because an entry may come before the
    // symlink or file it lies under.
    let mut by_path: HashMap<&Path, (Shape, &str)> = HashMap::with_capacity(placed.len());
    for ((path, shape, _), header) in placed.iter().zip(headers) {
        if path.as_os_str().is_empty() {
            continue;
        }
        let previous = by_path.insert(path, (*shape, &header.name));
        if previous.is_some_and(|(other, _)| other != Shape::Dir || *shape != Shape::Dir) {
            return Err(PackageError::ConflictingEntry {
                name: header.name.clone(),
            });
        }
    }

    let mut dirs = BTreeSet::new();
    let mut items = Vec::new();
    for (index, ((path, _, kind), header)) in placed.iter().zip(headers).enumerate() {
        for ancestor in path.ancestors().skip(1) {
            if ancestor.as_os_str().is_empty() {
                break;
            }
            match by_path.get(ancestor) {
                Some((Shape::Symlink, link)) => {
                    return Err(PackageError::UnderSymlink {
                        name: header.name.clone(),
                        link: (*link).to_owned(),
                    });
                }
                Some((Shape::File, _)) => {
                    return Err(PackageError::ConflictingEntry {
                        name: header.name.clone(),
                    });
                }
                Some((Shape::Dir, _)) | None => {
                    dirs.insert(ancestor.to_path_buf());
                }
            }
        }
        match kind {
            Some(kind) => items.push(Item {
                index,
                name: header.name.clone(),
                path: path.clone(),
                kind: *kind,
            }),
            None if !path.as_os_str().is_empty() => {
                dirs.insert(path.clone());
            }
            None => {}
        }
    }
    Ok(Layout {
        entries: headers.len(),
        dirs,
        items,
    })
}

/// What an entry is, and for files the mode to give them: the permission bits of the archive
/// (setuid, setgid and sticky cleared) but at least `0644`, so the runtime can always read them.
/// Entries of other types (devices, fifos, sockets) become regular files.
fn classify(header: &Header) -> (Shape, Option<ItemKind>) {
    let file_type = header.unix_mode.map(|mode| mode & FILE_TYPE_MASK);
    if header.is_dir || file_type == Some(DIRECTORY_TYPE) {
        (Shape::Dir, None)
    } else if file_type == Some(SYMLINK_TYPE) {
        (Shape::Symlink, Some(ItemKind::Symlink))
    } else {
        let mode = header
            .unix_mode
            .map_or(0o644, |mode| (mode & 0o777) | 0o644);
        (Shape::File, Some(ItemKind::File { mode }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_unzipped_bytes: 1000,
        max_entries: 10,
    };

    fn file(name: &str, mode: Option<u32>) -> Header {
        Header {
            name: name.to_owned(),
            is_dir: false,
            unix_mode: mode,
            declared_size: 1,
        }
    }

    fn dir(name: &str) -> Header {
        Header {
            name: name.to_owned(),
            is_dir: true,
            unix_mode: Some(DIRECTORY_TYPE | 0o755),
            declared_size: 0,
        }
    }

    fn symlink(name: &str) -> Header {
        Header {
            name: name.to_owned(),
            is_dir: false,
            unix_mode: Some(SYMLINK_TYPE | 0o777),
            declared_size: 1,
        }
    }

    fn check_refused(headers: &[Header], expect: &str) {
        let error = plan(headers, &LIMITS).expect_err("layout should be refused");
        assert_eq!(error.to_string(), expect);
    }

    #[test]
    fn file_modes_keep_permissions_but_drop_special_bits() {
        let check = |mode: Option<u32>, expect: u32| {
            let layout = plan(&[file("f", mode)], &LIMITS).unwrap();
            assert_eq!(
                layout.items[0].kind,
                ItemKind::File { mode: expect },
                "{mode:?}"
            );
        };
        check(Some(0o100_755), 0o755);
        check(Some(0o100_600), 0o644);
        check(Some(0o100_400), 0o644);
        check(Some(0o104_755), 0o755);
        check(Some(0o103_777), 0o777);
        check(None, 0o644);
    }

    #[test]
    fn directories_include_every_ancestor() {
        let layout = plan(
            &[
                dir("./"),
                dir("empty/"),
                file("a/b/c", None),
                symlink("a/l"),
            ],
            &LIMITS,
        )
        .unwrap();
        let dirs: Vec<_> = layout.dirs.iter().map(|d| d.to_str().unwrap()).collect();
        assert_eq!(dirs, ["a", "a/b", "empty"]);
        let items: Vec<_> = layout.items.iter().map(|i| (i.index, i.kind)).collect();
        assert_eq!(
            items,
            [(2, ItemKind::File { mode: 0o644 }), (3, ItemKind::Symlink)]
        );
        assert_eq!(layout.entries, 4);
    }

    #[test]
    fn repeated_directories_are_accepted() {
        let layout = plan(&[dir("a/"), dir("./a/"), file("a/f", None)], &LIMITS).unwrap();
        assert_eq!(layout.dirs.len(), 1);
    }

    #[test]
    fn unsafe_layouts_are_refused() {
        check_refused(
            &[file("../evil", None)],
            r#"zip entry "../evil" has an unsafe path"#,
        );
        check_refused(&[file("./", None)], r#"zip entry "./" has an unsafe path"#);
        check_refused(
            &[symlink("l"), file("l/x", None)],
            r#"zip entry "l/x" lies under symlink "l""#,
        );
        check_refused(
            &[file("l/x/y", None), symlink("./l")],
            r#"zip entry "l/x/y" lies under symlink "./l""#,
        );
        check_refused(
            &[file("f", None), file("f", None)],
            r#"zip entry "f" conflicts with another entry"#,
        );
        check_refused(
            &[dir("f/"), symlink("f")],
            r#"zip entry "f" conflicts with another entry"#,
        );
        check_refused(
            &[file("f", None), file("f/g", None)],
            r#"zip entry "f/g" conflicts with another entry"#,
        );
    }

    #[test]
    fn declared_sizes_over_the_limit_are_refused() {
        let mut big = file("big", None);
        big.declared_size = LIMITS.max_unzipped_bytes;
        assert!(plan(std::slice::from_ref(&big), &LIMITS).is_ok());
        check_refused(
            &[big, file("one-more", None)],
            "unzipped size exceeds 1000 bytes",
        );
    }
}
