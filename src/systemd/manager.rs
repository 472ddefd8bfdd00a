//! The one client of systemd's manager API (`org.freedesktop.systemd1` on
//! the system bus), shared by unit workers, transient worker services and
//! the job lookup at stop.
//!
//! Every call is bounded (`CALL_TIMEOUT`) and at most `IN_FLIGHT` are
//! pending at once: the system bus allows a connection 128 pending
//! replies, and 100 workers restarting together must not hit that. No
//! signal is subscribed (a match rule per unit would hit the bus's 512):
//! exits are seen through pidfds, and a unit's state is read when needed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use zbus::proxy::CacheProperties;
use zbus::{Connection, OwnedObjectPath, OwnedVariant, Variant};

/// Bound on one round trip, so a wedged bus cannot stall a worker or a cycle.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Calls pending at once on the connection (the bus allows 128).
const IN_FLIGHT: usize = 64;
/// systemd's answer to GetUnit for a unit that is not loaded.
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
/// A `TasksCurrent`, `MemoryCurrent` or `CPUUsageNSec` that is `[not set]`.
const NOT_SET: u64 = u64::MAX;

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;
    #[zbus(name = "GetUnitByPID")]
    fn get_unit_by_pid(&self, pid: u32) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Variant<'_>)],
        aux: &[(&str, &[(&str, Variant<'_>)])],
    ) -> zbus::Result<OwnedObjectPath>;
}

/// Properties are read whole, one GetAll per interface: a unit's state is
/// two round trips, not one per property.
#[zbus::proxy(interface = "org.freedesktop.DBus.Properties", default_service = "org.freedesktop.systemd1")]
trait Properties {
    fn get_all(&self, interface: &str) -> zbus::Result<HashMap<String, OwnedVariant>>;
}

const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";
const JOB: &str = "org.freedesktop.systemd1.Job";

/// One interface's properties, by name.
struct Props(HashMap<String, OwnedVariant>);

impl Props {
    fn get<T: TryFrom<OwnedVariant>>(&mut self, name: &str) -> Option<T> {
        self.0.remove(name).and_then(|v| T::try_from(v).ok())
    }

    fn string(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("cannot connect to the system bus: {0}")]
    Connect(String),
    #[error("systemd refused {what}: {source}")]
    Call { what: String, source: zbus::Error },
    #[error("no answer from systemd within {secs}s to {what}", secs = CALL_TIMEOUT.as_secs())]
    Timeout { what: String },
}

/// What systemd says about a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitState {
    pub load: String,
    pub active: String,
    pub sub: String,
    pub description: String,
    /// 0 = none; only services have one.
    pub main_pid: u32,
    /// Only services have it.
    pub n_restarts: Option<u32>,
    /// A service's `Result` (`success`, `exit-code`, `signal`, ...).
    pub result: Option<String>,
    /// A service's main process: (`ExecMainCode`: CLD_EXITED 1, CLD_KILLED
    /// 2, CLD_DUMPED 3; `ExecMainStatus`: exit code or signal number).
    pub exec_main: Option<(i32, i32)>,
    /// Since when the unit is active, µs since the epoch (0 = not active).
    pub active_since_usec: u64,
}

impl UnitState {
    pub fn describe(&self) -> String {
        let restarts = self.n_restarts.map(|n| format!(" NRestarts={n}")).unwrap_or_default();
        format!("ActiveState={} SubState={} MainPID={}{restarts}", self.active, self.sub, self.main_pid)
    }

    /// Gone from systemd's point of view: nothing of it runs any more.
    pub fn is_down(&self) -> bool {
        matches!(self.active.as_str(), "inactive" | "failed")
    }
}

/// A service's resource accounting; `None` where systemd has it `[not set]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnitResources {
    pub memory_bytes: Option<u64>,
    pub cpu_nsec: Option<u64>,
    pub tasks: Option<u64>,
}

/// A client of systemd's manager; cheap to clone (one connection).
#[derive(Debug, Clone)]
pub struct Manager {
    conn: Connection,
    calls: Arc<Semaphore>,
}

impl Manager {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
    pub async fn connect() -> Result<Manager, ManagerError> {
        match tokio::time::timeout(CALL_TIMEOUT, Connection::system()).await {
            Ok(Ok(conn)) => Ok(Manager::on(conn)),
            Ok(Err(err)) => Err(ManagerError::Connect(err.to_string())),
            Err(_) => Err(ManagerError::Connect(format!("no answer within {}s", CALL_TIMEOUT.as_secs()))),
        }
    }

    /// A client on an existing connection.
    pub fn on(conn: Connection) -> Manager {
        Manager { conn, calls: Arc::new(Semaphore::new(IN_FLIGHT)) }
    }

    /// Runs one call under the in-flight cap and the timeout.
    async fn call<T>(
        &self,
        what: impl Fn() -> String,
        call: impl std::future::Future<Output = zbus::Result<T>>,
    ) -> Result<T, ManagerError> {
        let _permit = self.calls.acquire().await.expect("the semaphore is never closed");
        match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result.map_err(|source| ManagerError::Call { what: what(), source }),
            Err(_) => Err(ManagerError::Timeout { what: what() }),
        }
    }

    async fn proxy(&self) -> Result<ManagerProxy<'static>, ManagerError> {
        self.call(|| "a manager proxy".into(), ManagerProxy::new(&self.conn)).await
    }

    /// The unit's object path: GetUnit, or LoadUnit when `load` and it is
    /// not loaded; `None` when it is not loaded and `load` is false.
    async fn path(&self, name: &str, load: bool) -> Result<Option<OwnedObjectPath>, ManagerError> {
        let manager = self.proxy().await?;
        match self.call(|| format!("GetUnit({name})"), manager.get_unit(name)).await {
            Ok(path) => Ok(Some(path)),
            Err(ManagerError::Call { source, .. }) if is_no_such_unit(&source) && load => {
                self.call(|| format!("LoadUnit({name})"), manager.load_unit(name)).await.map(Some)
            }
            Err(ManagerError::Call { source, .. }) if is_no_such_unit(&source) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Reads a unit's state, loading it first if needed (unit workers).
    pub async fn query(&self, name: &str) -> Result<UnitState, ManagerError> {
        let path = self.path(name, true).await?.expect("LoadUnit answers a path");
        self.read(path).await
    }

    /// Reads a loaded unit's state; `None` when it is not loaded (a
    /// transient unit that ended well and was collected, or never made).
    pub async fn loaded(&self, name: &str) -> Result<Option<UnitState>, ManagerError> {
        match self.path(name, false).await? {
            Some(path) => self.read(path).await.map(Some),
            None => Ok(None),
        }
    }

    /// All properties of `interface` on `path` (empty where the object
    /// lacks it, e.g. the Service interface of a timer).
    async fn props(&self, path: &OwnedObjectPath, interface: &str) -> Result<Props, ManagerError> {
        let what = || format!("the {interface} properties of {}", path.as_str());
        let build =
            PropertiesProxy::builder(&self.conn).path(path.clone()).cache_properties(CacheProperties::No).build();
        let proxy = self.call(what, build).await?;
        match self.call(what, proxy.get_all(interface)).await {
            Ok(map) => Ok(Props(map)),
            // An object without that interface (a slice has no Service
            // properties) answers UnknownInterface, which zbus reports as an
            // `fdo` error; systemd's own refusals come as method errors.
            Err(ManagerError::Call { source, .. }) if lacks_interface(&source) => Ok(Props(HashMap::new())),
            Err(err) => Err(err),
        }
    }

    async fn read(&self, path: OwnedObjectPath) -> Result<UnitState, ManagerError> {
        let (unit, service) = tokio::join!(self.props(&path, UNIT), self.props(&path, SERVICE));
        let (mut unit, mut service) = (unit?, service?);
        let code: Option<i32> = service.get("ExecMainCode");
        let status: Option<i32> = service.get("ExecMainStatus");
        Ok(UnitState {
            load: unit.string("LoadState"),
            active: unit.string("ActiveState"),
            sub: unit.string("SubState"),
            description: unit.string("Description"),
            main_pid: service.get("MainPID").unwrap_or(0),
            n_restarts: service.get("NRestarts"),
            result: service.get("Result"),
            exec_main: code.zip(status),
            active_since_usec: unit.get("ActiveEnterTimestamp").unwrap_or(0),
        })
    }

    /// `RestartUnit(name, "replace")`: the job's object path.
    pub async fn restart(&self, name: &str) -> Result<OwnedObjectPath, ManagerError> {
        let manager = self.proxy().await?;
        self.call(|| format!("RestartUnit({name})"), manager.restart_unit(name, "replace")).await
    }

    /// `StartUnit(name, "replace")`: the job's object path.
    pub async fn start(&self, name: &str) -> Result<OwnedObjectPath, ManagerError> {
        let manager = self.proxy().await?;
        self.call(|| format!("StartUnit({name})"), manager.start_unit(name, "replace")).await
    }

    /// `StartTransientUnit(name, "fail", properties)`.
    pub async fn start_transient(&self, name: &str, properties: &[(&str, Variant<'_>)]) -> Result<(), ManagerError> {
        let manager = self.proxy().await?;
        self.call(|| format!("StartTransientUnit({name})"), manager.start_transient_unit(name, "fail", properties, &[]))
            .await
            .map(drop)
    }

    /// `StopUnit(name, "replace")`; a unit that is not loaded is stopped already.
    pub async fn stop(&self, name: &str) -> Result<(), ManagerError> {
        let manager = self.proxy().await?;
        match self.call(|| format!("StopUnit({name})"), manager.stop_unit(name, "replace")).await {
            Err(ManagerError::Call { source, .. }) if is_no_such_unit(&source) => Ok(()),
            other => other.map(drop),
        }
    }

    /// `ResetFailedUnit(name)`, so a failed transient unit's name can be used
    /// again; a unit that is not loaded has nothing to reset.
    pub async fn reset_failed(&self, name: &str) -> Result<(), ManagerError> {
        let manager = self.proxy().await?;
        match self.call(|| format!("ResetFailedUnit({name})"), manager.reset_failed_unit(name)).await {
            Err(ManagerError::Call { source, .. }) if is_no_such_unit(&source) => Ok(()),
            other => other,
        }
    }

    /// The type of the job pending on the unit that holds `pid` (`stop`,
    /// `restart`, ...), `None` when there is none (a crash, a bare kill).
    pub async fn job_of_unit_holding(&self, pid: u32) -> Result<Option<String>, ManagerError> {
        let manager = self.proxy().await?;
        let path = self.call(|| format!("GetUnitByPID({pid})"), manager.get_unit_by_pid(pid)).await?;
        let job: Option<(u32, OwnedObjectPath)> = self.props(&path, UNIT).await?.get("Job");
        match job {
            Some((id, job)) if id != 0 => Ok(self.props(&job, JOB).await?.get("JobType")),
            _ => Ok(None),
        }
    }

    /// A service's accounting and control group (`""` when not loaded).
    pub async fn resources(&self, name: &str) -> Result<(UnitResources, String), ManagerError> {
        let Some(path) = self.path(name, false).await? else { return Ok((UnitResources::default(), String::new())) };
        let mut service = self.props(&path, SERVICE).await?;
        let mut set = |key: &str| service.get::<u64>(key).filter(|v| *v != NOT_SET);
        let resources = UnitResources {
            memory_bytes: set("MemoryCurrent"),
            cpu_nsec: set("CPUUsageNSec"),
            tasks: set("TasksCurrent"),
        };
        Ok((resources, service.string("ControlGroup")))
    }
}

fn lacks_interface(err: &zbus::Error) -> bool {
    match err {
        zbus::Error::MethodError(..) => true,
        zbus::Error::FDO(fdo) => matches!(**fdo, zbus::fdo::Error::UnknownInterface(_)),
        _ => false,
    }
}

fn is_no_such_unit(err: &zbus::Error) -> bool {
    matches!(err, zbus::Error::MethodError(name, _, _) if name.as_str() == NO_SUCH_UNIT)
}
