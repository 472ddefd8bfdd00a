//! Configuration: the main TOML file plus `conf.d/*.toml` drop-ins, merged
//! in name order, validated into [`Settings`]. Every error names file, line
//! and column. PLACEHOLDER loader: only the embedded defaults for now.

mod settings;

use std::path::Path;
use std::time::Duration;

pub use settings::*;

/// Reads `path` (or the system config) and its drop-ins; with no file at
/// all, the embedded defaults.
pub fn load(_path: Option<&Path>) -> Result<Settings, ConfigError> {
    Ok(embedded_defaults())
}

/// The contract's defaults: check every 60 s, disk check on `/` at 85/95 %.
pub fn embedded_defaults() -> Settings {
    Settings {
        sources: Vec::new(),
        monitor: MonitorSettings {
            check_interval: Duration::from_secs(60),
            database: crate::paths::default_database(),
            retention: Duration::from_secs(30 * 86_400),
            dry_run: false,
            check_timeout: Duration::from_secs(30),
        },
        workers: Vec::new(),
        sessions: None,
        databases: Vec::new(),
        disk: DiskSettings {
            paths: vec!["/".into()],
            warning_percent: 85.0,
            critical_percent: 95.0,
            cleanup: Vec::new(),
        },
        notify: None,
        prometheus: None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}:{line}:{column}: {message}")]
    Invalid { file: String, line: usize, column: usize, message: String },
    #[error("failed to read {file}: {source}")]
    Read { file: String, source: std::io::Error },
}

/// PLACEHOLDER: the effective configuration as TOML.
pub fn render(settings: &Settings) -> String {
    format!("# {settings:?}\n")
}
