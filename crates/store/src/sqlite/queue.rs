//! The SQLite `EventQueue`: the table `async_events` of migration 0002.

use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension as _, Row};
use tokio::sync::oneshot;

use super::SqliteStore;
use super::ops::{OpError, unsigned, write_transaction};
use crate::queue::{Claim, ClaimedEvent, EventQueue, NewEvent, NextAttempt, QueueStats};
use crate::{BoxError, StoreError};

/// The columns `read_claimed` expects, in order.
const CLAIMED_COLUMNS: &str = "id, claims, request_id, function, qualifier, region, trace_id, \
     payload, received_at_ms, attempts, backoffs, next_attempt_at_ms";

#[async_trait::async_trait]
impl EventQueue for SqliteStore {
    async fn enqueue(&self, event: &NewEvent) -> Result<i64, StoreError> {
        let failed = |source| StoreError::EnqueueEvent {
            function: event.function.clone(),
            request_id: event.request_id.clone(),
            source,
        };
        match self.batched(Write::Enqueue(event.clone())).await {
            Ok(Applied::Enqueued(id)) => Ok(id),
            Ok(other) => Err(failed(unexpected(&other))),
            Err(source) => Err(failed(source)),
        }
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        self.call(
            move |conn| unsynced(conn, |conn| claim_due(conn, now, lease_until, limit)),
            |source| StoreError::ClaimEvents { source },
        )
        .await
    }

    async fn complete(&self, claim: Claim) -> Result<(), StoreError> {
        let applied = self.batched(Write::Complete(claim)).await;
        held(applied, claim, |source| StoreError::CompleteEvent {
            id: claim.id,
            source,
        })
    }

    async fn retry_at(&self, claim: Claim, next: &NextAttempt) -> Result<(), StoreError> {
        let applied = self.batched(Write::Retry(claim, *next)).await;
        held(applied, claim, |source| StoreError::RetryEvent {
            id: claim.id,
            source,
        })
    }

    async fn extend_leases(
        &self,
        claims: &[Claim],
        lease_until: Timestamp,
    ) -> Result<(), StoreError> {
        let claims = claims.to_vec();
        let count = claims.len();
        self.call(
            move |conn| {
                unsynced(conn, |conn| {
                    let tx = write_transaction(conn)?;
                    {
                        let mut stmt = tx.prepare(
                            "UPDATE async_events SET lease_until_ms = ?3
                             WHERE id = ?1 AND claims = ?2",
                        )?;
                        for claim in &claims {
                            stmt.execute((claim.id, claim.token, lease_until.as_millisecond()))?;
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })
            },
            |source| StoreError::ExtendLeases { count, source },
        )
        .await
    }

    async fn queue_stats(&self, function: Option<&str>) -> Result<QueueStats, StoreError> {
        let function = function.map(str::to_owned);
        self.call(
            move |conn| queue_stats(conn, function.as_deref()),
            |source| StoreError::ReadQueueStats { source },
        )
        .await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.call(
            |conn| next_due(conn),
            |source| StoreError::ReadNextDue { source },
        )
        .await
    }
}

impl SqliteStore {
    /// Hands `write` to the batch and commits whatever waits, `write` included unless an earlier
    /// call already took it: then that call held the connection until its commit, so the answer
    /// is in by now.
    async fn batched(&self, write: Write) -> Result<Applied, BoxError> {
        let (reply, answer) = oneshot::channel();
        self.writes.wait(write, reply);
        let batch = Arc::clone(&self.writes);
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // As in `SqliteStore::call`: a panic under the lock rolled its transaction back.
            let mut conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            batch.commit(&mut conn);
        })
        .await?;
        answer.await?
    }
}

/// Queue writes waiting for the connection: new events from `Invoke`, and the outcomes the
/// dispatcher writes as attempts end. Whichever write gets the connection first commits all that
/// wait in one transaction, so concurrent writes share one sync of the log instead of taking
/// turns for one each, and an accepted event waits behind at most one sync of the dispatcher's
/// work. Every write is answered only after its transaction committed.
#[derive(Debug, Default)]
pub(super) struct WriteBatch {
    waiting: Mutex<Vec<Waiting>>,
}

/// One write of the queue.
#[derive(Debug)]
enum Write {
    Enqueue(NewEvent),
    Complete(Claim),
    Retry(Claim, NextAttempt),
}

/// What a committed write did.
#[derive(Debug, PartialEq, Eq)]
enum Applied {
    /// The event was stored under this id.
    Enqueued(i64),
    /// The claim was current and the event completed or rescheduled.
    Held,
    /// The event was claimed again since, or is gone; nothing changed.
    LeaseLost,
}

#[derive(Debug)]
struct Waiting {
    write: Write,
    reply: oneshot::Sender<Result<Applied, BoxError>>,
}

impl WriteBatch {
    fn wait(&self, write: Write, reply: oneshot::Sender<Result<Applied, BoxError>>) {
        self.waiting().push(Waiting { write, reply });
    }

    /// Applies every waiting write in one transaction and answers each. A write that fails
    /// fails the whole transaction, and every write of it is answered with that error.
    fn commit(&self, conn: &mut Connection) {
        let batch = std::mem::take(&mut *self.waiting());
        if batch.is_empty() {
            return;
        }
        match apply_all(conn, &batch) {
            Ok(applied) => {
                for (waiting, applied) in batch.into_iter().zip(applied) {
                    // A caller that gave up waiting no longer needs its answer.
                    let _ = waiting.reply.send(Ok(applied));
                }
            }
            Err(error) => {
                let error = Arc::new(error);
                for waiting in batch {
                    let _ = waiting.reply.send(Err(Box::new(Arc::clone(&error))));
                }
            }
        }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiting>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn apply_all(conn: &mut Connection, batch: &[Waiting]) -> rusqlite::Result<Vec<Applied>> {
    let tx = write_transaction(conn)?;
    let applied = {
        let mut insert = tx.prepare_cached(
            "INSERT INTO async_events
                (request_id, function, qualifier, region, trace_id, payload, received_at_ms,
                 next_attempt_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             RETURNING id",
        )?;
        let mut delete =
            tx.prepare_cached("DELETE FROM async_events WHERE id = ?1 AND claims = ?2")?;
        let mut reschedule = tx.prepare_cached(
            "UPDATE async_events
             SET next_attempt_at_ms = ?3, attempts = ?4, backoffs = ?5, lease_until_ms = NULL
             WHERE id = ?1 AND claims = ?2",
        )?;
        let held = |changed: usize| {
            if changed == 0 {
                Applied::LeaseLost
            } else {
                Applied::Held
            }
        };
        batch
            .iter()
            .map(|Waiting { write, .. }| match write {
                Write::Enqueue(event) => insert
                    .query_row(
                        (
                            &event.request_id,
                            &event.function,
                            &event.qualifier,
                            &event.region,
                            &event.trace_id,
                            &event.payload[..],
                            event.received_at.as_millisecond(),
                        ),
                        |row| row.get(0),
                    )
                    .map(Applied::Enqueued),
                Write::Complete(claim) => delete.execute((claim.id, claim.token)).map(held),
                Write::Retry(claim, next) => reschedule
                    .execute((
                        claim.id,
                        claim.token,
                        next.at.as_millisecond(),
                        next.attempts,
                        next.backoffs,
                    ))
                    .map(held),
            })
            .collect::<rusqlite::Result<Vec<Applied>>>()?
    };
    tx.commit()?;
    Ok(applied)
}

/// An answer that does not fit the write it answers, as an error.
fn unexpected(applied: &Applied) -> BoxError {
    format!("the queue answered {applied:?} to an enqueue").into()
}

/// Runs `op` with commits that do not sync the log, for writes a power cut may undo without
/// harm: a lost claim or lease extension only makes its events claimable again, as the end of a
/// lease does anyway (a `kill -9` loses nothing: the operating system still writes them). The
/// next synced commit syncs these too, since the log is written in order. Claims thus never make
/// an accepting `Invoke` wait for a sync that is not its own or a completion's.
fn unsynced<T>(
    conn: &mut Connection,
    op: impl FnOnce(&mut Connection) -> Result<T, OpError>,
) -> Result<T, OpError> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let result = op(conn);
    // Every other write of the store relies on this.
    conn.pragma_update(None, "synchronous", "FULL")?;
    result
}

/// Leases the due events in one statement, so two claims can never take the same event; on
/// PostgreSQL the inner select takes `FOR UPDATE SKIP LOCKED` to the same end.
fn claim_due(
    conn: &Connection,
    now: Timestamp,
    lease_until: Timestamp,
    limit: usize,
) -> Result<Vec<ClaimedEvent>, OpError> {
    // A limit beyond i64 cannot be reached anyway, so it means "no limit".
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = format!(
        "UPDATE async_events SET lease_until_ms = ?2, claims = claims + 1
         WHERE id IN (
             SELECT id FROM async_events
             WHERE next_attempt_at_ms <= ?1
               AND (lease_until_ms IS NULL OR lease_until_ms <= ?1)
             ORDER BY next_attempt_at_ms, id
             LIMIT ?3)
         RETURNING {CLAIMED_COLUMNS}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut claimed = stmt
        .query_map(
            (now.as_millisecond(), lease_until.as_millisecond(), limit),
            read_claimed,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    // RETURNING gives rows in no particular order.
    claimed.sort_by_key(|event| (event.next_attempt_at, event.claim.id));
    Ok(claimed)
}

fn queue_stats(conn: &Connection, function: Option<&str>) -> Result<QueueStats, OpError> {
    let stats = conn.query_row(
        "SELECT COALESCE(SUM(CASE WHEN lease_until_ms IS NULL THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN lease_until_ms IS NULL THEN 0 ELSE 1 END), 0),
                MIN(received_at_ms)
         FROM async_events
         WHERE ?1 IS NULL OR function = ?1",
        [function],
        |row| {
            let oldest: Option<i64> = row.get(2)?;
            Ok(QueueStats {
                queued: unsigned(row, 0)?,
                in_flight: unsigned(row, 1)?,
                oldest_received_at: oldest.map(|ms| timestamp(2, ms)).transpose()?,
            })
        },
    )?;
    Ok(stats)
}

/// Two index lookups rather than one scan: the earliest unleased due time and the earliest end
/// of a lease.
fn next_due(conn: &Connection) -> Result<Option<Timestamp>, OpError> {
    let unleased: Option<i64> = conn
        .query_row(
            "SELECT next_attempt_at_ms FROM async_events WHERE lease_until_ms IS NULL
             ORDER BY next_attempt_at_ms LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let lease_end: Option<i64> = conn
        .query_row(
            "SELECT lease_until_ms FROM async_events WHERE lease_until_ms IS NOT NULL
             ORDER BY lease_until_ms LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()?;
    let earliest = match (unleased, lease_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(earliest.map(|ms| timestamp(0, ms)).transpose()?)
}

fn read_claimed(row: &Row<'_>) -> rusqlite::Result<ClaimedEvent> {
    let payload: Vec<u8> = row.get(7)?;
    Ok(ClaimedEvent {
        claim: Claim {
            id: row.get(0)?,
            token: row.get(1)?,
        },
        request_id: row.get(2)?,
        function: row.get(3)?,
        qualifier: row.get(4)?,
        region: row.get(5)?,
        trace_id: row.get(6)?,
        payload: payload.into(),
        received_at: timestamp(8, row.get(8)?)?,
        attempts: row.get(9)?,
        backoffs: row.get(10)?,
        next_attempt_at: timestamp(11, row.get(11)?)?,
    })
}

/// The outcome of a completion or rescheduling: `LeaseLost` when the claim was not current,
/// the error `failed` builds when the write failed.
fn held(
    applied: Result<Applied, BoxError>,
    claim: Claim,
    failed: impl FnOnce(BoxError) -> StoreError,
) -> Result<(), StoreError> {
    match applied {
        Ok(Applied::Held) => Ok(()),
        Ok(Applied::LeaseLost) => Err(StoreError::LeaseLost {
            id: claim.id,
            token: claim.token,
        }),
        Ok(other) => Err(failed(
            format!("the queue answered {other:?} to a claim's outcome").into(),
        )),
        Err(source) => Err(failed(source)),
    }
}

fn timestamp(column: usize, ms: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millisecond(ms).map_err(|err| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Integer,
            err.into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::conformance::sample_event;
    use crate::sqlite::tests::{acknowledged_then_killed, open_temp};

    /// Set in the child process of `acknowledged_events_survive_kill_9` to the database path.
    const CRASH_CHILD_DB: &str = "FLINT_QUEUE_CRASH_CHILD_DB";
    const ACKED_BEFORE_KILL: usize = 50;

    fn crash_event(i: usize) -> NewEvent {
        sample_event(&format!("crash-{i:05}"), "crashed", i as f64)
    }

    fn far_future() -> Timestamp {
        "2100-01-01T00:00:00Z".parse().unwrap()
    }

    /// The test binary runs this test again as a child that enqueues events and prints each
    /// request id once `enqueue` returned; the parent SIGKILLs it mid-stream and checks every
    /// acknowledged event is in the reopened queue, whole.
    #[tokio::test]
    async fn acknowledged_events_survive_kill_9() {
        if let Some(db) = std::env::var_os(CRASH_CHILD_DB) {
            enqueue_until_killed(Path::new(&db)).await;
            return;
        }

        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("flint.db");
        let acked = acknowledged_then_killed(
            "sqlite::queue::tests::acknowledged_events_survive_kill_9",
            CRASH_CHILD_DB,
            &db,
            ACKED_BEFORE_KILL,
        );

        let store = SqliteStore::open(&db).unwrap();
        let far = far_future();
        let stored = store.claim_due(far, far, usize::MAX).await.unwrap();
        assert!(stored.len() >= ACKED_BEFORE_KILL, "{} events", stored.len());
        for (i, request_id) in acked.iter().enumerate() {
            let event = &stored[i];
            let sent = crash_event(i);
            assert_eq!(&event.request_id, request_id);
            assert_eq!(
                (&event.function, &event.payload, event.received_at),
                (&sent.function, &sent.payload, sent.received_at)
            );
        }
    }

    async fn enqueue_until_killed(db: &Path) {
        let store = SqliteStore::open(db).unwrap();
        // Bounded, so an orphaned child still ends on its own.
        for i in 0..5_000 {
            let event = crash_event(i);
            store.enqueue(&event).await.unwrap();
            println!("acked {}", event.request_id);
        }
    }

    /// A dispatcher that dies holding leases leaves its events leased in the file: after a
    /// restart they stay hidden until the lease ends, then are claimed again with their counts.
    #[tokio::test]
    async fn leased_events_return_after_a_restart_once_the_lease_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flint.db");
        let t0: Timestamp = "2025-03-01T00:00:00Z".parse().unwrap();
        let lease_end = t0 + jiff::SignedDuration::from_secs(30);
        {
            let store = SqliteStore::open(&path).unwrap();
            for i in 0..3 {
                store
                    .enqueue(&sample_event(&format!("held-{i}"), "held", 0.0))
                    .await
                    .unwrap();
            }
            let claimed = store.claim_due(t0, lease_end, 10).await.unwrap();
            assert_eq!(claimed.len(), 3);
            let retried = NextAttempt {
                at: t0,
                attempts: 1,
                backoffs: 0,
            };
            store.retry_at(claimed[0].claim, &retried).await.unwrap();
            let reclaimed = store.claim_due(t0, lease_end, 10).await.unwrap();
            assert_eq!(reclaimed.len(), 1);
            // Dropped with every claim unfinished, as a crash would leave them.
        }

        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.queue_stats(None).await.unwrap().in_flight,
            3,
            "leases are durable"
        );
        assert_eq!(store.next_due().await.unwrap(), Some(lease_end));
        let early = lease_end - jiff::SignedDuration::from_millis(1);
        assert!(
            store
                .claim_due(early, far_future(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        let back = store.claim_due(lease_end, far_future(), 10).await.unwrap();
        let seen: Vec<(&str, u32)> = back
            .iter()
            .map(|e| (e.request_id.as_str(), e.attempts))
            .collect();
        assert_eq!(seen, [("held-0", 1), ("held-1", 0), ("held-2", 0)]);
    }

    /// Many enqueues at once share transactions; each still gets its own id, stored with its
    /// own event.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_enqueues_each_get_their_event_stored() {
        let (_dir, store) = open_temp();
        let store = std::sync::Arc::new(store);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200 {
            let store = std::sync::Arc::clone(&store);
            tasks.spawn(async move {
                let event = sample_event(&format!("together-{i:03}"), "batched", 0.0);
                let id = store.enqueue(&event).await.unwrap();
                (id, event.request_id)
            });
        }
        let mut acked: Vec<(i64, String)> = tasks.join_all().await;
        acked.sort();
        let ids: std::collections::BTreeSet<i64> = acked.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), 200, "ids are unique");

        let far = far_future();
        let stored: Vec<(i64, String)> = store
            .claim_due(far, far, usize::MAX)
            .await
            .unwrap()
            .into_iter()
            .map(|event| (event.claim.id, event.request_id))
            .collect();
        assert_eq!(stored, acked);
    }

    /// Enqueues, completions and reschedulings arriving together share transactions, and each
    /// still gets its own answer: a lost lease fails only its own write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_of_every_kind_each_get_their_own_answer() {
        let (_dir, store) = open_temp();
        let store = std::sync::Arc::new(store);
        for i in 0..60 {
            store
                .enqueue(&sample_event(&format!("old-{i:02}"), "mixed", 0.0))
                .await
                .unwrap();
        }
        let far = far_future();
        let claimed = store.claim_due(far, far, usize::MAX).await.unwrap();
        assert_eq!(claimed.len(), 60);
        let later = NextAttempt {
            at: far,
            attempts: 1,
            backoffs: 0,
        };
        let mut tasks = tokio::task::JoinSet::new();
        for (i, event) in claimed.into_iter().enumerate() {
            let store = std::sync::Arc::clone(&store);
            tasks.spawn(async move {
                let stale = Claim {
                    token: event.claim.token + 1,
                    ..event.claim
                };
                let outcome = match i % 3 {
                    0 => store.complete(event.claim).await,
                    1 => store.retry_at(event.claim, &later).await,
                    _ => store.complete(stale).await,
                };
                let new = sample_event(&format!("new-{i:02}"), "mixed", 0.0);
                (i, outcome, store.enqueue(&new).await.map(|_| ()))
            });
        }
        for (i, outcome, enqueued) in tasks.join_all().await {
            assert!(enqueued.is_ok(), "{enqueued:?}");
            match i % 3 {
                0 | 1 => assert!(outcome.is_ok(), "{i}: {outcome:?}"),
                _ => assert!(
                    matches!(outcome, Err(StoreError::LeaseLost { .. })),
                    "{i}: {outcome:?}"
                ),
            }
        }
        // 20 completed, 20 rescheduled, 20 still leased by their real claims, 60 new.
        let stats = store.queue_stats(Some("mixed")).await.unwrap();
        assert_eq!((stats.queued, stats.in_flight), (80, 20));
    }

    /// Claims and lease extensions commit without a sync; everything after them syncs again.
    #[tokio::test]
    async fn claims_leave_the_connection_syncing_every_commit() {
        let (_dir, store) = open_temp();
        let synchronous = |store: &SqliteStore| -> i64 {
            store
                .connection()
                .pragma_query_value(None, "synchronous", |row| row.get(0))
                .unwrap()
        };
        const FULL: i64 = 2;
        store
            .enqueue(&sample_event("synced", "sync", 0.0))
            .await
            .unwrap();
        let far = far_future();
        let claimed = store.claim_due(far, far, 10).await.unwrap();
        assert_eq!(synchronous(&store), FULL);
        store.extend_leases(&[claimed[0].claim], far).await.unwrap();
        assert_eq!(synchronous(&store), FULL);
        // A failing claim restores it too.
        store
            .connection()
            .execute("UPDATE async_events SET received_at_ms = ?1", [i64::MAX])
            .unwrap();
        assert!(store.claim_due(far, far, 10).await.is_err());
        assert_eq!(synchronous(&store), FULL);
    }

    #[tokio::test]
    async fn a_failed_enqueue_is_not_acknowledged() {
        let (_dir, store) = open_temp();
        store
            .connection()
            .execute_batch("DROP TABLE async_events")
            .unwrap();
        let err = store
            .enqueue(&sample_event("lost", "broken", 0.0))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::EnqueueEvent { request_id, .. } if request_id == "lost"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "failed to enqueue event lost for function broken"
        );
    }

    #[tokio::test]
    async fn corrupt_times_fail_the_claim_with_its_cause() {
        let (_dir, store) = open_temp();
        store
            .enqueue(&sample_event("broken", "broken", 0.0))
            .await
            .unwrap();
        store
            .connection()
            .execute("UPDATE async_events SET received_at_ms = ?1", [i64::MAX])
            .unwrap();
        let err = store
            .claim_due(far_future(), far_future(), 10)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::ClaimEvents { .. }), "{err:?}");
        assert_eq!(err.to_string(), "failed to claim due events");
    }
}
