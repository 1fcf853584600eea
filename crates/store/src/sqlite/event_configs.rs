//! The SQLite `EventInvokeConfigStore`: the table `event_invoke_configs` of migration 0002.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension as _, Row};

use super::SqliteStore;
use super::ops::{OpError, write_transaction};
use crate::StoreError;
use crate::event_config::{EventInvokeConfig, EventInvokeConfigStore};

const COLUMNS: &str = "function, qualifier, maximum_retry_attempts, maximum_event_age_s, \
     on_success, on_failure, last_modified";

#[async_trait::async_trait]
impl EventInvokeConfigStore for SqliteStore {
    async fn put_event_invoke_config(&self, config: &EventInvokeConfig) -> Result<(), StoreError> {
        let config = config.clone();
        let (name, qualifier) = (config.function.clone(), config.qualifier.clone());
        self.call(
            move |conn| put(conn, &config),
            |source| StoreError::PutEventInvokeConfig {
                name,
                qualifier,
                source,
            },
        )
        .await
    }

    async fn get_event_invoke_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<EventInvokeConfig>, StoreError> {
        let (name, qualifier) = (function.to_owned(), qualifier.to_owned());
        let key = (name.clone(), qualifier.clone());
        self.call(
            move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM event_invoke_configs
                     WHERE function = ?1 AND qualifier = ?2"
                );
                Ok(conn.query_row(&sql, (&key.0, &key.1), read).optional()?)
            },
            |source| StoreError::GetEventInvokeConfig {
                name,
                qualifier,
                source,
            },
        )
        .await
    }

    async fn delete_event_invoke_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<(), StoreError> {
        let (name, qualifier) = (function.to_owned(), qualifier.to_owned());
        let key = (name.clone(), qualifier.clone());
        self.call(
            move |conn| {
                let deleted = conn.execute(
                    "DELETE FROM event_invoke_configs WHERE function = ?1 AND qualifier = ?2",
                    (&key.0, &key.1),
                )?;
                if deleted == 0 {
                    return Err(StoreError::EventInvokeConfigNotFound {
                        name: key.0,
                        qualifier: key.1,
                    }
                    .into());
                }
                Ok(())
            },
            |source| StoreError::DeleteEventInvokeConfig {
                name,
                qualifier,
                source,
            },
        )
        .await
    }

    async fn list_event_invoke_configs(
        &self,
        function: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<EventInvokeConfig>, StoreError> {
        let name = function.to_owned();
        let key = name.clone();
        let after = after.map(str::to_owned);
        // A limit beyond i64 cannot be reached anyway, so it means "no limit".
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(
            move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM event_invoke_configs
                     WHERE function = ?1 AND (?2 IS NULL OR qualifier > ?2)
                     ORDER BY qualifier LIMIT ?3"
                );
                let mut stmt = conn.prepare(&sql)?;
                let configs = stmt
                    .query_map((&key, &after, limit), read)?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(configs)
            },
            |source| StoreError::ListEventInvokeConfigs { name, source },
        )
        .await
    }
}

/// Checks the function in the same transaction as the write, so the row never outlives a
/// function deleted in between (the foreign key would refuse it, but with a less useful error).
fn put(conn: &mut Connection, config: &EventInvokeConfig) -> Result<(), OpError> {
    let tx = write_transaction(conn)?;
    let exists = tx
        .query_row(
            "SELECT 1 FROM functions WHERE name = ?1",
            [&config.function],
            |_| Ok(()),
        )
        .optional()?;
    if exists.is_none() {
        return Err(StoreError::FunctionNotFound {
            name: config.function.clone(),
        }
        .into());
    }
    tx.execute(
        "INSERT INTO event_invoke_configs
            (function, qualifier, maximum_retry_attempts, maximum_event_age_s, on_success,
             on_failure, last_modified)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (function, qualifier) DO UPDATE SET
            maximum_retry_attempts = excluded.maximum_retry_attempts,
            maximum_event_age_s = excluded.maximum_event_age_s,
            on_success = excluded.on_success,
            on_failure = excluded.on_failure,
            last_modified = excluded.last_modified",
        (
            &config.function,
            &config.qualifier,
            config.maximum_retry_attempts,
            config.maximum_event_age_s,
            &config.on_success,
            &config.on_failure,
            config.last_modified.to_string(),
        ),
    )?;
    tx.commit()?;
    Ok(())
}

fn read(row: &Row<'_>) -> rusqlite::Result<EventInvokeConfig> {
    let last_modified: String = row.get(6)?;
    let last_modified = last_modified.parse::<Timestamp>().map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, err.into())
    })?;
    Ok(EventInvokeConfig {
        function: row.get(0)?,
        qualifier: row.get(1)?,
        maximum_retry_attempts: row.get(2)?,
        maximum_event_age_s: row.get(3)?,
        on_success: row.get(4)?,
        on_failure: row.get(5)?,
        last_modified,
    })
}
