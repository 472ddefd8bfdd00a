//! Fork mode, the fallback where systemd is not PID 1 (a container without
//! it, `--bus session`): the worker is healthmon's child in a process group
//! of its own, its output goes through a pipe to healthmon's stderr. A
//! worker that speaks sd_notify gets `NOTIFY_SOCKET` (healthmon's socket
//! for it) and, with `watchdog`, `WATCHDOG_USEC`; `WATCHDOG_PID` is not
//! set, so the worker's helpers may ping too.

use std::sync::Arc;

use crate::config::{CommandWorker, WorkerSettings};

use super::super::notify::{self, NotifySocket};
use super::super::output::{Output, Reader};
use super::super::proc::Proc;
use super::super::{spawn, WorkerError};

/// Forks the worker; the reader of its output pipe is already copying.
pub async fn start(
    w: &WorkerSettings,
    spec: &CommandWorker,
    output: &Output,
    socket: Option<&NotifySocket>,
) -> Result<(Proc, Arc<Reader>), WorkerError> {
    let identity = spawn::identity(spec).await?;
    let program = spec.command[0].clone();
    let failed = |source| WorkerError::Spawn { program: program.clone(), source };
    let (reader, write) = output.pipe().map_err(failed)?;
    let mut command = spawn::build(&spec.command, spec, identity.as_ref());
    if let Some(socket) = socket {
        command.env("NOTIFY_SOCKET", socket.path());
        if let Some(every) = w.watchdog {
            command.env("WATCHDOG_USEC", notify::watchdog_usec(every));
        }
    }
    let child = command.stdout(write.try_clone().map_err(failed)?).stderr(write).spawn().map_err(failed)?;
    tokio::spawn(reader.clone().run());
    // std's Child neither waits nor kills on drop: the pidfd takes over.
    let pid = child.id();
    let proc = Proc::child(pid).map_err(|source| {
        kill_unwatchable(pid);
        WorkerError::Pidfd { pid, source }
    })?;
    Ok((proc, reader))
}

/// healthmon's notify socket for a worker that speaks sd_notify, owned by
/// the worker's user.
pub async fn notify_socket(w: &WorkerSettings, spec: &CommandWorker) -> Result<Option<NotifySocket>, WorkerError> {
    if !notify::wanted(w) {
        return Ok(None);
    }
    let owner = spawn::identity(spec).await?.map(|id| id.ids());
    let name = w.name.clone();
    tokio::task::spawn_blocking(move || NotifySocket::bind(&name, owner))
        .await
        .map_err(std::io::Error::other)
        .and_then(|bound| bound)
        .map(Some)
        .map_err(|source| WorkerError::Notify { worker: w.name.clone(), source })
}

/// A child we cannot watch (pidfd_open failed) is not left running blind.
fn kill_unwatchable(pid: u32) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let pid = Pid::from_raw(pid as i32);
    let _ = kill(pid, Signal::SIGKILL);
    let _ = nix::sys::wait::waitpid(pid, None);
}
