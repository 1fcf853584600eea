-- The queue of asynchronous invocations and the event invoke configurations.
--
-- Queue times are integer milliseconds since the Unix epoch, so "due by now" and "lease ended"
-- are comparisons of numbers, served by indexes, alike in every database. An event is claimable
-- when `next_attempt_at_ms <= now` and it has no lease or its lease ended; a claimed event always
-- has `lease_until_ms` after its `next_attempt_at_ms`. `claims` counts the claims of the event and
-- is the token a claimer must show to finish it.
--
-- `id` is AUTOINCREMENT so ids are never reused: a claim (id, token) from before a restart can
-- never name a newer event. Events do not reference `functions`: deleting a function does not
-- touch its queued events; the dispatcher finds the function gone and discards them.

CREATE TABLE async_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    region TEXT NOT NULL,
    trace_id TEXT,
    payload BLOB NOT NULL,
    received_at_ms BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    backoffs INTEGER NOT NULL DEFAULT 0 CHECK (backoffs >= 0),
    next_attempt_at_ms BIGINT NOT NULL,
    lease_until_ms BIGINT,
    claims BIGINT NOT NULL DEFAULT 0
);

CREATE INDEX async_events_by_due ON async_events (next_attempt_at_ms);
CREATE INDEX async_events_by_lease ON async_events (lease_until_ms);
CREATE INDEX async_events_by_function ON async_events (function);

-- One row per function and qualifier (`$LATEST`, a version or an alias). A NULL column was not
-- given, so Lambda's default applies.
CREATE TABLE event_invoke_configs (
    function TEXT NOT NULL REFERENCES functions (name) ON DELETE CASCADE,
    qualifier TEXT NOT NULL,
    maximum_retry_attempts INTEGER CHECK (maximum_retry_attempts BETWEEN 0 AND 2),
    maximum_event_age_s INTEGER CHECK (maximum_event_age_s BETWEEN 60 AND 21600),
    on_success TEXT,
    on_failure TEXT,
    last_modified TEXT NOT NULL,
    PRIMARY KEY (function, qualifier)
);
