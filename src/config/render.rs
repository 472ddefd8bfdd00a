//! The effective configuration as TOML in the file schema, every key
//! explicit, for `healthmon --check-config`. Loading the output gives the
//! same settings back.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::file::*;
use super::settings::*;
use super::{duration, size};

/// The effective configuration, headed by a comment naming its sources.
pub fn render(settings: &Settings) -> String {
    let mut out = String::from("# Effective healthmon configuration, merged from:\n");
    if settings.sources.is_empty() {
        out.push_str("#   (no file: embedded defaults)\n");
    }
    for source in &settings.sources {
        let _ = writeln!(out, "#   {}", source.display());
    }
    out.push('\n');
    // Serialising plain data (strings, numbers, booleans, tables) cannot fail.
    out + &toml::to_string(&file_config(settings)).unwrap_or_default()
}

/// Empty collections are left out: absent means empty, and a lone
/// `[workers]` or `databases = []` would only puzzle the reader.
fn file_config(s: &Settings) -> FileConfig {
    FileConfig {
        monitor: val(MonitorFile {
            check_interval: dur(s.monitor.check_interval),
            database: path(&s.monitor.database),
            retention: dur(s.monitor.retention),
            dry_run: val(s.monitor.dry_run),
            check_timeout: dur(s.monitor.check_timeout),
        }),
        workers: (!s.workers.is_empty()).then(|| s.workers.iter().filter_map(configured_worker).collect()),
        sessions: s.sessions.as_ref().and_then(|s| val(sessions(s))),
        databases: (!s.databases.is_empty()).then(|| s.databases.iter().map(|d| at(database(d))).collect()),
        disk: val(DiskFile {
            paths: list(s.disk.paths.iter().map(|p| p.display().to_string())),
            warning_percent: val(s.disk.warning_percent),
            critical_percent: val(s.disk.critical_percent),
            cleanup: (!s.disk.cleanup.is_empty()).then(|| s.disk.cleanup.iter().map(|r| at(cleanup(r))).collect()),
            predict_horizon: dur(s.disk.predict_horizon),
            predict_window: dur(s.disk.predict_window),
        }),
        notify: s.notify.as_ref().and_then(|n| val(notify(n))),
        alerts: val(AlertsFile {
            flap_threshold: val(s.alerts.flap_threshold),
            flap_window: dur(s.alerts.flap_window),
        }),
        prometheus: s.prometheus.as_ref().and_then(|p| val(PrometheusFile { textfile: path(&p.textfile) })),
    }
}

/// A worker as configured: a pool once (from its first instance), under
/// the pool's name, with its command as written.
fn configured_worker(w: &WorkerSettings) -> Option<(Spanned<String>, Spanned<WorkerFile>)> {
    let Some(member) = &w.pool else { return Some((at(w.name.clone()), at(worker(w)))) };
    let mut file = worker(&WorkerSettings { kind: WorkerKind::Command(member.template.clone()), ..w.clone() });
    file.instances = val(member.instances);
    (member.instance == 1).then(|| (at(member.pool.clone()), at(file)))
}

fn worker(w: &WorkerSettings) -> WorkerFile {
    let mut file = WorkerFile {
        critical: val(w.critical),
        restart_delay: dur(w.restart_delay),
        verify_after: dur(w.verify_after),
        max_restarts: val(w.max_restarts),
        restart_window: dur(w.restart_window),
        health_command: w.health_command.as_ref().and_then(|c| list(c.iter().cloned())),
        health_timeout: dur(w.health_timeout),
        health_failures: val(w.health_failures),
        stop_timeout: dur(w.stop_timeout),
        watchdog: w.watchdog.and_then(dur),
        // Only when set: a unit worker refuses the key.
        notify_ready: if w.notify_ready { val(true) } else { None },
        start_timeout: dur(w.start_timeout),
        health_http: w.probes.http.as_ref().and_then(|h| val(h.url.clone())),
        health_tcp: w.probes.tcp.as_ref().and_then(|t| val(t.to_string())),
        heartbeat_file: w.probes.heartbeat.as_ref().and_then(|h| path(&h.path)),
        heartbeat_max_age: w.probes.heartbeat.as_ref().and_then(|h| dur(h.max_age)),
        health_interval: dur(w.health_interval),
        max_memory: w.limits.max_memory.and_then(|m| val(size::format(m))),
        max_cpu_percent: w.limits.max_cpu_percent.and_then(val),
        over_for: (!w.limits.is_empty()).then(|| dur(w.limits.over_for)).flatten(),
        depends_on: (!w.depends_on.is_empty()).then(|| list(w.depends_on.iter().cloned())).flatten(),
        ..WorkerFile::default()
    };
    match &w.kind {
        WorkerKind::Unit(unit) => file.unit = val(unit.clone()),
        WorkerKind::Command(c) => {
            file.command = list(c.command.iter().cloned());
            file.working_dir = c.working_dir.as_deref().and_then(path);
            file.environment = (!c.environment.is_empty()).then(|| at(c.environment.clone()));
            file.user = c.user.clone().and_then(val);
            file.match_cmdline = c.match_cmdline.clone().and_then(val);
        }
    }
    file
}

fn sessions(s: &SessionSettings) -> SessionsFile {
    SessionsFile {
        enabled: val(true),
        tmux_socket: s.tmux_socket.as_deref().and_then(path),
        stuck_after: dur(s.stuck_after),
        task_database: path(&s.task_database),
        in_progress_query: val(s.in_progress_query.clone()),
        on_stuck: list(s.on_stuck.iter().cloned()),
        requeue: list(s.requeue.iter().cloned()),
    }
}

fn database(d: &DatabaseSettings) -> DatabaseFile {
    DatabaseFile {
        path: path(&d.path),
        locked_after: dur(d.locked_after),
        kill_holders: val(d.kill_holders),
        wal_max_size: d.wal_max_size.map(size::format).and_then(val),
    }
}

fn cleanup(r: &CleanupRule) -> CleanupFile {
    let when = match r.when {
        CleanupWhen::Critical => "critical",
        CleanupWhen::Always => "always",
    };
    let a = &r.archive;
    let compression = match a.compression {
        Compression::Gzip => "gzip",
        Compression::None => "none",
    };
    CleanupFile {
        dir: path(&r.dir),
        pattern: val(r.pattern.clone()),
        older_than: dur(r.older_than),
        when: val(when.to_owned()),
        archive_dir: a.dir.as_deref().and_then(path),
        archive_compression: a.dir.as_ref().and_then(|_| val(compression.to_owned())),
        archive_command: a.command.as_ref().and_then(|c| list(c.iter().cloned())),
        archive_timeout: a.command.as_ref().and_then(|_| dur(a.timeout)),
    }
}

fn notify(n: &NotifySettings) -> NotifyFile {
    NotifyFile {
        webhook: n.webhook.clone().and_then(val),
        command: n.command.as_ref().and_then(|c| list(c.iter().cloned())),
        min_severity: val(n.min_severity.as_str().to_owned()),
        reminder_interval: n.reminder_interval.and_then(dur),
        alertmanager: n.alertmanager.clone().and_then(val),
    }
}

/// A value with no source position (spans are not serialised).
fn at<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

fn val<T>(value: T) -> Val<T> {
    Some(at(value))
}

fn dur(d: Duration) -> Val<String> {
    val(duration::format(d))
}

fn path(p: &Path) -> Val<String> {
    val(p.display().to_string())
}

fn list(items: impl Iterator<Item = String>) -> List<String> {
    val(items.map(at).collect())
}
