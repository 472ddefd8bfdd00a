//! SQLite lock management: is each configured database writable, since when
//! has it not been, who holds it; stop stale holders when allowed; fold a
//! leftover WAL (or roll back a hot journal) once nobody has the database
//! open. Never deletes a -wal or -journal, never creates a database.
//!
//! A lock is stale when writes have been blocked for `locked_after` with
//! no commit in between (the database, -wal and -journal sizes and mtimes
//! did not move): a busy writer that keeps committing is never stale.

mod recovery;
mod shm;
mod sqlite;
mod stop;
mod wal;

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::checks::holders::{self, sidecar, DbFiles, Openers};
use crate::checks::{Check, CheckContext, CheckError};
use crate::config::DatabaseSettings;
use crate::human;
use crate::model::{ActionKind, Finding, Severity, Status};
use crate::process::ProcessInfo;

use sqlite::Probe;
use stop::{describe_all, short, stop_holders, StopReport};

const DB_LOCK: &str = "db_lock";
const WAL_RECOVERY: &str = "wal_recovery";
const JOURNAL_RECOVERY: &str = "journal_recovery";
const DB_INTEGRITY: &str = "db_integrity";
const WAL_SIZE: &str = "wal_size";
/// The check's name (its report section).
pub const NAME: &str = "locks";
/// The alert kinds this check reports.
pub const KINDS: &[&str] = &[DB_LOCK, WAL_RECOVERY, JOURNAL_RECOVERY, DB_INTEGRITY, WAL_SIZE];

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("failed to scan /proc for users of {path}: {source}")]
    Scan { path: PathBuf, source: io::Error },
    #[error("failed to open database {path}: {source}")]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("write probe on {path} failed: {source}")]
    Probe { path: PathBuf, source: rusqlite::Error },
    #[error("WAL checkpoint of {path} failed: {source}")]
    Checkpoint { path: PathBuf, source: rusqlite::Error },
    #[error("failed to read {path}: {source}")]
    Read { path: PathBuf, source: rusqlite::Error },
    #[error("quick_check of {path} could not run: {source}")]
    QuickCheck { path: PathBuf, source: rusqlite::Error },
}

impl LockError {
    /// SQLite found the database file damaged (not merely busy or unreadable).
    fn is_corruption(&self) -> bool {
        let source = match self {
            LockError::Open { source, .. }
            | LockError::Probe { source, .. }
            | LockError::Checkpoint { source, .. }
            | LockError::Read { source, .. }
            | LockError::QuickCheck { source, .. } => source,
            LockError::Io { .. } | LockError::Scan { .. } => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        )
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LockError + '_ {
    move |source| LockError::Io { path: path.to_path_buf(), source }
}

pub struct LocksCheck {
    databases: Vec<DatabaseSettings>,
    memory: LocksMemory,
    /// Until the first run: the memory still needs pruning (see `prune`).
    fresh: AtomicBool,
}

/// What the check remembers per database (configured path) between
/// cycles; the engine hands it to the check a reload builds.
#[derive(Clone, Default)]
pub struct LocksMemory(Arc<Mutex<HashMap<PathBuf, DbState>>>);

#[derive(Default)]
struct DbState {
    blocked: Option<Blocked>,
    /// Set by a failed quick_check: from then on the database is only
    /// observed, never changed, until healthmon restarts or reloads (the
    /// way an administrator retries once the file is repaired).
    integrity_failure: Option<String>,
    /// Recovery metrics that carried a problem last run (to resolve later).
    raised: BTreeSet<&'static str>,
    /// Whether a run has reported on this database yet.
    seen: bool,
    /// Since when each reader (pid) has pinned a WAL above `wal_max_size`.
    pinned: HashMap<i32, Instant>,
}

struct Blocked {
    since: Instant,
    progress: Progress,
}

/// (size, mtime s, mtime ns) of the database, -wal and -journal: any change
/// means something committed (or is writing) since the last look.
#[derive(Debug, PartialEq, Eq)]
struct Progress(Vec<Option<(u64, i64, i64)>>);

impl Progress {
    fn of(db: &Path) -> Progress {
        let look = |p: &Path| fs::metadata(p).ok().map(|m| (m.len(), m.mtime(), m.mtime_nsec()));
        Progress(vec![look(db), look(&sidecar(db, "-wal")), look(&sidecar(db, "-journal"))])
    }
}

impl LocksCheck {
    pub fn new(databases: Vec<DatabaseSettings>) -> LocksCheck {
        LocksCheck::remembering(databases, LocksMemory::default())
    }

    /// A check that goes on from what an earlier one remembered of the
    /// databases still configured (since when a lock is held), so a reload
    /// does not restart the stale clock. An integrity freeze ends.
    pub fn remembering(databases: Vec<DatabaseSettings>, memory: LocksMemory) -> LocksCheck {
        // The memory is not touched here: a reload builds checks on the
        // loop's thread, and an abandoned run may hold the lock for ever.
        // The first run of this check prunes it instead.
        LocksCheck { databases, memory, fresh: AtomicBool::new(true) }
    }

    /// Forgets databases no longer configured and ends an integrity
    /// freeze, once per check (i.e. per reload), under the run's lock.
    fn prune(&self, state: &mut HashMap<PathBuf, DbState>) {
        if self.fresh.swap(false, Ordering::AcqRel) {
            state.retain(|path, _| self.databases.iter().any(|db| &db.path == path));
            for db in state.values_mut() {
                db.integrity_failure = None;
            }
        }
    }
}

impl Check for LocksCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &CheckContext) -> Result<Vec<Finding>, CheckError> {
        // Held for the whole run, so a run that outlived its timeout
        // finishes before the next one starts.
        let mut state = self.memory.0.lock().unwrap_or_else(PoisonError::into_inner);
        self.prune(&mut state);
        let mut findings = Vec::new();
        for db in &self.databases {
            let run = DbRun { db, component: format!("sqlite:{}", db.path.display()), dry_run: ctx.dry_run };
            findings.extend(run.check(state.entry(db.path.clone()).or_default()));
        }
        Ok(findings)
    }
}

/// What the lock probe saw.
enum Access {
    Writable,
    Blocked(Vec<ProcessInfo>),
}

struct Observation {
    access: Access,
    openers: Openers,
    files: DbFiles,
}

/// Is it writable, and if not, who holds it. The probe is skipped when no
/// other process has any of the files open: then nobody can hold a lock
/// (locks live on open files), and the probe would be our own first open.
fn observe(path: &Path) -> Result<Observation, LockError> {
    let files = DbFiles::identify(path).map_err(io_error(path))?;
    let scan_error = |source| LockError::Scan { path: path.to_path_buf(), source };
    let openers = holders::scan_openers(&files).map_err(scan_error)?;
    if openers.complete && openers.pids.is_empty() {
        return Ok(Observation { access: Access::Writable, openers, files });
    }
    if sqlite::probe(path)? == Probe::Writable {
        return Ok(Observation { access: Access::Writable, openers, files });
    }
    // The probe may have created -wal/-shm: identify again for matching.
    let files = DbFiles::identify(path).map_err(io_error(path))?;
    let pids = holders::write_holders(&files).map_err(scan_error)?;
    let infos = pids.into_iter().filter_map(ProcessInfo::read).collect();
    Ok(Observation { access: Access::Blocked(infos), openers, files })
}

/// One database in one run.
struct DbRun<'a> {
    db: &'a DatabaseSettings,
    component: String,
    dry_run: bool,
}

impl DbRun<'_> {
    fn check(&self, st: &mut DbState) -> Vec<Finding> {
        let path = match fs::canonicalize(&self.db.path) {
            Ok(path) => path,
            Err(e) => {
                st.blocked = None;
                return vec![self.missing(e)];
            }
        };
        let (lock, openers) = match self.lock_finding(&path, st) {
            Ok(pair) => pair,
            Err(e) => return vec![self.failed(DB_LOCK, Severity::Warning, &e)],
        };
        let mut findings = vec![lock, self.wal_finding(&path, st)];
        if let Some(failure) = &st.integrity_failure {
            findings.push(self.integrity_problem(failure));
            return findings;
        }
        let recovered = if openers.complete && openers.pids.is_empty() { self.recover(&path, st) } else { Vec::new() };
        findings.extend(self.with_resolutions(recovered, st));
        findings
    }

    fn missing(&self, e: io::Error) -> Finding {
        let message = if e.kind() == io::ErrorKind::NotFound {
            format!("database {} does not exist (healthmon never creates it)", self.db.path.display())
        } else {
            format!("database {} is not accessible: {e}", self.db.path.display())
        };
        Finding::problem(&self.component, DB_LOCK, Status::Error, Severity::Warning, &message, &message)
    }

    fn failed(&self, metric: &str, severity: Severity, e: &LockError) -> Finding {
        let message = e.to_string();
        Finding::problem(&self.component, metric, Status::Error, severity, &message, &message)
    }

    /// The db_lock finding, after stopping stale holders when that is allowed.
    fn lock_finding(&self, path: &Path, st: &mut DbState) -> Result<(Finding, Openers), LockError> {
        let seen = observe(path)?;
        let holders = match seen.access {
            Access::Writable => {
                st.blocked = None;
                return Ok((self.writable(&seen.openers), seen.openers));
            }
            Access::Blocked(holders) => holders,
        };
        let progress = Progress::of(path);
        let since = match &st.blocked {
            Some(b) if b.progress == progress => b.since,
            _ => Instant::now(),
        };
        st.blocked = Some(Blocked { since, progress });
        let held = format!("write-locked for {} by {}", human::duration(since.elapsed()), describe_all(&holders));
        let stale_after = format!("stale after {}", human::duration(self.db.locked_after));
        if since.elapsed() < self.db.locked_after {
            let details = format!("busy: {held} ({stale_after})");
            return Ok((Finding::healthy(&self.component, DB_LOCK, details), seen.openers));
        }
        let message = format!("{} {held} ({stale_after})", self.db.path.display());
        let stale =
            Finding::problem(&self.component, DB_LOCK, Status::Unhealthy, Severity::Warning, &message, &message);
        if !self.db.kill_holders || holders.is_empty() || st.integrity_failure.is_some() {
            return Ok((stale, seen.openers));
        }
        if self.dry_run {
            let names = holders.iter().map(|h| format!("holder {}", short(h))).collect::<Vec<_>>();
            return Ok((
                stale.with_action(ActionKind::Other, format!("would stop {}", names.join(", "))),
                seen.openers,
            ));
        }
        let report = stop_holders(&seen.files, &holders);
        let after = match observe(path) {
            Ok(after) => after,
            // The signals went out: record them even though the re-check failed.
            Err(e) => {
                return Ok((
                    report.record(self.failed(DB_LOCK, Severity::Critical, &e), ActionKind::Other),
                    Openers::default(),
                ))
            }
        };
        let finding = self.after_stopping(&message, &report, &after.access);
        if matches!(after.access, Access::Writable) {
            st.blocked = None;
        }
        Ok((finding, after.openers))
    }

    fn writable(&self, openers: &Openers) -> Finding {
        let details = match openers.pids.len() {
            0 if openers.complete => "writable; no other process has it open".to_string(),
            0 => "writable".to_string(),
            n => format!("writable; open in {n} other process(es)"),
        };
        Finding::healthy(&self.component, DB_LOCK, details)
    }

    fn after_stopping(&self, stale: &str, report: &StopReport, access: &Access) -> Finding {
        let details = format!("{stale}; {}", report.summary());
        match access {
            Access::Writable if report.signalled() => {
                let cleared = self.row(DB_LOCK, Status::Recovered, format!("{details}; writable again"));
                report.record(cleared, ActionKind::LockCleared)
            }
            Access::Writable => Finding::healthy(&self.component, DB_LOCK, format!("{details}; writable again")),
            Access::Blocked(left) => {
                let details = format!("{details}; still write-locked by {}", describe_all(left));
                let message = format!(
                    "{} still write-locked after stopping its holders: {}",
                    self.db.path.display(),
                    report.summary()
                );
                let stuck =
                    Finding::problem(&self.component, DB_LOCK, Status::Unhealthy, Severity::Critical, message, details);
                report.record(stuck, ActionKind::Other)
            }
        }
    }

    /// A finding without a problem (resolves any open alert) in any status.
    fn row(&self, metric: &str, status: Status, details: impl Into<String>) -> Finding {
        Finding { status, ..Finding::healthy(&self.component, metric, details) }
    }

    /// Adds a healthy finding for each recovery metric that had a problem
    /// last run (or on the first run, for alerts left from before a restart).
    fn with_resolutions(&self, mut findings: Vec<Finding>, st: &mut DbState) -> Vec<Finding> {
        for metric in [WAL_RECOVERY, JOURNAL_RECOVERY] {
            let reported = findings.iter().any(|f| f.metric_type == metric);
            if !reported && (!st.seen || st.raised.contains(metric)) {
                findings.push(Finding::healthy(&self.component, metric, "no leftover to recover"));
            }
        }
        st.raised =
            findings.iter().filter(|f| f.problem.is_some()).filter_map(|f| recovery_metric(&f.metric_type)).collect();
        st.seen = true;
        findings
    }
}

fn recovery_metric(metric: &str) -> Option<&'static str> {
    [WAL_RECOVERY, JOURNAL_RECOVERY].into_iter().find(|m| *m == metric)
}
