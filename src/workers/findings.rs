//! The findings workers produce and their wording. Metric types:
//! `worker_status` (the worker's state; its alert is the worker's alert)
//! and `worker_restart` (one row per restart healthmon performed, with the
//! action; `recovered` when the restart was verified).

use std::time::Duration;

use crate::config::WorkerSettings;
use crate::model::{ActionKind, Finding, Severity, Status};

pub const STATUS: &str = "worker_status";
pub const RESTART: &str = "worker_restart";
/// The alert kinds the supervisor reports.
pub const KINDS: &[&str] = &[STATUS, RESTART];

/// A duration the way the config writes it: `500ms`, `30s`, `10m`, `2h`, `7d`.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_millis() != 0 || secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

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
    Finding { component: w.name.clone(), metric_type: RESTART.into(), status, details, action: None, problem: None }
        .with_action(ActionKind::WorkerRestarted, taken)
}

/// In dry run: what would have been done, taken as nothing.
pub fn would(finding: Finding, what: impl Into<String>) -> Finding {
    finding.with_action(ActionKind::Other, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Durations read back the way the config writes them.
    #[test]
    fn human_durations() {
        let cases = [(0, "0ms"), (500, "500ms"), (1_500, "1500ms"), (30_000, "30s"), (600_000, "10m"), (90_000, "90s")];
        for (ms, text) in cases {
            assert_eq!(human(Duration::from_millis(ms)), text);
        }
        assert_eq!(human(Duration::from_secs(7_200)), "2h");
        assert_eq!(human(Duration::from_secs(7 * 86_400)), "7d");
    }
}
