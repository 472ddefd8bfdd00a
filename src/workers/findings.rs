//! The findings workers produce and their wording. Metric types:
//! `worker_status` (the worker's state; its alert is the worker's alert)
//! and `worker_restart` (one row per restart healthmon performed, with the
//! action; `recovered` when the restart was verified).

use crate::config::WorkerSettings;
use crate::model::{ActionKind, Finding, Severity, Status};

pub const STATUS: &str = "worker_status";
pub const RESTART: &str = "worker_restart";
/// The alert kinds the supervisor reports.
pub const KINDS: &[&str] = &[STATUS, RESTART];

pub use crate::human::duration as human;

/// CRITICAL for `critical = true` workers, WARNING otherwise.
pub fn severity(w: &WorkerSettings) -> Severity {
    if w.critical {
        Severity::Critical
    } else {
        Severity::Warning
    }
}

pub fn healthy(w: &WorkerSettings, details: impl Into<String>) -> Finding {
    Finding::healthy(&w.name, STATUS, details)
}

/// A problem with the worker at its configured severity.
pub fn problem(w: &WorkerSettings, status: Status, message: impl Into<String>, details: impl Into<String>) -> Finding {
    Finding::problem(&w.name, STATUS, status, severity(w), message, details)
}

/// A problem that is a WARNING whatever `critical` says (nothing is down
/// because of it yet, e.g. an ambiguous `match`).
pub fn warning(w: &WorkerSettings, status: Status, message: impl Into<String>, details: impl Into<String>) -> Finding {
    Finding::problem(&w.name, STATUS, status, Severity::Warning, message, details)
}

/// The budget ran out: always CRITICAL, whatever `critical` says, since
/// nothing will bring the worker back without a person.
pub fn given_up(w: &WorkerSettings, restarts: u32, last: &str) -> Finding {
    let message = format!("gave up after {restarts} restarts in {} (last: {last})", human(w.restart_window));
    Finding::problem(&w.name, STATUS, Status::Unhealthy, Severity::Critical, message, format!("state given-up, {last}"))
}

/// `restarted (exit code 1), restart 2 of 5 in 10m`.
pub fn restart_text(w: &WorkerSettings, cause: &str, nth: u32) -> String {
    format!("restarted ({cause}), restart {nth} of {} in {}", w.max_restarts, human(w.restart_window))
}

/// One restart performed: `recovered` when verified, `unhealthy` when not.
pub fn restart(w: &WorkerSettings, verified: bool, taken: String, details: String) -> Finding {
    let status = if verified { Status::Recovered } else { Status::Unhealthy };
    Finding { status, ..Finding::healthy(&w.name, RESTART, details) }.with_action(ActionKind::WorkerRestarted, taken)
}

/// An administrator's stop, start or restart: healthy (a worker stopped
/// on purpose raises no alert and resolves its open one), with the action.
pub fn admin(w: &WorkerSettings, what: &str) -> Finding {
    Finding::healthy(&w.name, STATUS, what).with_action(ActionKind::Other, what)
}

/// In dry run: what would have been done, taken as nothing.
pub fn would(finding: Finding, what: impl Into<String>) -> Finding {
    finding.with_action(ActionKind::Other, what)
}
