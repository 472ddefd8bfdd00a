//! What administrators set and healthmon must remember across restarts and
//! reboots: each worker's desired state (`worker_state.desired`) and the
//! maintenance silences (`silences`, `health_alerts.silenced`). Which
//! alert a silence covers is decided by [`crate::silences`]; this file only
//! reads and writes the rows.

use std::collections::HashSet;
use std::time::SystemTime;

use rusqlite::{params, Connection};

use super::queries::{self, unix_seconds};
use super::{AlertRow, Recorded, Store, StoreError};
use crate::silences::{self, Silence};

/// `worker_state.desired` for a worker an administrator stopped.
pub const DESIRED_STOPPED: &str = "stopped";
/// `worker_state.desired` otherwise (the default of the column).
pub const DESIRED_RUNNING: &str = "running";

impl Store {
    /// Names of the workers an administrator stopped.
    pub fn stopped_workers(&self) -> Result<HashSet<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT name FROM worker_state WHERE desired = ?1")?;
        let names = stmt.query_map([DESIRED_STOPPED], |row| row.get(0))?;
        Ok(names.collect::<rusqlite::Result<_>>()?)
    }

    /// Records a worker's desired state (`running` or `stopped`), keeping
    /// the budget columns of its row.
    pub fn set_desired(&mut self, name: &str, stopped: bool, now: SystemTime) -> Result<(), StoreError> {
        let desired = if stopped { DESIRED_STOPPED } else { DESIRED_RUNNING };
        self.conn.execute(
            "INSERT INTO worker_state (name, desired, updated_at) VALUES (?1, ?2, datetime(?3, 'unixepoch'))
             ON CONFLICT (name) DO UPDATE SET desired = excluded.desired, updated_at = excluded.updated_at",
            params![name, desired, unix_seconds(now)],
        )?;
        Ok(())
    }

    /// Adds a silence; its id.
    pub fn add_silence(&mut self, component: &str, until: i64, reason: &str) -> Result<i64, StoreError> {
        let id = self.conn.query_row(
            "INSERT INTO silences (component, until, reason) VALUES (?1, ?2, ?3) RETURNING id",
            params![component, until, reason],
            |row| row.get(0),
        )?;
        Ok(id)
    }

    /// Every silence row, expired or not, oldest first.
    pub fn silences(&self) -> Result<Vec<Silence>, StoreError> {
        Ok(all_silences(&self.conn)?)
    }

    /// Silences still in force at `now`, oldest first.
    pub fn active_silences(&self, now: SystemTime) -> Result<Vec<Silence>, StoreError> {
        let now = unix_seconds(now);
        Ok(all_silences(&self.conn)?.into_iter().filter(|s| silences::is_active(s, now)).collect())
    }

    /// Deletes a silence; false when there is none with that id.
    pub fn remove_silence(&mut self, id: i64) -> Result<bool, StoreError> {
        Ok(self.conn.execute("DELETE FROM silences WHERE id = ?1", [id])? > 0)
    }

    /// Deletes the silences that have ended by `now`; how many.
    pub fn expire_silences(&mut self, now: SystemTime) -> Result<usize, StoreError> {
        let ended = silences::expired(&all_silences(&self.conn)?, unix_seconds(now));
        let mut stmt = self.conn.prepare_cached("DELETE FROM silences WHERE id = ?1")?;
        for id in &ended {
            stmt.execute([id])?;
        }
        Ok(ended.len())
    }

    /// Open alerts whose notification a silence held back and that no
    /// silence covers any more: marked not silenced and returned, so the
    /// caller notifies them now.
    pub fn release_silenced(&mut self, now: SystemTime) -> Result<Vec<AlertRow>, StoreError> {
        let now = unix_seconds(now);
        let active = all_silences(&self.conn)?;
        let held: HashSet<i64> = silenced_ids(&self.conn)?;
        let mut released: Vec<AlertRow> = queries::list_alerts(&self.conn, true, i64::MAX)?
            .into_iter()
            .filter(|a| held.contains(&a.id) && !silences::is_silenced(&active, &a.component, now))
            .collect();
        let mut stmt = self.conn.prepare_cached("UPDATE health_alerts SET silenced = 0 WHERE id = ?1")?;
        for alert in &mut released {
            stmt.execute([alert.id])?;
            // The channels skip rows marked silenced: this one is not any more.
            alert.silenced = false;
        }
        Ok(released)
    }

    /// Whether people must not hear about this alert now: a silence covers
    /// it, or its raise was never notified.
    pub fn is_held(&self, alert: &AlertRow, now: SystemTime) -> Result<bool, StoreError> {
        let covered = silences::is_silenced(&all_silences(&self.conn)?, &alert.component, unix_seconds(now));
        let marked =
            self.conn
                .query_row("SELECT silenced <> 0 FROM health_alerts WHERE id = ?1", [alert.id], |row| row.get(0))?;
        Ok(covered || marked)
    }

    /// Unresolved alerts that count toward `State` and exit codes: those no
    /// active silence covers.
    pub fn counted_unresolved(&self, now: SystemTime) -> Result<Vec<AlertRow>, StoreError> {
        let now = unix_seconds(now);
        let active = all_silences(&self.conn)?;
        let open = self.unresolved()?;
        Ok(open.into_iter().filter(|a| !silences::is_silenced(&active, &a.component, now)).collect())
    }
}

/// Inside [`Store::record`]'s transaction: the ids of the alerts just
/// raised, escalated or resolved whose notification is held back, because
/// a silence covers them now or (resolutions) their raise was never
/// notified. Raised ones are marked `silenced = 1`.
pub(super) fn hold(conn: &Connection, recorded: &Recorded, now: i64) -> rusqlite::Result<Vec<i64>> {
    let active = all_silences(conn)?;
    let covered = |a: &AlertRow| silences::is_silenced(&active, &a.component, now);
    let mut held = Vec::new();
    let mut mark = conn.prepare_cached("UPDATE health_alerts SET silenced = 1 WHERE id = ?1")?;
    for alert in recorded.raised.iter().filter(|a| covered(a)) {
        mark.execute([alert.id])?;
        held.push(alert.id);
    }
    held.extend(recorded.escalated.iter().filter(|a| covered(a)).map(|a| a.id));
    let mut marked = conn.prepare_cached("SELECT silenced <> 0 FROM health_alerts WHERE id = ?1")?;
    for alert in &recorded.resolved {
        if covered(alert) || marked.query_row([alert.id], |row| row.get::<_, bool>(0))? {
            held.push(alert.id);
        }
    }
    Ok(held)
}

fn all_silences(conn: &Connection) -> rusqlite::Result<Vec<Silence>> {
    let mut stmt = conn.prepare_cached("SELECT id, component, until, reason FROM silences ORDER BY id")?;
    let rows = stmt.query_map([], |row| {
        Ok(Silence { id: row.get(0)?, component: row.get(1)?, until: row.get(2)?, reason: row.get(3)? })
    })?;
    rows.collect()
}

/// Open alerts whose notification is held back (`silenced = 1`).
fn silenced_ids(conn: &Connection) -> rusqlite::Result<HashSet<i64>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM health_alerts WHERE silenced <> 0 AND resolved = 0")?;
    let ids = stmt.query_map([], |row| row.get(0))?;
    ids.collect()
}
