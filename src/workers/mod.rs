//! Worker supervision: command workers started, watched and restarted by
//! healthmon, and systemd unit workers restarted through systemd.
//!
//! Each command worker lives in its own task (`command`) that notices an
//! exit the moment it happens through a pidfd, restarts it through the
//! restart `budget`, and reports between cycles through the
//! [`EventSender`]. Beside it, each command worker's probe timer
//! (`probe::timer`) runs its probes and resource limits (`limits`) every
//! `health_interval`, reporting the same way. Each cycle adds what only a
//! cycle sees: unit states (`unit`), and one `worker_status` finding per
//! worker, so every alert resolves once the worker is healthy again.
//!
//! How a worker runs is `launch`'s: a transient systemd unit where
//! systemd is PID 1 (it outlives healthmon and is adopted by the next one,
//! see [`Supervisor::on_sigterm`]), else a forked process group. A new
//! healthmon also adopts a process through `match` (`adopt`). A stop gives
//! every process of the worker SIGTERM and the whole `stop_timeout`, then
//! SIGKILL to what is left, and leaves no zombie. Each cycle also reads
//! every worker's memory, CPU time and tasks (`resources`).
//!
//! A pool (`instances`) reaches the supervisor as its instances, each a
//! worker of its own; a request naming the pool goes to each in turn
//! (`control`). Which workers are up, and so the start order of
//! `depends_on`, is `order`'s.

mod adopt;
mod budget;
mod command;
mod control;
mod entry;
mod findings;
pub mod launch;
mod limits;
mod notify;
mod once;
mod order;
mod output;
mod probe;
mod proc;
mod resources;
mod spawn;
mod unit;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::config::{CommandWorker, WorkerKind, WorkerSettings};
use crate::model::{Finding, Status};

use crate::store::StoreHandle;
use crate::systemd::manager::Manager;

use command::{Claimed, Control, Handle};
use entry::CommandEntry;
use launch::{Launcher, ManagerSlot};
use resources::{Usage, Whose};

pub use launch::Mode;
pub use once::once;
use probe::timer::Timer;
use unit::UnitWorker;

pub use control::{check_name, Change, ControlError, Pending};
pub use findings::KINDS;

/// The name of the supervisor's part of a cycle (its report section).
pub const SECTION: &str = "workers";

/// A cycle lets other tasks run after this many workers' findings.
const YIELD_EVERY: usize = 100;

pub use findings::{RESTART as RESTART_METRIC, STATUS as STATUS_METRIC};

/// One row of `ListWorkers()`: `(ssuts)` name, state, pid, restarts, detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerInfo {
    pub name: String,
    /// `running`, `starting`, `restarting`, `unhealthy`, `stopped` (by an
    /// administrator, and only then), `stopping` (units), `given-up`,
    /// `error`, `failed` (a unit systemd reports failed), `inactive` (down
    /// against its wish otherwise: dry run, healthmon stopping, a unit).
    pub state: String,
    /// 0 = none.
    pub pid: u32,
    pub restarts: u64,
    pub detail: String,
    /// A worker stopped by an administrator counts as healthy: it is
    /// where it should be.
    pub healthy: bool,
    /// The systemd unit running it, `""` when none (fork mode).
    pub unit: String,
    /// Unix time the current state began (0 = not known).
    pub since: i64,
    /// How the last run ended, `""` when none has yet.
    pub last_exit: String,
    /// Resident memory of all its processes, as of the last cycle (0 = not known).
    pub memory_bytes: u64,
    /// CPU time of all its processes, µs, as of the last cycle.
    pub cpu_usec: u64,
    /// Its tasks (threads), as of the last cycle.
    pub tasks: u32,
    /// Stopped by an administrator (desired `stopped`), else desired `running`.
    pub held: bool,
    /// `command` or `unit` (a `unit = ...` worker), for `healthctl logs`.
    pub kind: &'static str,
    /// The worker's last sd_notify `STATUS=` text, `""` when none.
    pub status: String,
}

/// [`WorkerInfo::kind`] of a command worker.
pub const KIND_COMMAND: &str = "command";
/// [`WorkerInfo::kind`] of a `unit = ...` worker.
pub const KIND_UNIT: &str = "unit";

/// Findings the supervisor produces between cycles (a crash noticed and a
/// restart done): the daemon records them at once through the engine.
pub type EventSender = mpsc::UnboundedSender<Vec<Finding>>;

/// Failures of the worker layer; they end up as `error` findings.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot resolve user {user:?}: {reason}")]
    User { user: String, reason: String },
    #[error("failed to start {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("no notify socket for {worker}: {source}")]
    Notify { worker: String, source: std::io::Error },
    #[error("cannot watch pid {pid} through a pidfd: {source}")]
    Pidfd { pid: u32, source: std::io::Error },
    /// systemd refused or failed the worker's unit: never a reason to fork it instead.
    #[error("{unit}: {reason}")]
    Unit { unit: String, reason: String },
    /// The program ran but ended before healthmon saw its main pid (a
    /// crash, not a refused start).
    #[error("{unit}: exited at once ({exit})")]
    ExitedAtOnce { unit: String, exit: proc::ExitInfo },
}

// One per configured worker, kept in a Vec: boxing the larger variant
// would save a few hundred bytes per worker at the cost of an indirection.
#[allow(clippy::large_enum_variant)]
enum Entry {
    Command(CommandEntry),
    Unit(UnitWorker),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Command(c) => &c.handle.settings.name,
            Entry::Unit(u) => &u.settings.name,
        }
    }
}

pub struct Supervisor {
    dry_run: bool,
    events: EventSender,
    claimed: Claimed,
    entries: Vec<Entry>,
    /// Workers an administrator stopped (desired `stopped`, kept in the
    /// state database by the daemon): not started until started again.
    held: HashSet<String>,
    /// Workers a reload removed or replaced, still stopping (each gets its
    /// whole stop_timeout, all at once, while the loop goes on pinging the
    /// watchdog); a shutdown waits for them too.
    retiring: Vec<tokio::task::JoinHandle<()>>,
    /// systemd's manager, for unit workers and transient workers alike.
    systemd: ManagerSlot,
    launcher: Launcher,
    /// Keeps restart budgets across restarts of healthmon.
    store: Option<StoreHandle>,
    /// Which workers are up, for start order and rolling restarts.
    board: order::Board,
}

impl Supervisor {
    /// [`Supervisor::start_in`] fork mode.
    pub async fn start(workers: &[WorkerSettings], dry_run: bool, events: EventSender) -> Supervisor {
        Supervisor::start_in(Mode::Fork, None, workers, HashSet::new(), dry_run, events).await
    }

    /// Starts (or adopts: its unit left running, or through `match`) every
    /// command worker but those in `held` (stopped by an administrator),
    /// run the `mode` way, stops the units of workers no longer configured,
    /// and begins watching units. In dry run nothing is started or stopped. With `store`, each worker's restart
    /// budget and backoff are kept there, so a restart of healthmon resets
    /// neither.
    pub async fn start_in(
        mode: Mode,
        store: Option<StoreHandle>,
        workers: &[WorkerSettings],
        held: HashSet<String>,
        dry_run: bool,
        events: EventSender,
    ) -> Supervisor {
        let systemd = ManagerSlot::default();
        let launcher = Launcher::new(mode, &systemd);
        let claimed = Arc::new(Mutex::new(HashSet::new()));
        let mut supervisor = Supervisor {
            dry_run,
            events,
            claimed,
            entries: Vec::new(),
            held,
            retiring: Vec::new(),
            systemd,
            launcher,
            store,
            board: order::Board::default(),
        };
        for w in workers {
            let entry = supervisor.entry(w);
            supervisor.entries.push(entry);
        }
        if !dry_run {
            let units = workers.iter().filter_map(|w| supervisor.launcher.unit(&w.name)).collect();
            supervisor.launcher.stop_orphans(units);
        }
        supervisor
    }

    fn entry(&self, w: &WorkerSettings) -> Entry {
        let held = self.held.contains(&w.name);
        match &w.kind {
            WorkerKind::Command(spec) => {
                let handle = Handle::spawn(
                    w.clone(),
                    spec.clone(),
                    self.dry_run,
                    self.events.clone(),
                    self.claimed.clone(),
                    self.launcher.clone(),
                    self.store.clone(),
                    held,
                    self.board.clone(),
                );
                let peer = handle.peer();
                let (events, launcher) = (self.events.clone(), self.launcher.clone());
                let timer = Timer::spawn(w.clone(), spec.clone(), peer, events, launcher, self.dry_run);
                Entry::Command(CommandEntry { handle, timer, usage: Usage::default() })
            }
            WorkerKind::Unit(name) => Entry::Unit(UnitWorker::new(w.clone(), name.clone(), held)),
        }
    }

    /// The per-cycle findings: probe state (the probes themselves run on
    /// each worker's own timer), unit states, given-up workers.
    pub async fn cycle(&mut self) -> Vec<Finding> {
        let bus = self.bus_for_cycle().await;
        let mut out = Vec::new();
        let mut bus_failed = false;
        for (i, entry) in self.entries.iter_mut().enumerate() {
            if i % YIELD_EVERY == YIELD_EVERY - 1 {
                // 1,500 workers' findings are made in a few ms: let D-Bus
                // calls (Status) in between, as a cycle's other awaits do.
                tokio::task::yield_now().await;
            }
            match entry {
                Entry::Command(c) => out.push(c.cycle()),
                Entry::Unit(u) => {
                    let found = u.cycle(bus.as_ref().map_err(String::as_str), self.dry_run).await;
                    bus_failed |= found.iter().any(|f| f.status == Status::Error && f.details == u.unit());
                    out.extend(found);
                }
            }
        }
        if bus_failed {
            self.systemd.forget().await;
        }
        self.read_usage().await;
        out
    }

    /// Each running worker's memory, CPU time and tasks, read at once.
    async fn read_usage(&mut self) {
        let manager = match self.launcher {
            Launcher::Transient(_) => self.systemd.get().await.ok(),
            Launcher::Fork if self.entries.iter().any(|e| matches!(e, Entry::Unit(_))) => self.systemd.get().await.ok(),
            Launcher::Fork => None,
        };
        let whose = self.entries.iter().enumerate().filter_map(|(index, entry)| {
            let whose = match entry {
                Entry::Command(c) => match resources::whose(&c.handle.snapshot().phase) {
                    Some(whose) => whose,
                    None => return None,
                },
                Entry::Unit(u) => Whose::Unit(u.unit().to_string()),
            };
            Some((index, whose))
        });
        let mut usages = vec![Usage::default(); self.entries.len()];
        for (index, usage) in resources::read_all(whose.collect(), manager).await {
            usages[index] = usage;
        }
        for (entry, usage) in self.entries.iter_mut().zip(usages) {
            match entry {
                Entry::Command(c) => c.usage = usage,
                Entry::Unit(u) => u.usage = usage,
            }
        }
    }

    /// systemd's manager when some worker is a unit, or why there is none.
    async fn bus_for_cycle(&mut self) -> Result<Manager, String> {
        if !self.entries.iter().any(|e| matches!(e, Entry::Unit(_))) {
            return Err("no unit workers".into());
        }
        self.systemd.get().await
    }

    /// `ListWorkers()`.
    pub fn list(&self) -> Vec<WorkerInfo> {
        self.entries
            .iter()
            .map(|entry| match entry {
                Entry::Command(c) => c.info(),
                Entry::Unit(u) => u.info(),
            })
            .collect()
    }

    /// Applies new worker settings after a reload (restart budgets reset).
    /// A worker whose command (argv, directory, environment, user, match,
    /// and the sd_notify keys `watchdog` and `notify_ready`) or unit is
    /// unchanged keeps running; a changed one is stopped and
    /// started anew; a removed one is stopped. Stops run in the background:
    /// the reload does not wait for them.
    pub async fn reconfigure(&mut self, workers: &[WorkerSettings], dry_run: bool) {
        self.dry_run = dry_run;
        self.retiring.retain(|task| !task.is_finished());
        let mut old: HashMap<String, Entry> = self.entries.drain(..).map(|e| (e.name().to_string(), e)).collect();
        for w in workers {
            let kept = match (old.remove(&w.name), &w.kind) {
                (Some(Entry::Command(mut c)), WorkerKind::Command(spec))
                    if same_command(&c.handle.settings, w, spec) =>
                {
                    c.handle.send(Control::Update(Box::new(w.clone()), dry_run));
                    c.handle.settings = w.clone();
                    c.timer.update(w.clone(), dry_run);
                    Some(Entry::Command(c))
                }
                (Some(Entry::Unit(mut u)), WorkerKind::Unit(name)) if u.unit() == name => {
                    u.update(w.clone());
                    Some(Entry::Unit(u))
                }
                (Some(replaced), _) => {
                    self.retire(replaced);
                    None
                }
                (None, _) => None,
            };
            let entry = kept.unwrap_or_else(|| self.entry(w));
            self.entries.push(entry);
        }
        for (_, removed) in old {
            self.retire(removed);
        }
    }

    /// Starts stopping a command worker without waiting for it.
    fn retire(&mut self, entry: Entry) {
        if let Entry::Command(c) = entry {
            self.retiring.push(c.handle.retire());
        }
    }

    /// An alert on `component` was resolved by hand: a given-up worker of
    /// that name gets a fresh restart budget.
    pub fn alert_resolved_by_hand(&mut self, component: &str) {
        for entry in self.entries.iter_mut().filter(|e| e.name() == component) {
            match entry {
                Entry::Command(c) => c.handle.send(Control::Reset),
                Entry::Unit(u) => u.reset(),
            }
        }
    }

    /// Stops command workers (SIGTERM, then SIGKILL after their stop_timeout),
    /// all at once, and returns when every one is gone and reaped.
    pub async fn shutdown(self) {
        self.end_all(|| Control::Stop).await;
    }

    /// healthmon is stopping on SIGTERM: workers in their own units are
    /// stopped only when systemd is stopping healthmon (a `stop` job on its
    /// unit: `systemctl stop`, shutdown). A restart job (restart, package
    /// upgrade) or no job (a crash, a watchdog kill, a bare kill) leaves
    /// them running for the next healthmon to adopt. Fork mode stops them.
    pub async fn on_sigterm(self) {
        if !matches!(self.launcher, Launcher::Transient(_)) {
            return self.shutdown().await;
        }
        let job = match self.systemd.get().await {
            Ok(manager) => manager.job_of_unit_holding(std::process::id()).await.map_err(|err| err.to_string()),
            Err(err) => Err(err),
        };
        match job {
            Ok(Some(job)) if job == "stop" => {
                log::info!("healthmon.service is being stopped: stopping the workers");
                self.shutdown().await
            }
            Ok(job) => {
                let why = job.map(|j| format!("a {j} job")).unwrap_or_else(|| "no job (not systemctl stop)".into());
                log::info!("SIGTERM with {why}: leaving the workers' units running for the next healthmon");
                self.end_all(|| Control::Leave).await
            }
            Err(err) => {
                // Without systemd's answer, keeping workers up is the safe side:
                // ExecStopPost= still stops them when this was a stop.
                log::warn!("cannot read healthmon's own job ({err}): leaving the workers running");
                self.end_all(|| Control::Leave).await
            }
        }
    }

    /// Ends every command worker's task with `how`, all at once.
    async fn end_all(self, how: impl Fn() -> Control) {
        let handles: Vec<Handle> = self
            .entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Command(c) => Some(c.handle),
                Entry::Unit(_) => None,
            })
            .collect();
        for handle in &handles {
            handle.send(how());
        }
        for handle in handles {
            handle.end(how()).await;
        }
        for task in self.retiring {
            let _ = task.await;
        }
    }
}

/// Same command, and the same sd_notify keys (they decide how it is
/// started: its environment, or its unit's type).
fn same_command(old: &WorkerSettings, new: &WorkerSettings, spec: &CommandWorker) -> bool {
    matches!(&old.kind, WorkerKind::Command(current) if current == spec)
        && (old.watchdog, old.notify_ready) == (new.watchdog, new.notify_ready)
}

/// Unix seconds, 0 before the epoch.
fn unix_secs(t: std::time::SystemTime) -> i64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
