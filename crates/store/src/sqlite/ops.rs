//! The SQL of each `Store` operation, run on a locked connection inside `spawn_blocking`.
//! Each write is one IMMEDIATE transaction: it takes the write lock before reading, so a check
//! and the write it guards can never interleave with another writer.

use model::FunctionConfig;
use model::function::LATEST;
use rusqlite::{Connection, OptionalExtension as _, Row, Transaction, TransactionBehavior};

use crate::{StoreError, StoredFunction, Usage, record};

/// Why an operation failed: the database itself, or a condition the caller must see as is
/// (`FunctionNotFound`, `RevisionMismatch`, a corrupt record).
#[derive(Debug)]
pub(super) enum OpError {
    Sql(rusqlite::Error),
    Store(StoreError),
}

impl From<rusqlite::Error> for OpError {
    fn from(err: rusqlite::Error) -> Self {
        OpError::Sql(err)
    }
}

impl From<StoreError> for OpError {
    fn from(err: StoreError) -> Self {
        OpError::Store(err)
    }
}

/// One row of `versions`, encoded before the connection is locked.
#[derive(Debug)]
pub(super) struct VersionRow {
    function: String,
    version: String,
    config_json: String,
    code_sha256: String,
    code_size: u64,
}

impl VersionRow {
    pub(super) fn encode(config: &FunctionConfig) -> Result<Self, StoreError> {
        Ok(VersionRow {
            function: config.name.clone(),
            version: config.version.clone(),
            config_json: record::encode_config(config)?,
            code_sha256: config.code.sha256_hex.clone(),
            code_size: config.code.size,
        })
    }

    fn code_size_sql(&self) -> rusqlite::Result<i64> {
        i64::try_from(self.code_size)
            .map_err(|err| rusqlite::Error::ToSqlConversionFailure(err.into()))
    }
}

pub(super) fn create_function(
    conn: &mut Connection,
    latest: &VersionRow,
    meta_json: &str,
    created_at: &str,
) -> Result<(), OpError> {
    let tx = write_transaction(conn)?;
    let inserted = tx.execute(
        "INSERT INTO functions (name, meta_json, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
        (&latest.function, meta_json, created_at),
    )?;
    if inserted == 0 {
        return Err(StoreError::FunctionExists {
            name: latest.function.clone(),
        }
        .into());
    }
    tx.execute(
        "INSERT INTO versions (function, version, config_json, code_sha256, code_size)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        (
            &latest.function,
            &latest.version,
            &latest.config_json,
            &latest.code_sha256,
            latest.code_size_sql()?,
        ),
    )?;
    tx.commit()?;
    Ok(())
}

pub(super) fn update_latest(
    conn: &mut Connection,
    latest: &VersionRow,
    expected_revision: Option<&str>,
) -> Result<(), OpError> {
    let name = &latest.function;
    let tx = write_transaction(conn)?;
    let stored: Option<String> = tx
        .query_row(
            "SELECT config_json FROM versions WHERE function = ?1 AND version = ?2",
            (name, LATEST),
            |row| row.get(0),
        )
        .optional()?;
    let Some(stored) = stored else {
        return Err(StoreError::FunctionNotFound { name: name.clone() }.into());
    };
    if let Some(expected) = expected_revision {
        let actual = record::decode_config(name, LATEST, &stored)?.revision_id;
        if actual != expected {
            return Err(StoreError::RevisionMismatch {
                name: name.clone(),
                expected: expected.to_owned(),
                actual,
            }
            .into());
        }
    }
    tx.execute(
        "UPDATE versions SET config_json = ?3, code_sha256 = ?4, code_size = ?5
         WHERE function = ?1 AND version = ?2",
        (
            name,
            LATEST,
            &latest.config_json,
            &latest.code_sha256,
            latest.code_size_sql()?,
        ),
    )?;
    tx.commit()?;
    Ok(())
}

/// Joins a function with its `$LATEST` row; callers append the filter.
const SELECT_STORED: &str = "SELECT f.name, f.meta_json, v.config_json
     FROM functions f JOIN versions v ON v.function = f.name AND v.version = ?1";

pub(super) fn get_function(
    conn: &Connection,
    name: &str,
) -> Result<Option<StoredFunction>, OpError> {
    let sql = format!("{SELECT_STORED} WHERE f.name = ?2");
    let row = conn
        .query_row(&sql, (LATEST, name), StoredRow::read)
        .optional()?;
    Ok(row.map(StoredRow::decode).transpose()?)
}

pub(super) fn list_functions(
    conn: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<StoredFunction>, OpError> {
    // A limit beyond i64 cannot be reached anyway, so it means "no limit".
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match after {
        Some(after) => {
            let sql = format!("{SELECT_STORED} WHERE f.name > ?2 ORDER BY f.name LIMIT ?3");
            let mut stmt = conn.prepare(&sql)?;
            stmt.query_map((LATEST, after, limit), StoredRow::read)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        None => {
            let sql = format!("{SELECT_STORED} ORDER BY f.name LIMIT ?2");
            let mut stmt = conn.prepare(&sql)?;
            stmt.query_map((LATEST, limit), StoredRow::read)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    Ok(rows
        .into_iter()
        .map(StoredRow::decode)
        .collect::<Result<_, _>>()?)
}

pub(super) fn put_meta(conn: &Connection, name: &str, meta_json: &str) -> Result<(), OpError> {
    let updated = conn.execute(
        "UPDATE functions SET meta_json = ?2 WHERE name = ?1",
        (name, meta_json),
    )?;
    found(updated, name)
}

/// Deletes the function; `ON DELETE CASCADE` takes its versions in the same statement.
pub(super) fn delete_function(conn: &Connection, name: &str) -> Result<(), OpError> {
    let deleted = conn.execute("DELETE FROM functions WHERE name = ?1", [name])?;
    found(deleted, name)
}

pub(super) fn usage(conn: &Connection) -> Result<Usage, OpError> {
    let (function_count, total_code_size) = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM functions),
                (SELECT COALESCE(SUM(code_size), 0) FROM versions)",
        [],
        |row| Ok((unsigned(row, 0)?, unsigned(row, 1)?)),
    )?;
    Ok(Usage {
        function_count,
        total_code_size,
    })
}

pub(super) fn referenced_code(conn: &Connection) -> Result<Vec<String>, OpError> {
    let mut stmt =
        conn.prepare("SELECT DISTINCT code_sha256 FROM versions ORDER BY code_sha256")?;
    let digests = stmt
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(digests)
}

/// A function's columns as read, decoded once the statement is done with the row.
struct StoredRow {
    name: String,
    meta_json: String,
    config_json: String,
}

impl StoredRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(StoredRow {
            name: row.get(0)?,
            meta_json: row.get(1)?,
            config_json: row.get(2)?,
        })
    }

    fn decode(self) -> Result<StoredFunction, StoreError> {
        Ok(StoredFunction {
            latest: record::decode_config(&self.name, LATEST, &self.config_json)?,
            meta: record::decode_meta(&self.name, &self.meta_json)?,
        })
    }
}

pub(super) fn write_transaction(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// Turns "no row changed" into `FunctionNotFound`.
fn found(changed: usize, name: &str) -> Result<(), OpError> {
    if changed == 0 {
        Err(StoreError::FunctionNotFound {
            name: name.to_owned(),
        }
        .into())
    } else {
        Ok(())
    }
}

pub(super) fn unsigned(row: &Row<'_>, column: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(column, value))
}
