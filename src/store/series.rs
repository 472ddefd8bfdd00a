//! Numbers kept in `health_metrics.value` read back as series: the disk
//! forecast's history of used bytes, when a cleanup last freed space, and
//! the latest value of a metric (for the Prometheus export). The disk
//! check reads them through its own read-only connection ([`History`]),
//! so a check never waits on the store's lock.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

/// Unix seconds of a row's timestamp, as every query here reads it.
const UNIX: &str = "CAST(strftime('%s', timestamp) AS INTEGER)";

/// `(unix time, value)` of the rows of one component and metric since
/// `since` (unix seconds), oldest first; rows without a value are left out.
pub fn values_since(conn: &Connection, component: &str, metric: &str, since: i64) -> rusqlite::Result<Vec<(i64, i64)>> {
    let sql = format!(
        "SELECT {UNIX}, CAST(value AS INTEGER) FROM health_metrics
         WHERE component = ?1 AND metric_type = ?2 AND value IS NOT NULL AND timestamp >= datetime(?3, 'unixepoch')
         ORDER BY timestamp, id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![component, metric, since], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// Unix time of the newest row of one component, metric and status since `since`.
pub fn last_since(
    conn: &Connection,
    component: &str,
    metric: &str,
    status: &str,
    since: i64,
) -> rusqlite::Result<Option<i64>> {
    let sql = format!(
        "SELECT max({UNIX}) FROM health_metrics
         WHERE component = ?1 AND metric_type = ?2 AND status = ?3 AND timestamp >= datetime(?4, 'unixepoch')"
    );
    conn.query_row(&sql, params![component, metric, status, since], |row| row.get(0))
}

/// The value of the newest row of one component and metric (`None` when
/// there is no row, or the newest has no value).
pub fn latest_value(conn: &Connection, component: &str, metric: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT CAST(value AS INTEGER) FROM health_metrics WHERE component = ?1 AND metric_type = ?2
         ORDER BY timestamp DESC, id DESC LIMIT 1",
        params![component, metric],
        |row| row.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// A read-only view of the state database for a check. A database that
/// does not exist yet simply has no history.
#[derive(Debug, Clone)]
pub struct History {
    path: PathBuf,
}

impl History {
    pub fn new(path: &Path) -> History {
        History { path: path.to_path_buf() }
    }

    /// Runs `f` on a fresh read-only connection (never creating the file).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(1))?;
        f(&conn)
    }
}
