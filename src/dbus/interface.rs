//! `org.healthmon.Monitor1`, defined once: the `#[interface]` below serves
//! it in the daemon and generates [`MonitorProxy`] for `healthctl`. The
//! contract fixes every member's signature; `dist/dbus/` holds the same
//! interface as introspection XML, checked against this one by a test.

use tokio::sync::{mpsc, oneshot};
use zbus::interface;
use zbus::object_server::SignalEmitter;

use super::errors::MonitorError;
use super::types::{AlertEntry, CycleDict, MetricEntry, StatusDict, WorkerEntry};
use super::{read_snapshot, Request, SharedSnapshot};
use crate::store::StoreHandle;

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
