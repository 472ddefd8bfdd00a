//! The one client of systemd's manager API (`org.freedesktop.systemd1` on
//! the system bus), shared by unit workers, transient worker services and
//! the job lookup at stop.
//!
//! Every call is bounded (`CALL_TIMEOUT`) and at most `IN_FLIGHT` are
//! pending at once: the system bus allows a connection 128 pending
//! replies, and 100 workers restarting together must not hit that.
//! Exits are seen through pidfds; a unit's state is read when needed, and
//! a wait for a unit to change is woken by systemd's signals ([`Watch`]:
//! one match rule for all units, not one per unit, which would hit the
//! bus's 512).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use zbus::{Connection, OwnedObjectPath, OwnedVariant, Variant};

use super::view::{Props, UnitView, SERVICE, UNIT};
use super::watch::{Changes, Watch};

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

const SYSTEMD: &str = "org.freedesktop.systemd1";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const JOB: &str = "org.freedesktop.systemd1.Job";

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
    /// A job (start, stop, ...) is queued or running on the unit.
    pub job_pending: bool,
    /// A service's `STATUS=` text (sd_notify), `""` when none.
    pub status_text: String,
}

impl UnitState {
    pub fn describe(&self) -> String {
        let restarts = self.n_restarts.map(|n| format!(" NRestarts={n}")).unwrap_or_default();
        format!("ActiveState={} SubState={} MainPID={}{restarts}", self.active, self.sub, self.main_pid)
    }

    /// Gone from systemd's point of view: nothing of it runs any more, and
    /// nothing is about to. A unit just handed to StartTransientUnit is
    /// `inactive` until its start job runs (later still while its slice is
    /// being made): that is not a unit that ended.
    pub fn is_down(&self) -> bool {
        matches!(self.active.as_str(), "inactive" | "failed") && !self.job_pending
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
    watch: Arc<Watch>,
    /// Units that ended and are still loaded, as last seen: see
    /// [`Manager::note_ended`].
    ended: Arc<std::sync::Mutex<HashMap<String, UnitView>>>,
}

impl Manager {
    /// Connects to the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).
    pub async fn connect() -> Result<Manager, ManagerError> {
        match tokio::time::timeout(CALL_TIMEOUT, Connection::system()).await {
            Ok(Ok(conn)) => {
                let watch = Watch::start(&conn).await;
                let calls = Arc::new(Semaphore::new(IN_FLIGHT));
                Ok(Manager { conn, calls, watch: Arc::new(watch), ended: Arc::default() })
            }
            Ok(Err(err)) => Err(ManagerError::Connect(err.to_string())),
            Err(_) => Err(ManagerError::Connect(format!("no answer within {}s", CALL_TIMEOUT.as_secs()))),
        }
    }

    /// Starts listening for changes of the unit `name` (read its state
    /// after this, then wait); `None` when no signals are followed.
    pub fn changes(&self, name: &str) -> Option<Changes> {
        self.watch.live().then(|| self.watch.changes(name))
    }

    /// Notes that the unit `name` ended and was seen still loaded (`view`):
    /// while it is (failed, or reset and not collected yet), it can be
    /// started again as it is ([`Manager::take_ended`]).
    pub fn note_ended(&self, name: &str, view: UnitView) {
        self.ended.lock().expect("never poisoned").insert(name.to_string(), view);
    }

    /// How the unit `name` was last seen to end, if it did since it was
    /// last started with `description` (and forgets it).
    pub fn take_ended(&self, name: &str, description: &str) -> Option<UnitView> {
        let view = self.ended.lock().expect("never poisoned").remove(name)?;
        view.state().is_some_and(|s| s.description == description).then_some(view)
    }

    /// Forgets how the unit `name` ended: it will not be started again.
    pub fn forget_ended(&self, name: &str) {
        self.ended.lock().expect("never poisoned").remove(name);
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
        Ok(self.read(path).await?.state().expect("a unit read is loaded"))
    }

    /// Reads a loaded unit's state; `None` when it is not loaded (a
    /// transient unit that ended well and was collected, or never made).
    pub async fn loaded(&self, name: &str) -> Result<Option<UnitState>, ManagerError> {
        Ok(self.view(name).await?.state())
    }

    /// Reads the unit, to be kept current with [`Manager::changes`].
    pub async fn view(&self, name: &str) -> Result<UnitView, ManagerError> {
        match self.path(name, false).await? {
            Some(path) => self.read(path).await,
            None => Ok(UnitView::default()),
        }
    }

    /// All properties of `interface` on `path` (empty where the object
    /// lacks it, e.g. the Service interface of a timer), with the serial of
    /// systemd's reply.
    async fn props(&self, path: &OwnedObjectPath, interface: &str) -> Result<Props, ManagerError> {
        let what = || format!("the {interface} properties of {}", path.as_str());
        let args = (interface,);
        let call = self.conn.call_method(Some(SYSTEMD), path.as_str(), Some(PROPERTIES), "GetAll", &args);
        match self.call(what, call).await {
            Ok(reply) => {
                let values: HashMap<String, OwnedVariant> =
                    reply.body().deserialize().map_err(|source| ManagerError::Call { what: what(), source })?;
                Ok(Props::new(values, reply.header().primary().serial_num().get()))
            }
            Err(ManagerError::Call { source, .. }) if lacks_interface(&source) => Ok(Props::default()),
            Err(err) => Err(err),
        }
    }

    async fn read(&self, path: OwnedObjectPath) -> Result<UnitView, ManagerError> {
        // Each trimmed as it comes: a whole GetAll held while the other
        // call waits its turn was 1,500 of them at once.
        let unit = async { self.props(&path, UNIT).await.map(Props::trimmed) };
        let service = async { self.props(&path, SERVICE).await.map(Props::trimmed) };
        let (unit, service) = tokio::join!(unit, service);
        Ok(UnitView::read(unit?, service?))
    }

    /// `RestartUnit(name, "replace")`: the job's object path.
    pub async fn restart(&self, name: &str) -> Result<OwnedObjectPath, ManagerError> {
        let manager = self.proxy().await?;
        self.call(|| format!("RestartUnit({name})"), manager.restart_unit(name, "replace")).await
    }

    /// `StartUnit(name, "replace")`: the serial of systemd's reply, which
    /// orders it before the job's effects (see [`UnitView`]).
    pub async fn start(&self, name: &str) -> Result<u32, ManagerError> {
        let args = (name, "replace");
        let call = self.conn.call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), "StartUnit", &args);
        let reply = self.call(|| format!("StartUnit({name})"), call).await?;
        Ok(reply.header().primary().serial_num().get())
    }

    /// `StartTransientUnit(name, "fail", properties)`.
    pub async fn start_transient(&self, name: &str, properties: &[(&str, Variant<'_>)]) -> Result<(), ManagerError> {
        let manager = self.proxy().await?;
        self.call(|| format!("StartTransientUnit({name})"), manager.start_transient_unit(name, "fail", properties, &[]))
            .await
            .map(drop)
    }

    /// The loaded units whose names match `pattern` (a shell glob, as
    /// `systemctl list-units PATTERN`): (name, description, active state).
    pub async fn units_named(&self, pattern: &str) -> Result<Vec<(String, String, String)>, ManagerError> {
        let states: &[&str] = &[];
        let args = (states, &[pattern][..]);
        let call = self.conn.call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), "ListUnitsByPatterns", &args);
        let reply = self.call(|| format!("ListUnitsByPatterns({pattern})"), call).await?;
        type Listed = (String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath);
        let units: Vec<Listed> = reply
            .body()
            .deserialize()
            .map_err(|source| ManagerError::Call { what: format!("ListUnitsByPatterns({pattern})"), source })?;
        Ok(units.into_iter().map(|u| (u.0, u.1, u.3)).collect())
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
        let service = self.props(&path, SERVICE).await?;
        let set = |key: &str| service.get::<u64>(key).filter(|v| *v != NOT_SET);
        let resources = UnitResources {
            memory_bytes: set("MemoryCurrent"),
            cpu_nsec: set("CPUUsageNSec"),
            tasks: set("TasksCurrent"),
        };
        Ok((resources, service.string("ControlGroup")))
    }
}

/// systemd's answer for an interface the object does not have (a slice or
/// a timer has no Service interface). zbus hands the standard D-Bus errors
/// over as `Error::FDO`, others as `Error::MethodError`.
fn lacks_interface(err: &zbus::Error) -> bool {
    match err {
        zbus::Error::FDO(fdo) => matches!(**fdo, zbus::fdo::Error::UnknownInterface(_)),
        zbus::Error::MethodError(name, _, _) => name.as_str() == "org.freedesktop.DBus.Error.UnknownInterface",
        _ => false,
    }
}

fn is_no_such_unit(err: &zbus::Error) -> bool {
    matches!(err, zbus::Error::MethodError(name, _, _) if name.as_str() == NO_SUCH_UNIT)
}
