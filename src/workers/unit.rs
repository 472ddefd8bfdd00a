//! `unit` workers: a systemd unit read over the system bus each cycle and
//! restarted through systemd (`RestartUnit(name, "replace")`) when it is
//! `failed` or `inactive`, within the same restart budget as command
//! workers. `activating`, `deactivating` and `reloading` are left alone
//! (systemd is busy with it). Without a systemd on the bus the finding is
//! `error` with a WARNING "cannot reach systemd: ...", and nothing else
//! is affected. `restart_delay` and `verify_after` do not apply (systemd's
//! own `RestartSec=` does); the next cycle shows whether it came up. The
//! calls go through [`crate::systemd::manager`].

use std::time::{Duration, Instant, SystemTime};

use crate::config::WorkerSettings;
use crate::model::{Finding, Severity, Status};
use crate::systemd::manager::{Manager, UnitState};

use super::budget::{RestartBudget, Verdict};
use super::findings as f;
use super::resources::Usage;
use super::WorkerInfo;

/// An administrator's start, stop or restart of a unit, through systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Start,
    Stop,
    Restart,
}

/// Queues `job` for `unit` (mode `replace`, so a later request replaces a
/// pending one, as `systemctl` does).
pub async fn enqueue(unit: &str, job: Job) -> Result<(), String> {
    let manager = Manager::connect().await.map_err(|err| err.to_string())?;
    let queued = match job {
        Job::Start => manager.start(unit).await.map(drop),
        Job::Stop => manager.stop(unit).await,
        Job::Restart => manager.restart(unit).await.map(drop),
    };
    queued.map_err(|err| err.to_string())
}

/// What the last cycle saw.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Never,
    State { state: UnitState, restarted: bool },
    Unreachable(String),
}

pub struct UnitWorker {
    pub settings: WorkerSettings,
    /// Its resource usage as of the last cycle.
    pub usage: Usage,
    unit: String,
    budget: RestartBudget,
    restarts: u64,
    seen: Seen,
    /// Stopped by an administrator: never restarted, no alert.
    held: bool,
    /// When what [`UnitWorker::info`] shows last changed.
    since: SystemTime,
}

impl UnitWorker {
    pub fn new(settings: WorkerSettings, unit: String, held: bool) -> UnitWorker {
        let budget = RestartBudget::new(settings.max_restarts, settings.restart_window, Duration::ZERO);
        UnitWorker {
            settings,
            unit,
            budget,
            restarts: 0,
            seen: Seen::Never,
            held,
            since: SystemTime::now(),
            usage: Usage::default(),
        }
    }

    pub fn is_held(&self) -> bool {
        self.held
    }

    /// An administrator stopped (`true`) or started it; starting gives a
    /// fresh budget, so a given-up unit is restarted again when it fails.
    pub fn set_held(&mut self, held: bool) {
        if !held {
            self.budget.reset();
        }
        if self.held != held {
            self.since = SystemTime::now();
        }
        self.held = held;
    }

    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// A fresh budget (alert resolved by hand, reload).
    pub fn reset(&mut self) {
        self.budget.reset();
    }

    /// New settings for the same unit (reload): a fresh budget.
    pub fn update(&mut self, settings: WorkerSettings) {
        self.budget = RestartBudget::new(settings.max_restarts, settings.restart_window, Duration::ZERO);
        self.settings = settings;
    }

    /// One cycle: read the unit, restart it if it is down. `bus` is the
    /// connection or why there is none.
    pub async fn cycle(&mut self, bus: Result<&Manager, &str>, dry_run: bool) -> Vec<Finding> {
        let manager = match bus {
            Ok(manager) => manager,
            Err(why) => return self.unreachable(why.to_string()),
        };
        let state = match manager.query(&self.unit).await {
            Ok(state) => state,
            Err(err) => return self.unreachable(err.to_string()),
        };
        self.see(Seen::State { state: state.clone(), restarted: false });
        let details = format!("{}: {}", self.unit, state.describe());
        if self.held {
            return vec![f::healthy(&self.settings, format!("stopped by an administrator; {details}"))];
        }
        if state.load == "not-found" {
            return vec![f::problem(&self.settings, Status::Error, format!("unit {} not found", self.unit), details)];
        }
        match state.active.as_str() {
            "active" => {
                self.budget.reset_if_given_up();
                vec![f::healthy(&self.settings, details)]
            }
            "activating" | "deactivating" | "reloading" => vec![f::healthy(&self.settings, details)],
            _ => self.restart(manager, &state, details, dry_run).await,
        }
    }

    fn unreachable(&mut self, err: String) -> Vec<Finding> {
        let message = format!("cannot reach systemd: {err}");
        self.see(Seen::Unreachable(message.clone()));
        vec![Finding::problem(&self.settings.name, f::STATUS, Status::Error, Severity::Warning, message, &self.unit)]
    }

    async fn restart(&mut self, manager: &Manager, state: &UnitState, details: String, dry_run: bool) -> Vec<Finding> {
        let w = &self.settings;
        let message = format!("{} is {} ({})", self.unit, state.active, state.sub);
        if dry_run {
            return vec![f::would(f::problem(w, Status::Unhealthy, message, details), "would restart")];
        }
        let cause = format!("was {}", state.active);
        let nth = match self.budget.on_exit(Instant::now(), false) {
            Verdict::GiveUp { restarts } => return vec![f::given_up(w, restarts, &cause)],
            Verdict::Restart { nth, .. } => nth,
        };
        match manager.restart(&self.unit).await {
            Ok(job) => {
                self.restarts += 1;
                self.seen = Seen::State { state: state.clone(), restarted: true };
                let taken = format!("{} through systemd", f::restart_text(w, &cause, nth));
                vec![
                    f::problem(w, Status::Unhealthy, format!("{message}; restarted through systemd"), details.clone()),
                    f::restart(w, true, taken, format!("{details}, job {}", job.as_str())),
                ]
            }
            Err(err) => vec![f::problem(w, Status::Error, format!("{message}; cannot restart it: {err}"), details)],
        }
    }

    /// Keeps what a cycle saw, noting when the active state changed.
    fn see(&mut self, seen: Seen) {
        let active = |s: &Seen| match s {
            Seen::State { state, .. } => Some(state.active.clone()),
            _ => None,
        };
        if active(&self.seen) != active(&seen) {
            self.since = SystemTime::now();
        }
        self.seen = seen;
    }

    /// The `ListWorkers()` row from the last cycle.
    pub fn info(&self) -> WorkerInfo {
        let name = self.settings.name.clone();
        let (state, pid, detail, healthy) = match &self.seen {
            Seen::Never if self.held => {
                ("stopped".to_string(), 0, format!("{}: stopped by an administrator", self.unit), true)
            }
            Seen::Never => ("starting".to_string(), 0, format!("{}: not read yet", self.unit), false),
            Seen::Unreachable(message) => ("error".to_string(), 0, message.clone(), false),
            Seen::State { state, restarted } => {
                let ours = match state.active.as_str() {
                    _ if self.held => "stopped",
                    _ if self.budget.is_given_up() => "given-up",
                    "active" => "running",
                    "activating" | "reloading" => "starting",
                    "deactivating" => "stopping",
                    _ if *restarted => "restarting",
                    "failed" => "failed",
                    _ => "inactive",
                };
                (
                    ours.to_string(),
                    state.main_pid,
                    format!("{}: {}", self.unit, state.describe()),
                    state.active == "active" || self.held,
                )
            }
        };
        let usage = self.usage;
        WorkerInfo {
            name,
            state,
            pid,
            restarts: self.restarts,
            detail,
            healthy,
            unit: self.unit.clone(),
            since: super::unix_secs(self.since),
            memory_bytes: usage.memory_bytes,
            cpu_usec: usage.cpu_usec,
            tasks: usage.tasks,
            held: self.held,
            kind: super::KIND_UNIT,
            ..WorkerInfo::default()
        }
    }
}

/// `--once`: the unit's state, reported and never changed.
pub async fn report(w: &WorkerSettings, unit: &str, bus: Result<&Manager, &str>) -> Finding {
    let state = match bus {
        Ok(manager) => manager.query(unit).await.map_err(|err| err.to_string()),
        Err(why) => Err(why.to_string()),
    };
    match state {
        Ok(state) if state.active == "active" => f::healthy(w, format!("running ({unit}: {})", state.describe())),
        Ok(state) => {
            f::problem(w, Status::Unhealthy, format!("{unit} is {} ({})", state.active, state.sub), state.describe())
        }
        Err(err) => Finding::problem(
            &w.name,
            f::STATUS,
            Status::Error,
            Severity::Warning,
            format!("cannot reach systemd: {err}"),
            unit,
        ),
    }
}
