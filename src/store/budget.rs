//! The `worker_state` rows of the restart budget (`restart_times`,
//! `backoff_ms`, `given_up_at`), so that a restart of healthmon neither
//! resets a worker's budget nor its backoff. The `desired` column is not
//! touched here.

use rusqlite::{params, Connection, OptionalExtension};

/// One worker's saved budget.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SavedBudget {
    /// Restarts inside the window, unix milliseconds, oldest first.
    pub restart_times: Vec<i64>,
    /// The delay the backoff has reached, in milliseconds.
    pub backoff_ms: i64,
    /// Unix seconds when healthmon gave up, if it did.
    pub given_up_at: Option<i64>,
}

pub fn load(conn: &Connection, name: &str) -> rusqlite::Result<Option<SavedBudget>> {
    conn.query_row(
        "SELECT restart_times, backoff_ms, given_up_at FROM worker_state WHERE name = ?1",
        params![name],
        |row| {
            let times: String = row.get(0)?;
            Ok(SavedBudget {
                // A row another version wrote badly counts as no restarts, not as an error.
                restart_times: serde_json::from_str(&times).unwrap_or_default(),
                backoff_ms: row.get(1)?,
                given_up_at: row.get(2)?,
            })
        },
    )
    .optional()
}

pub fn save(conn: &Connection, name: &str, budget: &SavedBudget) -> rusqlite::Result<()> {
    let times = serde_json::to_string(&budget.restart_times).unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO worker_state (name, restart_times, backoff_ms, given_up_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, datetime('now'))
         ON CONFLICT(name) DO UPDATE SET restart_times = excluded.restart_times,
             backoff_ms = excluded.backoff_ms, given_up_at = excluded.given_up_at,
             updated_at = excluded.updated_at",
    )?
    .execute(params![name, times, budget.backoff_ms, budget.given_up_at])?;
    Ok(())
}
