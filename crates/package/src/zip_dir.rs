//! Building a deployment package from a directory.

use std::fs::{self, File};
use std::io::{self, Cursor};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::PackageError;
use crate::error::io_error;
use crate::safe_path;

type Writer = ZipWriter<Cursor<Vec<u8>>>;

/// Zips a directory for deployment: entries sorted by name, files deflated, Unix modes kept,
/// symlinks stored as symlinks (never followed), paths relative to `dir`.
///
/// The output depends only on the tree: timestamps are fixed, so packaging the same tree twice
/// gives the same bytes and the same `CodeSha256`. Symlinks whose targets leave `dir` are
/// refused, as [`crate::extract`] would refuse them; targets are stored normalised, as `extract`
/// would recreate them.
pub fn zip_dir(dir: &Path) -> Result<Vec<u8>, PackageError> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    add_children(&mut writer, dir, Path::new(""))?;
    let cursor = writer
        .finish()
        .map_err(|source| PackageError::WriteZip { source })?;
    Ok(cursor.into_inner())
}

/// Adds the entries of `dir/relative`, depth first, in byte order of their names.
fn add_children(writer: &mut Writer, dir: &Path, relative: &Path) -> Result<(), PackageError> {
    // Joining an empty path would add a trailing slash to error messages.
    let absolute = if relative.as_os_str().is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(relative)
    };
    let mut children = fs::read_dir(&absolute)
        .and_then(|entries| {
            entries
                .map(|entry| entry.map(|entry| entry.file_name()))
                .collect::<io::Result<Vec<_>>>()
        })
        .map_err(io_error("read directory", &absolute))?;
    children.sort();
    for child in children {
        add_entry(writer, dir, &relative.join(child))?;
    }
    Ok(())
}

fn add_entry(writer: &mut Writer, dir: &Path, relative: &Path) -> Result<(), PackageError> {
    let path = dir.join(relative);
    let name = entry_name(relative, &path)?;
    let metadata = fs::symlink_metadata(&path).map_err(io_error("inspect", &path))?;
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(metadata.permissions().mode());
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        writer
            .add_directory(format!("{name}/"), options)
            .map_err(|source| PackageError::WriteZip { source })?;
        add_children(writer, dir, relative)
    } else if file_type.is_symlink() {
        let target = fs::read_link(&path).map_err(io_error("read symlink", &path))?;
        let unsafe_target = || PackageError::UnsafeSymlink {
            name: name.to_owned(),
            target: target.to_string_lossy().into_owned(),
        };
        let normalised = safe_path::link_target(relative, target.as_os_str().as_bytes())
            .ok_or_else(unsafe_target)?;
        let normalised = normalised.to_str().ok_or_else(unsafe_target)?;
        writer
            .add_symlink(name, normalised, options)
            .map_err(|source| PackageError::WriteZip { source })
    } else if file_type.is_file() {
        let large = metadata.len() >= u64::from(u32::MAX);
        writer
            .start_file(name, options.large_file(large))
            .map_err(|source| PackageError::WriteZip { source })?;
        let mut file = File::open(&path).map_err(io_error("open file", &path))?;
        io::copy(&mut file, writer).map_err(io_error("read file", &path))?;
        Ok(())
    } else {
        Err(PackageError::Unpackable {
            path,
            reason: "not a regular file, directory or symlink",
        })
    }
}

/// The zip entry name for `relative`: UTF-8, with `/` as the only separator.
fn entry_name<'a>(relative: &'a Path, path: &Path) -> Result<&'a str, PackageError> {
    let unpackable = |reason| PackageError::Unpackable {
        path: PathBuf::from(path),
        reason,
    };
    let name = relative
        .to_str()
        .ok_or_else(|| unpackable("name is not UTF-8"))?;
    // `extract` reads `\` as a separator, so such a name would come back as a different path.
    if name.contains('\\') {
        return Err(unpackable("name contains a backslash"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::*;
    use crate::{Limits, extract, inspect};

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o777
    }

    fn write(path: &Path, content: &[u8], mode: u32) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    fn function_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("bootstrap"),
            b"#!/bin/sh\necho hi\n",
            0o755,
        );
        write(&dir.path().join("lib/data.txt"), b"hello", 0o600);
        fs::create_dir(dir.path().join("empty")).unwrap();
        symlink("lib/data.txt", dir.path().join("current")).unwrap();
        symlink("../bootstrap", dir.path().join("lib/start")).unwrap();
        dir
    }

    fn names(zip: &[u8]) -> Vec<String> {
        let archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        archive
            .file_names()
            .map(|name| name.unwrap().into_owned())
            .collect()
    }

    #[test]
    fn round_trip_keeps_modes_and_symlinks() {
        let source = function_dir();
        let zip = zip_dir(source.path()).unwrap();
        let inspected = inspect(&zip, &Limits::lambda()).unwrap();
        assert_eq!(inspected.entries, 6);

        let parent = tempfile::tempdir().unwrap();
        let dest = parent.path().join("task");
        let written = extract(&zip, &dest, &Limits::lambda()).unwrap();
        assert_eq!(written, inspected.unzipped_size);
        assert_eq!(
            fs::read(dest.join("bootstrap")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(mode(&dest.join("bootstrap")), 0o755);
        assert_eq!(mode(&dest.join("lib/data.txt")), 0o644);
        assert!(dest.join("empty").is_dir());
        assert_eq!(
            fs::read_link(dest.join("current")).unwrap(),
            Path::new("lib/data.txt")
        );
        assert_eq!(
            fs::read_link(dest.join("lib/start")).unwrap(),
            Path::new("../bootstrap")
        );
        assert_eq!(fs::read(dest.join("current")).unwrap(), b"hello");
    }

    #[test]
    fn entries_are_sorted_and_output_is_deterministic() {
        let source = function_dir();
        let zip = zip_dir(source.path()).unwrap();
        assert_eq!(
            names(&zip),
            [
                "bootstrap",
                "current",
                "empty/",
                "lib/",
                "lib/data.txt",
                "lib/start"
            ]
        );
        assert_eq!(zip_dir(source.path()).unwrap(), zip);
    }

    #[test]
    fn an_empty_directory_gives_an_empty_zip() {
        let source = tempfile::tempdir().unwrap();
        let zip = zip_dir(source.path()).unwrap();
        assert!(names(&zip).is_empty());
        assert_eq!(inspect(&zip, &Limits::lambda()).unwrap().entries, 0);
    }

    #[test]
    fn symlinks_out_of_the_directory_are_refused() {
        let check = |link: &str, target: &str| {
            let source = tempfile::tempdir().unwrap();
            let path = source.path().join(link);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            symlink(target, &path).unwrap();
            let error = zip_dir(source.path()).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("zip symlink {link:?} has an unsafe target {target:?}")
            );
        };
        check("passwd", "/etc/passwd");
        check("a/b/x", "../../../x");
        check("up", "..");
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let parent = tempfile::tempdir().unwrap();
        let missing = parent.path().join("missing");
        let error = zip_dir(&missing).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("read directory {}", missing.display())
        );
    }
}
