//! How configurations and metadata are written as records: serde JSON, the same for every backend.

use model::FunctionConfig;
use model::function::{FunctionMeta, LATEST};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::StoreError;

/// What a record is, for error messages: `$LATEST configuration`, `metadata`.
fn config_record(version: &str) -> String {
    format!("{version} configuration")
}

const META_RECORD: &str = "metadata";

/// Refuses a configuration given as `$LATEST` that names another version.
pub(crate) fn ensure_latest(config: &FunctionConfig) -> Result<(), StoreError> {
    if config.version == LATEST {
        Ok(())
    } else {
        Err(StoreError::NotLatest {
            name: config.name.clone(),
            version: config.version.clone(),
        })
    }
}

pub(crate) fn encode_config(config: &FunctionConfig) -> Result<String, StoreError> {
    encode(config, &config.name, || config_record(&config.version))
}

pub(crate) fn decode_config(
    name: &str,
    version: &str,
    json: &str,
) -> Result<FunctionConfig, StoreError> {
    decode(json, name, || config_record(version))
}

pub(crate) fn encode_meta(name: &str, meta: &FunctionMeta) -> Result<String, StoreError> {
    encode(meta, name, || META_RECORD.to_owned())
}

pub(crate) fn decode_meta(name: &str, json: &str) -> Result<FunctionMeta, StoreError> {
    decode(json, name, || META_RECORD.to_owned())
}

fn encode<T: Serialize>(
    value: &T,
    name: &str,
    record: impl FnOnce() -> String,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::EncodeRecord {
        name: name.to_owned(),
        record: record(),
        source,
    })
}

fn decode<T: DeserializeOwned>(
    json: &str,
    name: &str,
    record: impl FnOnce() -> String,
) -> Result<T, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::CorruptRecord {
        name: name.to_owned(),
        record: record(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::sample_config;

    #[test]
    fn config_and_meta_round_trip() {
        let config = sample_config("round-trip");
        let json = encode_config(&config).unwrap();
        assert_eq!(
            decode_config("round-trip", "$LATEST", &json).unwrap(),
            config
        );

        let meta = FunctionMeta {
            tags: [("team".to_owned(), "storage".to_owned())].into(),
        };
        let json = encode_meta("round-trip", &meta).unwrap();
        assert_eq!(decode_meta("round-trip", &json).unwrap(), meta);
    }

    #[test]
    fn corrupt_records_name_the_function_and_record() {
        let err = decode_config("broken", "$LATEST", "{").unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored $LATEST configuration of function broken is corrupt"
        );
        let err = decode_meta("broken", "[]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored metadata of function broken is corrupt"
        );
    }
}
