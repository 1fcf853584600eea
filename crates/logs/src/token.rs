//! Pagination tokens. To callers they are opaque strings; inside they are logical positions.
//!
//! A filter token holds, for each stream of the group read so far, the position where reading
//! resumes: `v1.<stream key hex>-<position hex>...`. Streams it does not name are read from their
//! start, which is how a follower sees streams created after its first read. A stream token is
//! `f/<position>` (read forward from there) or `b/<position>` (read the events before it), as in
//! CloudWatch Logs.

use std::collections::BTreeMap;

use crate::LogError;

const FILTER_TOKEN_VERSION: &str = "v1";

/// Resume positions by stream key; a stream missing here resumes at its start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FilterToken {
    pub(crate) positions: BTreeMap<u64, u64>,
}

impl FilterToken {
    pub(crate) fn parse(token: &str) -> Result<Self, LogError> {
        let invalid = || LogError::InvalidToken {
            token: token.to_owned(),
        };
        let entries = token
            .strip_prefix(FILTER_TOKEN_VERSION)
            .ok_or_else(invalid)?;
        let mut positions = BTreeMap::new();
        if entries.is_empty() {
            return Ok(FilterToken { positions });
        }
        let entries = entries.strip_prefix('.').ok_or_else(invalid)?;
        for entry in entries.split('.') {
            let (key, pos) = entry.split_once('-').ok_or_else(invalid)?;
            let key = u64::from_str_radix(key, 16).map_err(|_| invalid())?;
            let pos = u64::from_str_radix(pos, 16).map_err(|_| invalid())?;
            positions.insert(key, pos);
        }
        Ok(FilterToken { positions })
    }

    pub(crate) fn encode(&self) -> String {
        let mut token = FILTER_TOKEN_VERSION.to_owned();
        for (key, pos) in &self.positions {
            token.push_str(&format!(".{key:x}-{pos:x}"));
        }
        token
    }
}

/// Where a `GetLogEvents` page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamToken {
    /// The events at and after a position.
    Forward(u64),
    /// The events before a position.
    Backward(u64),
}

impl StreamToken {
    pub(crate) fn parse(token: &str) -> Result<Self, LogError> {
        let invalid = || LogError::InvalidToken {
            token: token.to_owned(),
        };
        let (direction, pos) = token.split_once('/').ok_or_else(invalid)?;
        let pos = pos.parse().map_err(|_| invalid())?;
        match direction {
            "f" => Ok(StreamToken::Forward(pos)),
            "b" => Ok(StreamToken::Backward(pos)),
            _ => Err(invalid()),
        }
    }

    pub(crate) fn encode(self) -> String {
        match self {
            StreamToken::Forward(pos) => format!("f/{pos:020}"),
            StreamToken::Backward(pos) => format!("b/{pos:020}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_tokens_round_trip() {
        for positions in [vec![], vec![(0, 5)], vec![(u64::MAX, 1), (17, u64::MAX)]] {
            let token = FilterToken {
                positions: positions.into_iter().collect(),
            };
            assert_eq!(FilterToken::parse(&token.encode()).unwrap(), token);
        }
        assert_eq!(
            FilterToken {
                positions: [(255, 16)].into()
            }
            .encode(),
            "v1.ff-10"
        );
    }

    #[test]
    fn stream_tokens_round_trip() {
        for token in [StreamToken::Forward(0), StreamToken::Backward(u64::MAX)] {
            assert_eq!(StreamToken::parse(&token.encode()).unwrap(), token);
        }
        assert_eq!(StreamToken::Forward(42).encode(), "f/00000000000000000042");
    }

    #[test]
    fn rejects_malformed_tokens() {
        for token in [
            "", "v2", "v1.", "v1ff-1", "v1.ff", "v1.zz-1", "v1.1-2.", "f/", "x/1", "b/-1",
        ] {
            let filter = FilterToken::parse(token);
            let stream = StreamToken::parse(token);
            assert!(
                matches!(filter, Err(LogError::InvalidToken { .. })),
                "{token:?}"
            );
            assert!(
                matches!(stream, Err(LogError::InvalidToken { .. })),
                "{token:?}"
            );
        }
    }
}
