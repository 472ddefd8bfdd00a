//! Stopping one process safely, blocking: SIGTERM, a grace period, then
//! SIGKILL.
//!
//! The process is pinned with a pidfd before anything else, and every
//! signal goes through it and its guards ([`super::pidfd`]). On top of them,
//! any process the caller's re-check no longer accepts is refused (asked
//! again right before SIGKILL).

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::pidfd::{self, PidFd, SignalError};
use super::{ProcessInfo, ProcessState};

/// How long the kernel gets to finish off a SIGKILLed process; longer
/// means it is stuck in uninterruptible sleep (e.g. on a dead NFS mount).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Exited within the grace period after SIGTERM.
    Terminated,
    /// Needed SIGKILL.
    Killed,
    /// Was already gone before any signal.
    AlreadyGone,
    /// Still alive after the grace period but no longer accepted by the
    /// caller's re-check (e.g. it released its lock), so no SIGKILL was sent.
    Released,
}

#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// Refused by the guards or by the caller's re-check.
    #[error("refusing to signal pid {pid}: {reason}")]
    Refused { pid: i32, reason: String },
    #[error(transparent)]
    Signal(SignalError),
    #[error("pid {pid} ({comm}) is a zombie and cannot be killed; its parent {ppid} must reap it")]
    Zombie { pid: i32, comm: String, ppid: i32 },
    #[error("failed to pin pid {pid} with pidfd_open: {source}")]
    Pin { pid: i32, source: Errno },
    #[error("failed to wait for pid {pid}: {source}")]
    Wait { pid: i32, source: Errno },
    #[error("pid {pid} is still alive {waited:?} after SIGKILL (uninterruptible sleep?)")]
    Unkillable { pid: i32, waited: Duration },
}

/// Stops `pid`: SIGTERM (plus SIGCONT, so a stopped process can act on
/// it), up to `grace` for it to exit, then SIGKILL. `may_stop` is asked
/// after the process is pinned and again before SIGKILL; `Err(reason)`
/// refuses (or, after SIGTERM, ends with [`Stopped::Released`]).
pub fn stop(pid: i32, grace: Duration, may_stop: &dyn Fn(i32) -> Result<(), String>) -> Result<Stopped, StopError> {
    pidfd::guard(pid).map_err(|reason| StopError::Refused { pid, reason: reason.to_string() })?;
    let pidfd = match PidFd::open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(Stopped::AlreadyGone),
        Err(source) => return Err(StopError::Pin { pid, source }),
    };
    // From here on `pidfd` names this very process even if the pid is reused.
    may_stop(pid).map_err(|reason| StopError::Refused { pid, reason })?;
    if let Some(info) = ProcessInfo::read(pid).filter(|i| i.state == ProcessState::Zombie) {
        return Err(StopError::Zombie { pid, comm: info.comm, ppid: info.ppid });
    }
    send(&pidfd, Signal::SIGTERM)?;
    // A stopped process only acts on SIGTERM once continued; failure is harmless.
    let _ = send(&pidfd, Signal::SIGCONT);
    if exited_within(&pidfd, grace)? {
        return Ok(Stopped::Terminated);
    }
    if may_stop(pid).is_err() {
        return Ok(Stopped::Released);
    }
    send(&pidfd, Signal::SIGKILL)?;
    if exited_within(&pidfd, KILL_WAIT)? {
        return Ok(Stopped::Killed);
    }
    Err(StopError::Unkillable { pid, waited: KILL_WAIT })
}

fn send(pidfd: &PidFd, signal: Signal) -> Result<(), StopError> {
    let pid = pidfd.pid();
    match pidfd.signal(signal) {
        Ok(()) => Ok(()),
        // Exited (zombie or reaped) between our checks and the signal.
        Err(SignalError::Send { source: Errno::ESRCH, .. }) => Ok(()),
        Err(SignalError::Refused { reason, .. }) => Err(StopError::Refused { pid, reason: reason.to_string() }),
        Err(err) => Err(StopError::Signal(err)),
    }
}

fn exited_within(pidfd: &PidFd, limit: Duration) -> Result<bool, StopError> {
    pidfd.exited_within(limit).map_err(|source| StopError::Wait { pid: pidfd.pid(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc;
    use std::process::{Child, Command};
    use std::time::Instant;

    fn sleeper() -> Child {
        Command::new("sleep").arg("30").spawn().expect("sleep(1) must be installed")
    }

    fn alive(child: &mut Child) -> bool {
        child.try_wait().expect("try_wait").is_none()
    }

    fn anyone(_: i32) -> Result<(), String> {
        Ok(())
    }

    /// pid 1 is refused before anything is sent.
    #[test]
    fn refuses_init() {
        let err = stop(1, Duration::from_millis(10), &anyone).unwrap_err();
        assert!(matches!(err, StopError::Refused { pid: 1, .. }), "{err}");
    }

    /// 0 and negative pids (process groups, everyone) are refused.
    #[test]
    fn refuses_group_pids() {
        for pid in [0, -1, -1234] {
            assert!(matches!(stop(pid, Duration::ZERO, &anyone), Err(StopError::Refused { .. })), "pid {pid}");
        }
    }

    /// healthmon's own pid is refused (the test process stands in for it).
    #[test]
    fn refuses_own_pid() {
        let me = std::process::id() as i32;
        let err = stop(me, Duration::from_millis(10), &anyone).unwrap_err();
        assert!(err.to_string().contains("healthmon itself"), "{err}");
    }

    /// A live process outside the caller's holder set is refused and left running.
    #[test]
    fn refuses_pid_outside_holder_set() {
        let mut child = sleeper();
        let holders = [4_000_000];
        let in_set = |pid: i32| {
            if holders.contains(&pid) {
                Ok(())
            } else {
                Err("it holds no lock on the database".to_string())
            }
        };
        let err = stop(child.id() as i32, Duration::from_millis(100), &in_set).unwrap_err();
        assert!(matches!(err, StopError::Refused { .. }), "{err}");
        assert!(alive(&mut child), "a refused process must not be signalled");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }

    /// A process that exits on SIGTERM ends as Terminated, without SIGKILL.
    #[test]
    fn sigterm_is_enough_for_a_plain_process() {
        let mut child = sleeper();
        let outcome = stop(child.id() as i32, Duration::from_secs(5), &anyone).expect("stop");
        assert_eq!(outcome, Stopped::Terminated);
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    /// A process that ignores SIGTERM is SIGKILLed after the grace period.
    #[test]
    fn sigkill_follows_an_ignored_sigterm() {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; echo ready; exec sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let outcome = stop(child.id() as i32, Duration::from_millis(300), &anyone).expect("stop");
        assert_eq!(outcome, Stopped::Killed);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
    }

    /// A zombie is reported with its parent, not signalled.
    #[test]
    fn zombie_is_reported_with_parent() {
        let mut child = Command::new("true").spawn().expect("true");
        let pid = child.id() as i32;
        // Not reaped yet: wait until the kernel shows it as a zombie.
        let deadline = Instant::now() + Duration::from_secs(5);
        while ProcessInfo::read(pid).map(|i| i.state) != Some(ProcessState::Zombie) {
            assert!(Instant::now() < deadline, "child never became a zombie");
            std::thread::sleep(Duration::from_millis(5));
        }
        let err = stop(pid, Duration::from_millis(10), &anyone).unwrap_err();
        match err {
            StopError::Zombie { ppid, .. } => assert_eq!(ppid, std::process::id() as i32),
            other => panic!("expected Zombie, got {other}"),
        }
        child.wait().expect("wait");
    }
}
