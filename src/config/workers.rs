//! `[workers.NAME]` tables turned into [`WorkerSettings`]: a name usable as a
//! component and journal field value, exactly one of `command` / `unit`, and
//! no command-only keys on a unit worker.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::defaults::*;
use super::file::WorkerFile;
use super::probes;
use super::settings::*;
use super::validate::plain;
use super::values::{Checker, Zero};
use super::{order, pools};

/// The unit types systemd knows; a worker's `unit` must name one of them.
const UNIT_SUFFIXES: [&str; 11] = [
    ".service",
    ".socket",
    ".target",
    ".timer",
    ".path",
    ".mount",
    ".automount",
    ".swap",
    ".slice",
    ".scope",
    ".device",
];

/// The workers sorted by configured name (the map's order), a pool as
/// its instances in number order.
pub fn workers(file: BTreeMap<Spanned<String>, Spanned<WorkerFile>>, c: &mut Checker) -> Vec<WorkerSettings> {
    let sizes: BTreeMap<&str, Option<u32>> =
        file.iter().map(|(name, w)| (name.get_ref().as_str(), pools::size(name.get_ref(), w.get_ref(), c))).collect();
    let mut depends_on = order::depends_on(&file, &sizes, c);
    let mut out = Vec::new();
    for (name, worker) in &file {
        let mut w = worker_settings(name, worker, c);
        w.depends_on = depends_on.remove(name.get_ref()).unwrap_or_default();
        out.extend(pools::expand(w, sizes[name.get_ref().as_str()]));
    }
    out
}

fn worker_settings(name: &Spanned<String>, file: &Spanned<WorkerFile>, c: &mut Checker) -> WorkerSettings {
    let w = file.get_ref();
    if !is_worker_name(name.get_ref()) {
        c.error(
            &name.span(),
            format!(
                "invalid worker name {:?}: use only letters, digits and _ . - (@ is reserved for pool instances)",
                name.get_ref()
            ),
        );
    }
    let key = |k: &str| format!("workers.{}.{k}", name.get_ref());
    let health_failures = plain(&w.health_failures, HEALTH_FAILURES);
    if let (Some(at), 0) = (&w.health_failures, health_failures) {
        c.error(&at.span(), format!("{} must be at least 1", key("health_failures")));
    }
    WorkerSettings {
        name: name.get_ref().clone(),
        kind: kind(name.get_ref(), file, c),
        critical: plain(&w.critical, WORKER_CRITICAL),
        restart_delay: c.duration(&key("restart_delay"), &w.restart_delay, RESTART_DELAY, Zero::Allowed),
        verify_after: c.duration(&key("verify_after"), &w.verify_after, VERIFY_AFTER, Zero::Allowed),
        max_restarts: plain(&w.max_restarts, MAX_RESTARTS),
        restart_window: c.duration(&key("restart_window"), &w.restart_window, RESTART_WINDOW, Zero::Forbidden),
        health_command: c.optional_command(&key("health_command"), &w.health_command),
        health_timeout: c.duration(&key("health_timeout"), &w.health_timeout, HEALTH_TIMEOUT, Zero::Forbidden),
        health_failures,
        stop_timeout: c.duration(&key("stop_timeout"), &w.stop_timeout, STOP_TIMEOUT, Zero::Allowed),
        watchdog: c.optional_duration(&key("watchdog"), &w.watchdog),
        notify_ready: plain(&w.notify_ready, NOTIFY_READY),
        start_timeout: probes::start_timeout(name.get_ref(), w, c),
        health_interval: probes::health_interval(name.get_ref(), &w.health_interval, c),
        probes: probes::probes(name.get_ref(), w, c),
        limits: probes::limits(name.get_ref(), w, c),
        pool: None,
        depends_on: Vec::new(),
    }
}

/// Names become component names and `HEALTHMON_COMPONENT` values; `@`
/// is left for pool instances (`api@1`).
fn is_worker_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch))
}

fn kind(name: &str, file: &Spanned<WorkerFile>, c: &mut Checker) -> WorkerKind {
    let w = file.get_ref();
    match (&w.command, &w.unit) {
        (Some(_), Some(unit)) => {
            c.error(&unit.span(), format!("worker {name:?} has both command and unit; give exactly one"));
            WorkerKind::Unit(unit.get_ref().clone())
        }
        (None, None) => {
            c.error(&file.span(), format!("worker {name:?} needs either command or unit"));
            WorkerKind::Unit(String::new())
        }
        (None, Some(unit)) => {
            for (key, at) in command_only_keys(w) {
                c.error(
                    &at,
                    format!("workers.{name}.{key} applies only to command workers, not to unit {:?}", unit.get_ref()),
                );
            }
            for (key, at) in unit_noop_keys(w) {
                c.warn(
                    &at,
                    format!("workers.{name}.{key} does nothing for a unit worker (systemd runs {:?})", unit.get_ref()),
                );
            }
            WorkerKind::Unit(unit_name(name, unit, c))
        }
        (Some(command), None) => WorkerKind::Command(CommandWorker {
            command: c.command(&format!("workers.{name}.command"), command),
            working_dir: c.optional_path(&format!("workers.{name}.working_dir"), &w.working_dir),
            environment: w.environment.as_ref().map(|env| environment(name, env, c)).unwrap_or_default(),
            user: w.user.as_ref().map(|user| c.non_empty(&format!("workers.{name}.user"), user)),
            match_cmdline: w.match_cmdline.as_ref().map(|m| c.non_empty(&format!("workers.{name}.match"), m)),
        }),
    }
}

/// The keys set on a worker that only make sense for a process healthmon starts.
fn command_only_keys(w: &WorkerFile) -> Vec<(&'static str, Range<usize>)> {
    set_keys([
        ("working_dir", w.working_dir.as_ref().map(Spanned::span)),
        ("environment", w.environment.as_ref().map(Spanned::span)),
        ("user", w.user.as_ref().map(Spanned::span)),
        ("match", w.match_cmdline.as_ref().map(Spanned::span)),
        // A unit worker's own unit file says Type=notify and WatchdogSec=.
        ("watchdog", w.watchdog.as_ref().map(Spanned::span)),
        ("notify_ready", w.notify_ready.as_ref().map(Spanned::span)),
        ("instances", w.instances.as_ref().map(Spanned::span)),
        ("depends_on", w.depends_on.as_ref().map(Spanned::span)),
    ])
}

/// Keys a unit worker accepts but does not use: systemd's own
/// `RestartSec=`, `TimeoutStopSec=` and `TimeoutStartSec=` apply, and its probes are not run.
fn unit_noop_keys(w: &WorkerFile) -> Vec<(&'static str, Range<usize>)> {
    set_keys([
        ("restart_delay", w.restart_delay.as_ref().map(Spanned::span)),
        ("verify_after", w.verify_after.as_ref().map(Spanned::span)),
        ("health_command", w.health_command.as_ref().map(Spanned::span)),
        ("health_timeout", w.health_timeout.as_ref().map(Spanned::span)),
        ("health_failures", w.health_failures.as_ref().map(Spanned::span)),
        ("stop_timeout", w.stop_timeout.as_ref().map(Spanned::span)),
        ("start_timeout", w.start_timeout.as_ref().map(Spanned::span)),
        ("health_http", w.health_http.as_ref().map(Spanned::span)),
        ("health_tcp", w.health_tcp.as_ref().map(Spanned::span)),
        ("heartbeat_file", w.heartbeat_file.as_ref().map(Spanned::span)),
        ("health_interval", w.health_interval.as_ref().map(Spanned::span)),
        ("max_memory", w.max_memory.as_ref().map(Spanned::span)),
        ("max_cpu_percent", w.max_cpu_percent.as_ref().map(Spanned::span)),
    ])
}

/// The keys of `keys` that are set, with where.
fn set_keys<const N: usize>(keys: [(&'static str, Option<Range<usize>>); N]) -> Vec<(&'static str, Range<usize>)> {
    keys.into_iter().filter_map(|(key, at)| at.map(|at| (key, at))).collect()
}

/// A unit name systemd accepts: its characters, and a known type suffix.
fn unit_name(worker: &str, unit: &Spanned<String>, c: &mut Checker) -> String {
    let text = unit.get_ref();
    let stem = UNIT_SUFFIXES.iter().find_map(|suffix| text.strip_suffix(suffix));
    let valid_chars = text.chars().all(|ch| ch.is_ascii_alphanumeric() || ":-_.\\@".contains(ch));
    if !matches!(stem, Some(stem) if !stem.is_empty()) || !valid_chars {
        c.error(
            &unit.span(),
            format!("workers.{worker}.unit {text:?} is not a systemd unit name (expected e.g. \"{worker}.service\")"),
        );
    }
    text.clone()
}

/// Variable names must be usable by execve: non-empty, no '=' or NUL.
fn environment(worker: &str, env: &Spanned<BTreeMap<String, String>>, c: &mut Checker) -> BTreeMap<String, String> {
    for (name, value) in env.get_ref() {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            c.error(&env.span(), format!("workers.{worker}.environment has an unusable variable {name:?}"));
        }
    }
    env.get_ref().clone()
}
