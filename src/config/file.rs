//! The TOML schema as written in a file: every key optional (a drop-in may
//! set one key), unknown keys rejected, every value spanned so validation can
//! name its position. The same structs serialise the effective config, so the
//! rendered file and the parsed schema cannot drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A key's value with the byte span it came from.
pub type Val<T> = Option<Spanned<T>>;
/// A list whose elements keep their own spans (for "entry N is wrong" errors).
pub type List<T> = Option<Spanned<Vec<Spanned<T>>>>;

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub monitor: Val<MonitorFile>,
    pub workers: Option<BTreeMap<Spanned<String>, Spanned<WorkerFile>>>,
    pub sessions: Val<SessionsFile>,
    pub databases: Option<Vec<Spanned<DatabaseFile>>>,
    pub disk: Val<DiskFile>,
    pub notify: Val<NotifyFile>,
    pub alerts: Val<AlertsFile>,
    pub prometheus: Val<PrometheusFile>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorFile {
    pub check_interval: Val<String>,
    pub database: Val<String>,
    pub retention: Val<String>,
    pub dry_run: Val<bool>,
    pub check_timeout: Val<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerFile {
    pub command: List<String>,
    pub unit: Val<String>,
    pub working_dir: Val<String>,
    pub environment: Val<BTreeMap<String, String>>,
    pub user: Val<String>,
    #[serde(rename = "match")]
    pub match_cmdline: Val<String>,
    pub critical: Val<bool>,
    pub restart_delay: Val<String>,
    pub verify_after: Val<String>,
    pub max_restarts: Val<u32>,
    pub restart_window: Val<String>,
    pub health_command: List<String>,
    pub health_timeout: Val<String>,
    pub health_failures: Val<u32>,
    pub stop_timeout: Val<String>,
    pub watchdog: Val<String>,
    pub notify_ready: Val<bool>,
    pub start_timeout: Val<String>,
    pub health_http: Val<String>,
    pub health_tcp: Val<String>,
    pub heartbeat_file: Val<String>,
    pub heartbeat_max_age: Val<String>,
    pub health_interval: Val<String>,
    pub max_memory: Val<String>,
    pub max_cpu_percent: Val<f64>,
    pub over_for: Val<String>,
    pub instances: Val<u32>,
    pub depends_on: List<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsFile {
    pub enabled: Val<bool>,
    pub tmux_socket: Val<String>,
    pub stuck_after: Val<String>,
    pub task_database: Val<String>,
    pub in_progress_query: Val<String>,
    pub on_stuck: List<String>,
    pub requeue: List<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseFile {
    pub path: Val<String>,
    pub locked_after: Val<String>,
    pub kill_holders: Val<bool>,
    pub wal_max_size: Val<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiskFile {
    pub paths: List<String>,
    pub warning_percent: Val<f64>,
    pub critical_percent: Val<f64>,
    pub cleanup: Option<Vec<Spanned<CleanupFile>>>,
    pub predict_horizon: Val<String>,
    pub predict_window: Val<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupFile {
    pub dir: Val<String>,
    pub pattern: Val<String>,
    pub older_than: Val<String>,
    pub when: Val<String>,
    pub archive_dir: Val<String>,
    pub archive_compression: Val<String>,
    pub archive_command: List<String>,
    pub archive_timeout: Val<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyFile {
    pub webhook: Val<String>,
    pub command: List<String>,
    pub min_severity: Val<String>,
    pub reminder_interval: Val<String>,
    pub alertmanager: Val<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsFile {
    pub flap_threshold: Val<u32>,
    pub flap_window: Val<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusFile {
    pub textfile: Val<String>,
}
