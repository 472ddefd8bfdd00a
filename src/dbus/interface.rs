//! `org.healthmon.Monitor1`, defined once: the `#[interface]` below serves
//! it in the daemon and generates [`MonitorProxy`] for `healthctl`. The
//! contract fixes every member's signature; `dist/dbus/` holds the same
//! interface as introspection XML, checked against this one by a test.

use tokio::sync::{mpsc, oneshot};
use zbus::interface;
use zbus::object_server::SignalEmitter;

use super::errors::MonitorError;
use super::types::{AlertEntry, CycleDict, MetricEntry, SilenceEntry, StatusDict, WorkerDict, WorkerEntry};
use super::{read_snapshot, Request, SharedSnapshot, WorkerOp};
use crate::silences;
use crate::store::StoreHandle;
use crate::workers::{check_name, ControlError};

/// The served object. Cheap to call concurrently: nothing here waits for
/// a running cycle except the methods that must (RunOnce, Reload,
/// ResolveAlert).
pub struct Monitor {
    requests: mpsc::Sender<Request>,
    snapshot: SharedSnapshot,
    store: StoreHandle,
}

impl Monitor {
    pub fn new(requests: mpsc::Sender<Request>, snapshot: SharedSnapshot, store: StoreHandle) -> Monitor {
        Monitor { requests, snapshot, store }
    }

    /// Hands a request to the loop; a full queue is `Busy` rather than an
    /// ever-growing backlog of cycles.
    fn send(&self, request: Request) -> Result<(), MonitorError> {
        self.requests.try_send(request).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                MonitorError::Busy("too many requests are waiting for the check loop; try again shortly".into())
            }
            mpsc::error::TrySendError::Closed(_) => stopping(),
        })
    }
}

impl Monitor {
    /// StartWorker, StopWorker, RestartWorker: a request to the loop,
    /// answered once the worker is there.
    async fn worker(&self, op: WorkerOp, name: &str) -> Result<(), MonitorError> {
        check_name(name)?;
        let (tx, rx) = oneshot::channel();
        self.send(Request::Worker(op, name.to_string(), tx))?;
        reply(rx).await?
    }

    async fn silence_request(&self, component: &str, seconds: u64, reason: &str) -> Result<i64, MonitorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Silence(component.to_string(), seconds, reason.to_string(), tx))?;
        reply(rx).await?
    }
}

fn stopping() -> MonitorError {
    MonitorError::ShuttingDown("healthmon is stopping".into())
}

async fn reply<T>(rx: oneshot::Receiver<T>) -> Result<T, MonitorError> {
    rx.await.map_err(|_| stopping())
}

#[interface(
    name = "org.healthmon.Monitor1",
    proxy(default_service = "org.healthmon.Monitor1", default_path = "/org/healthmon/Monitor1")
)]
impl Monitor {
    /// Counters, state and worker totals since the daemon started.
    async fn status(&self) -> StatusDict {
        read_snapshot(&self.snapshot).status()
    }

    /// Runs a full check cycle now (after a running one finishes) and
    /// returns its summary.
    async fn run_once(&self) -> Result<CycleDict, MonitorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::RunOnce(tx))?;
        reply(rx).await
    }

    /// Replies, then stops the daemon gracefully.
    async fn stop(&self) -> Result<(), MonitorError> {
        // The loop closes the connection gracefully, which waits for this
        // call's reply to go out before the connection is gone.
        self.send(Request::Stop)
    }

    /// Alerts, newest first: id, unix time, severity, component, message,
    /// resolved. `limit` 0 means 100; more than 1,000 means 1,000.
    async fn list_alerts(&self, unresolved_only: bool, limit: u32) -> Result<Vec<AlertEntry>, MonitorError> {
        let rows = self.store.list_alerts(unresolved_only, limit).await?;
        Ok(rows.into_iter().map(AlertEntry::from).collect())
    }

    /// Marks an alert resolved; false when no unresolved alert has that id.
    async fn resolve_alert(&self, id: i64) -> Result<bool, MonitorError> {
        if id < 1 {
            return Err(MonitorError::InvalidArgument(format!("alert ids start at 1, got {id}")));
        }
        let (tx, rx) = oneshot::channel();
        self.send(Request::ResolveAlert(id, tx))?;
        reply(rx).await?
    }

    /// Recent health_metrics rows, newest first: unix time, component,
    /// metric_type, status, action_taken, details. `""` = every component;
    /// `limit` 0 means 100; more than 1,000 means 1,000.
    async fn list_metrics(&self, component: &str, limit: u32) -> Result<Vec<MetricEntry>, MonitorError> {
        let rows = self.store.list_metrics(component.to_string(), limit).await?;
        Ok(rows.into_iter().map(MetricEntry::from).collect())
    }

    /// Each worker: name, state, pid (0 = none), restarts, detail.
    async fn list_workers(&self) -> Vec<WorkerEntry> {
        read_snapshot(&self.snapshot).workers.iter().map(WorkerEntry::from).collect()
    }

    /// Re-reads the configuration files; an invalid configuration keeps
    /// the old one running, raises a WARNING alert and fails InvalidConfig.
    async fn reload(&self) -> Result<(), MonitorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Reload(tx))?;
        reply(rx).await?
    }

    /// Runs a worker an administrator stopped, or one that gave up (with a
    /// fresh restart budget). Succeeds, doing nothing, when it runs.
    async fn start_worker(&self, name: &str) -> Result<(), MonitorError> {
        self.worker(WorkerOp::Start, name).await
    }

    /// Stops a worker gracefully; it stays `stopped` (no restart, no
    /// alert) across reloads, restarts and reboots until StartWorker.
    async fn stop_worker(&self, name: &str) -> Result<(), MonitorError> {
        self.worker(WorkerOp::Stop, name).await
    }

    /// Stops and starts a worker; not counted against its restart budget.
    async fn restart_worker(&self, name: &str) -> Result<(), MonitorError> {
        self.worker(WorkerOp::Restart, name).await
    }

    /// One worker: name, state, pid, restarts, since, last_exit, desired,
    /// unit, memory_bytes, cpu_usec, tasks, detail, kind, status (the
    /// worker's sd_notify STATUS= text).
    async fn get_worker(&self, name: &str) -> Result<WorkerDict, MonitorError> {
        check_name(name)?;
        let snapshot = read_snapshot(&self.snapshot);
        let worker = snapshot.workers.iter().find(|w| w.name == name);
        worker
            .map(WorkerDict::from)
            .ok_or_else(|| ControlError::unknown(name, snapshot.workers.iter().map(|w| &w.name)).into())
    }

    /// Holds back notifications of alerts on `component` (exact, or a
    /// prefix ending in `*`) for `seconds` (1 s to 30 days); the silence's
    /// id. A bare `*` is refused here: SilenceAll says so explicitly.
    async fn silence(&self, component: &str, seconds: u64, reason: &str) -> Result<i64, MonitorError> {
        silences::validate(component, seconds, reason, false)?;
        self.silence_request(component, seconds, reason).await
    }

    /// Silences every component for `seconds` (the explicit form of `*`).
    async fn silence_all(&self, seconds: u64, reason: &str) -> Result<i64, MonitorError> {
        silences::validate(silences::EVERYTHING, seconds, reason, true)?;
        self.silence_request(silences::EVERYTHING, seconds, reason).await
    }

    /// Silences in force: id, component pattern, until (unix time), reason.
    async fn list_silences(&self) -> Result<Vec<SilenceEntry>, MonitorError> {
        let rows = self.store.call(|s| s.active_silences(std::time::SystemTime::now())).await?;
        Ok(rows.into_iter().map(SilenceEntry::from).collect())
    }

    /// Ends a silence now; false when no silence has that id. An alert it
    /// held back that is still open is notified now.
    async fn unsilence(&self, id: i64) -> Result<bool, MonitorError> {
        let (tx, rx) = oneshot::channel();
        self.send(Request::Unsilence(id, tx))?;
        reply(rx).await?
    }

    /// An alert was opened (or escalated).
    #[zbus(signal)]
    pub async fn alert_raised(
        emitter: &SignalEmitter<'_>,
        id: i64,
        severity: &str,
        component: &str,
        message: &str,
    ) -> zbus::Result<()>;

    /// An alert was resolved (by a passing check or by hand).
    #[zbus(signal)]
    pub async fn alert_resolved(emitter: &SignalEmitter<'_>, id: i64) -> zbus::Result<()>;

    /// A check cycle finished; the argument is its summary.
    #[zbus(signal)]
    pub async fn check_completed(emitter: &SignalEmitter<'_>, summary: CycleDict) -> zbus::Result<()>;

    /// The daemon's version.
    #[zbus(property(emits_changed_signal = "const"))]
    async fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }

    /// `healthy`, `degraded` or `critical`: the worst unresolved alert.
    #[zbus(property)]
    async fn state(&self) -> String {
        read_snapshot(&self.snapshot).state.as_str().to_string()
    }
}
