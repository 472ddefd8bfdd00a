//! Worker supervision: command workers started, watched and restarted by
//! healthmon, and systemd unit workers restarted through systemd.
//! PLACEHOLDER: the API the daemon uses is fixed here; the behaviour comes next.

use tokio::sync::mpsc;

use crate::config::WorkerSettings;
use crate::model::Finding;

/// One row of `ListWorkers()`: `(ssuts)` name, state, pid, restarts, detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInfo {
    pub name: String,
    /// e.g. `running`, `starting`, `restarting`, `stopped`, `given-up`, `unhealthy`.
    pub state: String,
    /// 0 = none.
    pub pid: u32,
    pub restarts: u64,
    pub detail: String,
    pub healthy: bool,
}

/// Findings the supervisor produces between cycles (a crash noticed and a
/// restart done): the daemon records them at once through the engine.
pub type EventSender = mpsc::UnboundedSender<Vec<Finding>>;

pub struct Supervisor {
    workers: Vec<WorkerSettings>,
}

impl Supervisor {
    /// Starts (or adopts through `match`) every command worker and begins
    /// watching units. In dry run nothing is started.
    pub async fn start(workers: &[WorkerSettings], _dry_run: bool, _events: EventSender) -> Supervisor {
        Supervisor { workers: workers.to_vec() }
    }

    /// The per-cycle findings: liveness probes, unit states, given-up workers.
    pub async fn cycle(&mut self) -> Vec<Finding> {
        Vec::new()
    }

    /// `ListWorkers()`.
    pub fn list(&self) -> Vec<WorkerInfo> {
        self.workers
            .iter()
            .map(|w| WorkerInfo {
                name: w.name.clone(),
                state: "unknown".into(),
                pid: 0,
                restarts: 0,
                detail: String::new(),
                healthy: false,
            })
            .collect()
    }

    /// Applies new worker settings after a reload (restart budgets reset).
    pub async fn reconfigure(&mut self, workers: &[WorkerSettings], _dry_run: bool) {
        self.workers = workers.to_vec();
    }

    /// An alert on `component` was resolved by hand: a given-up worker of
    /// that name gets a fresh restart budget.
    pub fn alert_resolved_by_hand(&mut self, _component: &str) {}

    /// Stops command workers (SIGTERM, then SIGKILL after their stop_timeout).
    pub async fn shutdown(self) {}
}
