//! The D-Bus face of the daemon: `org.healthmon.Monitor1` on the system (or
//! session) bus. The interface never touches the engine: cheap reads come
//! from a [`Snapshot`] the loop keeps current, list queries go to the store
//! on the blocking pool, and everything that changes state is a [`Request`]
//! sent to the loop with a reply channel.

use std::sync::{Arc, RwLock};
use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;

use crate::engine::Counters;
use crate::model::HostState;
use crate::workers::WorkerInfo;

pub mod errors;
pub mod interface;
pub mod types;

pub use errors::MonitorError;
pub use interface::{Monitor, MonitorProxy, MonitorSignals};
pub use types::{AlertEntry, CycleDict, FindingEntry, MetricEntry, SilenceEntry, StatusDict, WorkerDict, WorkerEntry};

/// The well-known bus name.
pub const NAME: &str = "org.healthmon.Monitor1";
/// The one object.
pub const PATH: &str = "/org/healthmon/Monitor1";
/// The interface (same spelling as the name).
pub const INTERFACE: &str = "org.healthmon.Monitor1";
/// Where packages install the bus policy (quoted in permission errors).
pub const POLICY_FILE: &str = "/usr/share/dbus-1/system.d/org.healthmon.Monitor1.conf";

/// Which message bus to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bus {
    System,
    Session,
}

impl Bus {
    pub fn as_str(self) -> &'static str {
        match self {
            Bus::System => "system",
            Bus::Session => "session",
        }
    }

    /// A connection builder for this bus (honours `DBUS_SYSTEM_BUS_ADDRESS`
    /// and `DBUS_SESSION_BUS_ADDRESS`).
    pub fn builder(self) -> zbus::connection::Builder<'static> {
        match self {
            Bus::System => zbus::connection::Builder::system(),
            Bus::Session => zbus::connection::Builder::session(),
        }
    }
}

/// What the loop publishes after every change, for `Status()`, the `State`
/// property and the `STATUS=` line; read without waiting for the loop.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub started: Instant,
    pub counters: Counters,
    pub state: HostState,
    pub last_check: Option<SystemTime>,
    pub workers: Vec<WorkerInfo>,
    pub unresolved_alerts: u32,
    pub dry_run: bool,
    /// What is wrong with the state database; empty when nothing is.
    pub state_problem: String,
    /// The last cycle's forecast line per disk path.
    pub disk_forecast: Vec<String>,
}

/// The snapshot as the interface and the loop share it. A std lock: it is
/// only ever held for a copy, never across an await.
pub type SharedSnapshot = Arc<RwLock<Snapshot>>;

impl Snapshot {
    pub fn new(dry_run: bool) -> Snapshot {
        Snapshot {
            started: Instant::now(),
            counters: Counters::default(),
            state: HostState::Healthy,
            last_check: None,
            workers: Vec::new(),
            unresolved_alerts: 0,
            dry_run,
            state_problem: String::new(),
            disk_forecast: Vec::new(),
        }
    }

    pub fn workers_healthy(&self) -> u32 {
        count_u32(self.workers.iter().filter(|w| w.healthy).count())
    }

    /// The `Status()` dictionary.
    pub fn status(&self) -> StatusDict {
        let c = &self.counters;
        StatusDict {
            version: env!("CARGO_PKG_VERSION").to_string(),
            state: self.state.as_str().to_string(),
            uptime_sec: self.started.elapsed().as_secs(),
            checks_run: c.checks_run,
            last_check: types::unix_time(self.last_check),
            workers_total: count_u32(self.workers.len()),
            workers_healthy: self.workers_healthy(),
            workers_restarted: c.workers_restarted,
            sessions_cleared: c.sessions_cleared,
            locks_cleared: c.locks_cleared,
            disk_cleanups: c.disk_cleanups,
            alerts_sent: c.alerts_sent,
            unresolved_alerts: self.unresolved_alerts,
            dry_run: self.dry_run,
            state_problem: self.state_problem.clone(),
            disk_forecast: Some(self.disk_forecast.clone()),
        }
    }
}

/// Reads the shared snapshot, surviving a poisoned lock (a panic elsewhere
/// must not take Status() down with it).
pub fn read_snapshot(shared: &SharedSnapshot) -> Snapshot {
    shared.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A method call the loop must handle itself, because it changes the state
/// the loop owns (or must not overlap a cycle).
#[derive(Debug)]
pub enum Request {
    /// Run a cycle now (after the running one, if any) and reply with it.
    RunOnce(oneshot::Sender<CycleDict>),
    /// Re-read the configuration; an invalid one is an error and an alert.
    Reload(oneshot::Sender<Result<(), MonitorError>>),
    /// Resolve an alert by hand; false when no unresolved alert has the id.
    ResolveAlert(i64, oneshot::Sender<Result<bool, MonitorError>>),
    /// Stop gracefully.
    Stop,
    /// Start, stop or restart one worker (an administrator's request).
    Worker(WorkerOp, String, oneshot::Sender<Result<(), MonitorError>>),
    /// Add a silence: component pattern, seconds, reason; its id.
    Silence(String, u64, String, oneshot::Sender<Result<i64, MonitorError>>),
    /// End a silence by id; false when there is none.
    Unsilence(i64, oneshot::Sender<Result<bool, MonitorError>>),
}

/// What `StartWorker`, `StopWorker` and `RestartWorker` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerOp {
    Start,
    Stop,
    Restart,
}
