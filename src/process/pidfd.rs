//! The one place healthmon pins processes and sends them signals.
//!
//! A [`PidFd`] names one process for as long as it is held, so a pid that is
//! reused after our checks can never receive the signal. Every signal,
//! through a pidfd or to a process group, first passes the guards: never a
//! pid ≤ 0 (they address groups or everyone), never pid 1, never healthmon
//! itself or one of its threads, never healthmon's own process group.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpgid, getpgrp, getpid, Pid};

/// Why a signal is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    #[error("not a single process (0 and negative pids address process groups)")]
    NotAProcess,
    #[error("pid 1 is init")]
    Init,
    #[error("it is healthmon itself")]
    Itself,
    #[error("it is a thread of healthmon")]
    OwnThread,
    #[error("it is healthmon's own process group")]
    OwnGroup,
    #[error("it does not lead its process group")]
    NotGroupLeader,
}

/// What a signal is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Pid(i32),
    /// The process group led by this pid.
    Group(i32),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Pid(pid) => write!(f, "pid {pid}"),
            Target::Group(leader) => write!(f, "process group {leader}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("refusing to signal {target}: {reason}")]
    Refused { target: Target, reason: Forbidden },
    /// ESRCH here means the process (or group) is gone already.
    #[error("failed to send {signal} to {target}: {source}")]
    Send { target: Target, signal: Signal, source: Errno },
}

/// The checks every signal to a single process passes.
pub fn guard(pid: i32) -> Result<(), Forbidden> {
    if pid <= 0 {
        return Err(Forbidden::NotAProcess);
    }
    if pid == 1 {
        return Err(Forbidden::Init);
    }
    if pid == getpid().as_raw() {
        return Err(Forbidden::Itself);
    }
    // kill() accepts any thread id and signals the whole thread group.
    if Path::new("/proc/self/task").join(pid.to_string()).exists() {
        return Err(Forbidden::OwnThread);
    }
    Ok(())
}

/// Signals the whole process group led by `leader` (a worker that called
/// setsid), so the leader's own children get it too. Beyond [`guard`]:
/// never healthmon's own group, and `leader` must lead its group.
pub fn signal_group(leader: i32, signal: Signal) -> Result<(), SignalError> {
    let target = Target::Group(leader);
    let refused = |reason| SignalError::Refused { target, reason };
    let failed = |source| SignalError::Send { target, signal, source };
    guard(leader).map_err(refused)?;
    if leader == getpgrp().as_raw() {
        return Err(refused(Forbidden::OwnGroup));
    }
    if getpgid(Some(Pid::from_raw(leader))).map_err(failed)?.as_raw() != leader {
        return Err(refused(Forbidden::NotGroupLeader));
    }
    kill(Pid::from_raw(-leader), signal).map_err(failed)
}

/// One process pinned by a pidfd (close-on-exec, as the kernel always sets it).
#[derive(Debug)]
pub struct PidFd {
    pid: i32,
    fd: OwnedFd,
}

impl PidFd {
    /// Pins `pid`; `Err(ESRCH)` when it is gone already. Pinning is
    /// harmless, so it is not guarded: the guards run before each signal.
    pub fn open(pid: i32) -> Result<PidFd, Errno> {
        // SAFETY: pidfd_open(2) takes two integers and returns a new fd or
        // -1; no memory is shared with the kernel.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: the kernel just created this descriptor for us and
        // nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        Ok(PidFd { pid, fd })
    }

    /// The pid the process had when it was pinned.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `signal` to this very process, after the guards.
    pub fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        let target = Target::Pid(self.pid);
        guard(self.pid).map_err(|reason| SignalError::Refused { target, reason })?;
        // SAFETY: pidfd_send_signal(2) with a valid fd, a signal number, a
        // null siginfo pointer (the kernel fills in a kill()-like one) and flags 0.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.as_raw_fd(),
                signal as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            return Err(SignalError::Send { target, signal, source: Errno::last() });
        }
        Ok(())
    }

    /// Waits up to `limit` for the process to exit (the pidfd turns
    /// readable once it is a zombie or reaped); `Duration::ZERO` only looks.
    /// Blocking.
    pub fn exited_within(&self, limit: Duration) -> Result<bool, Errno> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, timeout) {
                Ok(0) => return Ok(false),
                Ok(_) => return Ok(true),
                Err(Errno::EINTR) => continue,
                Err(source) => return Err(source),
            }
        }
    }
}

impl AsFd for PidFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guards refuse pid 1, our own pid and our own process group.
    #[test]
    fn guards_refuse_init_self_and_own_group() {
        assert_eq!(guard(1), Err(Forbidden::Init));
        assert_eq!(guard(0), Err(Forbidden::NotAProcess));
        assert_eq!(guard(-5), Err(Forbidden::NotAProcess));
        assert_eq!(guard(getpid().as_raw()), Err(Forbidden::Itself));
        assert!(signal_group(1, Signal::SIGCONT).is_err());
        assert!(signal_group(getpgrp().as_raw(), Signal::SIGCONT).is_err());
        assert!(signal_group(getpid().as_raw(), Signal::SIGCONT).is_err());
    }

    /// A thread of ours is refused too: kill() on a thread id hits the whole process.
    #[test]
    fn guard_refuses_own_thread() {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            tid_tx.send(nix::unistd::gettid().as_raw()).expect("send tid");
            let _ = done_rx.recv();
        });
        let tid = tid_rx.recv().expect("thread id");
        assert_ne!(tid, getpid().as_raw());
        assert_eq!(guard(tid), Err(Forbidden::OwnThread));
        drop(done_tx);
        thread.join().expect("join");
    }
}
