//! The SQLite `Store`, `EventQueue` and `EventInvokeConfigStore`: one database file, one
//! connection.
//!
//! Durability: `journal_mode=WAL` with `synchronous=FULL` syncs the WAL on every commit, so a write
//! that returned `Ok` survives kill -9 and power loss. The one exception are the queue's claims
//! and lease renewals, which a power cut may undo without harm (see `queue::unsynced`).

mod concurrency;
mod event_configs;
mod layers;
mod ops;
mod queue;
mod schema;
mod versions;

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use model::FunctionConfig;
use model::function::FunctionMeta;
use rusqlite::Connection;

use self::ops::{OpError, VersionRow};
use crate::{BoxError, Store, StoreError, StoredFunction, Usage, record};

/// How long a statement waits for a lock held by another connection (the `sqlite3` shell, say)
/// before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A `Store`, `EventQueue` and `EventInvokeConfigStore` in one SQLite file.
///
/// The connection sits behind a mutex and every call runs in `spawn_blocking`, so SQLite's
/// blocking I/O never stalls the async runtime and writes are serialised in this process.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// Queue writes waiting to be committed together (see `queue::WriteBatch`).
    writes: Arc<queue::WriteBatch>,
}

impl SqliteStore {
    /// Opens (creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut conn = Connection::open(path).map_err(|source| StoreError::OpenDatabase {
            path: path.to_owned(),
            source: source.into(),
        })?;
        configure(&conn).map_err(|source| StoreError::OpenDatabase {
            path: path.to_owned(),
            source: source.into(),
        })?;
        let schema_version = schema::migrate(&mut conn, path)?;
        tracing::debug!(path = %path.display(), schema_version, "opened sqlite store");
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            writes: Arc::default(),
        })
    }

    /// Runs `op` on the connection in a blocking task. A database error becomes the `StoreError`
    /// that `failed` builds, naming the operation; conditions `op` reports itself pass through.
    async fn call<T, F>(
        &self,
        op: F,
        failed: impl FnOnce(BoxError) -> StoreError,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, OpError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        let joined = tokio::task::spawn_blocking(move || {
            // A panic while the lock was held dropped its transaction, which rolls back, so the
            // connection behind a poisoned lock is still consistent.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            op(&mut conn)
        })
        .await;
        match joined {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(OpError::Store(err))) => Err(err),
            Ok(Err(OpError::Sql(err))) => Err(failed(err.into())),
            Err(join) => Err(failed(join.into())),
        }
    }

    #[cfg(test)]
    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets the pragmas every connection needs; `foreign_keys` is off by default in SQLite, and the
/// cascade from `functions` to `versions` depends on it.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let journal_mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(journal_mode, "sqlite store could not switch to WAL");
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn create_function(
        &self,
        latest: &FunctionConfig,
        meta: &FunctionMeta,
    ) -> Result<(), StoreError> {
        record::ensure_latest(latest)?;
        let row = VersionRow::encode(latest)?;
        let meta_json = record::encode_meta(&latest.name, meta)?;
        let created_at = latest.last_modified.to_string();
        let name = latest.name.clone();
        self.call(
            move |conn| ops::create_function(conn, &row, &meta_json, &created_at),
            |source| StoreError::CreateFunction { name, source },
        )
        .await
    }

    async fn update_latest(
        &self,
        latest: &FunctionConfig,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError> {
        record::ensure_latest(latest)?;
        let row = VersionRow::encode(latest)?;
        let expected_revision = expected_revision.map(str::to_owned);
        let name = latest.name.clone();
        self.call(
            move |conn| ops::update_latest(conn, &row, expected_revision.as_deref()),
            |source| StoreError::UpdateLatest { name, source },
        )
        .await
    }

    async fn get_function(&self, name: &str) -> Result<Option<StoredFunction>, StoreError> {
        let name = name.to_owned();
        let key = name.clone();
        self.call(
            move |conn| ops::get_function(conn, &key),
            |source| StoreError::GetFunction { name, source },
        )
        .await
    }

    async fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StoredFunction>, StoreError> {
        let after = after.map(str::to_owned);
        self.call(
            move |conn| ops::list_functions(conn, after.as_deref(), limit),
            |source| StoreError::ListFunctions { source },
        )
        .await
    }

    async fn put_meta(&self, name: &str, meta: &FunctionMeta) -> Result<(), StoreError> {
        let meta_json = record::encode_meta(name, meta)?;
        let name = name.to_owned();
        let key = name.clone();
        self.call(
            move |conn| ops::put_meta(conn, &key, &meta_json),
            |source| StoreError::PutMeta { name, source },
        )
        .await
    }

    async fn delete_function(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        let key = name.clone();
        self.call(
            move |conn| ops::delete_function(conn, &key),
            |source| StoreError::DeleteFunction { name, source },
        )
        .await
    }

    async fn usage(&self) -> Result<Usage, StoreError> {
        self.call(
            |conn| ops::usage(conn),
            |source| StoreError::ReadUsage { source },
        )
        .await
    }

    async fn referenced_code(&self) -> Result<Vec<String>, StoreError> {
        self.call(
            |conn| ops::referenced_code(conn),
            |source| StoreError::ReadReferencedCode { source },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Child, Command, Stdio};

    use super::*;
    use crate::conformance::{self, sample_code, sample_config};

    pub(super) fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("flint.db")).unwrap();
        (dir, store)
    }

    fn tags(key: &str, value: &str) -> FunctionMeta {
        FunctionMeta {
            tags: [(key.to_owned(), value.to_owned())].into(),
        }
    }

    #[tokio::test]
    async fn sqlite_store_passes_the_conformance_suite() {
        let (_dir, store) = open_temp();
        conformance::run_all(&store).await;
    }

    #[tokio::test]
    async fn sqlite_store_passes_the_version_conformance_suite() {
        let (_dir, store) = open_temp();
        conformance::run_versions(&store).await;
    }

    #[tokio::test]
    async fn sqlite_store_passes_the_event_queue_conformance_suite() {
        let (_dir, store) = open_temp();
        conformance::run_event_queue(&store).await;
    }

    #[tokio::test]
    async fn sqlite_store_passes_the_event_invoke_config_conformance_suite() {
        let (_dir, store) = open_temp();
        conformance::run_event_invoke_configs(&store, &store).await;
    }

    #[test]
    fn open_sets_the_durability_pragmas() {
        let (_dir, store) = open_temp();
        let conn = store.connection();
        let check = |pragma: &str, expect: &str| {
            let value = match conn.pragma_query_one(None, pragma).unwrap() {
                rusqlite::types::Value::Text(text) => text,
                rusqlite::types::Value::Integer(n) => n.to_string(),
                other => panic!("PRAGMA {pragma} is {other:?}"),
            };
            assert_eq!(value, expect, "PRAGMA {pragma}");
        };
        check("journal_mode", "wal");
        // 2 is FULL.
        check("synchronous", "2");
        check("foreign_keys", "1");
        check("busy_timeout", "5000");
    }

    #[tokio::test]
    async fn writes_survive_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flint.db");
        let updated = FunctionConfig {
            revision_id: "rev-2".to_owned(),
            code: sample_code("updated", 77),
            ..sample_config("kept")
        };
        {
            let store = SqliteStore::open(&path).unwrap();
            for name in ["kept", "gone", "tagged"] {
                store
                    .create_function(&sample_config(name), &FunctionMeta::default())
                    .await
                    .unwrap();
            }
            store.update_latest(&updated, Some("rev-1")).await.unwrap();
            store.put_meta("tagged", &tags("k", "v")).await.unwrap();
            store.delete_function("gone").await.unwrap();
        }

        let store = SqliteStore::open(&path).unwrap();
        let listed = store.list_functions(None, 10).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|f| f.latest.name.as_str()).collect();
        assert_eq!(names, ["kept", "tagged"]);
        assert_eq!(
            store.get_function("kept").await.unwrap().unwrap().latest,
            updated
        );
        assert_eq!(
            store.get_function("tagged").await.unwrap().unwrap().meta,
            tags("k", "v")
        );
        assert_eq!(
            store.usage().await.unwrap(),
            Usage {
                function_count: 2,
                total_code_size: 77 + 1024,
            }
        );
    }

    #[tokio::test]
    async fn deleting_a_function_deletes_its_published_versions() {
        let (_dir, store) = open_temp();
        let latest = sample_config("published");
        store
            .create_function(&latest, &FunctionMeta::default())
            .await
            .unwrap();
        // Until the store can publish, write a published version the way it will be stored.
        let published = FunctionConfig {
            version: "1".to_owned(),
            code: sample_code("version one", 5),
            ..latest.clone()
        };
        store
            .connection()
            .execute(
                "INSERT INTO versions (function, version, config_json, code_sha256, code_size)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                (
                    "published",
                    "1",
                    record::encode_config(&published).unwrap(),
                    &published.code.sha256_hex,
                    5,
                ),
            )
            .unwrap();
        assert_eq!(store.referenced_code().await.unwrap().len(), 2);
        assert_eq!(store.usage().await.unwrap().total_code_size, 1024 + 5);

        store.delete_function("published").await.unwrap();
        let versions: i64 = store
            .connection()
            .query_row("SELECT COUNT(*) FROM versions", [], |row| row.get(0))
            .unwrap();
        assert_eq!(versions, 0);
        assert!(store.referenced_code().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn corrupt_records_name_the_function_and_can_be_overwritten() {
        let (_dir, store) = open_temp();
        store
            .create_function(&sample_config("mangled"), &FunctionMeta::default())
            .await
            .unwrap();
        store
            .connection()
            .execute(
                "UPDATE versions SET config_json = '{' WHERE function = 'mangled'",
                [],
            )
            .unwrap();

        let err = store.get_function("mangled").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::CorruptRecord { name, .. } if name == "mangled"),
            "{err:?}"
        );
        let err = store.list_functions(None, 10).await.unwrap_err();
        assert!(matches!(err, StoreError::CorruptRecord { .. }), "{err:?}");
        // A revision check needs the stored revision, so it cannot pass a corrupt record...
        let err = store
            .update_latest(&sample_config("mangled"), Some("rev-1"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::CorruptRecord { .. }), "{err:?}");
        // ...but an unconditional update replaces it.
        store
            .update_latest(&sample_config("mangled"), None)
            .await
            .unwrap();
        assert_eq!(
            store.get_function("mangled").await.unwrap().unwrap().latest,
            sample_config("mangled")
        );
    }

    #[test]
    fn open_names_the_path_it_could_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("flint.db");
        let err = SqliteStore::open(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("failed to open database {}", path.display())
        );
    }

    /// Set in the child process of `acknowledged_writes_survive_kill_9` to the database path.
    const CRASH_CHILD_DB: &str = "FLINT_STORE_CRASH_CHILD_DB";
    const ACKED_BEFORE_KILL: usize = 25;

    /// Kills the child when the test ends, however it ends.
    pub(super) struct KillOnDrop(pub(super) Child);

    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            // The child may already be gone; either way there is nothing left to do.
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// Runs test `test` of this binary again as a child with `child_env` naming `db`, reads the
    /// names it prints as `acked <name>` once each write returned, SIGKILLs it after `count` of
    /// them (no destructor, no SQLite checkpoint) and returns them.
    pub(super) fn acknowledged_then_killed(
        test: &str,
        child_env: &str,
        db: &std::path::Path,
        count: usize,
    ) -> Vec<String> {
        let mut child = KillOnDrop(
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture"])
                .env(child_env, db)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let stdout = BufReader::new(child.0.stdout.take().unwrap());
        let acked: Vec<String> = stdout
            .lines()
            .map(Result::unwrap)
            .filter_map(|line| line.strip_prefix("acked ").map(str::to_owned))
            .take(count)
            .collect();
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        assert_eq!(acked.len(), count, "the child stopped early");
        acked
    }

    /// The test binary runs this test again as a child that creates functions and prints each
    /// name once `create_function` returned; the parent SIGKILLs it mid-stream and checks every
    /// acknowledged function is in the reopened database and every record in it is whole.
    #[tokio::test]
    async fn acknowledged_writes_survive_kill_9() {
        if let Some(db) = std::env::var_os(CRASH_CHILD_DB) {
            write_until_killed(Path::new(&db)).await;
            return;
        }

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("flint.db");
        let acked = acknowledged_then_killed(
            "sqlite::tests::acknowledged_writes_survive_kill_9",
            CRASH_CHILD_DB,
            &db,
            ACKED_BEFORE_KILL,
        );

        let store = SqliteStore::open(&db).unwrap();
        for name in &acked {
            let stored = store.get_function(name).await.unwrap();
            assert_eq!(stored.map(|f| f.latest), Some(sample_config(name)));
        }
        let all = store.list_functions(None, usize::MAX).await.unwrap();
        assert!(all.len() >= ACKED_BEFORE_KILL, "{} functions", all.len());
    }

    async fn write_until_killed(db: &Path) {
        let store = SqliteStore::open(db).unwrap();
        // Bounded, so an orphaned child still ends on its own.
        for i in 0..5_000 {
            let name = format!("crash-{i:05}");
            store
                .create_function(&sample_config(&name), &FunctionMeta::default())
                .await
                .unwrap();
            println!("acked {name}");
        }
    }
}
