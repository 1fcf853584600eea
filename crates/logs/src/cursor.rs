//! Reading one stream's events forward from a logical position, a chunk at a time.
//!
//! A cursor holds no file open between chunks, so a filter over many streams does not pile up
//! file descriptors, and a writer rotating or deleting segments never waits for a reader.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::LogError;
use crate::layout::{Segment, list_segments};
use crate::line::parse_line;

/// How much a cursor reads at a time; longer lines make it read more.
const CHUNK_BYTES: usize = 64 * 1024;

/// One event read from a stream, with where it sits in the stream.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    pub(crate) timestamp_ms: i64,
    pub(crate) ingestion_ms: i64,
    pub(crate) message: String,
    /// Logical position of the event's line.
    pub(crate) pos: u64,
    /// Logical position just after the event's line.
    pub(crate) end: u64,
}

#[derive(Debug)]
pub(crate) struct StreamCursor {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// Logical position just after the last buffered event.
    pos: u64,
    buffered: VecDeque<StoredEvent>,
    exhausted: bool,
}

enum Chunk {
    /// The position moved on (events buffered, malformed lines skipped or the next segment
    /// reached).
    Advanced,
    /// Nothing more in the segments listed.
    End,
}

impl StreamCursor {
    /// A cursor over the stream in `dir` from logical position `pos`. A position older than
    /// the oldest segment kept starts at that segment.
    pub(crate) fn open(dir: &Path, pos: u64) -> Result<Self, LogError> {
        let mut cursor = StreamCursor {
            dir: dir.to_owned(),
            segments: Vec::new(),
            pos,
            buffered: VecDeque::new(),
            exhausted: false,
        };
        cursor.relist()?;
        Ok(cursor)
    }

    /// The next event, without consuming it.
    pub(crate) fn peek(&mut self) -> Result<Option<&StoredEvent>, LogError> {
        self.fill()?;
        Ok(self.buffered.front())
    }

    /// Consumes the next event.
    pub(crate) fn next_event(&mut self) -> Result<Option<StoredEvent>, LogError> {
        self.fill()?;
        Ok(self.buffered.pop_front())
    }

    /// The logical position of the next event not yet consumed: where a later read resumes.
    pub(crate) fn position(&self) -> u64 {
        self.buffered.front().map_or(self.pos, |event| event.pos)
    }

    fn fill(&mut self) -> Result<(), LogError> {
        let mut relisted = false;
        while self.buffered.is_empty() && !self.exhausted {
            match self.read_chunk()? {
                Chunk::Advanced => {}
                // The writer may have rotated to a segment this cursor has not listed yet.
                Chunk::End if !relisted => {
                    self.relist()?;
                    relisted = true;
                }
                Chunk::End => self.exhausted = true,
            }
        }
        Ok(())
    }

    fn relist(&mut self) -> Result<(), LogError> {
        self.segments = list_segments(&self.dir)?;
        let (Some(first), Some(last)) = (self.segments.first(), self.segments.last()) else {
            return Ok(());
        };
        // Complete lines are never taken back, so a position past the end of the stream means
        // the stream was deleted and created anew: read it from its start.
        if self.pos < first.start || self.pos > last.start + last.len {
            self.pos = first.start;
        }
        Ok(())
    }

    fn read_chunk(&mut self) -> Result<Chunk, LogError> {
        let Some(index) = self
            .segments
            .iter()
            .rposition(|segment| segment.start <= self.pos)
        else {
            return Ok(Chunk::End);
        };
        let segment = &self.segments[index];
        let offset = self.pos - segment.start;
        let mut want = CHUNK_BYTES;
        loop {
            let bytes = match read_at(&segment.path, offset, want) {
                Ok(bytes) => bytes,
                // Rotation dropped the segment; listing again moves on to the kept ones.
                Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Chunk::End),
                Err(source) => {
                    return Err(LogError::ReadFile {
                        path: segment.path.clone(),
                        source,
                    });
                }
            };
            if let Some(last_newline) = bytes.iter().rposition(|&byte| byte == b'\n') {
                self.buffer_lines(&bytes[..=last_newline]);
                return Ok(Chunk::Advanced);
            }
            if bytes.len() == want {
                want *= 2;
                continue;
            }
            // No complete line is left in this segment: the rest, if any, is a torn line.
            return Ok(match self.segments.get(index + 1) {
                Some(next) => {
                    self.pos = next.start;
                    Chunk::Advanced
                }
                None => Chunk::End,
            });
        }
    }

    fn buffer_lines(&mut self, lines: &[u8]) {
        for line in lines.split_inclusive(|&byte| byte == b'\n') {
            let pos = self.pos;
            self.pos += line.len() as u64;
            if let Some(parsed) = parse_line(&line[..line.len() - 1]) {
                self.buffered.push_back(StoredEvent {
                    timestamp_ms: parsed.timestamp_ms,
                    ingestion_ms: parsed.ingestion_ms,
                    message: parsed.message,
                    pos,
                    end: self.pos,
                });
            }
        }
    }
}

fn read_at(path: &Path, offset: u64, want: usize) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::with_capacity(want.min(CHUNK_BYTES));
    file.take(want as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::layout::segment_path;

    /// Reads every event of a stream made of `segments` (start, content) from `pos`; returns
    /// the messages and where the cursor ends.
    fn check(segments: &[(u64, &str)], pos: u64, expect: &[&str], expect_end: u64) {
        let dir = tempfile::tempdir().unwrap();
        for (start, content) in segments {
            fs::write(segment_path(dir.path(), *start), content).unwrap();
        }
        let mut cursor = StreamCursor::open(dir.path(), pos).unwrap();
        let mut messages = Vec::new();
        while let Some(event) = cursor.next_event().unwrap() {
            messages.push(event.message);
        }
        assert_eq!(messages, expect, "{segments:?} from {pos}");
        assert_eq!(cursor.position(), expect_end, "{segments:?} from {pos}");
    }

    #[test]
    fn reads_across_segments_from_any_position() {
        let two = [(0, "1\t1\ta\n1\t1\tb\n"), (12, "2\t2\tc\n")];
        check(&two, 0, &["a", "b", "c"], 18);
        check(&two, 6, &["b", "c"], 18);
        check(&two, 12, &["c"], 18);
        check(&two, 18, &[], 18);
        check(&[], 0, &[], 0);
    }

    #[test]
    fn skips_what_it_cannot_read() {
        // Dropped by rotation: resume at the oldest segment kept.
        check(&[(100, "1\t1\ta\n")], 10, &["a"], 106);
        // Past the end: the stream was created anew.
        check(&[(0, "1\t1\ta\n")], 500, &["a"], 6);
        // Torn and malformed lines.
        check(
            &[(0, "1\t1\ta\n1\t1\ttorn"), (14, "2\t2\tb\n")],
            0,
            &["a", "b"],
            20,
        );
        check(&[(0, "garbage\n1\t1\ta\n1\t1")], 0, &["a"], 14);
    }
}
