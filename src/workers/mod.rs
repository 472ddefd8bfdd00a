//! Worker supervision: command workers started, watched and restarted by
//! healthmon, and systemd unit workers restarted through systemd.
//!
//! Each command worker lives in its own task (`command`) that notices an
//! exit the moment it happens through a pidfd, restarts it through the
//! restart `budget`, and reports between cycles through the
//! [`EventSender`]. Each cycle adds what only a cycle sees: liveness probes
//! (`probe`), unit states (`unit`), and one `worker_status` finding per
//! worker, so every alert resolves once the worker is healthy again.
//!
//! Lifetime (documented for admins): workers run in their own session, so
//! they outlive a crash of healthmon unless its service manager kills the
//! whole cgroup; a new healthmon adopts a survivor only through `match`
//! (`adopt`), otherwise it starts a fresh copy. On a clean stop healthmon
//! stops every command worker it holds (SIGTERM, `stop_timeout`, SIGKILL),
//! adopted ones included, and leaves no zombie.

mod adopt;
mod budget;
mod command;
mod findings;
pub mod launch;
mod output;
mod proc;
mod probe;
mod resources;
mod spawn;
mod unit;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::{CommandWorker, WorkerKind, WorkerSettings};
use crate::model::{Finding, Status};

use crate::store::StoreHandle;
use crate::systemd::manager::Manager;

use command::{Claimed, Control, Handle, Phase};
use launch::{Launcher, ManagerSlot};
use resources::{Usage, Whose};

pub use launch::Mode;
use findings::human;
use probe::ProbeFailure;
use unit::UnitWorker;

pub use findings::KINDS;

/// The name of the supervisor's part of a cycle (its report section).
pub const SECTION: &str = "workers";

pub use findings::{RESTART as RESTART_METRIC, STATUS as STATUS_METRIC};

/// One row of `ListWorkers()`: `(ssuts)` name, state, pid, restarts, detail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerInfo {
    pub name: String,
    /// `running`, `starting`, `restarting`, `unhealthy`, `stopped`,
    /// `stopping` (units), `given-up`, `error`.
    pub state: String,
    /// 0 = none.
    pub pid: u32,
    pub restarts: u64,
    pub detail: String,
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
}

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

/// A command worker's task plus what the cycle keeps about its probe.
struct CommandEntry {
    handle: Handle,
    /// Probe failures in a row against the current pid.
    failures: u32,
    /// Its resource usage as of the last cycle.
    usage: Usage,
}

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
    /// systemd's manager, for unit workers and transient workers alike.
    systemd: ManagerSlot,
    launcher: Launcher,
    /// Keeps restart budgets across restarts of healthmon.
    store: Option<StoreHandle>,
}

impl Supervisor {
    /// [`Supervisor::start_in`] fork mode.
    pub async fn start(workers: &[WorkerSettings], dry_run: bool, events: EventSender) -> Supervisor {
        Supervisor::start_in(Mode::Fork, None, workers, dry_run, events).await
    }

    /// Starts (or adopts: its unit left running, or through `match`) every
    /// command worker, run the `mode` way, and begins watching units. In
    /// dry run nothing is started. With `store`, each worker's restart
    /// budget and backoff are kept there, so a restart of healthmon resets
    /// neither.
    pub async fn start_in(
        mode: Mode,
        store: Option<StoreHandle>,
        workers: &[WorkerSettings],
        dry_run: bool,
        events: EventSender,
    ) -> Supervisor {
        let systemd = ManagerSlot::default();
        let launcher = Launcher::new(mode, &systemd);
        let claimed = Arc::new(Mutex::new(HashSet::new()));
        let mut supervisor = Supervisor { dry_run, events, claimed, entries: Vec::new(), systemd, launcher, store };
        for w in workers {
            let entry = supervisor.entry(w);
            supervisor.entries.push(entry);
        }
        supervisor
    }

    fn entry(&self, w: &WorkerSettings) -> Entry {
        match &w.kind {
            WorkerKind::Command(spec) => Entry::Command(CommandEntry {
                handle: Handle::spawn(
                    w.clone(),
                    spec.clone(),
                    self.dry_run,
                    self.events.clone(),
                    self.claimed.clone(),
                    self.launcher.clone(),
                    self.store.clone(),
                ),
                failures: 0,
                usage: Usage::default(),
            }),
            WorkerKind::Unit(name) => Entry::Unit(UnitWorker::new(w.clone(), name.clone())),
        }
    }

    /// The per-cycle findings: liveness probes, unit states, given-up workers.
    pub async fn cycle(&mut self) -> Vec<Finding> {
        let mut probes = self.probe_all().await;
        let bus = self.bus_for_cycle().await;
        let mut out = Vec::new();
        let mut bus_failed = false;
        for (index, entry) in self.entries.iter_mut().enumerate() {
            match entry {
                Entry::Command(c) => out.push(c.cycle(probes.remove(&index), self.dry_run)),
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
        let mut reads = JoinSet::new();
        for (index, entry) in self.entries.iter().enumerate() {
            let whose = match entry {
                Entry::Command(c) => match c.handle.snapshot().phase {
                    Phase::Up { unit: Some(unit), .. } => Whose::Unit(unit),
                    Phase::Up { pid, adopted: true, .. } => Whose::Process(pid as i32),
                    Phase::Up { pid, .. } => Whose::Group(pid as i32),
                    _ => continue,
                },
                Entry::Unit(u) => Whose::Unit(u.unit().to_string()),
            };
            let manager = manager.clone();
            reads.spawn(async move { (index, resources::read(whose, manager.as_ref()).await) });
        }
        let mut usages = vec![Usage::default(); self.entries.len()];
        while let Some(Ok((index, usage))) = reads.join_next().await {
            usages[index] = usage;
        }
        for (entry, usage) in self.entries.iter_mut().zip(usages) {
            match entry {
                Entry::Command(c) => c.usage = usage,
                Entry::Unit(u) => u.usage = usage,
            }
        }
    }

    /// Runs the probes of all verified, running command workers at once.
    async fn probe_all(&self) -> HashMap<usize, (u32, Result<(), ProbeFailure>)> {
        let mut set = JoinSet::new();
        for (index, entry) in self.entries.iter().enumerate() {
            let Entry::Command(c) = entry else { continue };
            let w = &c.handle.settings;
            let (Some(argv), Phase::Up { pid, verified: true, .. }) = (&w.health_command, c.handle.snapshot().phase) else {
                continue;
            };
            let (argv, timeout) = (argv.clone(), w.health_timeout);
            let WorkerKind::Command(spec) = w.kind.clone() else { continue };
            set.spawn(async move { (index, pid, probe::run(&argv, &spec, timeout).await) });
        }
        let mut results = HashMap::new();
        while let Some(joined) = set.join_next().await {
            if let Ok((index, pid, result)) = joined {
                results.insert(index, (pid, result));
            }
        }
        results
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
    /// A worker whose command (argv, directory, environment, user, match)
    /// or unit is unchanged keeps running; a changed one is stopped and
    /// started anew; a removed one is stopped.
    pub async fn reconfigure(&mut self, workers: &[WorkerSettings], dry_run: bool) {
        self.dry_run = dry_run;
        let mut old: HashMap<String, Entry> = self.entries.drain(..).map(|e| (e.name().to_string(), e)).collect();
        for w in workers {
            let kept = match (old.remove(&w.name), &w.kind) {
                (Some(Entry::Command(mut c)), WorkerKind::Command(spec)) if same_command(&c.handle.settings, spec) => {
                    c.handle.send(Control::Update(Box::new(w.clone()), dry_run));
                    c.handle.settings = w.clone();
                    c.failures = 0;
                    Some(Entry::Command(c))
                }
                (Some(Entry::Unit(mut u)), WorkerKind::Unit(name)) if u.unit() == name => {
                    u.update(w.clone());
                    Some(Entry::Unit(u))
                }
                (Some(replaced), _) => {
                    stop_entry(replaced).await;
                    None
                }
                (None, _) => None,
            };
            let entry = kept.unwrap_or_else(|| self.entry(w));
            self.entries.push(entry);
        }
        for (_, removed) in old {
            stop_entry(removed).await;
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
    }
}

fn same_command(old: &WorkerSettings, spec: &CommandWorker) -> bool {
    matches!(&old.kind, WorkerKind::Command(current) if current == spec)
}

async fn stop_entry(entry: Entry) {
    if let Entry::Command(c) = entry {
        c.handle.stop().await;
    }
}

impl CommandEntry {
    /// This cycle's `worker_status` finding; a probe failing
    /// `health_failures` times in a row asks the task for a restart.
    fn cycle(&mut self, probe: Option<(u32, Result<(), ProbeFailure>)>, dry_run: bool) -> Finding {
        let snap = self.handle.snapshot();
        let w = &self.handle.settings;
        match &snap.phase {
            Phase::Up { pid, verified: true, .. } => {
                let details = self.describe(&snap);
                // A probe of an earlier pid says nothing about this one.
                let Some((_, Err(failure))) = probe.filter(|(probed, _)| probed == pid) else {
                    self.failures = 0;
                    return findings::healthy(w, details);
                };
                self.failures += 1;
                if self.failures < w.health_failures {
                    let message = format!("health check failed ({} of {}): {}", self.failures, w.health_failures, failure.0);
                    return findings::problem(w, Status::Unhealthy, message, details);
                }
                self.failures = 0;
                let reason = format!("health check failed {} times in a row, last: {}", w.health_failures, failure.0);
                let finding = findings::problem(w, Status::Unhealthy, format!("{reason}; restarting"), details);
                if dry_run {
                    return findings::would(finding, "would restart");
                }
                self.handle.send(Control::Restart(reason));
                finding
            }
            Phase::Up { restart: Some(cause), .. } => {
                findings::problem(w, Status::Unhealthy, format!("restarted after {cause}; verifying"), self.describe(&snap))
            }
            Phase::Up { .. } | Phase::Starting => findings::healthy(w, format!("starting; {}", self.describe(&snap))),
            Phase::Waiting { until, message, error } => {
                let status = if *error { Status::Error } else { Status::Unhealthy };
                let details = format!("next start in {}; restarts {}", human(command::remaining(*until)), snap.restarts);
                findings::problem(w, status, message, details)
            }
            Phase::GivenUp { restarts, last } => findings::given_up(w, *restarts, last),
            Phase::Ambiguous { message } => findings::warning(w, Status::Error, message, "ambiguous match"),
            Phase::Down { message } => findings::would(findings::problem(w, Status::Unhealthy, message, "dry run"), "would start"),
            Phase::Stopped => findings::problem(w, Status::Unhealthy, "stopped", "healthmon is stopping"),
        }
    }

    fn info(&self) -> WorkerInfo {
        let snap = self.handle.snapshot();
        let (state, pid, healthy) = match &snap.phase {
            Phase::Up { pid, verified: true, .. } if self.failures > 0 => ("unhealthy", *pid, false),
            Phase::Up { pid, verified: true, .. } => ("running", *pid, true),
            Phase::Up { pid, restart: Some(_), .. } => ("restarting", *pid, false),
            Phase::Up { pid, .. } => ("starting", *pid, false),
            Phase::Starting => ("starting", 0, false),
            Phase::Waiting { error: true, .. } => ("error", 0, false),
            Phase::Waiting { .. } => ("restarting", 0, false),
            Phase::GivenUp { .. } => ("given-up", 0, false),
            Phase::Ambiguous { .. } => ("error", 0, false),
            Phase::Down { .. } | Phase::Stopped => ("stopped", 0, false),
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
        }
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

/// `healthmon --once`: each worker reported as running or down, nothing
/// started or restarted (the daemon supervises; a one-shot run must not
/// leave unsupervised children behind), so `dry_run` changes nothing here.
/// A command worker counts as running when a process matches `match`, or
/// without `match` when a process's command line is exactly `command` (or
/// ends with it, for scripts run through their interpreter).
pub async fn once(workers: &[WorkerSettings], _dry_run: bool) -> Vec<Finding> {
    let bus = if workers.iter().any(|w| matches!(w.kind, WorkerKind::Unit(_))) {
        Manager::connect().await.map_err(|err| err.to_string())
    } else {
        Err("no unit workers".into())
    };
    let mut out = Vec::new();
    for w in workers {
        let finding = match &w.kind {
            WorkerKind::Command(spec) => report_command(w, spec).await,
            WorkerKind::Unit(name) => unit::report(w, name, bus.as_ref().map_err(String::as_str)).await,
        };
        out.push(finding);
    }
    out
}

async fn report_command(w: &WorkerSettings, spec: &CommandWorker) -> Finding {
    let pattern = spec.match_cmdline.clone();
    let joined = spec.command.join(" ");
    let exact = joined.clone();
    let found = tokio::task::spawn_blocking(move || match &pattern {
        Some(pattern) => adopt::find(pattern, &HashSet::new()),
        None => adopt::scan(
            |argv| {
                let cmdline = argv.join(" ");
                cmdline == exact || cmdline.ends_with(&format!(" {exact}"))
            },
            &HashSet::new(),
        ),
    })
    .await
    .unwrap_or_default();
    let how = match &spec.match_cmdline {
        Some(pattern) => format!("matched {pattern:?}"),
        None => "matched its command".to_string(),
    };
    match found.first() {
        Some(c) => findings::healthy(w, format!("running (pid {}, {how}): {}", c.pid, c.cmdline)),
        None => findings::problem(w, Status::Unhealthy, "not running (start the daemon to supervise it)", joined),
    }
}
