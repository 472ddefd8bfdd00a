//! Every default of the configuration in one place (the man page lists the
//! same values): the embedded defaults used with no file at all, and the
//! defaults of keys inside optional tables.

use std::time::Duration;

use super::settings::*;

const MINUTE: u64 = 60;
const DAY: u64 = 86_400;

/// `[workers.NAME]` keys.
pub const WORKER_CRITICAL: bool = false;
pub const RESTART_DELAY: Duration = Duration::from_secs(5);
pub const VERIFY_AFTER: Duration = Duration::from_secs(3);
pub const MAX_RESTARTS: u32 = 5;
pub const RESTART_WINDOW: Duration = Duration::from_secs(10 * MINUTE);
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
pub const HEALTH_FAILURES: u32 = 3;
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// systemd's own default for TimeoutStartSec=.
pub const START_TIMEOUT: Duration = Duration::from_secs(90);
pub const NOTIFY_READY: bool = false;
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
/// Shorter probe intervals are refused.
pub const MIN_HEALTH_INTERVAL: Duration = Duration::from_secs(1);
pub const OVER_FOR: Duration = Duration::from_secs(MINUTE);

/// `[sessions]` keys.
pub const STUCK_AFTER: Duration = Duration::from_secs(30 * MINUTE);
pub const IN_PROGRESS_QUERY: &str = "SELECT id, session_name FROM tasks WHERE status = 'in_progress'";
/// The status guard makes the statement change no row for a task that is no
/// longer in progress, which is how the sessions check knows to leave it.
pub const ON_STUCK: &str =
    "UPDATE tasks SET status = 'failed', error = :reason WHERE id = :task_id AND status = 'in_progress'";

/// `[[databases]]` keys.
pub const LOCKED_AFTER: Duration = Duration::from_secs(30);
pub const KILL_HOLDERS: bool = false;

/// `[[disk.cleanup]]` keys.
pub const CLEANUP_WHEN: CleanupWhen = CleanupWhen::Critical;
pub const ARCHIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// `[disk]` forecast keys.
pub const PREDICT_HORIZON: Duration = Duration::from_secs(DAY);
pub const PREDICT_WINDOW: Duration = Duration::from_secs(6 * 3600);

/// `[notify]` keys.
pub const MIN_SEVERITY: crate::model::Severity = crate::model::Severity::Warning;

/// `[alerts]` keys.
pub const ALERTS: AlertSettings = AlertSettings { flap_threshold: 3, flap_window: Duration::from_secs(30 * MINUTE) };

/// The contract's defaults: check every 60 s, disk check on `/` at 85/95 %.
pub fn embedded_defaults() -> Settings {
    Settings {
        sources: Vec::new(),
        monitor: MonitorSettings {
            check_interval: Duration::from_secs(60),
            database: crate::paths::default_database(),
            retention: Duration::from_secs(30 * DAY),
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
            predict_horizon: PREDICT_HORIZON,
            predict_window: PREDICT_WINDOW,
        },
        notify: None,
        alerts: ALERTS,
        prometheus: None,
    }
}
