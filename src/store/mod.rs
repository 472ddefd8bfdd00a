//! SQLite state: `health_metrics` and `health_alerts`, migrations on
//! `PRAGMA user_version` (`schema`), retention. [`Store`] is blocking;
//! async code goes through [`StoreHandle`], which runs every call on the
//! blocking pool. When writes fail, `held` keeps alerting going from
//! memory until the database is writable again.

mod budget;
mod control;
mod held;
mod queries;
mod reader;
mod schema;
pub mod series;

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, TransactionBehavior};

use crate::alerts;
use crate::flap::Damper;
use crate::model::{Finding, Severity};

pub use budget::SavedBudget;
pub use control::{DESIRED_RUNNING, DESIRED_STOPPED};
use held::Held;
pub use held::{STATE_COMPONENT, WRITE_KIND};
pub use queries::unix_seconds;
pub use queries::MAX_LIMIT;
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
    #[error("database {path} is damaged: {detail}")]
    Damaged { path: PathBuf, detail: String },
    #[error("database query failed: {0}")]
    Query(#[from] rusqlite::Error),
}

impl StoreError {
    /// Whether the file itself is unusable (corrupt, not a database, from a
    /// newer healthmon), as opposed to a passing condition (locked, disk
    /// full, read-only) that moving it aside would not cure.
    pub fn is_damage(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        let code = match self {
            StoreError::TooNew { .. } | StoreError::Damaged { .. } => return true,
            StoreError::Open { source, .. } | StoreError::Migrate { source, .. } | StoreError::Query(source) => {
                source.sqlite_error_code()
            }
            StoreError::CreateDir { .. } => None,
        };
        matches!(code, Some(DatabaseCorrupt | NotADatabase))
    }
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
    /// Raised while a maintenance silence matched its component (the
    /// `silenced` column): recorded and journaled, never notified.
    pub silenced: bool,
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
    /// Ids among the above whose notification a silence holds back.
    pub held: Vec<i64>,
    /// INFO alerts recorded already resolved: problems repaired in the batch.
    pub auto_recovered: Vec<AlertRow>,
}

pub struct Store {
    conn: Connection,
    /// The file; `None` for the in-memory stand-in.
    path: Option<PathBuf>,
    /// Set while writes fail: what alerting sees and what is still to write.
    held: Option<Held>,
    /// Why the store is only in memory.
    memory_only: Option<String>,
}

impl Store {
    /// Opens (creating parent dirs and the file), sets WAL and a busy
    /// timeout, and migrates; refuses a newer schema without writing to it.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = open_connection(path)?;
        Ok(Store { conn, path: Some(path.to_owned()), held: None, memory_only: None })
    }

    /// A database in memory, with the schema, for a daemon that could
    /// neither open nor create its file (`reason` says why): supervision
    /// and alerting work, nothing outlives the process.
    pub fn in_memory(reason: String) -> Result<Store, StoreError> {
        let memory = Path::new(":memory:");
        let mut conn =
            Connection::open_in_memory().map_err(|source| StoreError::Open { path: memory.into(), source })?;
        schema::migrate(&mut conn, memory)?;
        Ok(Store { conn, path: None, held: None, memory_only: Some(reason) })
    }

    /// Checks the whole file's structure (`PRAGMA quick_check`): a
    /// truncated or overwritten database can open fine and fail later.
    pub fn verify(self) -> Result<Store, StoreError> {
        let path = self.path.clone().unwrap_or_default();
        let first: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))
            .map_err(|source| StoreError::Open { path: path.clone(), source })?;
        if first != "ok" {
            return Err(StoreError::Damaged { path, detail: first });
        }
        Ok(self)
    }

    /// What is wrong with the state database, if anything: in memory
    /// only, or writes failing (then alerts are held).
    pub fn problem(&self) -> Option<String> {
        if let Some(reason) = &self.memory_only {
            return Some(reason.clone());
        }
        self.held.as_ref().map(|held| held.problem(&self.display_path()))
    }

    /// Inserts one metric row per finding and applies the alert decisions
    /// (raise / update / escalate / resolve), all in one transaction. With
    /// `alerts = false` (dry run) only the metric rows are written.
    ///
    /// When the write fails, the batch is decided against the alerts held
    /// in memory instead (a `state` alert says why) and the result returned
    /// as if written; every later call tries the database again, on a fresh
    /// connection, and the first write that works replays what was held.
    pub fn record(&mut self, findings: &[Finding], now: SystemTime, alerts: bool) -> Result<Recorded, StoreError> {
        self.record_with(findings, now, alerts, None)
    }

    /// Like [`Store::record`] with alerts, the decisions passed through
    /// flap damping first.
    pub fn record_damped(
        &mut self,
        findings: &[Finding],
        now: SystemTime,
        damper: &mut Damper,
    ) -> Result<Recorded, StoreError> {
        self.record_with(findings, now, true, Some(damper))
    }

    fn record_with(
        &mut self,
        findings: &[Finding],
        now: SystemTime,
        alerts: bool,
        damper: Option<&mut Damper>,
    ) -> Result<Recorded, StoreError> {
        let now = queries::unix_seconds(now);
        if self.held.is_some() {
            self.reconnect();
        }
        match self.write(findings, now, alerts, damper) {
            Ok(recorded) => {
                if self.held.take().is_some() {
                    log::info!(
                        "the state database {} is writable again; held alerts and metrics written",
                        self.display_path()
                    );
                }
                Ok(recorded)
            }
            Err(err) => {
                let path = self.display_path();
                let error = err.to_string();
                let held = match &mut self.held {
                    Some(held) => {
                        held.set_error(error);
                        held
                    }
                    None => {
                        log::error!("cannot write the state database {path}: {error}; holding alerts in memory");
                        self.held.insert(Held::start(&self.conn, error))
                    }
                };
                Ok(held.record(findings, now, alerts, &path))
            }
        }
    }

    /// One transaction: what was held (if anything), then this batch.
    fn write(
        &mut self,
        findings: &[Finding],
        now: i64,
        alerts: bool,
        damper: Option<&mut Damper>,
    ) -> Result<Recorded, StoreError> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut batch = findings.to_vec();
        if let Some(held) = &self.held {
            held.replay(&tx, alerts)?;
            if alerts {
                batch.push(held::write_recovered());
            }
        }
        for finding in &batch {
            queries::insert_metric(&tx, finding, now)?;
        }
        let mut recorded = Recorded::default();
        if alerts {
            let open = queries::list_alerts(&tx, true, i64::MAX)?;
            let decisions = alerts::decide(&open, &batch);
            let decisions = match damper {
                Some(damper) => damper.damp(decisions, findings, now),
                None => decisions,
            };
            for decision in decisions {
                queries::apply(&tx, decision, now, &mut recorded)?;
            }
            recorded.held = control::hold(&tx, &recorded, now)?;
        }
        tx.commit()?;
        Ok(recorded)
    }

    /// A fresh connection for the next try: one opened before a
    /// filesystem went read-only keeps failing after the admin mounted it
    /// again. On failure the old one stays and the error is held.
    fn reconnect(&mut self) {
        let Some(path) = &self.path else { return };
        match open_connection(path) {
            Ok(conn) => self.conn = conn,
            Err(err) => {
                if let Some(held) = &mut self.held {
                    held.set_error(err.to_string());
                }
            }
        }
    }

    fn display_path(&self) -> String {
        self.path.as_ref().map_or_else(|| ":memory:".to_string(), |p| p.display().to_string())
    }

    /// Marks an alert resolved by hand; `None` when no unresolved alert has that id.
    pub fn resolve_alert(&mut self, id: i64, now: SystemTime) -> Result<Option<AlertRow>, StoreError> {
        Ok(queries::resolve_alert(&self.conn, id, queries::unix_seconds(now))?)
    }

    /// Newest first (by id); `limit` 0 means 100, at most [`MAX_LIMIT`].
    pub fn list_alerts(&self, unresolved_only: bool, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        Ok(queries::list_alerts(&self.conn, unresolved_only, queries::effective_limit(limit))?)
    }

    /// Newest first (by timestamp, then id); `component` None or `""` = all;
    /// `limit` 0 means 100, at most [`MAX_LIMIT`].
    pub fn list_metrics(&self, component: Option<&str>, limit: u32) -> Result<Vec<MetricRow>, StoreError> {
        let component = component.filter(|c| !c.is_empty());
        Ok(queries::list_metrics(&self.conn, component, queries::effective_limit(limit))?)
    }

    /// Unresolved alerts, newest first (for Status and the state); while
    /// writes fail, the ones held in memory.
    pub fn unresolved(&self) -> Result<Vec<AlertRow>, StoreError> {
        if let Some(held) = &self.held {
            return Ok(held.open());
        }
        Ok(queries::list_alerts(&self.conn, true, i64::MAX)?)
    }

    /// The newest value of `metric` for each component (`None` where it has none).
    pub fn latest_values(&self, components: &[String], metric: &str) -> Result<Vec<(String, Option<i64>)>, StoreError> {
        let latest = |c: &String| series::latest_value(&self.conn, c, metric).map(|v| (c.clone(), v));
        Ok(components.iter().map(latest).collect::<rusqlite::Result<_>>()?)
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

/// Opens, configures and migrates one connection to `path`.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    create_parent(path)?;
    schema::refuse_newer(path)?;
    let open_error = |source| StoreError::Open { path: path.to_owned(), source };
    let mut conn = Connection::open(path).map_err(open_error)?;
    configure(&conn, path).map_err(open_error)?;
    schema::migrate(&mut conn, path)?;
    Ok(conn)
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
/// blocking pool so SQLite never blocks a runtime thread. The list methods
/// for D-Bus callers read through a connection of their own (`reader`).
#[derive(Clone)]
pub struct StoreHandle {
    inner: Arc<Mutex<Store>>,
    /// `None` for an in-memory store, which only its own connection sees.
    reader: Option<reader::Reader>,
}

impl StoreHandle {
    pub fn new(store: Store) -> StoreHandle {
        let reader = store.path.clone().map(reader::Reader::new);
        StoreHandle { inner: Arc::new(Mutex::new(store)), reader }
    }

    /// `ListAlerts()`: newest first, `limit` 0 = 100, at most [`MAX_LIMIT`].
    pub async fn list_alerts(&self, unresolved_only: bool, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        match &self.reader {
            Some(reader) => reader.list_alerts(unresolved_only, limit).await,
            None => self.call(move |s| s.list_alerts(unresolved_only, limit)).await,
        }
    }

    /// `ListMetrics()`: newest first, `component` `""` = all, limits as above.
    pub async fn list_metrics(&self, component: String, limit: u32) -> Result<Vec<MetricRow>, StoreError> {
        match &self.reader {
            Some(reader) => reader.list_metrics(component, limit).await,
            None => self.call(move |s| s.list_metrics(Some(&component), limit)).await,
        }
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
