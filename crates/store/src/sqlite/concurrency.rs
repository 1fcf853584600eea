//! The SQLite `ConcurrencyStore`: the tables `reserved_concurrency` and
//! `provisioned_concurrency` of migration 0003.

use jiff::Timestamp;
use model::concurrency::ProvisionedConcurrency;
use rusqlite::{Connection, OptionalExtension as _, Row, Transaction};

use super::SqliteStore;
use super::ops::{OpError, write_transaction};
use crate::StoreError;
use crate::concurrency::ConcurrencyStore;

#[async_trait::async_trait]
impl ConcurrencyStore for SqliteStore {
    async fn put_reserved_concurrency(
        &self,
        function: &str,
        reserved: u32,
    ) -> Result<(), StoreError> {
        let name = function.to_owned();
        let key = name.clone();
        self.call(
            move |conn| {
                let tx = write_transaction(conn)?;
                require_function(&tx, &key)?;
                tx.execute(
                    "INSERT INTO reserved_concurrency (function, reserved) VALUES (?1, ?2)
                     ON CONFLICT (function) DO UPDATE SET reserved = excluded.reserved",
                    (&key, reserved),
                )?;
                tx.commit()?;
                Ok(())
            },
            |source| StoreError::PutConcurrency { name, source },
        )
        .await
    }

    async fn delete_reserved_concurrency(&self, function: &str) -> Result<(), StoreError> {
        let name = function.to_owned();
        let key = name.clone();
        self.call(
            move |conn| {
                conn.execute(
                    "DELETE FROM reserved_concurrency WHERE function = ?1",
                    [&key],
                )?;
                Ok(())
            },
            |source| StoreError::PutConcurrency { name, source },
        )
        .await
    }

    async fn list_reserved_concurrency(&self) -> Result<Vec<(String, u32)>, StoreError> {
        self.call(
            |conn| {
                let mut stmt = conn.prepare(
                    "SELECT function, reserved FROM reserved_concurrency ORDER BY function",
                )?;
                let rows = stmt
                    .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            },
            |source| StoreError::ReadConcurrency { source },
        )
        .await
    }

    async fn put_provisioned_concurrency(
        &self,
        config: &ProvisionedConcurrency,
    ) -> Result<(), StoreError> {
        let config = config.clone();
        let name = config.function.clone();
        self.call(
            move |conn| put_provisioned(conn, &config),
            |source| StoreError::PutConcurrency { name, source },
        )
        .await
    }

    async fn delete_provisioned_concurrency(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<bool, StoreError> {
        let name = function.to_owned();
        let key = (name.clone(), qualifier.to_owned());
        self.call(
            move |conn| {
                let deleted = conn.execute(
                    "DELETE FROM provisioned_concurrency WHERE function = ?1 AND qualifier = ?2",
                    (&key.0, &key.1),
                )?;
                Ok(deleted > 0)
            },
            |source| StoreError::PutConcurrency { name, source },
        )
        .await
    }

    async fn list_provisioned_concurrency(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<ProvisionedConcurrency>, StoreError> {
        let function = function.map(str::to_owned);
        self.call(
            move |conn| {
                let mut stmt = conn.prepare(
                    "SELECT function, qualifier, requested, last_modified
                     FROM provisioned_concurrency WHERE ?1 IS NULL OR function = ?1
                     ORDER BY function, qualifier",
                )?;
                let rows = stmt
                    .query_map([&function], read_provisioned)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(rows)
            },
            |source| StoreError::ReadConcurrency { source },
        )
        .await
    }
}

/// Fails with `FunctionNotFound` unless `name` exists, in the transaction of the write it guards.
fn require_function(tx: &Transaction<'_>, name: &str) -> Result<(), OpError> {
    let exists = tx
        .query_row(
            "SELECT 1 FROM functions WHERE name = ?1",
            [name],
            |_| Ok(()),
        )
        .optional()?;
    match exists {
        Some(()) => Ok(()),
        None => Err(StoreError::FunctionNotFound {
            name: name.to_owned(),
        }
        .into()),
    }
}

fn put_provisioned(conn: &mut Connection, config: &ProvisionedConcurrency) -> Result<(), OpError> {
    let tx = write_transaction(conn)?;
    require_function(&tx, &config.function)?;
    tx.execute(
        "INSERT INTO provisioned_concurrency (function, qualifier, requested, last_modified)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (function, qualifier) DO UPDATE SET
            requested = excluded.requested,
            last_modified = excluded.last_modified",
        (
            &config.function,
            &config.qualifier,
            config.requested,
            config.last_modified.to_string(),
        ),
    )?;
    tx.commit()?;
    Ok(())
}

fn read_provisioned(row: &Row<'_>) -> rusqlite::Result<ProvisionedConcurrency> {
    let last_modified: String = row.get(3)?;
    let last_modified = last_modified.parse::<Timestamp>().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, err.into())
    })?;
    Ok(ProvisionedConcurrency {
        function: row.get(0)?,
        qualifier: row.get(1)?,
        requested: row.get(2)?,
        last_modified,
    })
}
