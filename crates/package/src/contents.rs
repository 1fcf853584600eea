//! The second pass over a package: decompressing entries while counting every byte against the
//! unzipped-size limit, whatever the headers claim.

use std::io::{self, Cursor, Read};
use std::path::PathBuf;

use zip::ZipArchive;
use zip::result::ZipError;

use crate::layout::{self, Header, Item, Layout};
use crate::safe_path::{self, LINK_TARGET_MAX};
use crate::{Limits, PackageError};

const CHUNK_BYTES: usize = 64 * 1024;

/// Opens `zip` and checks its layout; the returned [`Contents`] then decompresses the items.
pub(crate) fn open<'z>(
    zip: &'z [u8],
    limits: &Limits,
) -> Result<(Layout, Contents<'z>), PackageError> {
    let archive =
        ZipArchive::new(Cursor::new(zip)).map_err(|source| PackageError::NotZip { source })?;
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooManyEntries {
            count: archive.len(),
            limit: limits.max_entries,
        });
    }
    let headers = (0..archive.len())
        .map(|index| header(&archive, index))
        .collect::<Result<Vec<_>, _>>()?;
    let layout = layout::plan(&headers, limits)?;
    let contents = Contents {
        archive,
        budget: Budget::new(limits.max_unzipped_bytes),
    };
    Ok((layout, contents))
}

fn header(archive: &ZipArchive<Cursor<&[u8]>>, index: usize) -> Result<Header, PackageError> {
    let entry = archive
        .by_index_data(index)
        .map_err(|source| PackageError::NotZip { source })?;
    let name = entry
        .name()
        .map_err(|source| PackageError::CorruptEntry {
            name: String::from_utf8_lossy(entry.name_raw()).into_owned(),
            source,
        })?
        .into_owned();
    Ok(Header {
        name,
        is_dir: entry.is_dir(),
        unix_mode: entry.unix_mode(),
        declared_size: entry.size(),
    })
}

/// The decompressing side of an opened package.
#[derive(Debug)]
pub(crate) struct Contents<'z> {
    archive: ZipArchive<Cursor<&'z [u8]>>,
    budget: Budget,
}

impl Contents<'_> {
    /// Decompresses a file and hands its bytes to `write` chunk by chunk; returns how many.
    pub(crate) fn copy_file(
        &mut self,
        item: &Item,
        write: impl FnMut(&[u8]) -> Result<(), PackageError>,
    ) -> Result<u64, PackageError> {
        let mut entry =
            self.archive
                .by_index(item.index)
                .map_err(|source| PackageError::CorruptEntry {
                    name: item.name.clone(),
                    source,
                })?;
        self.budget.copy(&item.name, &mut entry, write)
    }

    /// Decompresses a symlink and returns the target to create it with, checked and normalised
    /// by [`safe_path::link_target`].
    pub(crate) fn link_target(&mut self, item: &Item) -> Result<PathBuf, PackageError> {
        let mut target = Vec::new();
        self.copy_file(item, |chunk| {
            if target.len() + chunk.len() > LINK_TARGET_MAX {
                return Err(PackageError::UnsafeSymlink {
                    name: item.name.clone(),
                    target: format!("{}...", String::from_utf8_lossy(&target)),
                });
            }
            target.extend_from_slice(chunk);
            Ok(())
        })?;
        safe_path::link_target(&item.path, &target).ok_or_else(|| PackageError::UnsafeSymlink {
            name: item.name.clone(),
            target: String::from_utf8_lossy(&target).into_owned(),
        })
    }

    /// Bytes decompressed so far, file contents and link targets together.
    pub(crate) fn unzipped_bytes(&self) -> u64 {
        self.budget.used
    }
}

/// The unzipped-size limit, charged with the bytes actually decompressed. Headers can lie about
/// sizes; this count cannot, and it stops a zip bomb one chunk past the limit.
#[derive(Debug)]
struct Budget {
    used: u64,
    limit: u64,
    chunk: Vec<u8>,
}

impl Budget {
    fn new(limit: u64) -> Self {
        Self {
            used: 0,
            limit,
            chunk: vec![0; CHUNK_BYTES],
        }
    }

    /// Copies `reader` to `write` until the end or the limit, whichever comes first; read
    /// errors are blamed on entry `name`.
    fn copy(
        &mut self,
        name: &str,
        reader: &mut impl Read,
        mut write: impl FnMut(&[u8]) -> Result<(), PackageError>,
    ) -> Result<u64, PackageError> {
        let mut copied = 0;
        loop {
            let read = match reader.read(&mut self.chunk) {
                Ok(0) => return Ok(copied),
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    return Err(PackageError::CorruptEntry {
                        name: name.to_owned(),
                        source: ZipError::Io(error),
                    });
                }
            };
            // `read` is at most CHUNK_BYTES, so the conversion is lossless.
            let read_bytes = read as u64;
            self.used = self.used.saturating_add(read_bytes);
            if self.used > self.limit {
                return Err(PackageError::UnzippedTooLarge { limit: self.limit });
            }
            write(&self.chunk[..read])?;
            copied += read_bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stops_an_endless_stream_one_chunk_past_the_limit() {
        let limit = 10 * CHUNK_BYTES as u64 + 7;
        let mut budget = Budget::new(limit);
        let mut written = 0;
        let error = budget
            .copy("bomb", &mut io::repeat(0), |chunk| {
                written += chunk.len() as u64;
                Ok(())
            })
            .expect_err("an endless stream must exceed the budget");
        assert!(matches!(error, PackageError::UnzippedTooLarge { limit: l } if l == limit));
        assert!(written <= limit, "wrote {written} bytes past the limit");
        assert!(budget.used <= limit + CHUNK_BYTES as u64);
    }

    #[test]
    fn budget_is_shared_across_entries() {
        let mut budget = Budget::new(10);
        let copied = budget
            .copy("a", &mut &[1u8; 6][..], |_| Ok(()))
            .expect("six bytes fit");
        assert_eq!(copied, 6);
        let error = budget
            .copy("b", &mut &[1u8; 6][..], |_| Ok(()))
            .expect_err("twelve bytes do not fit");
        assert_eq!(error.to_string(), "unzipped size exceeds 10 bytes");
    }

    #[test]
    fn read_errors_name_the_entry() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::InvalidData, "bad deflate"))
            }
        }
        let error = Budget::new(10)
            .copy("lib/x.so", &mut Broken, |_| Ok(()))
            .expect_err("a broken stream must fail");
        assert_eq!(error.to_string(), r#"read zip entry "lib/x.so""#);
    }
}
