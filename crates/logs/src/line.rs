//! The on-disk form of one event: `<timestamp_ms>\t<ingestion_ms>\t<escaped message>\n`.
//!
//! The message is escaped (`\\`, `\n`, `\r`, `\t`) so that a line break always ends an event and
//! a tab always separates fields. A line without its final '\n' was torn by a crash or is still
//! being written; readers never look at it.

/// One event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) timestamp_ms: i64,
    pub(crate) ingestion_ms: i64,
    pub(crate) message: String,
}

/// Appends the stored line of one event, '\n' included, to `out`.
pub(crate) fn encode_line(out: &mut Vec<u8>, timestamp_ms: i64, ingestion_ms: i64, message: &str) {
    out.extend_from_slice(timestamp_ms.to_string().as_bytes());
    out.push(b'\t');
    out.extend_from_slice(ingestion_ms.to_string().as_bytes());
    out.push(b'\t');
    for byte in message.bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            other => out.push(other),
        }
    }
    out.push(b'\n');
}

/// Parses one stored line given without its '\n'. A malformed line is `None`.
pub(crate) fn parse_line(line: &[u8]) -> Option<Line> {
    let mut fields = line.splitn(3, |&byte| byte == b'\t');
    let timestamp_ms = parse_i64(fields.next()?)?;
    let ingestion_ms = parse_i64(fields.next()?)?;
    let message = unescape(fields.next()?)?;
    Some(Line {
        timestamp_ms,
        ingestion_ms,
        message,
    })
}

fn parse_i64(field: &[u8]) -> Option<i64> {
    std::str::from_utf8(field).ok()?.parse().ok()
}

fn unescape(escaped: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    while let Some(&byte) = bytes.next() {
        match byte {
            b'\\' => out.push(match bytes.next()? {
                b'\\' => b'\\',
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                _ => return None,
            }),
            // Raw separators never appear in a well-formed message.
            b'\t' | b'\r' => return None,
            other => out.push(other),
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_trip(message: &str, expect_stored: &str) {
        let mut out = Vec::new();
        encode_line(&mut out, -5, 1_700_000_000_123, message);
        assert_eq!(String::from_utf8(out.clone()).unwrap(), expect_stored);
        let line = parse_line(out.strip_suffix(b"\n").unwrap()).unwrap();
        assert_eq!(
            line,
            Line {
                timestamp_ms: -5,
                ingestion_ms: 1_700_000_000_123,
                message: message.to_owned()
            }
        );
    }

    #[test]
    fn messages_round_trip() {
        check_round_trip("", "-5\t1700000000123\t\n");
        check_round_trip("hello", "-5\t1700000000123\thello\n");
        check_round_trip(
            "REPORT RequestId: r\tDuration: 1.00 ms\t",
            "-5\t1700000000123\tREPORT RequestId: r\\tDuration: 1.00 ms\\t\n",
        );
        check_round_trip("a\nb\r\n", "-5\t1700000000123\ta\\nb\\r\\n\n");
        check_round_trip("C:\\path\\n", "-5\t1700000000123\tC:\\\\path\\\\n\n");
        check_round_trip("ünïcode ✓", "-5\t1700000000123\tünïcode ✓\n");
    }

    #[test]
    fn rejects_malformed_lines() {
        for line in [
            "",
            "12",
            "12\t13",
            "x\t13\tmsg",
            "12\ty\tmsg",
            "12\t13\tbad escape \\q",
            "12\t13\ttrailing \\",
            "12\t13\traw\ttab",
            "12\t13\traw\rreturn",
        ] {
            assert_eq!(parse_line(line.as_bytes()), None, "{line:?}");
        }
    }
}
