//! Zips built in memory for tests, including hostile ones.

use std::io::{self, Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

/// One entry of a test zip, written exactly as given (no checks on names or targets).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entry<'a> {
    /// Name, content and Unix mode (permission and special bits).
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    /// Name and target.
    Symlink(&'a str, &'a str),
    /// Name and length of a file of zero bytes, which deflate shrinks about a thousandfold.
    Zeros(&'a str, u64),
}

pub(crate) fn zip_of(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for entry in entries {
        match *entry {
            Entry::File(name, content, mode) => {
                // `unix_permissions` drops special bits; the external attributes keep them.
                let attributes = (0o100_000 | mode) << 16;
                writer
                    .start_file(name, options.external_attributes(attributes))
                    .unwrap();
                writer.write_all(content).unwrap();
            }
            Entry::Dir(name) => writer.add_directory(name, options).unwrap(),
            Entry::Symlink(name, target) => writer.add_symlink(name, target, options).unwrap(),
            Entry::Zeros(name, len) => {
                writer
                    .start_file(name, options.compression_level(Some(1)))
                    .unwrap();
                io::copy(&mut io::repeat(0).take(len), &mut writer).unwrap();
            }
        }
    }
    writer.finish().unwrap().into_inner()
}

/// A zip holding one file of `len` zero bytes, honestly declared.
pub(crate) fn zeros(name: &str, len: u64) -> Vec<u8> {
    zip_of(&[Entry::Zeros(name, len)])
}

/// Rewrites the headers of entry `index` to claim it holds `declared` bytes once unzipped.
pub(crate) fn understate(zip: &mut [u8], index: usize, declared: u32) {
    // The uncompressed size sits 22 bytes into the local header and 24 bytes into the central
    // directory header.
    patch_after(zip, b"PK\x03\x04", index, 22, &declared.to_le_bytes());
    patch_after(zip, b"PK\x01\x02", index, 24, &declared.to_le_bytes());
}

/// Overwrites the bytes `offset` bytes after the `index`th (from 0) occurrence of `signature`.
fn patch_after(zip: &mut [u8], signature: &[u8], index: usize, offset: usize, value: &[u8]) {
    let start = zip
        .windows(signature.len())
        .enumerate()
        .filter(|(_, window)| *window == signature)
        .nth(index)
        .expect("signature present")
        .0;
    zip[start + offset..start + offset + value.len()].copy_from_slice(value);
}

/// A zip holding one honestly declared file of 300 MiB of zeros, in about 2 MB.
pub(crate) fn bomb_300_mib() -> Vec<u8> {
    // CRC-32 of 300 MiB of zeros, computed once with Python's `zlib.crc32(bytes(300 << 20))`.
    deflated_zeros_zip(300 * 1024 * 1024, 0x6dfb_08c4)
}

/// A zip holding one file of `len` zeros whose headers give `crc`.
///
/// Compressing hundreds of MiB takes seconds in a debug build, so the deflate stream is written
/// by hand and stored, then the headers are rewritten to say "deflate, `len` bytes".
fn deflated_zeros_zip(len: u32, crc: u32) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    writer.start_file("zeros", options).unwrap();
    writer.write_all(&deflated_zeros(len.into())).unwrap();
    let mut zip = writer.finish().unwrap().into_inner();
    let deflate = 8u16.to_le_bytes();
    // Field offsets: method 8, CRC 14 and size 22 in the local header; 10, 16 and 24 in the
    // central directory header.
    patch_after(&mut zip, b"PK\x03\x04", 0, 8, &deflate);
    patch_after(&mut zip, b"PK\x03\x04", 0, 14, &crc.to_le_bytes());
    patch_after(&mut zip, b"PK\x03\x04", 0, 22, &len.to_le_bytes());
    patch_after(&mut zip, b"PK\x01\x02", 0, 10, &deflate);
    patch_after(&mut zip, b"PK\x01\x02", 0, 16, &crc.to_le_bytes());
    patch_after(&mut zip, b"PK\x01\x02", 0, 24, &len.to_le_bytes());
    zip
}

/// A raw deflate stream of `len` (at least 1) zero bytes: one block with the fixed Huffman code
/// holding a literal zero, then copies of 258 bytes from distance 1, then literal zeros.
fn deflated_zeros(len: u64) -> Vec<u8> {
    const LITERAL_ZERO: (u32, u32) = (0b0011_0000, 8);
    const LENGTH_258: (u32, u32) = (0b1100_0101, 8);
    const DISTANCE_1: (u32, u32) = (0, 5);
    const END_OF_BLOCK: (u32, u32) = (0, 7);
    let mut bits = Bits::default();
    bits.value(1, 1); // The final block.
    bits.value(1, 2); // Fixed Huffman code.
    bits.code(LITERAL_ZERO);
    let mut left = len - 1;
    while left >= 258 {
        bits.code(LENGTH_258);
        bits.code(DISTANCE_1);
        left -= 258;
    }
    for _ in 0..left {
        bits.code(LITERAL_ZERO);
    }
    bits.code(END_OF_BLOCK);
    bits.bytes
}

/// Deflate's bit order: values go least significant bit first, Huffman codes most significant
/// bit first.
#[derive(Debug, Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn push(&mut self, bit: u32) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit != 0 {
            *self.bytes.last_mut().unwrap() |= 1 << (self.used % 8);
        }
        self.used = (self.used + 1) % 8;
    }

    fn value(&mut self, value: u32, len: u32) {
        for bit in 0..len {
            self.push((value >> bit) & 1);
        }
    }

    fn code(&mut self, (code, len): (u32, u32)) {
        for bit in (0..len).rev() {
            self.push((code >> bit) & 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use zip::read::ZipReadOptions;

    use super::*;

    #[test]
    fn hand_made_deflate_stream_inflates_to_zeros() {
        // 1 literal, 3 copies of 258 and 225 literals exercise every part of the stream.
        let zip = deflated_zeros_zip(1000, 0);
        let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
        let options = ZipReadOptions::new().ignore_crc32(true);
        let mut entry = archive.by_index_with_options(0, options).unwrap();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).unwrap();
        assert_eq!(content, vec![0; 1000]);
    }
}
