//! The client of `org.healthmon.Monitor1`, shared by `healthctl` and the
//! compatibility flags `healthmon --status/--stop`: one function per
//! command, each printing its result and returning the exit code.
//! `status` and `run-once` follow the monitoring-plugin convention (0 OK,
//! 1 WARNING, 2 CRITICAL, 3 UNKNOWN); the rest use 0 ok, 1 error, 3 not
//! reachable.

pub mod completions;
mod control;
mod render;
mod status;
mod views;

use std::future::Future;

use zbus::proxy::CacheProperties;
use zbus::DBusError as _;

use crate::dbus::{self, Bus, MonitorError, MonitorProxy};
use crate::model::HostState;
use crate::table::View;

pub use control::Lever;
pub use render::{cycle_text, status_json};
pub use status::{plugin_line, plugin_state, status_text};
pub use views::{alerts_table, alerts_text, metrics_text, workers_table, workers_text, WorkerRow};

/// Exit code: the daemon could not be reached (plugin UNKNOWN).
pub const EXIT_UNREACHABLE: u8 = 3;
/// Exit code: the command failed.
pub const EXIT_ERROR: u8 = 1;

/// How the text views are shown: `-l/--full` and `--utc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ViewFlags {
    pub full: bool,
    pub utc: bool,
}

/// What to do, as `healthctl` spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status {
        json: bool,
    },
    RunOnce {
        json: bool,
    },
    Alerts {
        all: bool,
        limit: u32,
        json: bool,
    },
    Resolve {
        id: i64,
    },
    Metrics {
        component: Option<String>,
        limit: u32,
        json: bool,
    },
    Workers {
        json: bool,
    },
    Reload,
    /// Stop the monitor (0.1's `stop`; `healthmon --stop`).
    Shutdown,
    /// `start`, `stop`, `restart` with one or more worker names.
    Lever {
        lever: Lever,
        names: Vec<String>,
    },
    Worker {
        name: String,
        json: bool,
    },
    Logs {
        name: String,
        follow: bool,
        lines: u32,
    },
    /// `all`: a bare `*` was meant (SilenceAll).
    Silence {
        component: String,
        seconds: u64,
        reason: String,
        all: bool,
    },
    Silences {
        json: bool,
    },
    Unsilence {
        id: i64,
    },
    /// Worker names, one a line (for the completion scripts).
    WorkerNames,
}

impl Command {
    /// Status and run-once report the host's health in their exit code.
    fn is_plugin(&self) -> bool {
        matches!(self, Command::Status { .. } | Command::RunOnce { .. })
    }

    /// Whether the answer is a JSON document (so is a failure's).
    fn is_json(&self) -> bool {
        matches!(
            self,
            Command::Status { json: true }
                | Command::RunOnce { json: true }
                | Command::Alerts { json: true, .. }
                | Command::Metrics { json: true, .. }
                | Command::Workers { json: true }
        )
    }

    /// The D-Bus method a permission error names.
    fn method(&self) -> &'static str {
        match self {
            Command::Status { .. } => "Status",
            Command::RunOnce { .. } => "RunOnce",
            Command::Alerts { .. } => "ListAlerts",
            Command::Resolve { .. } => "ResolveAlert",
            Command::Metrics { .. } => "ListMetrics",
            Command::Workers { .. } | Command::WorkerNames => "ListWorkers",
            Command::Reload => "Reload",
            Command::Shutdown => "Stop",
            Command::Lever { lever, .. } => lever.method(),
            Command::Worker { .. } | Command::Logs { .. } => "GetWorker",
            Command::Silence { all: false, .. } => "Silence",
            Command::Silence { all: true, .. } => "SilenceAll",
            Command::Silences { .. } => "ListSilences",
            Command::Unsilence { .. } => "Unsilence",
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("healthmon is not running on the {bus} bus{hint}", hint = hint(bus))]
    NotRunning { bus: &'static str },
    #[error("healthmon is not running on the {bus} bus{hint} (cannot connect to the bus: {source})", hint = hint(bus))]
    NoBus { bus: &'static str, source: zbus::Error },
    #[error("permission denied: {method} needs root (see {policy})", policy = dbus::POLICY_FILE)]
    AccessDenied { method: &'static str },
    #[error("{0}")]
    Daemon(MonitorError),
    #[error("D-Bus call failed: {0}")]
    Bus(zbus::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Where to look next: the system service's status.
fn hint(bus: &str) -> &'static str {
    if bus == "system" {
        " (systemctl status healthmon)"
    } else {
        ""
    }
}

impl ClientError {
    /// A plugin command (status, run-once) that cannot answer is UNKNOWN
    /// (3), whatever the reason: 1 would read as WARNING.
    fn exit_code(&self, plugin: bool) -> u8 {
        match self {
            ClientError::NotRunning { .. } | ClientError::NoBus { .. } => EXIT_UNREACHABLE,
            _ if plugin => EXIT_UNREACHABLE,
            _ => EXIT_ERROR,
        }
    }

    /// The plugin line's reason: the message without "healthmon is" and
    /// without a bus error's detail (that goes to stderr).
    fn plugin_reason(&self) -> String {
        let text = match self {
            ClientError::NoBus { bus, .. } => ClientError::NotRunning { bus }.to_string(),
            other => other.to_string(),
        };
        text.strip_prefix("healthmon is ").map_or(text.clone(), str::to_string)
    }
}

/// Runs `command` against the daemon on `bus`, prints the outcome and
/// returns the exit code.
pub fn run(bus: Bus, command: Command, display: ViewFlags) -> u8 {
    let plugin = command.is_plugin();
    let json = command.is_json();
    let method = command.method();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&ClientError::Runtime(err), plugin, json),
    };
    let view = View::detect(display.full, display.utc);
    let outcome = runtime.block_on(async {
        let proxy = connect(bus).await?;
        execute(&proxy, command, &view).await.map_err(|err| classify(err, bus, method))
    });
    match outcome {
        Ok(code) => code,
        Err(err) => fail(&err, plugin, json),
    }
}

/// Reports a failure. Monitoring plugins read stdout, so status and
/// run-once print their UNKNOWN line (or JSON document) there; the other
/// commands write the error to stderr.
fn fail(err: &ClientError, plugin: bool, json: bool) -> u8 {
    match (plugin, json) {
        (true, true) => print_json(&serde_json::json!({ "state": "unknown", "error": err.plugin_reason() })),
        (true, false) => println!("{}", status::unknown_line(&err.plugin_reason())),
        (false, _) => eprintln!("{err}"),
    }
    if plugin && matches!(err, ClientError::NoBus { .. }) {
        eprintln!("{err}");
    }
    err.exit_code(plugin)
}

/// A proxy with no property cache: a one-shot CLI needs no background
/// GetAll or PropertiesChanged subscription.
async fn connect(bus: Bus) -> Result<MonitorProxy<'static>, ClientError> {
    let no_bus = |source| ClientError::NoBus { bus: bus.as_str(), source };
    let connection = bus.builder().build().await.map_err(no_bus)?;
    MonitorProxy::builder(&connection).cache_properties(CacheProperties::No).build().await.map_err(ClientError::Bus)
}

/// Sorts a failed call into "not running", "permission denied", a named
/// daemon error, or another bus error.
fn classify(err: MonitorError, bus: Bus, method: &'static str) -> ClientError {
    let err = match err {
        MonitorError::ZBus(err) => err,
        named => return ClientError::Daemon(named),
    };
    let name = match &err {
        zbus::Error::MethodError(name, _, _) => name.as_str().to_string(),
        zbus::Error::FDO(fdo) => fdo.name().as_str().to_string(),
        _ => String::new(),
    };
    match name.as_str() {
        "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
            ClientError::NotRunning { bus: bus.as_str() }
        }
        "org.freedesktop.DBus.Error.AccessDenied" => ClientError::AccessDenied { method },
        _ => ClientError::Bus(err),
    }
}

/// Lifts a proxy call's error into the one error type `classify` reads.
async fn call<T, E: Into<MonitorError>>(fut: impl Future<Output = Result<T, E>>) -> Result<T, MonitorError> {
    fut.await.map_err(Into::into)
}

async fn execute(proxy: &MonitorProxy<'_>, command: Command, view: &View) -> Result<u8, MonitorError> {
    match command {
        Command::Status { json } => {
            let status = call(proxy.status()).await?;
            let workers = call(proxy.list_workers()).await?;
            let alerts = call(proxy.list_alerts(true, 0)).await?;
            if json {
                print_json(&render::status_json(&status, &workers, &alerts));
            } else {
                let disks = status::disk_usage(&call(proxy.list_metrics("", 0)).await?);
                print!("{}", status::status_text(&status, &workers, &alerts, &disks, view));
            }
            Ok(state_exit_code(&status.state))
        }
        Command::RunOnce { json } => {
            let cycle = call(proxy.run_once()).await?;
            if json {
                print_json(&render::cycle_json(&cycle));
            } else {
                let open = call(proxy.list_alerts(true, 0)).await?;
                print!("{}", render::cycle_text(&cycle, &open, view));
            }
            Ok(state_exit_code(&cycle.state))
        }
        Command::Alerts { all, limit, json } => {
            let alerts = call(proxy.list_alerts(!all, limit)).await?;
            if json {
                print_json(&render::alerts_json(&alerts));
            } else {
                print!("{}", views::alerts_text(&alerts, view));
            }
            Ok(0)
        }
        Command::Resolve { id } => {
            if call(proxy.resolve_alert(id)).await? {
                println!("alert {id} resolved");
                Ok(0)
            } else {
                eprintln!("no unresolved alert has id {id}");
                Ok(EXIT_ERROR)
            }
        }
        Command::Metrics { component, limit, json } => {
            let rows = call(proxy.list_metrics(component.as_deref().unwrap_or(""), limit)).await?;
            if json {
                print_json(&render::metrics_json(&rows));
            } else {
                print!("{}", views::metrics_text(&rows, view));
            }
            Ok(0)
        }
        Command::Workers { json } => {
            let workers = call(proxy.list_workers()).await?;
            if json {
                print_json(&render::workers_json(&workers));
            } else {
                print!("{}", views::workers_text(&workers, view));
            }
            Ok(0)
        }
        Command::Reload => {
            call(proxy.reload()).await?;
            println!("configuration reloaded");
            Ok(0)
        }
        Command::Shutdown => {
            call(proxy.stop()).await?;
            println!("healthmon is stopping");
            Ok(0)
        }
        Command::Lever { lever, names } => control::levers(proxy, lever, &names).await,
        Command::Worker { name, json } => control::worker(proxy, &name, json).await,
        Command::Logs { name, follow, lines } => control::logs(proxy, &name, follow, lines).await,
        Command::Silence { component, seconds, reason, all } => {
            control::silence(proxy, &component, seconds, &reason, all).await
        }
        Command::Silences { json } => control::silences(proxy, json).await,
        Command::Unsilence { id } => control::unsilence(proxy, id).await,
        Command::WorkerNames => {
            call(proxy.list_workers()).await?.iter().for_each(|w| println!("{}", w.name));
            Ok(0)
        }
    }
}

/// healthy 0, degraded 1, critical 2; a state this client does not know is
/// UNKNOWN (3).
fn state_exit_code(state: &str) -> u8 {
    HostState::parse(state).map_or(EXIT_UNREACHABLE, HostState::exit_code)
}

fn print_json(doc: &serde_json::Value) {
    match serde_json::to_string_pretty(doc) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("cannot render JSON: {err}"),
    }
}
