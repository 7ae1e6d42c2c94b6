//! The database schema, migrated forward on open and versioned by `PRAGMA user_version`.
//!
//! Times are Unix nanoseconds (INTEGER); ids are lowercase hex (TEXT). The `events`
//! table is append-only: nothing in inquest updates or deletes its rows.

use rusqlite::Connection;

/// Each entry moves the schema from version `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: investigations, events, evidence bodies, feedback, learned guidance, strategy statistics.
    r#"
    CREATE TABLE investigations (
        trace_id       TEXT PRIMARY KEY NOT NULL,
        started_at     INTEGER NOT NULL,
        alert_name     TEXT NOT NULL,
        service        TEXT,
        source         TEXT NOT NULL,
        reasoner       TEXT NOT NULL,
        bundle_id      TEXT NOT NULL,
        status         TEXT NOT NULL,
        pid            INTEGER NOT NULL,
        pid_start      INTEGER NOT NULL,
        top_service    TEXT,
        top_kind       TEXT,
        top_confidence REAL,
        tool_calls     INTEGER NOT NULL DEFAULT 0,
        finished_at    INTEGER
    );
    CREATE INDEX investigations_by_start ON investigations (started_at);

    CREATE TABLE events (
        trace_id       TEXT NOT NULL REFERENCES investigations (trace_id),
        seq            INTEGER NOT NULL,
        span_id        TEXT NOT NULL,
        parent_span_id TEXT,
        type           TEXT NOT NULL,
        at             INTEGER NOT NULL,
        json           TEXT NOT NULL,
        PRIMARY KEY (trace_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE evidence (
        trace_id TEXT NOT NULL REFERENCES investigations (trace_id),
        span_id  TEXT NOT NULL,
        kind     TEXT NOT NULL,
        syntax   TEXT NOT NULL,
        summary  TEXT NOT NULL,
        body     TEXT NOT NULL,
        PRIMARY KEY (trace_id, span_id)
    );

    CREATE TABLE feedback (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        trace_id        TEXT NOT NULL REFERENCES investigations (trace_id),
        span_id         TEXT NOT NULL,
        target          TEXT NOT NULL,
        rating          TEXT,
        grade           TEXT,
        highlight_start INTEGER,
        highlight_end   INTEGER,
        quote           TEXT,
        comment         TEXT,
        author          TEXT NOT NULL,
        at              INTEGER NOT NULL,
        bundle_id       TEXT NOT NULL
    );
    CREATE INDEX feedback_by_trace ON feedback (trace_id, id);

    CREATE TABLE learned_guidance (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        alert_name TEXT NOT NULL,
        service    TEXT,
        text       TEXT NOT NULL,
        at         INTEGER NOT NULL,
        trace_id   TEXT
    );
    CREATE INDEX learned_guidance_by_alert ON learned_guidance (alert_name, service);

    CREATE TABLE strategy_stats (
        alert_name TEXT NOT NULL,
        strategy   TEXT NOT NULL,
        runs       INTEGER NOT NULL DEFAULT 0,
        correct    INTEGER NOT NULL DEFAULT 0,
        partly     INTEGER NOT NULL DEFAULT 0,
        wrong      INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (alert_name, strategy)
    );
    "#,
    // 2: a learned line per graded root cause (re-grading replaces it), with the grade
    // and the strategies that found it, from which strategy statistics are counted.
    r#"
    ALTER TABLE learned_guidance ADD COLUMN span_id TEXT;
    ALTER TABLE learned_guidance ADD COLUMN grade TEXT;
    ALTER TABLE learned_guidance ADD COLUMN strategies TEXT NOT NULL DEFAULT '';
    CREATE UNIQUE INDEX learned_guidance_by_span ON learned_guidance (trace_id, span_id);
    "#,
    // 3: the server's intake queue. An alert is a row here before it is answered 2xx;
    // `key` (source, fingerprint, start) deduplicates across restarts. `trace_id` is the
    // current attempt's; an investigation cut off by a crash or shutdown is marked
    // interrupted and names the trace that re-runs it in `rerun_as`.
    r#"
    CREATE TABLE intake (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        key         TEXT NOT NULL UNIQUE,
        alert       TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        state       TEXT NOT NULL,
        trace_id    TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        error       TEXT
    );
    CREATE INDEX intake_by_state ON intake (state, id);
    ALTER TABLE investigations ADD COLUMN rerun_as TEXT;
    "#,
    // 4: model tokens and cost per investigation, for listing without a fold;
    // `estimated_tokens` of them were estimated (the server reported no usage).
    r#"
    ALTER TABLE investigations ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE investigations ADD COLUMN estimated_tokens INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE investigations ADD COLUMN cost_microusd INTEGER NOT NULL DEFAULT 0;
    "#,
    // 5: feedback as a thread: each record's own id and the record it refines, and
    // the spans a highlight covers when it crosses nodes. Older rows keep NULLs and
    // read back with an id made from their row.
    r#"
    ALTER TABLE feedback ADD COLUMN feedback_id TEXT;
    ALTER TABLE feedback ADD COLUMN parent TEXT;
    ALTER TABLE feedback ADD COLUMN covers TEXT NOT NULL DEFAULT '';
    "#,
    // 6: investigations of a simulated scenario started through the server's
    // API: the scenario and its options, as JSON, beside the scenario's alert.
    r#"
    ALTER TABLE intake ADD COLUMN simulated TEXT;
    "#,
    // 7: what each tool call of an investigation answered, redacted, keyed by the
    // tool and its arguments (canonical JSON): what `inquest replay` answers from.
    r#"
    CREATE TABLE tool_answers (
        trace_id TEXT NOT NULL,
        tool     TEXT NOT NULL,
        args     TEXT NOT NULL,
        ok       INTEGER NOT NULL,
        answer   TEXT NOT NULL,
        PRIMARY KEY (trace_id, tool, args)
    ) WITHOUT ROWID;
    "#,
    // 8: patterns imported from another store (`inquest learned --import`), kept apart
    // from this store's own grades: an alert name with `{service}` for its service,
    // the role the cause played, its kind, the grades, and the strategies' grades (JSON);
    // and the fault kind of each graded root cause (NULL for lines learned before).
    r#"
    CREATE TABLE shared_patterns (
        alert       TEXT NOT NULL,
        role        TEXT NOT NULL,
        kind        TEXT NOT NULL,
        correct     INTEGER NOT NULL,
        partly      INTEGER NOT NULL,
        wrong       INTEGER NOT NULL,
        strategies  TEXT NOT NULL DEFAULT '[]',
        imported_at INTEGER NOT NULL,
        PRIMARY KEY (alert, role, kind)
    );
    ALTER TABLE learned_guidance ADD COLUMN kind TEXT;
    "#,
    // 9: changes posted by CI/CD pipelines (`POST /v1/changes`), redacted: when,
    // on which service, of what kind, what, which version, by whom, when received.
    r#"
    CREATE TABLE changes (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        service     TEXT NOT NULL,
        kind        TEXT NOT NULL,
        summary     TEXT NOT NULL,
        version     TEXT,
        author      TEXT NOT NULL,
        received_at INTEGER NOT NULL
    );
    CREATE INDEX changes_by_service ON changes (service, at);
    CREATE INDEX changes_by_time ON changes (at);
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What `migrate` found.
pub enum Migrated {
    /// The schema is at `SCHEMA_VERSION` now.
    Current,
    /// The file was written by a newer inquest.
    Newer(i64),
}

/// Brings the schema up to `SCHEMA_VERSION` in one transaction.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<Migrated> {
    // A store already current needs no write lock: readers open it while a writer works.
    let seen: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if seen == SCHEMA_VERSION {
        return Ok(Migrated::Current);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Ok(Migrated::Newer(found));
    }
    for sql in &MIGRATIONS[found.max(0) as usize..] {
        tx.execute_batch(sql)?;
    }
    if found != SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(Migrated::Current)
}
