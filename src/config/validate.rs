//! The merged file schema turned into [`Settings`], section by section,
//! with the defaults of [`super::defaults`] for absent keys. Every rule
//! reports through the [`Checker`], so one pass finds every error.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::defaults::*;
use super::file::*;
use super::settings::*;
use super::storage;
use super::values::{has_parent_component, Checker, Zero};
use super::workers::workers;
use crate::model::Severity;

/// Directories a cleanup rule may never delete in, however it is written.
const FORBIDDEN_CLEANUP_DIRS: [&str; 12] =
    ["/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys", "/usr"];

/// The settings of a merged config; errors go to `checker`.
pub fn settings(file: FileConfig, checker: &mut Checker) -> Settings {
    let defaults = embedded_defaults();
    Settings {
        sources: Vec::new(),
        monitor: monitor(file.monitor, defaults.monitor, checker),
        workers: workers(file.workers.unwrap_or_default(), checker),
        sessions: file.sessions.and_then(|s| sessions(s, checker)),
        databases: databases(file.databases.unwrap_or_default(), checker),
        disk: disk(file.disk, defaults.disk, checker),
        notify: file.notify.map(|n| notify(n, checker)),
        alerts: file.alerts.map_or(ALERTS, |a| alerts(a.get_ref(), checker)),
        prometheus: file.prometheus.and_then(|p| prometheus(p, checker)),
    }
}

/// The value of a plain key, or its default.
pub fn plain<T: Copy>(value: &Val<T>, default: T) -> T {
    value.as_ref().map_or(default, |v| *v.get_ref())
}

fn monitor(file: Val<MonitorFile>, defaults: MonitorSettings, c: &mut Checker) -> MonitorSettings {
    let Some(file) = file else { return defaults };
    let m = file.get_ref();
    MonitorSettings {
        check_interval: c.duration(
            "monitor.check_interval",
            &m.check_interval,
            defaults.check_interval,
            Zero::Forbidden,
        ),
        database: c.optional_path("monitor.database", &m.database).unwrap_or(defaults.database),
        retention: c.duration("monitor.retention", &m.retention, defaults.retention, Zero::Forbidden),
        dry_run: plain(&m.dry_run, defaults.dry_run),
        check_timeout: c.duration("monitor.check_timeout", &m.check_timeout, defaults.check_timeout, Zero::Forbidden),
    }
}

/// `None` when disabled; the keys are still checked, so a disabled section
/// does not hide mistakes until the day it is enabled.
fn sessions(file: Spanned<SessionsFile>, c: &mut Checker) -> Option<SessionSettings> {
    let s = file.get_ref();
    let tmux_socket = c.optional_path("sessions.tmux_socket", &s.tmux_socket);
    let task_database = c.optional_path("sessions.task_database", &s.task_database);
    let stuck_after = c.duration("sessions.stuck_after", &s.stuck_after, STUCK_AFTER, Zero::Forbidden);
    let in_progress_query = s
        .in_progress_query
        .as_ref()
        .map_or_else(|| IN_PROGRESS_QUERY.to_owned(), |q| c.non_empty("sessions.in_progress_query", q));
    let on_stuck = s.on_stuck.as_ref().map_or_else(|| vec![ON_STUCK.to_owned()], |l| c.strings("sessions.on_stuck", l));
    let requeue = s.requeue.as_ref().map_or_else(Vec::new, |l| c.strings("sessions.requeue", l));
    if !plain(&s.enabled, true) {
        return None;
    }
    if let (Some(list), true) = (&s.on_stuck, on_stuck.is_empty()) {
        c.error(&list.span(), "sessions.on_stuck must list at least one statement while sessions are enabled");
    }
    if task_database.is_none() {
        c.error(&file.span(), "[sessions] is missing the required key task_database (or set enabled = false)");
    }
    Some(SessionSettings {
        tmux_socket,
        stuck_after,
        task_database: task_database.unwrap_or_default(),
        in_progress_query,
        on_stuck,
        requeue,
    })
}

fn databases(entries: Vec<Spanned<DatabaseFile>>, c: &mut Checker) -> Vec<DatabaseSettings> {
    let mut seen = FirstSeen::default();
    let mut databases = Vec::new();
    for entry in &entries {
        let d = entry.get_ref();
        let Some(path) = c.required("path", "[[databases]]", &d.path, &entry.span()) else { continue };
        let normalised = c.path("databases.path", path);
        seen.check(c, normalised.clone(), &path.span(), |first| {
            format!("duplicate [[databases]] path {:?} (first given at {first})", path.get_ref())
        });
        databases.push(DatabaseSettings {
            path: normalised,
            locked_after: c.duration("databases.locked_after", &d.locked_after, LOCKED_AFTER, Zero::Forbidden),
            kill_holders: plain(&d.kill_holders, KILL_HOLDERS),
            wal_max_size: storage::optional_size("databases.wal_max_size", &d.wal_max_size, c),
        });
    }
    databases
}

fn disk(file: Val<DiskFile>, defaults: DiskSettings, c: &mut Checker) -> DiskSettings {
    let Some(file) = file else { return defaults };
    let d = file.get_ref();
    let paths = d.paths.as_ref().map_or(defaults.paths, |list| disk_paths(list, c));
    let (warning_percent, critical_percent) =
        thresholds(&d.warning_percent, &d.critical_percent, (defaults.warning_percent, defaults.critical_percent), c);
    let cleanup = cleanup_rules(d.cleanup.as_deref().unwrap_or_default(), c);
    let (predict_horizon, predict_window) = storage::forecast(d, c);
    DiskSettings { paths, warning_percent, critical_percent, cleanup, predict_horizon, predict_window }
}

fn disk_paths(list: &Spanned<Vec<Spanned<String>>>, c: &mut Checker) -> Vec<PathBuf> {
    let mut seen = FirstSeen::default();
    let mut paths = Vec::new();
    for entry in list.get_ref() {
        let path = c.path("disk.paths", entry);
        seen.check(c, path.clone(), &entry.span(), |first| {
            format!("duplicate disk.paths entry {:?} (first given at {first})", entry.get_ref())
        });
        paths.push(path);
    }
    paths
}

/// `0 < warning_percent < critical_percent <= 100`; integers and floats both count.
fn thresholds(warning: &Val<f64>, critical: &Val<f64>, defaults: (f64, f64), c: &mut Checker) -> (f64, f64) {
    let mut in_range = |key: &str, value: &Val<f64>, default: f64| match value {
        Some(v) if !(v.get_ref().is_finite() && *v.get_ref() > 0.0 && *v.get_ref() <= 100.0) => {
            c.error(&v.span(), format!("disk.{key} must be above 0 and at most 100, not {}", v.get_ref()));
            None
        }
        _ => Some(plain(value, default)),
    };
    let (Some(w), Some(crit)) =
        (in_range("warning_percent", warning, defaults.0), in_range("critical_percent", critical, defaults.1))
    else {
        return defaults;
    };
    if w >= crit {
        // Report at the key the admin wrote (the warning first, as it is the one "too high").
        if let Some(at) = warning.as_ref().or(critical.as_ref()).map(Spanned::span) {
            c.error(&at, format!("disk.warning_percent ({w}) must be below disk.critical_percent ({crit})"));
        }
        return defaults;
    }
    (w, crit)
}

fn cleanup_rules(entries: &[Spanned<CleanupFile>], c: &mut Checker) -> Vec<CleanupRule> {
    let mut seen = FirstSeen::default();
    let mut rules = Vec::new();
    for entry in entries {
        let r = entry.get_ref();
        let at = entry.span();
        let dir = c.required("dir", "[[disk.cleanup]]", &r.dir, &at).map(|dir| cleanup_dir(dir, c));
        let pattern = c.required("pattern", "[[disk.cleanup]]", &r.pattern, &at).map(|p| cleanup_pattern(p, c));
        let older_than = c
            .required("older_than", "[[disk.cleanup]]", &r.older_than, &at)
            .map(|_| c.duration("disk.cleanup.older_than", &r.older_than, std::time::Duration::ZERO, Zero::Forbidden));
        let when = r.when.as_ref().map_or(CLEANUP_WHEN, |w| cleanup_when(w, c));
        let archive = storage::archive(r, dir.as_deref(), c);
        let (Some(dir), Some(pattern), Some(older_than)) = (dir, pattern, older_than) else { continue };
        seen.check(c, (dir.clone(), pattern.clone()), &at, |first| {
            format!("duplicate [[disk.cleanup]] for dir {dir:?} and pattern {pattern:?} (first given at {first})")
        });
        rules.push(CleanupRule { dir, pattern, older_than, when, archive });
    }
    rules
}

/// Absolute, no `..`, and not a system directory: the monitor deletes here as root.
fn cleanup_dir(dir: &Spanned<String>, c: &mut Checker) -> PathBuf {
    let path = c.path("disk.cleanup.dir", dir);
    if has_parent_component(Path::new(dir.get_ref())) {
        c.error(&dir.span(), format!("disk.cleanup.dir {:?} must not contain '..'", dir.get_ref()));
    } else if FORBIDDEN_CLEANUP_DIRS.iter().any(|forbidden| path == Path::new(forbidden)) {
        c.error(
            &dir.span(),
            format!("disk.cleanup.dir {:?} is a system directory; name the directory to clean", dir.get_ref()),
        );
    }
    path
}

/// A glob on file names: valid for `glob::Pattern`, non-empty, no '/'.
fn cleanup_pattern(pattern: &Spanned<String>, c: &mut Checker) -> String {
    let text = pattern.get_ref();
    if text.is_empty() {
        c.error(&pattern.span(), "disk.cleanup.pattern must not be empty");
    } else if text.contains('/') {
        c.error(
            &pattern.span(),
            format!("disk.cleanup.pattern {text:?} matches file names, so it must not contain '/'"),
        );
    } else if let Err(e) = glob::Pattern::new(text) {
        c.error(&pattern.span(), format!("disk.cleanup.pattern {text:?} is not a valid glob: {}", e.msg));
    }
    text.clone()
}

fn cleanup_when(when: &Spanned<String>, c: &mut Checker) -> CleanupWhen {
    match when.get_ref().as_str() {
        "critical" => CleanupWhen::Critical,
        "always" => CleanupWhen::Always,
        other => {
            c.error(&when.span(), format!("invalid disk.cleanup.when {other:?}: expected \"critical\" or \"always\""));
            CLEANUP_WHEN
        }
    }
}

fn notify(file: Spanned<NotifyFile>, c: &mut Checker) -> NotifySettings {
    let n = file.get_ref();
    if n.webhook.is_none() && n.command.is_none() && n.alertmanager.is_none() {
        c.error(&file.span(), "[notify] needs a webhook, a command or alertmanager");
    }
    let min_severity = n.min_severity.as_ref().map_or(MIN_SEVERITY, |s| {
        Severity::parse(s.get_ref()).unwrap_or_else(|| {
            let message = format!("invalid notify.min_severity {:?}: expected CRITICAL, WARNING or INFO", s.get_ref());
            c.error(&s.span(), message);
            MIN_SEVERITY
        })
    });
    let reminder =
        c.duration("notify.reminder_interval", &n.reminder_interval, std::time::Duration::ZERO, Zero::Allowed);
    NotifySettings {
        webhook: http_url("notify.webhook", &n.webhook, c),
        alertmanager: http_url("notify.alertmanager", &n.alertmanager, c),
        command: c.optional_command("notify.command", &n.command),
        min_severity,
        reminder_interval: (!reminder.is_zero()).then_some(reminder),
    }
}

/// A URL key's value, checked. The error does not quote the value: it may
/// hold a token, and a reload's error becomes an alert anyone can list.
fn http_url(key: &str, value: &Val<String>, c: &mut Checker) -> Option<String> {
    let url = value.as_ref()?;
    if !is_http_url(url.get_ref()) {
        c.error(&url.span(), format!("{key} must be an http:// or https:// URL"));
    }
    Some(url.get_ref().clone())
}

/// `flap_threshold` any number (0 = off); `flap_window` above zero.
fn alerts(a: &AlertsFile, c: &mut Checker) -> AlertSettings {
    AlertSettings {
        flap_threshold: plain(&a.flap_threshold, ALERTS.flap_threshold),
        flap_window: c.duration("alerts.flap_window", &a.flap_window, ALERTS.flap_window, Zero::Forbidden),
    }
}

/// `http://HOST...` or `https://HOST...` with no whitespace.
fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
    rest.is_some_and(|rest| {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        !host.is_empty() && !url.chars().any(|ch| ch.is_whitespace() || ch.is_control())
    })
}

fn prometheus(file: Spanned<PrometheusFile>, c: &mut Checker) -> Option<PrometheusSettings> {
    let textfile = c.required("textfile", "[prometheus]", &file.get_ref().textfile, &file.span())?;
    let path = c.path("prometheus.textfile", textfile);
    // node_exporter's textfile collector reads only *.prom files.
    if !textfile.get_ref().ends_with(".prom") {
        c.error(&textfile.span(), format!("prometheus.textfile {:?} must end in .prom", textfile.get_ref()));
    }
    Some(PrometheusSettings { textfile: path })
}

/// Remembers where each value was first given, to name both places of a duplicate.
struct FirstSeen<K> {
    first: BTreeMap<K, Range<usize>>,
}

impl<K> Default for FirstSeen<K> {
    fn default() -> Self {
        FirstSeen { first: BTreeMap::new() }
    }
}

impl<K: Ord> FirstSeen<K> {
    /// Reports `at` as a duplicate when `key` was seen before.
    fn check(&mut self, c: &mut Checker, key: K, at: &Range<usize>, message: impl FnOnce(String) -> String) {
        match self.first.get(&key) {
            Some(first) => {
                let first = c.locate(first);
                c.error(at, message(first));
            }
            None => {
                self.first.insert(key, at.clone());
            }
        }
    }
}
