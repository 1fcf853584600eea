//! Everything that can go wrong with a deployment package.

use std::io;
use std::path::{Path, PathBuf};

use zip::result::ZipError;

/// Why a package was refused, or what failed while reading or writing one.
///
/// `NotZip` and `CorruptEntry` mean the upload is not a usable zip (AWS answers "Could not unzip
/// uploaded file. Please check your file, then try to upload again."); `UnsafePath`,
/// `UnsafeSymlink`, `UnderSymlink` and `ConflictingEntry` mean the archive is readable but would
/// write outside its target or overwrite itself; `UnzippedTooLarge` and `TooManyEntries` are the
/// quotas; the rest are local failures.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The bytes are not a zip archive (no readable central directory).
    #[error("read zip archive")]
    NotZip {
        #[source]
        source: ZipError,
    },
    /// An entry could not be decompressed: corrupt data, a checksum mismatch, encryption or an
    /// unsupported compression method.
    #[error("read zip entry {name:?}")]
    CorruptEntry {
        name: String,
        #[source]
        source: ZipError,
    },
    /// An entry name is empty, absolute, contains NUL, or climbs out of the target with `..`.
    #[error("zip entry {name:?} has an unsafe path")]
    UnsafePath { name: String },
    /// A symlink's target is absolute, climbs out of the package, is empty, too long or contains
    /// NUL.
    #[error("zip symlink {name:?} has an unsafe target {target:?}")]
    UnsafeSymlink { name: String, target: String },
    /// An entry lies below a symlink of the same package, so writing it would follow the link.
    #[error("zip entry {name:?} lies under symlink {link:?}")]
    UnderSymlink { name: String, link: String },
    /// Two entries claim the same path, or an entry lies below a regular file.
    #[error("zip entry {name:?} conflicts with another entry")]
    ConflictingEntry { name: String },
    /// The package holds more than the allowed number of bytes once unzipped; AWS answers
    /// "Unzipped size must be smaller than 262144000 bytes".
    #[error("unzipped size exceeds {limit} bytes")]
    UnzippedTooLarge { limit: u64 },
    /// The package holds more entries than allowed.
    #[error("zip archive has {count} entries, more than {limit}")]
    TooManyEntries { count: usize, limit: usize },
    /// `extract` was asked to create a directory that already exists.
    #[error("extract into {}: destination already exists", path.display())]
    DestinationExists { path: PathBuf },
    /// `zip_dir` met something it cannot put in a package: a special file or a non-UTF-8 name.
    #[error("package {}: {reason}", path.display())]
    Unpackable { path: PathBuf, reason: &'static str },
    /// Building the zip archive failed.
    #[error("write zip archive")]
    WriteZip {
        #[source]
        source: ZipError,
    },
    /// A file system operation failed; `action` names it ("create directory", "write file").
    #[error("{action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Builds the closure that wraps an `io::Error` with the action and path it belongs to; the path
/// is copied only when an error happens.
pub(crate) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(io::Error) -> PackageError {
    move |source| PackageError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}
