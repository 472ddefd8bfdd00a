//! SQLite state: `health_metrics` and `health_alerts`, migrations on
//! `PRAGMA user_version` (`schema`), retention. [`Store`] is blocking;
//! async code goes through [`StoreHandle`], which runs every call on the
//! blocking pool.

mod budget;
mod queries;
mod schema;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, TransactionBehavior};

use crate::alerts;
use crate::model::{Finding, Severity};

pub use budget::SavedBudget;
pub use schema::SCHEMA_VERSION;

/// How long a statement waits for another connection's lock (e.g. someone
/// running sqlite3 on the file) before failing with "database is locked".
/// rusqlite happens to default to the same; set explicitly so it stays ours.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to open database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("failed to create directory {path}: {source}")]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("database {path} has schema version {found}, newer than this healthmon understands ({supported}); refusing to touch it")]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    #[error("failed to migrate database {path} to schema version {version}: {source}")]
    Migrate { path: PathBuf, version: i64, source: rusqlite::Error },
    #[error("database query failed: {0}")]
    Query(#[from] rusqlite::Error),
}

/// One `health_alerts` row as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    pub id: i64,
    /// Unix time the alert was raised.
    pub raised_at: i64,
    pub severity: Severity,
    pub component: String,
    /// The problem's kind (the finding's metric_type).
    pub kind: String,
    pub message: String,
    pub resolved: bool,
}

/// One `health_metrics` row as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRow {
    pub unix_time: i64,
    pub component: String,
    pub metric_type: String,
    pub status: String,
    pub action_taken: String,
    pub details: String,
}

/// What recording a batch of findings did to the alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Newly opened alerts.
    pub raised: Vec<AlertRow>,
    /// Open alerts whose severity went up (notified like a new one).
    pub escalated: Vec<AlertRow>,
    /// Alerts closed because their problem is gone.
    pub resolved: Vec<AlertRow>,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating parent dirs and the file), sets WAL and a busy
    /// timeout, and migrates; refuses a newer schema without writing to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        create_parent(path)?;
        schema::refuse_newer(path)?;
        let open_error = |source| StoreError::Open { path: path.to_owned(), source };
        let mut conn = Connection::open(path).map_err(open_error)?;
        configure(&conn, path).map_err(open_error)?;
        schema::migrate(&mut conn, path)?;
        Ok(Store { conn })
    }

    /// Inserts one metric row per finding and applies the alert decisions
    /// (raise / update / escalate / resolve), all in one transaction. With
    /// `alerts = false` (dry run) only the metric rows are written.
    pub fn record(&mut self, findings: &[Finding], now: SystemTime, alerts: bool) -> Result<Recorded, StoreError> {
        let now = queries::unix_seconds(now);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for finding in findings {
            queries::insert_metric(&tx, finding, now)?;
        }
        let mut recorded = Recorded::default();
        if alerts {
            let open = queries::list_alerts(&tx, true, i64::MAX)?;
            for decision in alerts::decide(&open, findings) {
                queries::apply(&tx, decision, now, &mut recorded)?;
            }
        }
        tx.commit()?;
        Ok(recorded)
    }

    /// Marks an alert resolved by hand; `None` when no unresolved alert has that id.
    pub fn resolve_alert(&mut self, id: i64, now: SystemTime) -> Result<Option<AlertRow>, StoreError> {
        Ok(queries::resolve_alert(&self.conn, id, queries::unix_seconds(now))?)
    }

    /// Newest first (by id); `limit` 0 means 100.
    pub fn list_alerts(&self, unresolved_only: bool, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        Ok(queries::list_alerts(&self.conn, unresolved_only, queries::effective_limit(limit))?)
    }

    /// Newest first (by timestamp, then id); `component` None or `""` = all;
    /// `limit` 0 means 100.
    pub fn list_metrics(&self, component: Option<&str>, limit: u32) -> Result<Vec<MetricRow>, StoreError> {
        let component = component.filter(|c| !c.is_empty());
        Ok(queries::list_metrics(&self.conn, component, queries::effective_limit(limit))?)
    }

    /// Unresolved alerts, newest first (for Status and the state).
    pub fn unresolved(&self) -> Result<Vec<AlertRow>, StoreError> {
        self.list_alerts(true, u32::MAX)
    }

    /// A worker's saved restart budget, if one was saved.
    pub fn load_budget(&self, worker: &str) -> Result<Option<SavedBudget>, StoreError> {
        Ok(budget::load(&self.conn, worker)?)
    }

    /// Saves a worker's restart budget (its `desired` state is kept).
    pub fn save_budget(&mut self, worker: &str, saved: &SavedBudget) -> Result<(), StoreError> {
        Ok(budget::save(&self.conn, worker, saved)?)
    }

    /// Deletes metric rows older than `before`; returns how many. Alerts are
    /// kept: there is one row per problem, not per cycle, so they stay small.
    pub fn prune(&mut self, before: SystemTime) -> Result<usize, StoreError> {
        Ok(queries::prune_metrics(&self.conn, queries::unix_seconds(before))?)
    }
}

/// Creates the database's directory (0755, like `StateDirectory=`) if missing.
fn create_parent(path: &Path) -> Result<(), StoreError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_owned(), source }),
        _ => Ok(()),
    }
}

/// Connection settings: the busy timeout first, so switching to WAL waits
/// for a lock instead of failing; NORMAL sync is durable enough in WAL
/// (a power cut may lose the last commits, never corrupt the file).
fn configure(conn: &Connection, path: &Path) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Some filesystems (e.g. network mounts) cannot do WAL; SQLite keeps
        // the rollback journal, which still works, only with more blocking.
        log::warn!("database {}: WAL mode unavailable, using journal_mode={mode}", path.display());
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
}

/// A cheap clone of the store for async code: each call runs on the
/// blocking pool so SQLite never blocks a runtime thread.
#[derive(Clone)]
pub struct StoreHandle {
    inner: Arc<Mutex<Store>>,
}

impl StoreHandle {
    pub fn new(store: Store) -> StoreHandle {
        StoreHandle { inner: Arc::new(Mutex::new(store)) }
    }

    /// Runs `f` with the store on the blocking pool.
    pub async fn call<R, F>(&self, f: F) -> R
    where
        F: FnOnce(&mut Store) -> R + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut store = inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut store)
        })
        .await
        .expect("store task panicked")
    }
}
