//! The SQLite `LayerStore`: the tables `layers` and `layer_versions` of migration 0004.

use std::collections::BTreeSet;

use jiff::Timestamp;
use model::CodeRef;
use model::layer::LayerVersion;
use rusqlite::{Connection, OptionalExtension as _, Row};

use super::SqliteStore;
use super::ops::{OpError, unsigned, write_transaction};
use crate::layers::{LayerPolicy, LayerStore, NewLayerVersion};
use crate::{StoreError, record};

const COLUMNS: &str = "name, version, description, compatible_runtimes, compatible_architectures, \
     license_info, code_sha256, code_size, unzipped_size, created_at";

#[async_trait::async_trait]
impl LayerStore for SqliteStore {
    async fn publish_layer_version(
        &self,
        layer: &NewLayerVersion,
    ) -> Result<LayerVersion, StoreError> {
        let layer = layer.clone();
        let name = layer.name.clone();
        let runtimes = encode_list(&layer.compatible_runtimes);
        let architectures = encode_list(&layer.compatible_architectures);
        self.call(
            move |conn| {
                let tx = write_transaction(conn)?;
                let version: i64 = tx.query_row(
                    "INSERT INTO layers (name, last_version) VALUES (?1, 1)
                     ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1
                     RETURNING last_version",
                    [&layer.name],
                    |row| row.get(0),
                )?;
                tx.execute(
                    "INSERT INTO layer_versions
                        (name, version, description, compatible_runtimes,
                         compatible_architectures, license_info, code_sha256, code_size,
                         unzipped_size, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    (
                        &layer.name,
                        version,
                        &layer.description,
                        &runtimes,
                        &architectures,
                        &layer.license_info,
                        &layer.code.sha256_hex,
                        sql_size(layer.code.size)?,
                        sql_size(layer.code.unzipped_size)?,
                        layer.created.to_string(),
                    ),
                )?;
                tx.commit()?;
                let version = u64::try_from(version)
                    .map_err(|_| rusqlite::Error::IntegralValueOutOfRange(0, version))?;
                Ok(layer.numbered(version))
            },
            |source| StoreError::PublishLayerVersion { name, source },
        )
        .await
    }

    async fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersion>, StoreError> {
        let name = name.to_owned();
        let key = name.clone();
        self.call(
            move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM layer_versions WHERE name = ?1 AND version = ?2"
                );
                let row = conn
                    .query_row(&sql, (&key, sql_version(version)?), StoredLayer::read)
                    .optional()?;
                Ok(row.map(StoredLayer::decode).transpose()?)
            },
            |source| StoreError::GetLayerVersion {
                name,
                version,
                source,
            },
        )
        .await
    }

    async fn list_layer_versions(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<LayerVersion>, StoreError> {
        let name = name.map(str::to_owned);
        self.call(
            move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM layer_versions WHERE ?1 IS NULL OR name = ?1
                     ORDER BY name, version DESC"
                );
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt
                    .query_map([&name], StoredLayer::read)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows
                    .into_iter()
                    .map(StoredLayer::decode)
                    .collect::<Result<_, _>>()?)
            },
            |source| StoreError::ListLayerVersions { source },
        )
        .await
    }

    async fn delete_layer_version(&self, name: &str, version: u64) -> Result<(), StoreError> {
        let name = name.to_owned();
        let key = name.clone();
        self.call(
            move |conn| {
                conn.execute(
                    "DELETE FROM layer_versions WHERE name = ?1 AND version = ?2",
                    (&key, sql_version(version)?),
                )?;
                Ok(())
            },
            |source| StoreError::DeleteLayerVersion {
                name,
                version,
                source,
            },
        )
        .await
    }

    async fn get_layer_version_policy(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerPolicy>, StoreError> {
        let name = name.to_owned();
        let key = name.clone();
        self.call(
            move |conn| read_policy(conn, &key, version),
            |source| StoreError::GetLayerPolicy {
                name,
                version,
                source,
            },
        )
        .await
    }

    async fn put_layer_version_policy(
        &self,
        name: &str,
        version: u64,
        policy: &LayerPolicy,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        let key = name.clone();
        let statements = serde_json::Value::Array(policy.statements.clone()).to_string();
        let revision = policy.revision_id.clone();
        let expected = expected_revision.map(str::to_owned);
        self.call(
            move |conn| {
                let tx = write_transaction(conn)?;
                let current = read_policy(&tx, &key, version)?;
                if let Some(expected) = expected {
                    let actual = current.as_ref().map(|p| p.revision_id.as_str());
                    if actual != Some(expected.as_str()) {
                        return Err(StoreError::LayerPolicyRevisionMismatch {
                            name: key,
                            version,
                            expected,
                        }
                        .into());
                    }
                }
                tx.execute(
                    "UPDATE layer_versions SET policy_json = ?3, policy_revision = ?4
                     WHERE name = ?1 AND version = ?2",
                    (&key, sql_version(version)?, &statements, &revision),
                )?;
                tx.commit()?;
                Ok(())
            },
            |source| StoreError::PutLayerPolicy {
                name,
                version,
                source,
            },
        )
        .await
    }

    async fn referenced_layer_code(&self) -> Result<Vec<String>, StoreError> {
        self.call(
            |conn| referenced_layer_code(conn),
            |source| StoreError::ReadReferencedLayerCode { source },
        )
        .await
    }
}

/// The policy of a version; `LayerVersionNotFound` if there is no such version.
fn read_policy(
    conn: &Connection,
    name: &str,
    version: u64,
) -> Result<Option<LayerPolicy>, OpError> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .query_row(
            "SELECT policy_json, policy_revision FROM layer_versions
             WHERE name = ?1 AND version = ?2",
            (name, sql_version(version)?),
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((json, revision)) = row else {
        return Err(StoreError::LayerVersionNotFound {
            name: name.to_owned(),
            version,
        }
        .into());
    };
    let (Some(json), Some(revision_id)) = (json, revision) else {
        return Ok(None);
    };
    let statements =
        serde_json::from_str(&json).map_err(|source| StoreError::CorruptLayerRecord {
            name: name.to_owned(),
            version,
            record: "policy",
            source: source.into(),
        })?;
    Ok(Some(LayerPolicy {
        revision_id,
        statements,
    }))
}

/// Digests of stored layer versions, and of the layers named in the configuration of any
/// function version (deleted layer versions a function still runs with among them).
fn referenced_layer_code(conn: &Connection) -> Result<Vec<String>, OpError> {
    let mut digests = BTreeSet::new();
    let mut stmt = conn.prepare("SELECT code_sha256 FROM layer_versions")?;
    for digest in stmt.query_map([], |row| row.get::<_, String>(0))? {
        digests.insert(digest?);
    }
    let mut stmt = conn.prepare("SELECT function, version, config_json FROM versions")?;
    let rows = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (function, version, json) in rows {
        let config = record::decode_config(&function, &version, &json)?;
        digests.extend(config.layers.into_iter().map(|layer| layer.code.sha256_hex));
    }
    Ok(digests.into_iter().collect())
}

/// A version's columns as read, decoded once the statement is done with the row.
struct StoredLayer {
    name: String,
    version: u64,
    description: String,
    compatible_runtimes: String,
    compatible_architectures: String,
    license_info: Option<String>,
    code: CodeRef,
    created_at: String,
}

impl StoredLayer {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredLayer {
            name: row.get(0)?,
            version: unsigned(row, 1)?,
            description: row.get(2)?,
            compatible_runtimes: row.get(3)?,
            compatible_architectures: row.get(4)?,
            license_info: row.get(5)?,
            code: CodeRef {
                sha256_hex: row.get(6)?,
                size: unsigned(row, 7)?,
                unzipped_size: unsigned(row, 8)?,
            },
            created_at: row.get(9)?,
        })
    }

    fn decode(self) -> Result<LayerVersion, StoreError> {
        let (name, version) = (self.name, self.version);
        let list = |json: &str, record: &'static str| {
            serde_json::from_str::<Vec<String>>(json).map_err(|source| {
                StoreError::CorruptLayerRecord {
                    name: name.clone(),
                    version,
                    record,
                    source: source.into(),
                }
            })
        };
        let compatible_runtimes = list(&self.compatible_runtimes, "compatible runtimes")?;
        let compatible_architectures =
            list(&self.compatible_architectures, "compatible architectures")?;
        let created = self.created_at.parse::<Timestamp>().map_err(|source| {
            StoreError::CorruptLayerRecord {
                name: name.clone(),
                version,
                record: "creation date",
                source: source.into(),
            }
        })?;
        Ok(LayerVersion {
            name,
            version,
            description: self.description,
            compatible_runtimes,
            compatible_architectures,
            license_info: self.license_info,
            code: self.code,
            created,
        })
    }
}

fn encode_list(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

fn sql_size(size: u64) -> rusqlite::Result<i64> {
    i64::try_from(size).map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))
}

fn sql_version(version: u64) -> rusqlite::Result<i64> {
    sql_size(version)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::{run_layers, sample_layer};
    use crate::sqlite::tests::open_temp;

    #[tokio::test]
    async fn sqlite_store_passes_the_layer_conformance_suite() {
        let (_dir, store) = open_temp();
        run_layers(&store, &store).await;
    }

    #[tokio::test]
    async fn corrupt_layer_records_name_the_version() {
        let (_dir, store) = open_temp();
        store
            .publish_layer_version(&sample_layer("mangled", "m"))
            .await
            .unwrap();
        store
            .connection()
            .execute(
                "UPDATE layer_versions SET compatible_runtimes = '{', policy_json = '[',
                 policy_revision = 'r'",
                [],
            )
            .unwrap();
        let err = store.get_layer_version("mangled", 1).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored compatible runtimes of layer mangled version 1 is corrupt"
        );
        let err = store
            .get_layer_version_policy("mangled", 1)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "stored policy of layer mangled version 1 is corrupt"
        );
    }

    #[tokio::test]
    async fn versions_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flint.db");
        {
            let store = SqliteStore::open(&path).unwrap();
            store
                .publish_layer_version(&sample_layer("durable", "1"))
                .await
                .unwrap();
            store
                .publish_layer_version(&sample_layer("durable", "2"))
                .await
                .unwrap();
            store.delete_layer_version("durable", 2).await.unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.get_layer_version("durable", 1).await.unwrap(),
            Some(sample_layer("durable", "1").numbered(1))
        );
        let next = store
            .publish_layer_version(&sample_layer("durable", "3"))
            .await
            .unwrap();
        assert_eq!(next.version, 3);
    }
}
