//! The SQLite `VersionStore`: published versions are rows of `versions` (migration 0001); the
//! counter and the aliases are the tables of migration 0003.

use model::FunctionConfig;
use model::alias::Alias;
use model::function::LATEST;
use rusqlite::{Connection, OptionalExtension as _, Transaction};

use super::SqliteStore;
use super::ops::{OpError, write_transaction};
use crate::versions::{Publication, PublishRequest, VersionStore};
use crate::{StoreError, record};

#[async_trait::async_trait]
impl VersionStore for SqliteStore {
    async fn publish_version(&self, request: &PublishRequest) -> Result<Publication, StoreError> {
        let request = request.clone();
        let name = request.function.clone();
        self.call(
            move |conn| publish(conn, &request),
            |source| StoreError::PublishVersion { name, source },
        )
        .await
    }

    async fn get_version(
        &self,
        function: &str,
        version: &str,
    ) -> Result<Option<FunctionConfig>, StoreError> {
        let (name, version) = (function.to_owned(), version.to_owned());
        let key = (name.clone(), version.clone());
        self.call(
            move |conn| {
                let json: Option<String> = conn
                    .query_row(
                        "SELECT config_json FROM versions WHERE function = ?1 AND version = ?2",
                        (&key.0, &key.1),
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok(json
                    .map(|json| record::decode_config(&key.0, &key.1, &json))
                    .transpose()?)
            },
            |source| StoreError::GetVersion {
                name,
                version,
                source,
            },
        )
        .await
    }

    async fn list_versions(
        &self,
        function: &str,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<FunctionConfig>, StoreError> {
        let name = function.to_owned();
        let key = name.clone();
        let after = i64::try_from(after.unwrap_or(0)).unwrap_or(i64::MAX);
        // A limit beyond i64 cannot be reached anyway, so it means "no limit".
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(
            move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT version, config_json FROM versions
                     WHERE function = ?1 AND version != ?2 AND CAST(version AS INTEGER) > ?3
                     ORDER BY CAST(version AS INTEGER) LIMIT ?4",
                )?;
                let rows: Vec<(String, String)> = stmt
                    .query_map((&key, LATEST, after, limit), |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows
                    .iter()
                    .map(|(version, json)| record::decode_config(&key, version, json))
                    .collect::<Result<_, _>>()?)
            },
            |source| StoreError::ListVersions { name, source },
        )
        .await
    }

    async fn delete_version(&self, function: &str, version: &str) -> Result<bool, StoreError> {
        let (name, version) = (function.to_owned(), version.to_owned());
        let key = (name.clone(), version.clone());
        self.call(
            move |conn| delete_version(conn, &key.0, &key.1),
            |source| StoreError::DeleteVersion {
                name,
                version,
                source,
            },
        )
        .await
    }

    async fn create_alias(&self, alias: &Alias) -> Result<(), StoreError> {
        let json = encode_alias(alias)?;
        let alias = alias.clone();
        let (name, alias_name) = (alias.function.clone(), alias.name.clone());
        self.call(
            move |conn| create_alias(conn, &alias, &json),
            |source| StoreError::PutAlias {
                name,
                alias: alias_name,
                source,
            },
        )
        .await
    }

    async fn get_alias(&self, function: &str, name: &str) -> Result<Option<Alias>, StoreError> {
        let (function, alias) = (function.to_owned(), name.to_owned());
        let key = (function.clone(), alias.clone());
        self.call(
            move |conn| {
                let json: Option<String> = conn
                    .query_row(
                        "SELECT alias_json FROM aliases WHERE function = ?1 AND name = ?2",
                        (&key.0, &key.1),
                        |row| row.get(0),
                    )
                    .optional()?;
                Ok(json
                    .map(|json| decode_alias(&key.0, &key.1, &json))
                    .transpose()?)
            },
            |source| StoreError::GetAlias {
                name: function,
                alias,
                source,
            },
        )
        .await
    }

    async fn update_alias(
        &self,
        alias: &Alias,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError> {
        let json = encode_alias(alias)?;
        let alias = alias.clone();
        let expected_revision = expected_revision.map(str::to_owned);
        let (name, alias_name) = (alias.function.clone(), alias.name.clone());
        self.call(
            move |conn| update_alias(conn, &alias, &json, expected_revision.as_deref()),
            |source| StoreError::PutAlias {
                name,
                alias: alias_name,
                source,
            },
        )
        .await
    }

    async fn delete_alias(&self, function: &str, name: &str) -> Result<(), StoreError> {
        let (function, alias) = (function.to_owned(), name.to_owned());
        let key = (function.clone(), alias.clone());
        self.call(
            move |conn| delete_alias(conn, &key.0, &key.1),
            |source| StoreError::DeleteAlias {
                name: function,
                alias,
                source,
            },
        )
        .await
    }

    async fn list_aliases(
        &self,
        function: &str,
        function_version: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Alias>, StoreError> {
        let name = function.to_owned();
        let key = name.clone();
        let function_version = function_version.map(str::to_owned);
        let after = after.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(
            move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT name, alias_json FROM aliases
                     WHERE function = ?1 AND (?2 IS NULL OR function_version = ?2)
                       AND (?3 IS NULL OR name > ?3)
                     ORDER BY name LIMIT ?4",
                )?;
                let rows: Vec<(String, String)> = stmt
                    .query_map((&key, &function_version, &after, limit), |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows
                    .iter()
                    .map(|(alias, json)| decode_alias(&key, alias, json))
                    .collect::<Result<_, _>>()?)
            },
            |source| StoreError::ListAliases { name, source },
        )
        .await
    }
}

/// Reads `$LATEST`, checks its revision, and either finds the version it was last published as
/// or writes the next one and moves the counter, all in one transaction.
fn publish(conn: &mut Connection, request: &PublishRequest) -> Result<Publication, OpError> {
    let name = &request.function;
    let tx = write_transaction(conn)?;
    let Some(latest) = read_config(&tx, name, LATEST)? else {
        return Err(StoreError::FunctionNotFound { name: name.clone() }.into());
    };
    if latest.revision_id != request.latest_revision {
        return Err(StoreError::RevisionMismatch {
            name: name.clone(),
            expected: request.latest_revision.clone(),
            actual: latest.revision_id,
        }
        .into());
    }
    let counter: Option<(i64, String)> = tx
        .query_row(
            "SELECT last_version, published_revision FROM version_counters WHERE function = ?1",
            [name],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let last = counter.as_ref().map_or(0, |(last, _)| *last);
    if let Some((_, published_from)) = &counter
        && *published_from == latest.revision_id
        && let Some(unchanged) = read_config(&tx, name, &last.to_string())?
    {
        return Ok(Publication::Unchanged(unchanged));
    }
    let number = last + 1;
    let config = model::version::snapshot(
        &latest,
        number.unsigned_abs(),
        request.description.as_deref(),
        request.revision_id.clone(),
        request.now,
    );
    let code_size = i64::try_from(config.code.size)
        .map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))?;
    tx.execute(
        "INSERT INTO versions (function, version, config_json, code_sha256, code_size)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        (
            name,
            &config.version,
            record::encode_config(&config)?,
            &config.code.sha256_hex,
            code_size,
        ),
    )?;
    tx.execute(
        "INSERT INTO version_counters (function, last_version, published_revision)
         VALUES (?1, ?2, ?3)
         ON CONFLICT (function) DO UPDATE SET
            last_version = excluded.last_version,
            published_revision = excluded.published_revision",
        (name, number, &latest.revision_id),
    )?;
    tx.commit()?;
    Ok(Publication::Published(config))
}

fn read_config(
    tx: &Transaction<'_>,
    name: &str,
    version: &str,
) -> Result<Option<FunctionConfig>, OpError> {
    let json: Option<String> = tx
        .query_row(
            "SELECT config_json FROM versions WHERE function = ?1 AND version = ?2",
            (name, version),
            |row| row.get(0),
        )
        .optional()?;
    Ok(json
        .map(|json| record::decode_config(name, version, &json))
        .transpose()?)
}

fn delete_version(conn: &mut Connection, name: &str, version: &str) -> Result<bool, OpError> {
    let tx = write_transaction(conn)?;
    let mut stmt = tx.prepare(
        "SELECT name FROM aliases
         WHERE function = ?1 AND (function_version = ?2 OR additional_version = ?2)
         ORDER BY name",
    )?;
    let aliases: Vec<String> = stmt
        .query_map((name, version), |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(stmt);
    if !aliases.is_empty() {
        return Err(StoreError::VersionInUse {
            name: name.to_owned(),
            version: version.to_owned(),
            aliases,
        }
        .into());
    }
    let deleted = tx.execute(
        "DELETE FROM versions WHERE function = ?1 AND version = ?2 AND version != ?3",
        (name, version, LATEST),
    )?;
    tx.execute(
        "DELETE FROM provisioned_concurrency WHERE function = ?1 AND qualifier = ?2",
        (name, version),
    )?;
    tx.commit()?;
    Ok(deleted > 0)
}

/// Fails unless the function exists and has every version the alias names.
fn check_targets(tx: &Transaction<'_>, alias: &Alias) -> Result<(), OpError> {
    let exists = tx
        .query_row(
            "SELECT 1 FROM functions WHERE name = ?1",
            [&alias.function],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::FunctionNotFound {
            name: alias.function.clone(),
        }
        .into());
    }
    for version in alias.versions() {
        let found = tx
            .query_row(
                "SELECT 1 FROM versions WHERE function = ?1 AND version = ?2",
                (&alias.function, version),
                |_| Ok(()),
            )
            .optional()?;
        if found.is_none() {
            return Err(StoreError::VersionNotFound {
                name: alias.function.clone(),
                version: version.to_owned(),
            }
            .into());
        }
    }
    Ok(())
}

fn create_alias(conn: &mut Connection, alias: &Alias, json: &str) -> Result<(), OpError> {
    let tx = write_transaction(conn)?;
    check_targets(&tx, alias)?;
    let inserted = tx.execute(
        "INSERT INTO aliases (function, name, function_version, additional_version, alias_json)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (function, name) DO NOTHING",
        (
            &alias.function,
            &alias.name,
            &alias.function_version,
            alias.additional_version.as_ref().map(|a| &a.version),
            json,
        ),
    )?;
    if inserted == 0 {
        return Err(StoreError::AliasExists {
            name: alias.function.clone(),
            alias: alias.name.clone(),
        }
        .into());
    }
    tx.commit()?;
    Ok(())
}

fn update_alias(
    conn: &mut Connection,
    alias: &Alias,
    json: &str,
    expected_revision: Option<&str>,
) -> Result<(), OpError> {
    let tx = write_transaction(conn)?;
    let stored: Option<String> = tx
        .query_row(
            "SELECT alias_json FROM aliases WHERE function = ?1 AND name = ?2",
            (&alias.function, &alias.name),
            |row| row.get(0),
        )
        .optional()?;
    let Some(stored) = stored else {
        return Err(StoreError::AliasNotFound {
            name: alias.function.clone(),
            alias: alias.name.clone(),
        }
        .into());
    };
    if let Some(expected) = expected_revision {
        let actual = decode_alias(&alias.function, &alias.name, &stored)?.revision_id;
        if actual != expected {
            return Err(StoreError::AliasRevisionMismatch {
                name: alias.function.clone(),
                alias: alias.name.clone(),
                expected: expected.to_owned(),
                actual,
            }
            .into());
        }
    }
    check_targets(&tx, alias)?;
    tx.execute(
        "UPDATE aliases SET function_version = ?3, additional_version = ?4, alias_json = ?5
         WHERE function = ?1 AND name = ?2",
        (
            &alias.function,
            &alias.name,
            &alias.function_version,
            alias.additional_version.as_ref().map(|a| &a.version),
            json,
        ),
    )?;
    tx.commit()?;
    Ok(())
}

fn delete_alias(conn: &mut Connection, function: &str, name: &str) -> Result<(), OpError> {
    let tx = write_transaction(conn)?;
    let deleted = tx.execute(
        "DELETE FROM aliases WHERE function = ?1 AND name = ?2",
        (function, name),
    )?;
    if deleted == 0 {
        return Err(StoreError::AliasNotFound {
            name: function.to_owned(),
            alias: name.to_owned(),
        }
        .into());
    }
    tx.execute(
        "DELETE FROM provisioned_concurrency WHERE function = ?1 AND qualifier = ?2",
        (function, name),
    )?;
    tx.commit()?;
    Ok(())
}

fn alias_record(name: &str) -> String {
    format!("alias {name}")
}

fn encode_alias(alias: &Alias) -> Result<String, StoreError> {
    serde_json::to_string(alias).map_err(|source| StoreError::EncodeRecord {
        name: alias.function.clone(),
        record: alias_record(&alias.name),
        source,
    })
}

fn decode_alias(function: &str, name: &str, json: &str) -> Result<Alias, StoreError> {
    serde_json::from_str(json).map_err(|source| StoreError::CorruptRecord {
        name: function.to_owned(),
        record: alias_record(name),
        source,
    })
}
