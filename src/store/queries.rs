//! The SQL behind the store's API and the mapping of rows to API types.
//! Timestamps are written from the caller's clock (`datetime(?, 'unixepoch')`,
//! never SQLite's `now`) so tests can inject time, and read back as unix time.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{AlertRow, MetricRow, Recorded};
use crate::alerts::Decision;
use crate::model::{Finding, Problem, Severity};

/// What `list_*` return for `limit` 0.
const DEFAULT_LIMIT: i64 = 100;
/// The most rows one `list_*` call returns, whatever the caller asks: a
/// reply stays small and a reader cannot scan the whole 30-day table.
pub const MAX_LIMIT: u32 = 1_000;

/// The alert columns [`alert_from_row`] reads, in its order. A timestamp
/// SQLite cannot parse (a foreign legacy row) reads as unix time 0.
const ALERT_COLUMNS: &str = "id, COALESCE(CAST(strftime('%s', timestamp) AS INTEGER), 0), \
                             severity, component, kind, message, resolved, silenced";

/// The metric columns [`metric_from_row`] reads, in its order.
const METRIC_COLUMNS: &str = "COALESCE(CAST(strftime('%s', timestamp) AS INTEGER), 0), \
                              component, metric_type, status, COALESCE(action_taken, ''), COALESCE(details, '')";

/// Seconds since the epoch; negative before it (a badly set clock must not panic).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `limit` as the API defines it: 0 means [`DEFAULT_LIMIT`], more than
/// [`MAX_LIMIT`] means [`MAX_LIMIT`].
pub fn effective_limit(limit: u32) -> i64 {
    if limit == 0 {
        DEFAULT_LIMIT
    } else {
        i64::from(limit.min(MAX_LIMIT))
    }
}

fn alert_from_row(row: &Row<'_>) -> rusqlite::Result<AlertRow> {
    let severity: String = row.get(2)?;
    let resolved: i64 = row.get(6)?;
    let silenced: i64 = row.get(7)?;
    Ok(AlertRow {
        id: row.get(0)?,
        raised_at: row.get(1)?,
        severity: parse_severity(&severity),
        component: row.get(3)?,
        kind: row.get(4)?,
        message: row.get(5)?,
        resolved: resolved != 0,
        silenced: silenced != 0,
    })
}

/// The contract's spellings, in any case; anything else (a foreign legacy
/// row) shows as WARNING rather than making the whole listing fail.
fn parse_severity(s: &str) -> Severity {
    Severity::parse(&s.trim().to_ascii_uppercase()).unwrap_or(Severity::Warning)
}

fn metric_from_row(row: &Row<'_>) -> rusqlite::Result<MetricRow> {
    Ok(MetricRow {
        unix_time: row.get(0)?,
        component: row.get(1)?,
        metric_type: row.get(2)?,
        status: row.get(3)?,
        action_taken: row.get(4)?,
        details: row.get(5)?,
    })
}

pub fn insert_metric(conn: &Connection, finding: &Finding, now: i64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO health_metrics (timestamp, component, metric_type, status, action_taken, details, value)
         VALUES (datetime(?1, 'unixepoch'), ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let action = finding.action.as_ref().map(|a| a.taken.as_str());
    stmt.execute(params![
        now,
        finding.component,
        finding.metric_type,
        finding.status.as_str(),
        action,
        finding.details,
        finding.value
    ])?;
    Ok(())
}

/// Alerts (all, or only unresolved ones), newest first.
pub fn list_alerts(conn: &Connection, unresolved_only: bool, limit: i64) -> rusqlite::Result<Vec<AlertRow>> {
    let sql =
        format!("SELECT {ALERT_COLUMNS} FROM health_alerts WHERE (?1 = 0 OR resolved = 0) ORDER BY id DESC LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![unresolved_only, limit], alert_from_row)?;
    rows.collect()
}

/// Newest first by timestamp (then id); two statements so each can use its index.
pub fn list_metrics(conn: &Connection, component: Option<&str>, limit: i64) -> rusqlite::Result<Vec<MetricRow>> {
    let order = "ORDER BY timestamp DESC, id DESC";
    match component {
        Some(component) => {
            let sql = format!("SELECT {METRIC_COLUMNS} FROM health_metrics WHERE component = ?1 {order} LIMIT ?2");
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![component, limit], metric_from_row)?;
            rows.collect()
        }
        None => {
            let sql = format!("SELECT {METRIC_COLUMNS} FROM health_metrics {order} LIMIT ?1");
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![limit], metric_from_row)?;
            rows.collect()
        }
    }
}

/// Resolves one alert if it is still open; the row as it now is.
pub fn resolve_alert(conn: &Connection, id: i64, now: i64) -> rusqlite::Result<Option<AlertRow>> {
    let sql = format!(
        "UPDATE health_alerts SET resolved = 1, resolved_at = datetime(?1, 'unixepoch')
         WHERE id = ?2 AND resolved = 0 RETURNING {ALERT_COLUMNS}"
    );
    conn.query_row(&sql, params![now, id], alert_from_row).optional()
}

/// Deletes metric rows strictly older than `before`; alerts are kept.
pub fn prune_metrics(conn: &Connection, before: i64) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM health_metrics WHERE timestamp < datetime(?1, 'unixepoch')", params![before])
}

/// Applies one alert decision and notes it in `recorded`.
pub fn apply(conn: &Connection, decision: Decision, now: i64, recorded: &mut Recorded) -> rusqlite::Result<()> {
    match decision {
        Decision::Raise { component, kind, problem } => {
            let alert = raise(conn, component, kind, problem, now)?;
            recorded.raised.push(alert);
        }
        Decision::Update { alert, escalated } => {
            conn.prepare_cached(
                "UPDATE health_alerts SET severity = ?2, message = ?3,
                        last_seen = datetime(?1, 'unixepoch'), count = count + 1
                 WHERE id = ?4 AND resolved = 0",
            )?
            .execute(params![now, alert.severity.as_str(), alert.message, alert.id])?;
            if escalated {
                recorded.escalated.push(alert);
            }
        }
        Decision::Resolve { alert } => {
            conn.prepare_cached(
                "UPDATE health_alerts SET resolved = 1, resolved_at = datetime(?1, 'unixepoch')
                 WHERE id = ?2 AND resolved = 0",
            )?
            .execute(params![now, alert.id])?;
            recorded.resolved.push(alert);
        }
        Decision::AutoRecovered { component, kind, message } => {
            let problem = Problem { severity: Severity::Info, message };
            let alert = raise(conn, component, kind, problem, now)?;
            conn.prepare_cached(
                "UPDATE health_alerts SET resolved = 1, resolved_at = datetime(?1, 'unixepoch') WHERE id = ?2",
            )?
            .execute(params![now, alert.id])?;
            recorded.auto_recovered.push(AlertRow { resolved: true, ..alert });
        }
    }
    Ok(())
}

fn raise(conn: &Connection, component: String, kind: String, problem: Problem, now: i64) -> rusqlite::Result<AlertRow> {
    let id = conn
        .prepare_cached(
            "INSERT INTO health_alerts (timestamp, severity, component, kind, message, resolved, last_seen, count)
             VALUES (datetime(?1, 'unixepoch'), ?2, ?3, ?4, ?5, 0, datetime(?1, 'unixepoch'), 1) RETURNING id",
        )?
        .query_row(params![now, problem.severity.as_str(), component, kind, problem.message], |row| row.get(0))?;
    Ok(opened(id, now, component, kind, problem))
}

/// The row of an alert just raised with `id` at `now`.
pub fn opened(id: i64, now: i64, component: String, kind: String, problem: Problem) -> AlertRow {
    AlertRow {
        id,
        raised_at: now,
        severity: problem.severity,
        component,
        kind,
        message: problem.message,
        resolved: false,
        silenced: false,
    }
}
