//! The probe timer of one command worker, a task of its own beside the
//! worker's: every `health_interval` (independent of `check_interval`) it
//! runs a probe round and samples the resource limits of the running
//! process. Inside the startup window (`start_timeout` after a start, or
//! until the first passing round) failed probes do not count; after it,
//! `health_failures` failures in a row, or a limit held for `over_for`,
//! ask the worker's task for a graceful restart. Each counted failure is
//! a finding at once (metrics row, alert, journal) with what the probe saw.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{CommandWorker, WorkerSettings};
use crate::model::{Finding, Status};

use super::super::command::{Control, Peer, Phase};
use super::super::findings as f;
use super::super::launch::Launcher;
use super::super::limits::LimitWatch;
use super::super::resources;
use super::super::EventSender;
use super::Outcome;

/// The probe state the supervisor reads each cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Health {
    /// The process the state is about (0 = none).
    pub pid: u32,
    /// Counted failures in a row.
    pub failures: u32,
    /// What the last counted failure saw.
    pub last: String,
}

/// The supervisor's end of a probe timer; dropping it stops the timer.
pub struct Timer {
    health: Arc<Mutex<Health>>,
    settings: watch::Sender<(WorkerSettings, bool)>,
    task: JoinHandle<()>,
}

impl Timer {
    /// Starts the timer of the worker whose task `peer` reaches.
    pub fn spawn(
        w: WorkerSettings,
        spec: CommandWorker,
        peer: Peer,
        events: EventSender,
        launcher: Launcher,
        dry_run: bool,
    ) -> Timer {
        let health = Arc::new(Mutex::new(Health::default()));
        let (settings, rx) = watch::channel((w.clone(), dry_run));
        let task = Task { w, spec, dry_run, peer, events, launcher, settings: rx, health: health.clone(), run: None };
        Timer { health, settings, task: tokio::spawn(task.run()) }
    }

    pub fn health(&self) -> Health {
        lock(&self.health).clone()
    }

    /// New settings after a reload (same command): failures start over.
    pub fn update(&self, w: WorkerSettings, dry_run: bool) {
        self.settings.send_replace((w, dry_run));
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the timer keeps about the current process.
struct Run {
    pid: u32,
    /// When the startup window began (the start, or the adoption).
    since: Instant,
    /// The window ended: a round passed, or the process was adopted.
    started_up: bool,
    /// A restart was asked for: this process is going, probe it no more.
    restarting: bool,
    limits: LimitWatch,
}

struct Task {
    w: WorkerSettings,
    spec: CommandWorker,
    dry_run: bool,
    peer: Peer,
    events: EventSender,
    launcher: Launcher,
    settings: watch::Receiver<(WorkerSettings, bool)>,
    health: Arc<Mutex<Health>>,
    run: Option<Run>,
}

impl Task {
    /// Ticks only while the worker has probes or limits: most workers have
    /// neither, and 1,500 idle timers would each wake every
    /// `health_interval` for nothing. The tick is boxed, so that a timer
    /// waits in a small future (6.3 KiB each unboxed).
    async fn run(mut self) {
        let mut next = Instant::now() + self.w.health_interval;
        loop {
            let ticking = super::configured(&self.w) || !self.w.limits.is_empty();
            tokio::select! {
                _ = tokio::time::sleep_until(next.into()), if ticking => next = Box::pin(self.tick()).await,
                changed = self.settings.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    (self.w, self.dry_run) = self.settings.borrow_and_update().clone();
                    // Failures and limit watches start over, but the running
                    // process keeps its place: a reload gives it no new
                    // startup window (a window would hide a hang for up to
                    // start_timeout after every reload).
                    if let Some(run) = self.run.as_mut() {
                        run.limits = LimitWatch::default();
                    }
                    let pid = self.run.as_ref().map_or(0, |run| run.pid);
                    *lock(&self.health) = Health { pid, ..Health::default() };
                    next = next.min(Instant::now() + self.w.health_interval);
                }
            }
        }
    }

    /// One round on the running process; returns when the next is due.
    async fn tick(&mut self) -> Instant {
        let mut next = Instant::now() + self.w.health_interval;
        let phase = self.peer.snapshot().phase;
        let Phase::Up { pid, since, adopted, .. } = phase else {
            self.run = None;
            return next;
        };
        if self.run.as_ref().is_none_or(|run| run.pid != pid) {
            let run = Run { pid, since, started_up: adopted, restarting: false, limits: LimitWatch::default() };
            self.run = Some(run);
            *lock(&self.health) = Health { pid, ..Health::default() };
        }
        if self.run.as_ref().is_some_and(|run| run.restarting) {
            return next;
        }
        if super::configured(&self.w) {
            if let Some(stale_at) = self.probe(pid).await {
                // Look again the moment the heartbeat goes stale.
                next = next.min(stale_at);
            }
        }
        if !self.w.limits.is_empty() {
            self.sample_limits(pid, &phase).await;
        }
        next
    }

    /// Runs a round and counts it; returns when the heartbeat goes stale.
    async fn probe(&mut self, pid: u32) -> Option<Instant> {
        let run = self.run.as_ref()?;
        let starting = !run.started_up && run.since.elapsed() < self.w.start_timeout;
        let round = super::round(&self.w, &self.spec, &self.launcher, starting).await;
        // A round of an earlier process says nothing about the current one.
        if !self.still_runs(pid) {
            return None;
        }
        match round.outcome {
            Outcome::Pass => self.passed(pid),
            Outcome::Pending => {}
            Outcome::Fail(what) if starting => {
                log::debug!("{}: probe failed inside start_timeout, not counted: {what}", self.w.name)
            }
            Outcome::Fail(what) => self.failed(pid, what),
        }
        round.stale_at
    }

    fn passed(&mut self, pid: u32) {
        if let Some(run) = self.run.as_mut() {
            run.started_up = true;
        }
        let before = std::mem::replace(&mut *lock(&self.health), Health { pid, ..Health::default() });
        if before.failures > 0 {
            self.emit(f::healthy(&self.w, format!("pid {pid}, health check passes again")));
        }
    }

    /// A counted failure: a finding, and at `health_failures` in a row a restart.
    fn failed(&mut self, pid: u32, what: String) {
        let n = {
            let mut health = lock(&self.health);
            health.failures += 1;
            health.last = what.clone();
            health.failures
        };
        // The details column carries what the probe saw, for the metrics row.
        let (w, details) = (&self.w, format!("pid {pid}: {what}"));
        if n < w.health_failures {
            let message = format!("health check failed ({n} of {}): {what}", w.health_failures);
            return self.emit(f::problem(w, Status::Unhealthy, message, details));
        }
        let reason = match w.health_failures {
            1 => format!("health check failed: {what}"),
            k => format!("health check failed {k} times in a row, last: {what}"),
        };
        let finding = f::problem(w, Status::Unhealthy, format!("{reason}; restarting"), details);
        *lock(&self.health) = Health { pid, ..Health::default() };
        self.restart(pid, finding, reason);
    }

    /// Samples the worker's memory and CPU; a limit held for `over_for`
    /// restarts it with a WARNING naming the figure.
    async fn sample_limits(&mut self, pid: u32, phase: &Phase) {
        let Some(whose) = resources::whose(phase) else { return };
        let manager = match &self.launcher {
            Launcher::Transient(slot) => slot.get().await.ok(),
            Launcher::Fork => None,
        };
        let usage = resources::read(whose, manager.as_ref()).await;
        let Some(run) = self.run.as_mut().filter(|run| run.pid == pid) else { return };
        let Some(breach) = run.limits.sample(&self.w.limits, Instant::now(), usage) else { return };
        let details = format!("pid {pid}: {breach}");
        let finding = f::warning(&self.w, Status::Unhealthy, format!("{breach}; restarting"), details);
        self.restart(pid, finding, breach);
    }

    /// Whether `pid` is still the worker's running process.
    fn still_runs(&self, pid: u32) -> bool {
        matches!(self.peer.snapshot().phase, Phase::Up { pid: now, .. } if now == pid)
    }

    /// Records `finding` and asks the worker's task for a graceful restart
    /// of `pid` (in dry run: records what it would do). The task restarts
    /// whatever it runs, so a `pid` it no longer runs is left alone.
    fn restart(&mut self, pid: u32, finding: Finding, reason: String) {
        if self.dry_run {
            return self.emit(f::would(finding, "would restart"));
        }
        if !self.still_runs(pid) {
            return;
        }
        self.emit(finding);
        if let Some(run) = self.run.as_mut() {
            run.restarting = true;
        }
        self.peer.send(Control::Restart(reason));
    }

    fn emit(&self, finding: Finding) {
        // The receiver is gone only while the daemon shuts down.
        let _ = self.events.send(vec![finding]);
    }
}
