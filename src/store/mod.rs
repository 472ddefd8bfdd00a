//! SQLite state: `health_metrics` and `health_alerts`, migrations on
//! `PRAGMA user_version`, retention. [`Store`] is blocking; async code goes
//! through [`StoreHandle`], which runs every call on the blocking pool.
//! PLACEHOLDER bodies: the API is fixed, the implementation comes next.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::model::{Finding, Severity};

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
    conn: rusqlite::Connection,
}

impl Store {
    /// Opens (creating parent dirs and the file), sets WAL and a busy
    /// timeout, and migrates; refuses a newer schema.
    pub fn open(_path: &Path) -> Result<Store, StoreError> {
        todo!("store")
    }

    /// Inserts one metric row per finding and applies the alert decisions
    /// (raise / update / escalate / resolve), all in one transaction. With
    /// `alerts = false` (dry run) only the metric rows are written.
    pub fn record(&mut self, _findings: &[Finding], _now: SystemTime, _alerts: bool) -> Result<Recorded, StoreError> {
        let _ = &self.conn;
        todo!("store")
    }

    /// Marks an alert resolved by hand; false when no unresolved alert has that id.
    pub fn resolve_alert(&mut self, _id: i64, _now: SystemTime) -> Result<Option<AlertRow>, StoreError> {
        todo!("store")
    }

    /// Newest first; `limit` 0 means 100.
    pub fn list_alerts(&self, _unresolved_only: bool, _limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        todo!("store")
    }

    /// Newest first; `component` None = all; `limit` 0 means 100.
    pub fn list_metrics(&self, _component: Option<&str>, _limit: u32) -> Result<Vec<MetricRow>, StoreError> {
        todo!("store")
    }

    /// Unresolved alerts, newest first (for Status and the state).
    pub fn unresolved(&self) -> Result<Vec<AlertRow>, StoreError> {
        self.list_alerts(true, u32::MAX)
    }

    /// Deletes metric rows older than `before`; returns how many.
    pub fn prune(&mut self, _before: SystemTime) -> Result<usize, StoreError> {
        todo!("store")
    }
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
