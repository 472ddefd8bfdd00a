//! `health_command`: the command run with the worker's user,
//! environment and working directory, bounded by `health_timeout`. Exit 0
//! passes; anything else, a timeout or a failure to start fails.
//!
//! This is fork mode's probe: a child of healthmon that drops to `user`
//! itself, and is killed with its whole process group and reaped when it
//! times out. In systemd mode the probe is a unit of its own
//! (`launch::probe_unit`); `Launcher::probe` picks.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::CommandWorker;
use crate::process::pidfd::signal_group;

use super::super::proc::ExitInfo;
use super::super::spawn::{build, identity};
use super::{timeout_text, Outcome};

/// Runs `argv` once; a pass when it exits 0 within `timeout`.
pub async fn run(argv: &[String], spec: &CommandWorker, timeout: Duration) -> Outcome {
    let identity = match identity(spec).await {
        Ok(identity) => identity,
        Err(err) => return Outcome::Fail(format!("cannot run: {err}")),
    };
    let mut cmd = tokio::process::Command::from(build(argv, spec, identity.as_ref()));
    cmd.kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => return Outcome::Fail(format!("cannot run {}: {err}", argv[0])),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Outcome::Pass,
        Ok(Ok(status)) => Outcome::Fail(describe(status)),
        Ok(Err(err)) => Outcome::Fail(format!("cannot wait for {}: {err}", argv[0])),
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = signal_group(pid as i32, Signal::SIGKILL);
            }
            let _ = child.wait().await;
            Outcome::Fail(timed_out(timeout))
        }
    }
}

/// What a probe that ran too long is told, in both modes.
pub fn timed_out(timeout: Duration) -> String {
    format!("timed out after {}", timeout_text(timeout))
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
