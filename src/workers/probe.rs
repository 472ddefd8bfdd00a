//! The liveness probe: `health_command` run with the worker's user,
//! environment and working directory, bounded by `health_timeout`. Exit 0
//! passes; anything else, a timeout or a failure to start fails.
//!
//! This is fork mode's probe: a child of healthmon that drops to `user`
//! itself, and is killed with its whole process group and reaped when it
//! times out. In systemd mode the probe is a unit of its own
//! (`launch::probe_unit`); [`super::launch::Launcher::probe`] picks.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::CommandWorker;
use crate::process::pidfd::signal_group;

use super::proc::ExitInfo;
use super::spawn::{build, identity};

/// Why a probe failed, as a person reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeFailure(pub String);

/// Runs `argv` once; `Ok(())` when it exits 0 within `timeout`.
pub async fn run(argv: &[String], spec: &CommandWorker, timeout: Duration) -> Result<(), ProbeFailure> {
    let identity = identity(spec).await.map_err(|err| ProbeFailure(format!("cannot run: {err}")))?;
    let mut cmd = tokio::process::Command::from(build(argv, spec, identity.as_ref()));
    cmd.kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|err| ProbeFailure(format!("cannot run {}: {err}", argv[0])))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(ProbeFailure(describe(status))),
        Ok(Err(err)) => Err(ProbeFailure(format!("cannot wait for {}: {err}", argv[0]))),
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = signal_group(pid as i32, Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Err(ProbeFailure(timed_out(timeout)))
        }
    }
}

/// What a probe that ran too long is told, in both modes.
pub fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", super::findings::human(timeout))
}

/// Said as a unit probe's exit is (`exit code 3`, `signal 9 (SIGKILL)`).
fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal().map(Signal::try_from)) {
        (Some(code), _) => ExitInfo::Code(code).to_string(),
        (None, Some(Ok(sig))) => ExitInfo::Signal(sig).to_string(),
        _ => "failed".into(),
    }
}
