//! Recovery of a database nobody has open: fold a leftover -wal into it
//! with a TRUNCATE checkpoint, or let SQLite roll back a hot journal by
//! reading it; then quick_check. Never deletes a -wal or -journal.

use std::fs;
use std::io;
use std::path::Path;

use super::sqlite::{self, Recovery};
use super::{io_error, DbRun, DbState, LockError, DB_INTEGRITY, JOURNAL_RECOVERY, WAL_RECOVERY};
use crate::checks::holders::sidecar;
use crate::model::{ActionKind, Finding, Severity, Status};

impl DbRun<'_> {
    /// Folds a leftover WAL or rolls back a hot journal; only called when
    /// no other process has the database open.
    pub(super) fn recover(&self, path: &Path, st: &mut DbState) -> Vec<Finding> {
        match self.pending_recovery(path) {
            Ok(None) => Vec::new(),
            Ok(Some(task)) if self.dry_run => vec![self.would(&task)],
            Ok(Some(task)) => self.run_recovery(path, &task, st),
            Err(e) => vec![self.failed(WAL_RECOVERY, Severity::Warning, &e)],
        }
    }

    fn pending_recovery(&self, path: &Path) -> Result<Option<Pending>, LockError> {
        let wal = sidecar(path, "-wal");
        let wal_len = match fs::metadata(&wal) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_error(&wal)(e)),
        };
        if wal_len > 0 {
            return Ok(Some(Pending::Wal { len: wal_len, frames: sqlite::wal_frames(&wal, wal_len).ok() }));
        }
        let journal = sidecar(path, "-journal");
        match sqlite::journal_is_live(&journal) {
            Ok(true) => Ok(Some(Pending::Journal { len: fs::metadata(&journal).map(|m| m.len()).unwrap_or(0) })),
            Ok(false) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&journal)(e)),
        }
    }

    fn would(&self, task: &Pending) -> Finding {
        let (metric, text) = match task {
            Pending::Wal { len, frames: Some(n) } => {
                (WAL_RECOVERY, format!("would checkpoint ~{n} frames ({len} bytes) from -wal"))
            }
            Pending::Wal { len, frames: None } => (WAL_RECOVERY, format!("would checkpoint {len} bytes from -wal")),
            Pending::Journal { len } => (JOURNAL_RECOVERY, format!("would roll back hot journal ({len} bytes)")),
        };
        let details = format!("dry run: {text}; no process has {} open", self.db.path.display());
        self.row(metric, Status::Unhealthy, details).with_action(ActionKind::Other, text)
    }

    fn run_recovery(&self, path: &Path, task: &Pending, st: &mut DbState) -> Vec<Finding> {
        let metric = task.metric();
        let recovery = match Recovery::open(path) {
            Ok(recovery) => recovery,
            Err(e) => return vec![self.failed(metric, Severity::Warning, &e)],
        };
        let done = match task {
            Pending::Wal { len, .. } => recovery.checkpoint().map(|cp| self.checkpointed(*len, cp)),
            Pending::Journal { len } => recovery.read().map(|()| self.rolled_back(path, *len)),
        };
        match done {
            Ok(finding) => vec![finding, self.integrity(recovery.quick_check(), st)],
            Err(e) if e.is_corruption() => vec![self.integrity(Err(e), st)],
            Err(e) => vec![self.failed(metric, Severity::Warning, &e)],
        }
    }

    fn checkpointed(&self, len: u64, cp: sqlite::Checkpoint) -> Finding {
        let text = format!("checkpointed {} frames from -wal", cp.checkpointed);
        if cp.busy {
            let details =
                format!("{text} of {}; another connection kept it from finishing, retried next cycle", cp.frames);
            return self.row(WAL_RECOVERY, Status::Unhealthy, details).with_action(ActionKind::Other, text);
        }
        let details = format!("-wal of {len} bytes ({} frames) folded into the database and truncated", cp.frames);
        self.row(WAL_RECOVERY, Status::Recovered, details).with_action(ActionKind::Other, text)
    }

    fn rolled_back(&self, path: &Path, len: u64) -> Finding {
        let still_live = sqlite::journal_is_live(&sidecar(path, "-journal")).unwrap_or(false);
        if still_live {
            let details = "-journal still live after opening: SQLite did not treat it as hot (a holder out of sight?)";
            return self.row(JOURNAL_RECOVERY, Status::Unhealthy, details);
        }
        let text = format!("rolled back hot journal ({len} bytes)");
        let details = "interrupted transaction undone; the database holds its last committed state";
        self.row(JOURNAL_RECOVERY, Status::Recovered, details).with_action(ActionKind::Other, text)
    }

    /// The db_integrity finding from quick_check's result (or a corruption
    /// error met on the way); a failure freezes the database.
    fn integrity(&self, checked: Result<Vec<String>, LockError>, st: &mut DbState) -> Finding {
        let complaints = match checked {
            Ok(complaints) if complaints.is_empty() => {
                return Finding::healthy(&self.component, DB_INTEGRITY, "quick_check ok after recovery");
            }
            Ok(complaints) => complaints,
            Err(e) if e.is_corruption() => vec![e.to_string()],
            Err(e) => return self.failed(DB_INTEGRITY, Severity::Warning, &e),
        };
        let failure = format!(
            "quick_check of {} failed after recovery: {}",
            self.db.path.display(),
            complaints.iter().take(3).cloned().collect::<Vec<_>>().join("; ")
        );
        st.integrity_failure = Some(failure.clone());
        self.integrity_problem(&failure)
    }

    pub(super) fn integrity_problem(&self, failure: &str) -> Finding {
        let details =
            format!("{failure}; healthmon changes nothing more on this database until it is restarted or reloaded");
        Finding::problem(&self.component, DB_INTEGRITY, Status::Unhealthy, Severity::Critical, failure, details)
    }
}

/// A recovery waiting for a database nobody has open.
enum Pending {
    Wal { len: u64, frames: Option<u64> },
    Journal { len: u64 },
}

impl Pending {
    fn metric(&self) -> &'static str {
        match self {
            Pending::Wal { .. } => WAL_RECOVERY,
            Pending::Journal { .. } => JOURNAL_RECOVERY,
        }
    }
}
