//! `healthmon --once`: workers reported, never started or stopped.

use std::collections::HashSet;

use crate::config::{CommandWorker, WorkerKind, WorkerSettings};
use crate::model::{Finding, Status};
use crate::systemd::manager::Manager;

use super::{adopt, findings, unit};

/// `healthmon --once`: each worker reported as running or down, nothing
/// started or restarted (the daemon supervises; a one-shot run must not
/// leave unsupervised children behind), so `dry_run` changes nothing here.
/// A command worker counts as running when a process matches `match`, or
/// without `match` when a process's command line is exactly `command` (or
/// ends with it, for scripts run through their interpreter).
pub async fn once(workers: &[WorkerSettings], _dry_run: bool) -> Vec<Finding> {
    let bus = if workers.iter().any(|w| matches!(w.kind, WorkerKind::Unit(_))) {
        Manager::connect().await.map_err(|err| err.to_string())
    } else {
        Err("no unit workers".into())
    };
    let mut out = Vec::new();
    for w in workers {
        let finding = match &w.kind {
            WorkerKind::Command(spec) => report_command(w, spec).await,
            WorkerKind::Unit(name) => unit::report(w, name, bus.as_ref().map_err(String::as_str)).await,
        };
        out.push(finding);
    }
    out
}

async fn report_command(w: &WorkerSettings, spec: &CommandWorker) -> Finding {
    let pattern = spec.match_cmdline.clone();
    let joined = spec.command.join(" ");
    let exact = joined.clone();
    let found = tokio::task::spawn_blocking(move || match &pattern {
        Some(pattern) => adopt::find(pattern, &HashSet::new()),
        None => adopt::scan(
            |argv| {
                let cmdline = argv.join(" ");
                cmdline == exact || cmdline.ends_with(&format!(" {exact}"))
            },
            &HashSet::new(),
        ),
    })
    .await
    .unwrap_or_default();
    let how = match &spec.match_cmdline {
        Some(pattern) => format!("matched {pattern:?}"),
        None => "matched its command".to_string(),
    };
    match found.first() {
        Some(c) => findings::healthy(w, format!("running (pid {}, {how}): {}", c.pid, c.cmdline)),
        None => findings::problem(w, Status::Unhealthy, "not running (start the daemon to supervise it)", joined),
    }
}
