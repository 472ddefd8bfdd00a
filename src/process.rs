//! Stopping one process safely: SIGTERM, a grace period, then SIGKILL.
//!
//! The process is pinned with a pidfd before anything else, so a pid that is
//! reused after our checks can never receive the signal. Guards refuse pid 1,
//! pids ≤ 0 (they address process groups or everyone), healthmon itself and
//! its threads, and any process the caller's re-check no longer accepts
//! (asked again right before each signal). Needs Linux ≥ 5.3 (pidfd_open).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use procfs::process::{ProcState, Process};
use procfs::Current;

/// How long the kernel gets to finish off a SIGKILLed process; longer
/// means it is stuck in uninterruptible sleep (e.g. on a dead NFS mount).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// What `ps` would say about a process, read from /proc/PID/stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    /// The kernel's short command name (`comm`, at most 15 bytes).
    pub comm: String,
    pub state: ProcessState,
    pub ppid: i32,
    /// How long the process has been running.
    pub age: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    Running,
    Sleeping,
    /// Uninterruptible sleep (D): even SIGKILL waits until it returns.
    DiskSleep,
    /// Stopped by a signal or a tracer (T, t): holds its locks indefinitely.
    Stopped,
    /// Exited, not yet reaped by its parent: cannot be killed.
    Zombie,
    Other,
}

impl ProcessState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Running => "running",
            ProcessState::Sleeping => "sleeping",
            ProcessState::DiskSleep => "disk-sleep",
            ProcessState::Stopped => "stopped",
            ProcessState::Zombie => "zombie",
            ProcessState::Other => "other",
        }
    }
}

impl ProcessInfo {
    /// `None` when the process is gone (or /proc is unreadable for it).
    pub fn read(pid: i32) -> Option<ProcessInfo> {
        let stat = Process::new(pid).ok()?.stat().ok()?;
        let state = match stat.state().ok()? {
            ProcState::Running => ProcessState::Running,
            ProcState::Sleeping | ProcState::Idle => ProcessState::Sleeping,
            ProcState::Waiting => ProcessState::DiskSleep,
            ProcState::Stopped | ProcState::Tracing => ProcessState::Stopped,
            ProcState::Zombie => ProcessState::Zombie,
            _ => ProcessState::Other,
        };
        // starttime counts clock ticks since boot, like /proc/uptime.
        let uptime = procfs::Uptime::current().ok()?.uptime_duration();
        let started = Duration::from_millis(stat.starttime.saturating_mul(1000) / procfs::ticks_per_second().max(1));
        Some(ProcessInfo { pid, comm: stat.comm, state, ppid: stat.ppid, age: uptime.saturating_sub(started) })
    }
}

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
    #[error("refusing to signal pid {pid}: {reason}")]
    Refused { pid: i32, reason: String },
    #[error("pid {pid} ({comm}) is a zombie and cannot be killed; its parent {ppid} must reap it")]
    Zombie { pid: i32, comm: String, ppid: i32 },
    #[error("failed to pin pid {pid} with pidfd_open: {source}")]
    Pin { pid: i32, source: Errno },
    #[error("failed to send {signal} to pid {pid}: {source}")]
    Signal { pid: i32, signal: Signal, source: Errno },
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
    guard(pid)?;
    let pidfd = match pidfd_open(pid) {
        Ok(fd) => fd,
        Err(Errno::ESRCH) => return Ok(Stopped::AlreadyGone),
        Err(source) => return Err(StopError::Pin { pid, source }),
    };
    // From here on `pidfd` names this very process even if the pid is reused.
    may_stop(pid).map_err(|reason| StopError::Refused { pid, reason })?;
    if let Some(info) = ProcessInfo::read(pid).filter(|i| i.state == ProcessState::Zombie) {
        return Err(StopError::Zombie { pid, comm: info.comm, ppid: info.ppid });
    }
    send(&pidfd, pid, Signal::SIGTERM)?;
    // A stopped process only acts on SIGTERM once continued; failure is harmless.
    let _ = send(&pidfd, pid, Signal::SIGCONT);
    if exited_within(&pidfd, pid, grace)? {
        return Ok(Stopped::Terminated);
    }
    if may_stop(pid).is_err() {
        return Ok(Stopped::Released);
    }
    send(&pidfd, pid, Signal::SIGKILL)?;
    if exited_within(&pidfd, pid, KILL_WAIT)? {
        return Ok(Stopped::Killed);
    }
    Err(StopError::Unkillable { pid, waited: KILL_WAIT })
}

/// The checks that hold whatever the caller says.
fn guard(pid: i32) -> Result<(), StopError> {
    let refuse = |reason: &str| Err(StopError::Refused { pid, reason: reason.to_string() });
    if pid <= 0 {
        return refuse("not a single process (0 and negative pids address process groups)");
    }
    if pid == 1 {
        return refuse("pid 1 is init");
    }
    if pid == std::process::id() as i32 {
        return refuse("it is healthmon itself");
    }
    // kill() accepts any thread id and signals the whole thread group.
    if Path::new("/proc/self/task").join(pid.to_string()).exists() {
        return refuse("it is a thread of healthmon");
    }
    Ok(())
}

fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open(2) takes two integers and returns a new fd or -1;
    // no memory is shared with the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just created this descriptor (close-on-exec) for
    // us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn send(pidfd: &OwnedFd, pid: i32, signal: Signal) -> Result<(), StopError> {
    // SAFETY: pidfd_send_signal(2) with a valid fd, a signal number, a
    // null siginfo pointer (the kernel fills in a kill()-like one) and flags 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal as libc::c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    match rc {
        0 => Ok(()),
        // Exited (zombie or reaped) between our checks and the signal.
        _ if Errno::last() == Errno::ESRCH => Ok(()),
        _ => Err(StopError::Signal { pid, signal, source: Errno::last() }),
    }
}

/// A pidfd becomes readable when its process exits (zombie or reaped).
fn exited_within(pidfd: &OwnedFd, pid: i32, limit: Duration) -> Result<bool, StopError> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(source) => return Err(StopError::Wait { pid, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command};

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
