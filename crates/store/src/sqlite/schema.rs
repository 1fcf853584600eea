//! The database schema: numbered SQL migrations, applied in order when the store opens.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// Numbered from 1 without gaps. A database lists the ones it has in `schema_version`; a
/// migration, once released, never changes: a schema change is a new file.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_functions.sql")),
    (2, include_str!("migrations/0002_async_events.sql")),
    (
        3,
        include_str!("migrations/0003_versions_aliases_concurrency.sql"),
    ),
    (4, include_str!("migrations/0004_layers.sql")),
];

/// Brings the database up to the newest schema and returns its version.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    apply(conn, path, MIGRATIONS)
}

/// Applies the `migrations` the database lacks, all in one transaction, so a crash or a failing
/// migration leaves the schema as it was.
fn apply(
    conn: &mut Connection,
    path: &Path,
    migrations: &[(u32, &str)],
) -> Result<u32, StoreError> {
    let newest = migrations.last().map_or(0, |&(version, _)| version);
    let failed = |version: u32| {
        move |source: rusqlite::Error| StoreError::MigrateSchema {
            path: path.to_owned(),
            version,
            source: source.into(),
        }
    };

    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed(newest))?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
            version INTEGER NOT NULL PRIMARY KEY,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        )",
    )
    .map_err(failed(newest))?;
    let current: u32 = tx
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |row| row.get(0),
        )
        .map_err(failed(newest))?;
    if current > newest {
        return Err(StoreError::SchemaTooNew {
            path: path.to_owned(),
            found: current,
            supported: newest,
        });
    }

    for &(version, sql) in migrations.iter().filter(|&&(version, _)| version > current) {
        tx.execute_batch(sql).map_err(failed(version))?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )
        .map_err(failed(version))?;
        tracing::info!(path = %path.display(), version, "applied schema migration");
    }
    tx.commit().map_err(failed(newest))?;
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_version(conn: &Connection) -> u32 {
        conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
            [],
            |row| row.get(0),
        )
        .unwrap()
    }

    fn table_exists(conn: &Connection, table: &str) -> bool {
        conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |row| row.get::<_, u32>(0),
        )
        .unwrap()
            == 1
    }

    #[test]
    fn migrations_are_numbered_from_one_without_gaps() {
        let numbers: Vec<u32> = MIGRATIONS.iter().map(|&(version, _)| version).collect();
        let expected: Vec<u32> = (1..=u32::try_from(MIGRATIONS.len()).unwrap()).collect();
        assert_eq!(numbers, expected);
    }

    #[test]
    fn migrate_creates_the_schema_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        let newest = migrate(&mut conn, path).unwrap();
        assert_eq!(newest, MIGRATIONS.len() as u32);
        assert!(table_exists(&conn, "functions"));
        assert!(table_exists(&conn, "versions"));
        assert!(table_exists(&conn, "async_events"));
        assert!(table_exists(&conn, "event_invoke_configs"));
        assert!(table_exists(&conn, "layers"));
        assert!(table_exists(&conn, "layer_versions"));
        for table in [
            "version_counters",
            "aliases",
            "reserved_concurrency",
            "provisioned_concurrency",
        ] {
            assert!(table_exists(&conn, table), "{table}");
        }
        // A second run finds nothing to do instead of failing on existing tables.
        assert_eq!(migrate(&mut conn, path).unwrap(), newest);
        assert_eq!(schema_version(&conn), newest);
    }

    #[test]
    fn later_migrations_apply_on_top_of_earlier_ones() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        let first = [(1, "CREATE TABLE a (x INTEGER)")];
        let both = [
            (1, "CREATE TABLE a (x INTEGER)"),
            (2, "CREATE TABLE b (y INTEGER)"),
        ];
        assert_eq!(apply(&mut conn, path, &first).unwrap(), 1);
        assert_eq!(apply(&mut conn, path, &both).unwrap(), 2);
        assert!(table_exists(&conn, "a") && table_exists(&conn, "b"));
    }

    #[test]
    fn a_failing_migration_leaves_the_schema_as_it_was() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        let migrations = [
            (1, "CREATE TABLE a (x INTEGER)"),
            (2, "CREATE TABLE broken ("),
        ];
        let err = apply(&mut conn, path, &migrations).unwrap_err();
        assert!(
            matches!(err, StoreError::MigrateSchema { version: 2, .. }),
            "{err:?}"
        );
        assert!(!table_exists(&conn, "a"));
    }

    #[test]
    fn a_database_from_a_newer_flint_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        let path = Path::new(":memory:");
        let newer = [
            (1, "CREATE TABLE a (x INTEGER)"),
            (2, "CREATE TABLE b (y INTEGER)"),
        ];
        apply(&mut conn, path, &newer).unwrap();
        let err = apply(&mut conn, path, &newer[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::SchemaTooNew {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
