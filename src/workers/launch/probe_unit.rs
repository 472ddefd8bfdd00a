//! systemd mode's liveness probe: `health_command` as a short-lived
//! transient service, `healthmon-<name>:probe.service` in the workers'
//! slice (`:` cannot be in a worker's name, so no worker's unit is ever
//! called that). It runs as the worker does: its user, directory and
//! environment, outside healthmon's sandbox; so healthmon itself never
//! changes identity and the shipped unit drops CAP_SETUID and CAP_SETGID.
//!
//! `RuntimeMaxUSec` = `health_timeout`: systemd ends a probe that runs
//! too long with SIGKILL to its whole control group. A probe that exits
//! 0 is collected at once (`CollectMode=inactive`); a failed one is read,
//! then reset so that the next probe can take the name. Its output is in
//! the journal under the worker's name (`journalctl -t NAME`).

use std::time::{Duration, Instant};

use nix::libc;
use zbus::Variant;

use crate::config::{CommandWorker, WorkerSettings};
use crate::systemd::manager::{Manager, ManagerError, UnitState};

use super::super::probe::command::timed_out;
use super::super::probe::Outcome;
use super::super::proc::ExitInfo;
use super::transient::{exec_properties, exit_info, free_name, has_run, ran, usec, wait_for, KILL_WAIT};

/// `healthmon-<name>:probe.service`.
pub fn unit_name(worker: &str) -> String {
    format!("healthmon-{worker}:probe.service")
}

/// Runs the worker's `health_command` once as a unit; a pass when it
/// exits 0 within `health_timeout`.
pub async fn run(manager: &Manager, w: &WorkerSettings, spec: &CommandWorker, argv: &[String]) -> Outcome {
    match run_unit(manager, w, spec, argv).await {
        Ok(()) => Outcome::Pass,
        Err(what) => Outcome::Fail(what),
    }
}

async fn run_unit(manager: &Manager, w: &WorkerSettings, spec: &CommandWorker, argv: &[String]) -> Result<(), String> {
    let name = unit_name(&w.name);
    let cannot = |err: ManagerError| format!("cannot run: {err}");
    let mut properties = exec_properties(argv, w, spec).map_err(|err| format!("cannot run: {err}"))?;
    properties.extend([
        ("Description", Variant::from(format!("healthmon probe of worker {}", w.name))),
        ("Type", Variant::from("exec")),
        ("RuntimeMaxUSec", Variant::from(usec(w.health_timeout))),
        ("KillMode", Variant::from("control-group")),
        ("KillSignal", Variant::from(libc::SIGKILL)),
        ("CollectMode", Variant::from("inactive")),
    ]);
    if manager.start_transient(&name, &properties).await.is_err() {
        // The last probe's unit still holds the name (failed, or not yet collected).
        free_name(manager, &name).await.map_err(cannot)?;
        manager.start_transient(&name, &properties).await.map_err(cannot)?;
    }
    let deadline = Instant::now() + w.health_timeout + KILL_WAIT;
    let state = wait_for(manager, &name, deadline, has_run).await.map_err(cannot)?;
    let verdict = verdict(state.as_ref(), &w.name, w.health_timeout);
    if state.is_some_and(|s| !s.is_down()) {
        manager.stop(&name).await.map_err(cannot)?;
    } else if let Err(err) = manager.reset_failed(&name).await {
        log::warn!("cannot reset the failed {name}: {err}");
    }
    verdict
}

/// The probe's outcome from its unit's last state (`None`: collected, so it exited 0).
fn verdict(state: Option<&UnitState>, worker: &str, timeout: Duration) -> Result<(), String> {
    let too_long = || timed_out(timeout);
    match state {
        None => Ok(()),
        Some(s) if !s.is_down() || s.result.as_deref() == Some("timeout") => Err(too_long()),
        Some(s) => {
            let exit = exit_info(Some(s));
            match exit {
                ExitInfo::Code(0) => Ok(()),
                _ if ran(exit) => Err(exit.to_string()),
                _ => Err(format!(
                    "cannot run: systemd could not start it ({exit}; see journalctl -u {})",
                    unit_name(worker)
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A probe unit as systemd shows it: (ActiveState, Result, ExecMainCode/Status).
    fn unit(active: &str, result: &str, exec_main: (i32, i32)) -> UnitState {
        UnitState {
            load: "loaded".into(),
            active: active.into(),
            sub: String::new(),
            description: String::new(),
            main_pid: 0,
            n_restarts: Some(0),
            result: Some(result.into()),
            exec_main: Some(exec_main),
            active_since_usec: 0,
            job_pending: false,
            status_text: String::new(),
        }
    }

    /// An inactive unit whose start job has not run yet is not an ended probe.
    #[test]
    fn only_a_probe_that_ran_has_ended() {
        assert!(!has_run(&unit("inactive", "success", (0, 0))), "start job still queued");
        assert!(!has_run(&unit("active", "success", (0, 0))));
        assert!(has_run(&unit("inactive", "success", (1, 0))));
        assert!(has_run(&unit("failed", "exit-code", (1, 1))));
        assert!(has_run(&unit("failed", "resources", (0, 0))), "systemd gave up before exec");
    }

    /// Pass, exit code, signal, timeout and systemd's own failures read as a person would.
    #[test]
    fn verdicts() {
        let t = Duration::from_secs(1);
        let said = |s: Option<UnitState>| verdict(s.as_ref(), "w", t);
        assert_eq!(said(None), Ok(()), "collected: exited 0");
        assert_eq!(said(Some(unit("inactive", "success", (1, 0)))), Ok(()));
        assert_eq!(said(Some(unit("failed", "exit-code", (1, 3)))), Err("exit code 3".into()));
        assert_eq!(said(Some(unit("failed", "signal", (2, 9)))), Err("signal 9 (SIGKILL)".into()));
        assert_eq!(said(Some(unit("failed", "timeout", (2, 9)))), Err("timed out after 1 s".into()));
        assert_eq!(said(Some(unit("active", "success", (0, 0)))), Err("timed out after 1 s".into()), "still running");
        let exec = said(Some(unit("failed", "exit-code", (1, 203)))).unwrap_err();
        assert!(exec.contains("systemd could not start it") && exec.contains("healthmon-w:probe.service"), "{exec}");
    }
}
