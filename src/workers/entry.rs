//! What the supervisor keeps about each command worker besides its task:
//! its probe timer, resource usage, and from these plus the task's
//! snapshot each cycle's finding and the `ListWorkers()` row.

use crate::model::{Finding, Status};

use super::command::{self, Handle, Phase};
use super::findings::{self, human};
use super::probe::timer::{Health, Timer};
use super::resources::Usage;
use super::WorkerInfo;

/// A command worker's task plus its probe timer.
pub struct CommandEntry {
    pub handle: Handle,
    /// Runs its probes and limits on `health_interval`; counts failures.
    pub timer: Timer,
    /// Its resource usage as of the last cycle.
    pub usage: Usage,
}

impl CommandEntry {
    /// This cycle's `worker_status` finding: while the probe timer counts
    /// failures of the running process, the open problem stays open.
    pub fn cycle(&mut self) -> Finding {
        let snap = self.handle.snapshot();
        let w = &self.handle.settings;
        match &snap.phase {
            Phase::Up { pid, verified: true, .. } => {
                let details = self.describe(&snap);
                match self.failing(*pid) {
                    Some(health) => {
                        let message = format!(
                            "health check failed ({} of {}): {}",
                            health.failures, w.health_failures, health.last
                        );
                        findings::problem(w, Status::Unhealthy, message, details)
                    }
                    None => findings::healthy(w, details),
                }
            }
            Phase::Up { restart: Some(cause), .. } => findings::problem(
                w,
                Status::Unhealthy,
                format!("restarted after {cause}; verifying"),
                self.describe(&snap),
            ),
            Phase::Up { .. } | Phase::Starting => findings::healthy(w, format!("starting; {}", self.describe(&snap))),
            Phase::Waiting { until, message, error } => {
                let status = if *error { Status::Error } else { Status::Unhealthy };
                let details =
                    format!("next start in {}; restarts {}", human(command::remaining(*until)), snap.restarts);
                findings::problem(w, status, message, details)
            }
            Phase::GivenUp { restarts, last } => findings::given_up(w, *restarts, last),
            Phase::Ambiguous { message } => findings::warning(w, Status::Error, message, "ambiguous match"),
            Phase::Down { message } => {
                findings::would(findings::problem(w, Status::Unhealthy, message, "dry run"), "would start")
            }
            Phase::Held | Phase::Blocked { .. } => findings::healthy(w, self.describe(&snap)),
            Phase::Stopped => findings::problem(w, Status::Unhealthy, "not running", "healthmon is stopping"),
        }
    }

    pub fn info(&self) -> WorkerInfo {
        let snap = self.handle.snapshot();
        let (state, pid, healthy) = match &snap.phase {
            Phase::Up { pid, verified: true, .. } if self.failing(*pid).is_some() => ("unhealthy", *pid, false),
            Phase::Up { pid, verified: true, .. } => ("running", *pid, true),
            Phase::Up { pid, restart: Some(_), .. } => ("restarting", *pid, false),
            Phase::Up { pid, .. } => ("starting", *pid, false),
            Phase::Starting => ("starting", 0, false),
            Phase::Waiting { error: true, .. } => ("error", 0, false),
            Phase::Waiting { .. } => ("restarting", 0, false),
            Phase::GivenUp { .. } => ("given-up", 0, false),
            Phase::Ambiguous { .. } => ("error", 0, false),
            Phase::Held => ("stopped", 0, true),
            Phase::Blocked { .. } => ("waiting", 0, false),
            Phase::Down { .. } | Phase::Stopped => ("inactive", 0, false),
        };
        let unit = match &snap.phase {
            Phase::Up { unit: Some(unit), .. } => unit.clone(),
            _ => String::new(),
        };
        let since = snap.since.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        WorkerInfo {
            name: self.handle.settings.name.clone(),
            state: state.into(),
            pid,
            restarts: snap.restarts,
            detail: self.describe(&snap),
            healthy,
            unit,
            since,
            last_exit: snap.last_exit.clone().unwrap_or_default(),
            memory_bytes: self.usage.memory_bytes,
            cpu_usec: self.usage.cpu_usec,
            tasks: self.usage.tasks,
            held: snap.phase == Phase::Held,
            kind: super::KIND_COMMAND,
            status: snap.status.clone(),
        }
    }

    /// The probe state of `pid` when it has counted failures.
    fn failing(&self, pid: u32) -> Option<Health> {
        Some(self.timer.health()).filter(|h| h.pid == pid && h.failures > 0)
    }

    /// `pid 123, up 5m, adopted; restarts 2 of 5 in 10m; last exit: exit code 1`.
    fn describe(&self, snap: &command::Snapshot) -> String {
        let w = &self.handle.settings;
        let mut parts = Vec::new();
        match &snap.phase {
            Phase::Up { pid, since, adopted, .. } => {
                let how = if *adopted { ", adopted" } else { "" };
                parts.push(format!("pid {pid}, up {}{how}", human_secs(since.elapsed())));
            }
            Phase::Waiting { message, .. } | Phase::Down { message } | Phase::Ambiguous { message } => {
                parts.push(message.clone())
            }
            Phase::GivenUp { restarts, last } => {
                parts.push(format!("gave up after {restarts} restarts in {} (last: {last})", human(w.restart_window)))
            }
            Phase::Held => parts.push("stopped by an administrator".to_string()),
            Phase::Blocked { on } => parts.push(format!("waiting for {} to be up (depends_on)", on.join(", "))),
            Phase::Starting | Phase::Stopped => {}
        }
        parts.push(format!("restarts {} of {} in {}", snap.used, w.max_restarts, human(w.restart_window)));
        if let Some(last) = &snap.last_exit {
            parts.push(format!("last exit: {last}"));
        }
        parts.join("; ")
    }
}

/// An uptime rounded to whole seconds.
fn human_secs(d: std::time::Duration) -> String {
    human(std::time::Duration::from_secs(d.as_secs().max(1)))
}
