//! Fork mode, the fallback where systemd is not PID 1 (a container without
//! it, `--bus session`): the worker is healthmon's child in a process group
//! of its own, its output goes through a pipe to healthmon's stderr.

use std::sync::Arc;

use crate::config::CommandWorker;

use super::super::output::{Output, Reader};
use super::super::proc::Proc;
use super::super::{spawn, WorkerError};

/// Forks the worker; the reader of its output pipe is already copying.
pub async fn start(spec: &CommandWorker, output: &Output) -> Result<(Proc, Arc<Reader>), WorkerError> {
    let identity = spawn::identity(spec).await?;
    let program = spec.command[0].clone();
    let failed = |source| WorkerError::Spawn { program: program.clone(), source };
    let (reader, write) = output.pipe().map_err(failed)?;
    let child = spawn::build(&spec.command, spec, identity.as_ref())
        .stdout(write.try_clone().map_err(failed)?)
        .stderr(write)
        .spawn()
        .map_err(failed)?;
    tokio::spawn(reader.clone().run());
    // std's Child neither waits nor kills on drop: the pidfd takes over.
    let pid = child.id();
    let proc = Proc::child(pid).map_err(|source| {
        kill_unwatchable(pid);
        WorkerError::Pidfd { pid, source }
    })?;
    Ok((proc, reader))
}

/// A child we cannot watch (pidfd_open failed) is not left running blind.
fn kill_unwatchable(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(pid as i32);
    let _ = kill(pid, Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}
