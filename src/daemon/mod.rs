//! The service: one loop owns the engine, the worker supervisor and the
//! settings, and waits on the check timer, D-Bus requests, signals, the
//! supervisor's events, the watchdog heartbeat and an injected shutdown
//! future. D-Bus methods that change state only send the loop a request;
//! `Status()` and the list methods never wait for it (see [`crate::dbus`]).

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};
use zbus::object_server::InterfaceRef;

use crate::config::{ConfigError, Settings};
use crate::dbus::{self, Bus, CycleDict, Monitor, MonitorError, MonitorSignals, Request, SharedSnapshot, Snapshot};
use crate::engine::{CycleSummary, Engine, Section};
use crate::inflight::LateReceiver;
use crate::journal::{self, Journal};
use crate::model::{Finding, HostState};
use crate::notifier::Dispatch;
use crate::prometheus;
use crate::selfcheck;
use crate::store::{StoreError, StoreHandle};
use crate::systemd::Notifier;
use crate::workers::{self, Supervisor};

/// Worker control and silences: requests, replies, expiry.
mod control;
/// Test hooks: SIGUSR1 wedges the loop, in debug builds with
/// `HEALTHMON_TEST_HOOKS=1` only.
mod hooks;
/// Loading and reloading the settings.
mod reload;
/// SIGTERM, SIGINT, SIGHUP and the hooks, as streams the loop selects on.
mod signals;
/// The `STATUS=` line.
mod status;
/// The check timer and the watchdog/`STATUS=` heartbeat.
mod timers;

use control::{Control, ControlWake};
use reload::load_settings;
use signals::Signals;
pub use status::status_line;
use timers::{check_timer, heartbeat_timer};

/// D-Bus requests that may wait for the loop; more is `Busy`.
const REQUEST_QUEUE: usize = 16;
/// The stages of a cycle that each may take up to `check_timeout`
/// (workers, sessions, locks, disk): with the slack below, how long a cycle
/// may run while the loop keeps pinging the watchdog. A cycle stuck longer
/// is a hung loop, and systemd should restart us.
const CYCLE_STAGES: u32 = 4;
const CYCLE_SLACK: Duration = Duration::from_secs(30);
/// How long a graceful stop waits for the bus connection to close.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a stop waits for queued notifications.
const NOTIFY_DRAIN: Duration = Duration::from_secs(5);

/// The stop reason for SIGTERM: only it may leave workers' units running.
const SIGTERM: &str = "SIGTERM";
/// The same, arriving while a check cycle runs.
const SIGTERM_IN_CYCLE: &str = "SIGTERM (during a check cycle)";

/// A SIGTERM, whenever it came, asks systemd which job it is (a restart
/// leaves the workers' units running); any other reason stops them.
fn sigterm(reason: &str) -> bool {
    reason == SIGTERM || reason == SIGTERM_IN_CYCLE
}

/// What `healthmon` was started with.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: Option<PathBuf>,
    pub database: Option<PathBuf>,
    pub bus: Bus,
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{name} is already owned on the {bus} bus: is another healthmon running?", name = dbus::NAME)]
    NameTaken { bus: &'static str },
    #[error("cannot serve {name} on the {bus} bus: {source}", name = dbus::NAME)]
    Bus { bus: &'static str, source: zbus::Error },
    #[error("cannot listen for signals: {0}")]
    Signals(std::io::Error),
}

/// Runs the service until SIGTERM/SIGINT, `Stop()` or `shutdown` completes.
/// `READY=1` goes out once the database is open and the bus name is owned.
pub async fn run(opts: Options, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let notifier = Notifier::from_env();
    let settings = load_settings(&opts)?;
    let mut signals = Signals::new().map_err(DaemonError::Signals)?;

    let path = settings.monitor.database.clone();
    let (store, state_trouble) = tokio::task::spawn_blocking(move || selfcheck::open_state(&path, SystemTime::now()))
        .await
        .expect("opening the database panicked");
    let store = StoreHandle::new(store);
    let journal = Arc::new(Journal::detect());
    let mut engine = Engine::new(&settings, store.clone(), Arc::clone(&journal), opts.dry_run);
    let late_runs = engine.take_late_runs().expect("a new engine has its late-run receiver");
    let snapshot: SharedSnapshot = Arc::new(RwLock::new(Snapshot::new(engine.dry_run())));

    let (requests_tx, requests) = mpsc::channel(REQUEST_QUEUE);
    let monitor = Monitor::new(requests_tx, Arc::clone(&snapshot), store.clone());
    let connection = serve(opts.bus, monitor).await?;
    let iface = connection
        .object_server()
        .interface::<_, Monitor>(dbus::PATH)
        .await
        .map_err(|source| DaemonError::Bus { bus: opts.bus.as_str(), source })?;

    // Workers start only once the name is ours: a second healthmon that
    // lost the race must not start a second set of workers.
    // Workers an administrator stopped stay stopped across restarts.
    let held = store.call(|s| s.stopped_workers()).await.unwrap_or_else(|err| {
        log::error!("cannot read which workers were stopped by an administrator; starting all: {err}");
        Default::default()
    });
    let (events_tx, events) = mpsc::unbounded_channel();
    let mode = workers::Mode::detect(opts.bus == Bus::System);
    if mode == workers::Mode::Fork {
        log::info!(
            "workers run as children of healthmon (fork mode: systemd is not PID 1 or the bus is not the system bus)"
        );
    }
    let supervisor =
        Supervisor::start_in(mode, Some(store.clone()), &settings.workers, held, engine.dry_run(), events_tx).await;

    let (failures_tx, notify_failures) = mpsc::unbounded_channel();
    let notifications = Dispatch::new(settings.notify.as_ref(), failures_tx);

    let control = Control::new();
    let mut daemon = Daemon {
        opts,
        settings,
        engine,
        supervisor,
        store,
        journal,
        notifier,
        notifications,
        snapshot,
        iface,
        control,
    };
    daemon.silences_changed().await;
    let started = daemon.engine.record_event("healthmon", selfcheck::startup_findings(state_trouble)).await;
    daemon.publish(&started, false).await;
    daemon.notifier.ready();
    log::info!(
        "healthmon {} serving {} on the {} bus",
        env!("CARGO_PKG_VERSION"),
        dbus::NAME,
        daemon.opts.bus.as_str()
    );

    let channels = Channels { requests, events, notify_failures, late_runs, deferred: Vec::new() };
    let reason = daemon.run_loop(&mut signals, channels, shutdown).await;
    log::info!("stopping: {reason}");
    daemon.notifier.stopping();
    daemon.notifier.status("stopping");
    let Daemon { supervisor, iface, notifications, .. } = daemon;
    if sigterm(reason) {
        supervisor.on_sigterm().await;
    } else {
        supervisor.shutdown().await;
    }
    notifications.finish(NOTIFY_DRAIN).await;
    // Our references go first; the graceful close then waits for the
    // method calls still in flight (Stop's own reply among them).
    drop(iface);
    if tokio::time::timeout(CLOSE_TIMEOUT, connection.graceful_shutdown()).await.is_err() {
        log::warn!("the bus connection did not close within {}s", CLOSE_TIMEOUT.as_secs());
    }
    Ok(())
}

/// Connects, serves the interface and owns the name; without
/// replacement, so a running healthmon keeps its name.
async fn serve(bus: Bus, monitor: Monitor) -> Result<zbus::Connection, DaemonError> {
    bus.builder().serve_at(dbus::PATH, monitor).name(dbus::NAME).replace_existing_names(false).build().await.map_err(
        |source| match source {
            zbus::Error::NameTaken => DaemonError::NameTaken { bus: bus.as_str() },
            source => DaemonError::Bus { bus: bus.as_str(), source },
        },
    )
}

/// What woke the loop.
enum Wake {
    Stop(&'static str),
    Reload,
    Cycle,
    Heartbeat,
    Request(Request),
    /// Findings between cycles: a worker crash handled, a notification that failed.
    Event(&'static str, Vec<Finding>),
    Control(ControlWake),
    Wedge,
}

/// What the loop receives besides timers and signals.
struct Channels {
    requests: mpsc::Receiver<Request>,
    events: mpsc::UnboundedReceiver<Vec<Finding>>,
    notify_failures: mpsc::UnboundedReceiver<Vec<Finding>>,
    late_runs: LateReceiver,
    /// Requests that arrived during a cycle, handled after it.
    deferred: Vec<Request>,
}

/// Everything the loop owns.
struct Daemon {
    opts: Options,
    settings: Settings,
    engine: Engine,
    supervisor: Supervisor,
    store: StoreHandle,
    journal: Arc<Journal>,
    notifier: Notifier,
    notifications: Dispatch,
    snapshot: SharedSnapshot,
    iface: InterfaceRef<Monitor>,
    control: Control,
}

impl Daemon {
    /// The one loop; returns why it stopped.
    async fn run_loop(
        &mut self,
        signals: &mut Signals,
        mut ch: Channels,
        shutdown: impl Future<Output = ()>,
    ) -> &'static str {
        tokio::pin!(shutdown);
        let mut ticker = check_timer(self.settings.monitor.check_interval, true);
        let mut heartbeat = heartbeat_timer(&self.notifier);
        loop {
            let deferred = (!ch.deferred.is_empty()).then(|| ch.deferred.remove(0));
            let wake = if let Some(request) = deferred {
                Wake::Request(request)
            } else {
                tokio::select! {
                    biased;
                    () = &mut shutdown => Wake::Stop("shutdown requested"),
                    _ = signals.term.recv() => Wake::Stop(SIGTERM),
                    _ = signals.int.recv() => Wake::Stop("SIGINT"),
                    _ = signals.hup.recv() => Wake::Reload,
                    () = signals.hooks.wedge_requested() => Wake::Wedge,
                    _ = heartbeat.tick() => Wake::Heartbeat,
                    Some(request) = ch.requests.recv() => Wake::Request(request),
                    Some(findings) = ch.events.recv() => Wake::Event(workers::SECTION, findings),
                    Some(findings) = ch.notify_failures.recv() => Wake::Event("notify", findings),
                    Some(late) = ch.late_runs.recv() => Wake::Event(late.check, late.findings),
                    wake = self.control.next() => Wake::Control(wake),
                    _ = ticker.tick() => Wake::Cycle,
                }
            };
            match wake {
                Wake::Stop(reason) => return reason,
                Wake::Reload => {
                    let old_interval = self.settings.monitor.check_interval;
                    let _ = self.reload().await;
                    if self.settings.monitor.check_interval != old_interval {
                        ticker = check_timer(self.settings.monitor.check_interval, false);
                    }
                }
                Wake::Cycle => {
                    if let Err(stop) = self.cycle(&mut heartbeat, signals, &mut ch).await {
                        return stop;
                    }
                }
                Wake::Heartbeat => {
                    self.notifier.watchdog();
                    self.refresh_workers();
                    self.status_now();
                }
                Wake::Request(Request::Stop) => return "Stop() called over D-Bus",
                Wake::Request(request) => {
                    let old_interval = self.settings.monitor.check_interval;
                    if let Err(stop) = self.handle(request, &mut heartbeat, signals, &mut ch).await {
                        return stop;
                    }
                    if self.settings.monitor.check_interval != old_interval {
                        ticker = check_timer(self.settings.monitor.check_interval, false);
                    }
                }
                Wake::Event(source, findings) => {
                    let summary = self.engine.record_event(source, findings).await;
                    // A burst of events (100 workers crashing at once)
                    // refreshes the snapshot once, after its last event:
                    // each refresh reads every open alert and every worker.
                    if ch.events.is_empty() {
                        self.publish(&summary, false).await;
                    } else {
                        self.announce(&summary).await;
                    }
                }
                Wake::Control(wake) => self.control_wake(wake).await,
                Wake::Wedge => {
                    // Test hook (debug builds only): a hung loop must stop
                    // the watchdog pings while D-Bus keeps answering.
                    log::warn!("test hook: wedging the main loop");
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Handles one request; `Err` carries why the monitor must stop now
    /// (a stop seen during a `RunOnce()` cycle).
    async fn handle(
        &mut self,
        request: Request,
        heartbeat: &mut Interval,
        signals: &mut Signals,
        ch: &mut Channels,
    ) -> Result<(), &'static str> {
        match request {
            Request::RunOnce(reply) => {
                let summary = self.cycle(heartbeat, signals, ch).await?;
                let _ = reply.send(CycleDict::from(&summary));
            }
            Request::Reload(reply) => {
                let _ = reply.send(self.reload().await);
            }
            Request::ResolveAlert(id, reply) => {
                let _ = reply.send(self.resolve_alert(id).await);
            }
            Request::Worker(op, name, reply) => self.control_worker(op, name, reply).await,
            Request::Silence(component, seconds, reason, reply) => {
                let _ = reply.send(self.add_silence(component, seconds, reason).await);
            }
            Request::Unsilence(id, reply) => {
                let _ = reply.send(self.remove_silence(id).await);
            }
            Request::Stop => unreachable!("Stop is handled by the loop itself"),
        }
        Ok(())
    }

    /// One full cycle: the supervisor's findings, then every check. The
    /// loop keeps pinging the watchdog while the cycle makes progress, but
    /// only within the time a cycle can legitimately take. SIGTERM, SIGINT
    /// and `Stop()` end it at once (`Err` with the reason); other requests
    /// wait for its end.
    async fn cycle(
        &mut self,
        heartbeat: &mut Interval,
        signals: &mut Signals,
        ch: &mut Channels,
    ) -> Result<CycleSummary, &'static str> {
        let budget = self.settings.monitor.check_timeout * CYCLE_STAGES + CYCLE_SLACK;
        let deadline = Instant::now() + budget;
        let summary = {
            let supervisor = &mut self.supervisor;
            let engine = &mut self.engine;
            let work = async {
                let workers = supervisor.cycle().await;
                let extra = if supervisor.list().is_empty() && workers.is_empty() {
                    Vec::new()
                } else {
                    vec![Section { check: workers::SECTION.into(), findings: workers }]
                };
                engine.run_cycle(extra).await
            };
            tokio::pin!(work);
            loop {
                tokio::select! {
                    summary = &mut work => break summary,
                    _ = signals.term.recv() => return Err(SIGTERM_IN_CYCLE),
                    _ = signals.int.recv() => return Err("SIGINT (during a check cycle)"),
                    Some(request) = ch.requests.recv() => match request {
                        Request::Stop => return Err("Stop() called over D-Bus (during a check cycle)"),
                        other => ch.deferred.push(other),
                    },
                    _ = heartbeat.tick() => {
                        if Instant::now() < deadline {
                            self.notifier.watchdog();
                        } else {
                            log::error!("check cycle running for over {}s; no more watchdog pings", budget.as_secs());
                        }
                    }
                }
            }
        };
        self.publish(&summary, true).await;
        crate::process::heap::trim();
        Ok(summary)
    }

    /// Tells the bus (and systemd) what a cycle or event changed.
    async fn publish(&mut self, summary: &CycleSummary, completed_cycle: bool) {
        self.announce(summary).await;
        if completed_cycle {
            let forecast = crate::checks::disk_trend::lines(summary.sections.iter().flat_map(|s| &s.findings));
            self.snapshot.write().unwrap_or_else(|p| p.into_inner()).disk_forecast = forecast;
            log_signal_error("CheckCompleted", self.iface.check_completed(CycleDict::from(summary)).await);
        }
        let dry_run_state = self.engine.dry_run().then_some(summary.state);
        self.refresh(dry_run_state).await;
        if completed_cycle && !self.engine.dry_run() {
            self.after_cycle().await;
        }
    }

    /// The alerts raised and resolved: D-Bus signals and notifications.
    async fn announce(&mut self, summary: &CycleSummary) {
        for alert in &summary.raised {
            let sent =
                self.iface.alert_raised(alert.id, alert.severity.as_str(), &alert.component, &alert.message).await;
            log_signal_error("AlertRaised", sent);
        }
        for alert in &summary.resolved {
            log_signal_error("AlertResolved", self.iface.alert_resolved(alert.id).await);
        }
        let (raised, resolved) = summary.to_notify();
        self.notifications.alerts(&raised, &resolved);
    }

    /// Re-reads counters, alerts and workers into the snapshot, emits
    /// PropertiesChanged when the state moved, and updates `STATUS=`.
    /// In dry run no alert is written, so the state is the cycle's own.
    async fn refresh(&mut self, dry_run_state: Option<HostState>) {
        // Every open alert is counted; silenced ones do not drive the state.
        let (unresolved, problem) = self
            .store
            .call(|s| {
                let open = s.unresolved().and_then(|rows| Ok((rows, s.counted_unresolved(SystemTime::now())?)));
                (open, s.problem())
            })
            .await;
        let (count, state) = match unresolved {
            Ok((rows, counted)) => (rows.len(), HostState::from_worst(counted.iter().map(|a| a.severity).max())),
            Err(err) => {
                log::error!("cannot read unresolved alerts: {err}");
                (0, HostState::Critical)
            }
        };
        // A state database in trouble is at least `degraded`, whatever the alerts say.
        let floor = if problem.is_some() { HostState::Degraded } else { HostState::Healthy };
        let state = dry_run_state.unwrap_or(state).max(floor);
        let previous = {
            let mut snap = self.snapshot.write().unwrap_or_else(|p| p.into_inner());
            let previous = snap.state;
            snap.counters = self.engine.counters().clone();
            snap.last_check = self.engine.last_check();
            snap.workers = self.supervisor.list();
            snap.unresolved_alerts = u32::try_from(count).unwrap_or(u32::MAX);
            snap.state = state;
            snap.dry_run = self.engine.dry_run();
            snap.state_problem = problem.unwrap_or_default();
            previous
        };
        if previous != state {
            log::info!("state changed: {} -> {}", previous.as_str(), state.as_str());
            let iface = self.iface.get().await;
            log_signal_error("PropertiesChanged", iface.state_changed(self.iface.signal_emitter()).await);
        }
        self.status_now();
    }

    /// `STATUS=` from the snapshot, read in place (a copy would clone every
    /// worker's row, every heartbeat).
    fn status_now(&self) {
        let line = status_line(&self.snapshot.read().unwrap_or_else(|p| p.into_inner()), SystemTime::now());
        self.notifier.status(&line);
    }

    /// The Prometheus export, due reminders and the open alerts for
    /// Alertmanager, after a real cycle.
    async fn after_cycle(&mut self) {
        let snap = self.snapshot_copy();
        let count = |f: fn(&&crate::workers::WorkerInfo) -> bool| snap.workers.iter().filter(f).count() as u32;
        let workers = prometheus::WorkerCounts {
            healthy: count(|w| w.healthy),
            total: snap.workers.len() as u32,
            given_up: count(|w| w.state == "given-up"),
            usage: snap
                .workers
                .iter()
                .filter(|w| w.pid != 0)
                .map(|w| (w.name.clone(), w.memory_bytes, w.cpu_usec))
                .collect(),
        };
        let states = snap.workers.iter().map(|w| (w.name.clone(), w.state.clone())).collect();
        // Not awaited: a hung filesystem must not hold the loop.
        let _ = prometheus::export(&self.settings, &self.engine, snap.state, workers, states);
        if self.notifications.wants_open_alerts() {
            // Silenced alerts are neither reminded of nor posted to Alertmanager.
            match self.store.call(|s| s.counted_unresolved(SystemTime::now())).await {
                Ok(unresolved) => self.notifications.open_alerts(&unresolved),
                Err(err) => log::warn!("cannot read unresolved alerts for reminders and Alertmanager: {err}"),
            }
        }
    }

    fn refresh_workers(&mut self) {
        let workers = self.supervisor.list();
        self.snapshot.write().unwrap_or_else(|p| p.into_inner()).workers = workers;
    }

    fn snapshot_copy(&self) -> Snapshot {
        dbus::read_snapshot(&self.snapshot)
    }

    /// `ResolveAlert()`: closes the alert, tells the supervisor (a given-up
    /// worker gets a fresh restart budget) and the bus.
    async fn resolve_alert(&mut self, id: i64) -> Result<bool, MonitorError> {
        let resolved = self.store.call(move |s| s.resolve_alert(id, SystemTime::now())).await?;
        let Some(alert) = resolved else { return Ok(false) };
        log::info!("alert {id} on {} resolved by hand", alert.component);
        self.journal.send(&journal::alert_resolved_entry(&alert));
        self.supervisor.alert_resolved_by_hand(&alert.component);
        let held = self.store.call({
            let alert = alert.clone();
            move |s| s.is_held(&alert, SystemTime::now())
        });
        if !held.await.unwrap_or(false) {
            self.notifications.alerts(&[], std::slice::from_ref(&alert));
        }
        log_signal_error("AlertResolved", self.iface.alert_resolved(id).await);
        self.refresh(None).await;
        Ok(true)
    }
}

fn log_signal_error(what: &str, result: zbus::Result<()>) {
    if let Err(err) = result {
        log::warn!("cannot emit {what}: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `systemctl restart healthmon` during a check cycle once stopped
    /// every worker: only the SIGTERM outside a cycle was asked about its job.
    #[test]
    fn a_sigterm_during_a_cycle_is_a_sigterm() {
        assert!(sigterm(SIGTERM));
        assert!(sigterm(SIGTERM_IN_CYCLE));
        assert!(!sigterm("SIGINT (during a check cycle)"));
        assert!(!sigterm("Stop() called over D-Bus"));
    }
}
