//! Schema migrations keyed on `PRAGMA user_version`. Each step runs in its
//! own IMMEDIATE transaction together with the version bump, so a failed
//! step leaves the database exactly at the previous version.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;

/// The newest schema this healthmon writes and understands.
pub const SCHEMA_VERSION: i64 = 3;

/// Version 1 is the old Python monitor's tables, as the contract lists them.
/// `IF NOT EXISTS` adopts a legacy database (user_version 0) with its rows.
const V1: &str = "
CREATE TABLE IF NOT EXISTS health_metrics (
    id INTEGER PRIMARY KEY,
    timestamp TEXT NOT NULL,
    component TEXT NOT NULL,
    metric_type TEXT NOT NULL,
    status TEXT NOT NULL,
    action_taken TEXT,
    details TEXT
);
CREATE TABLE IF NOT EXISTS health_alerts (
    id INTEGER PRIMARY KEY,
    timestamp TEXT NOT NULL,
    severity TEXT NOT NULL,
    component TEXT NOT NULL,
    message TEXT NOT NULL,
    resolved INTEGER NOT NULL DEFAULT 0
);
";

/// Version 2: the alert lifecycle (kind, last_seen, count, resolved_at) and
/// one open alert per (component, kind), enforced by a partial unique index.
///
/// Legacy rows: timestamps the old monitor wrote in another form SQLite
/// understands (e.g. ISO `T` with fractions) are rewritten to SQLite's own
/// form so ordering and `datetime('now', ...)` comparisons hold. The old
/// monitor raised an alert every cycle, so one component can have many
/// unresolved rows: the newest stays open (kind `legacy`, `count` = how many
/// it stands for) and older duplicates are resolved now by the migration.
const V2: &str = "
ALTER TABLE health_alerts ADD COLUMN kind TEXT NOT NULL DEFAULT '';
ALTER TABLE health_alerts ADD COLUMN last_seen TEXT;
ALTER TABLE health_alerts ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE health_alerts ADD COLUMN resolved_at TEXT;

UPDATE health_metrics SET timestamp = datetime(timestamp)
 WHERE datetime(timestamp) IS NOT NULL AND timestamp <> datetime(timestamp);
UPDATE health_alerts SET timestamp = datetime(timestamp)
 WHERE datetime(timestamp) IS NOT NULL AND timestamp <> datetime(timestamp);

UPDATE health_alerts SET count = (
    SELECT count(*) FROM health_alerts AS dup
     WHERE dup.resolved = 0 AND dup.component = health_alerts.component)
 WHERE resolved = 0;
UPDATE health_alerts SET resolved = 1, resolved_at = datetime('now')
 WHERE resolved = 0 AND EXISTS (
    SELECT 1 FROM health_alerts AS newer
     WHERE newer.resolved = 0 AND newer.component = health_alerts.component AND newer.id > health_alerts.id);
UPDATE health_alerts SET count = 1 WHERE resolved <> 0;
UPDATE health_alerts SET kind = 'legacy', last_seen = timestamp;

CREATE INDEX health_metrics_timestamp ON health_metrics (timestamp);
CREATE INDEX health_metrics_component_timestamp ON health_metrics (component, timestamp);
CREATE UNIQUE INDEX health_alerts_one_open ON health_alerts (component, kind) WHERE resolved = 0;
";

/// Version 3 (0.2): what must outlive a restart of healthmon.
/// - `worker_state`: per worker, the desired state an administrator set
///   (`running`/`stopped`, kept across restarts and reboots) and the restart
///   budget (`restart_times`: JSON array of unix milliseconds inside the
///   window; `backoff_ms`; `given_up_at`, unix seconds or NULL), so that a
///   restart of healthmon neither resets the budget nor restarts a stopped worker.
/// - `silences`: maintenance silences; `until` is unix seconds.
/// - `health_alerts.silenced`: the alert was raised while a silence matched.
/// - `health_metrics.value`: the number behind a metric (e.g. used bytes of
///   a disk path), so trends can be fitted without parsing `details`.
const V3: &str = "
CREATE TABLE worker_state (
    name TEXT PRIMARY KEY,
    desired TEXT NOT NULL DEFAULT 'running',
    restart_times TEXT NOT NULL DEFAULT '[]',
    backoff_ms INTEGER NOT NULL DEFAULT 0,
    given_up_at INTEGER,
    updated_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE silences (
    id INTEGER PRIMARY KEY,
    component TEXT NOT NULL,
    until INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
ALTER TABLE health_alerts ADD COLUMN silenced INTEGER NOT NULL DEFAULT 0;
ALTER TABLE health_metrics ADD COLUMN value REAL;
";

/// The steps in order: `MIGRATIONS[i]` takes the schema from version i to i + 1.
const MIGRATIONS: [&str; SCHEMA_VERSION as usize] = [V1, V2, V3];

/// Refuses a database from a newer healthmon before anything could touch
/// it: no pragma is set and no file is created next to it.
pub fn refuse_newer(path: &Path) -> Result<(), StoreError> {
    if !path.exists() {
        return Ok(());
    }
    let found = match header_user_version(path) {
        // Without a -wal file the main file's header is the whole truth.
        Some(version) if !wal_path(path).exists() => version,
        // Committed changes may sit in the WAL, or the header is odd: ask
        // SQLite, read-only (it reports a file that is no database).
        _ => {
            let open_error = |source| StoreError::Open { path: path.to_owned(), source };
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(path, flags).map_err(open_error)?;
            user_version(&conn).map_err(open_error)?
        }
    };
    check_supported(path, found)
}

/// `user_version` straight from the database header (a big-endian i32 at
/// offset 60; see sqlite.org/fileformat.html). An empty file is version 0;
/// `None` when the file cannot be read or has no SQLite header.
fn header_user_version(path: &Path) -> Option<i64> {
    let mut header = Vec::with_capacity(100);
    File::open(path).ok()?.take(100).read_to_end(&mut header).ok()?;
    if header.is_empty() {
        return Some(0);
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return None;
    }
    let bytes: [u8; 4] = header[60..64].try_into().ok()?;
    Some(i64::from(i32::from_be_bytes(bytes)))
}

/// SQLite's write-ahead log next to `path`.
fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per step.
/// The version is re-read inside each transaction, so two processes opening
/// the same file at once do not run a step twice.
pub fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let current = user_version(conn).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
    check_supported(path, current)?;
    if current == SCHEMA_VERSION {
        // The common case: no write lock taken just to open.
        return Ok(());
    }
    for (from, sql) in (0..).zip(MIGRATIONS) {
        let to = from + 1;
        let migrate_error = |source| StoreError::Migrate { path: path.to_owned(), version: to, source };
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(migrate_error)?;
        let found = user_version(&tx).map_err(migrate_error)?;
        check_supported(path, found)?;
        if found > from {
            continue;
        }
        tx.execute_batch(sql).map_err(migrate_error)?;
        tx.pragma_update(None, "user_version", to).map_err(migrate_error)?;
        // Dropping `tx` on any error above rolls the step back.
        tx.commit().map_err(migrate_error)?;
    }
    Ok(())
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn check_supported(path: &Path, found: i64) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew { path: path.to_owned(), found, supported: SCHEMA_VERSION });
    }
    Ok(())
}
