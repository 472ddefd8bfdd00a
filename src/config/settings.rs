//! The validated settings every other module reads. Built only by
//! [`super::load`]; a value here has passed validation (absolute paths,
//! thresholds in range, non-empty commands, unique names).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::Severity;

pub use super::probes::{Heartbeat, HttpTarget, Limits, Probes, TcpTarget};

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The files that were read, in merge order (empty: embedded defaults).
    pub sources: Vec<PathBuf>,
    pub monitor: MonitorSettings,
    /// Sorted by configured name; a pool's instances in number order.
    pub workers: Vec<WorkerSettings>,
    /// `None` when the `[sessions]` table is absent or `enabled = false`.
    pub sessions: Option<SessionSettings>,
    pub databases: Vec<DatabaseSettings>,
    pub disk: DiskSettings,
    pub notify: Option<NotifySettings>,
    pub alerts: AlertSettings,
    pub prometheus: Option<PrometheusSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    pub check_interval: Duration,
    pub database: PathBuf,
    pub retention: Duration,
    pub dry_run: bool,
    /// Upper bound for one check's run (extension; default 30s).
    pub check_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSettings {
    pub name: String,
    pub kind: WorkerKind,
    pub critical: bool,
    pub restart_delay: Duration,
    pub verify_after: Duration,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub health_command: Option<Vec<String>>,
    /// Timeout of one `health_command` run (extension; default 10s).
    pub health_timeout: Duration,
    /// Consecutive probe failures that restart the worker (extension; default 3).
    pub health_failures: u32,
    /// Grace between SIGTERM and SIGKILL when stopping (extension; default 10s).
    pub stop_timeout: Duration,
    /// sd_notify watchdog: `WATCHDOG=1` at least this often, else the
    /// worker is hung and restarted (`None` = off).
    pub watchdog: Option<Duration>,
    /// The start counts only once the worker sends `READY=1`.
    pub notify_ready: bool,
    /// The startup window (default 90s): no `READY=1` by then is a failed
    /// start; failed probes do not count until it ends (at this long after
    /// the start, or at the first passing probe round).
    pub start_timeout: Duration,
    /// How often the probes (and the resource limits) run, on the worker's own timer.
    pub health_interval: Duration,
    /// `health_http`, `health_tcp`, `heartbeat_file`.
    pub probes: Probes,
    /// `max_memory`, `max_cpu_percent`, `over_for`.
    pub limits: Limits,
    /// Set on each instance of a pool (`instances = N`).
    pub pool: Option<PoolMember>,
    /// Workers started before this one (a pool's instances by name).
    pub depends_on: Vec<String>,
}

/// One instance of a pool: the pool's configured name, this instance's
/// number, the pool's size and its command as written (`%i` unsubstituted).
#[derive(Debug, Clone, PartialEq)]
pub struct PoolMember {
    pub pool: String,
    pub instance: u32,
    pub instances: u32,
    pub template: CommandWorker,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WorkerKind {
    Command(CommandWorker),
    /// A systemd unit, e.g. `task-worker.service`.
    Unit(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CommandWorker {
    /// argv; `command[0]` is an absolute path or a bare name looked up in PATH.
    pub command: Vec<String>,
    pub working_dir: Option<PathBuf>,
    pub environment: BTreeMap<String, String>,
    pub user: Option<String>,
    /// Adopt a running process whose cmdline contains this.
    pub match_cmdline: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionSettings {
    pub tmux_socket: Option<PathBuf>,
    pub stuck_after: Duration,
    pub task_database: PathBuf,
    pub in_progress_query: String,
    pub on_stuck: Vec<String>,
    pub requeue: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    pub locked_after: Duration,
    pub kill_holders: bool,
    /// A WAL above this whose frames readers keep from being checkpointed
    /// is a WARNING (`None`: only measured).
    pub wal_max_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DiskSettings {
    pub paths: Vec<PathBuf>,
    pub warning_percent: f64,
    pub critical_percent: f64,
    pub cleanup: Vec<CleanupRule>,
    /// A WARNING when the trend fills a disk within this (zero = off).
    pub predict_horizon: Duration,
    /// How much usage history the trend is fitted over.
    pub predict_window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupWhen {
    Critical,
    Always,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CleanupRule {
    /// Absolute; never left during the walk.
    pub dir: PathBuf,
    /// A glob matched against file names (not paths).
    pub pattern: String,
    pub older_than: Duration,
    pub when: CleanupWhen,
    pub archive: ArchiveSettings,
}

/// What happens to an aged file before it is removed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ArchiveSettings {
    /// Aged files are copied here (keeping their path below the rule
    /// directory and their mtime) before they are removed.
    pub dir: Option<PathBuf>,
    pub compression: Compression,
    /// Run per file (`{}` = its path) first; the file goes only on exit 0.
    pub command: Option<Vec<String>>,
    /// How long one `command` run may take before it counts as failed.
    pub timeout: Duration,
}

/// How archived files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// `NAME.gz`, readable with zcat, zless and zgrep.
    #[default]
    Gzip,
    /// A plain copy (only on another filesystem: on the same one it would free nothing).
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotifySettings {
    pub webhook: Option<String>,
    pub command: Option<Vec<String>>,
    pub min_severity: Severity,
    /// Re-send unresolved alerts this often (extension; `None` = off, the default).
    pub reminder_interval: Option<Duration>,
    /// Alertmanager's base URL (`http://127.0.0.1:9093`).
    pub alertmanager: Option<String>,
}

/// `[alerts]`: flap damping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertSettings {
    /// More state changes than this within `flap_window` = flapping; 0 = off.
    pub flap_threshold: u32,
    pub flap_window: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSettings {
    pub textfile: PathBuf,
}
