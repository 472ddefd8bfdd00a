//! Stopping the holders of a stale lock, and naming them in findings.

use std::time::Duration;

use crate::checks::holders::{self, DbFiles};
use crate::human::duration as human;
use crate::model::{ActionKind, Finding};
use crate::process::{self, ProcessInfo, ProcessState, Stopped};

/// Between SIGTERM and SIGKILL for a stale holder: enough for a process to
/// roll back and exit, short enough to stay inside the check timeout.
const HOLDER_STOP_GRACE: Duration = Duration::from_secs(5);

/// What happened to each holder.
#[derive(Default)]
pub(super) struct StopReport {
    /// `holder 1234 (python3)` for each holder that exited on our signals.
    stopped: Vec<String>,
    /// Holders that let go of the lock after SIGTERM and were left running.
    let_go: Vec<String>,
    /// Holders gone before any signal.
    gone: Vec<String>,
    failures: Vec<String>,
}

impl StopReport {
    pub(super) fn signalled(&self) -> bool {
        !(self.stopped.is_empty() && self.let_go.is_empty())
    }

    /// The action text: `stopped holder 1234 (python3)`.
    pub(super) fn action(&self) -> String {
        let mut parts = Vec::new();
        if !self.stopped.is_empty() {
            parts.push(format!("stopped {}", self.stopped.join(", ")));
        }
        if !self.let_go.is_empty() {
            parts.push(format!("sent SIGTERM to {} (let go of the lock, left running)", self.let_go.join(", ")));
        }
        parts.join("; ")
    }

    pub(super) fn summary(&self) -> String {
        let mut parts = vec![self.action()];
        if !self.gone.is_empty() {
            parts.push(format!("exited by itself: {}", self.gone.join(", ")));
        }
        parts.extend(self.failures.iter().cloned());
        parts.retain(|p| !p.is_empty());
        parts.join("; ")
    }

    /// Attaches the action to `finding` when any signal was sent.
    pub(super) fn record(&self, finding: Finding, kind: ActionKind) -> Finding {
        if self.signalled() {
            finding.with_action(kind, self.action())
        } else {
            finding
        }
    }
}

/// SIGTERM, grace, SIGKILL for each holder that, per a fresh look at its
/// fds' locks right before each signal, still holds a write lock on the files.
pub(super) fn stop_holders(files: &DbFiles, holders: &[ProcessInfo]) -> StopReport {
    stop_processes("holder", holders, &|pid| holders::verify_holder(pid, files))
}

/// SIGTERM, grace, SIGKILL for each process for which `still_holds` (asked
/// right before each signal) says it still holds what makes it stale;
/// `role` names them in the report (`holder 1234 (python3)`). Processes
/// are stopped in parallel, so several cost one grace period.
pub(super) fn stop_processes(
    role: &str,
    holders: &[ProcessInfo],
    still_holds: &(dyn Fn(i32) -> Result<(), String> + Sync),
) -> StopReport {
    let outcomes = std::thread::scope(|scope| {
        let stops: Vec<_> = holders
            .iter()
            .map(|holder| scope.spawn(move || process::stop(holder.pid, HOLDER_STOP_GRACE, still_holds)))
            .collect();
        stops.into_iter().map(|stop| stop.join()).collect::<Vec<_>>()
    });
    let mut report = StopReport::default();
    for (holder, outcome) in holders.iter().zip(outcomes) {
        let name = format!("{role} {}", short(holder));
        match outcome {
            Ok(Ok(Stopped::Terminated)) => report.stopped.push(name),
            Ok(Ok(Stopped::Killed)) => report.stopped.push(format!("{name} with SIGKILL")),
            Ok(Ok(Stopped::Released)) => report.let_go.push(name),
            Ok(Ok(Stopped::AlreadyGone)) => report.gone.push(name),
            Ok(Err(e)) => report.failures.push(e.to_string()),
            Err(_) => report.failures.push(format!("stopping {name} panicked")),
        }
    }
    report
}

pub(super) fn short(p: &ProcessInfo) -> String {
    format!("{} ({})", p.pid, p.comm)
}

/// `1234 (python3, stopped, up 2h 3m)`; a zombie names its parent.
pub(super) fn describe(p: &ProcessInfo) -> String {
    match p.state {
        ProcessState::Zombie => format!("{} ({}, zombie, parent {})", p.pid, p.comm, p.ppid),
        state => format!("{} ({}, {}, up {})", p.pid, p.comm, state.as_str(), human(p.age)),
    }
}

pub(super) fn describe_all(holders: &[ProcessInfo]) -> String {
    if holders.is_empty() {
        // Released between the probe and the read, or out of sight.
        return "a holder healthmon cannot see (released meanwhile, fds unreadable without root, another PID \
                namespace or host, or healthmon itself)"
            .to_string();
    }
    holders.iter().map(describe).collect::<Vec<_>>().join(", ")
}
