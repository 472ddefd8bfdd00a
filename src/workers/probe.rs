//! The liveness probe: `health_command` run with the worker's user,
//! environment and working directory, bounded by `health_timeout`. Exit 0
//! passes; anything else, a timeout or a failure to start fails. A probe
//! that times out is killed with its whole process group and reaped.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::config::CommandWorker;
use crate::process::pidfd::signal_group;

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
            Err(ProbeFailure(format!("timed out after {}", super::findings::human(timeout))))
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        (None, None) => "failed".into(),
    }
}
