//! A supervised process held through a pidfd: exit noticed the moment it
//! happens (children and adopted processes alike, immune to PID reuse),
//! signals that can never reach pid 1, healthmon itself or its own group,
//! and the "SIGTERM, grace, SIGKILL" stop. Children are reaped here, so no
//! zombie is left.

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::libc;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{getpgid, getpgrp, getpid, Pid};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    Code(i32),
    Signal(Signal),
    /// An adopted process: not our child, so its status is its parent's.
    Unknown,
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(code) => write!(f, "exit code {code}"),
            ExitInfo::Signal(sig) => write!(f, "signal {} ({})", *sig as i32, sig.as_str()),
            ExitInfo::Unknown => f.write_str("exit status unknown, not our child"),
        }
    }
}

/// Opens a pidfd for `pid` (close-on-exec, as the kernel always sets it).
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: a plain syscall with integer arguments; on success it returns
    // a new file descriptor that nothing else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// True when signalling `pid` could hit what healthmon must never touch.
pub fn forbidden_pid(pid: i32) -> bool {
    pid <= 1 || pid == getpid().as_raw()
}

/// Signals the whole process group led by `leader` (a worker that called
/// setsid). Refuses pid 1, healthmon itself and healthmon's own group, and
/// any process that does not lead its own group.
pub fn signal_group(leader: i32, sig: Signal) -> io::Result<()> {
    if forbidden_pid(leader) || leader == getpgrp().as_raw() {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("refusing to signal process group {leader}")));
    }
    let pgid = getpgid(Some(Pid::from_raw(leader))).map_err(io::Error::from)?;
    if pgid.as_raw() != leader {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("process {leader} does not lead its process group")));
    }
    kill(Pid::from_raw(-leader), sig).map_err(io::Error::from)
}

pub struct Proc {
    pid: i32,
    fd: AsyncFd<OwnedFd>,
    /// Our child (spawned by us, in its own session) or an adopted process.
    ours: bool,
    started: Instant,
}

impl Proc {
    /// Takes hold of a child we just spawned (not yet reaped, so the pid is
    /// still ours).
    pub fn child(pid: u32) -> io::Result<Proc> {
        let pid = pid as i32;
        Ok(Proc { pid, fd: watch(pidfd_open(pid)?)?, ours: true, started: Instant::now() })
    }

    /// Takes hold of a process someone else started, through its pidfd.
    pub fn adopted(pid: i32, fd: OwnedFd) -> io::Result<Proc> {
        Ok(Proc { pid, fd: watch(fd)?, ours: false, started: Instant::now() })
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// Resolves when the process has exited (the pidfd turns readable).
    pub async fn exited(&self) {
        // Readable stays readable once the process is gone; an error from
        // the reactor means the fd is unusable, which we treat as "gone".
        let _ = self.fd.readable().await.map(|mut guard| guard.retain_ready());
    }

    /// Has the process exited already (no waiting)?
    pub fn has_exited(&self) -> bool {
        let mut pfd = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut pfd, 1, 0) };
        n > 0
    }

    /// Sends `sig`: to the whole group for our children (so a worker's own
    /// children get it too), through the pidfd for adopted processes (whose
    /// group is not ours to signal).
    pub fn signal(&self, sig: Signal) -> io::Result<()> {
        if forbidden_pid(self.pid) {
            return Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("refusing to signal pid {}", self.pid)));
        }
        if self.ours {
            return signal_group(self.pid, sig).or_else(|_| self.pidfd_signal(sig));
        }
        self.pidfd_signal(sig)
    }

    fn pidfd_signal(&self, sig: Signal) -> io::Result<()> {
        // SAFETY: a plain syscall on a pidfd we own; no siginfo passed.
        let rc = unsafe {
            libc::syscall(libc::SYS_pidfd_send_signal, self.fd.as_raw_fd(), sig as i32, std::ptr::null::<libc::siginfo_t>(), 0)
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// After the process exited: SIGKILLs what is left of a child's group
    /// (a crashed worker's leftovers would otherwise run beside its
    /// replacement), then reaps the child and reports how it ended. The
    /// group is killed before the reap, while its id cannot be reused.
    pub fn finish(self) -> ExitInfo {
        if !self.ours {
            return ExitInfo::Unknown;
        }
        let _ = signal_group(self.pid, Signal::SIGKILL);
        reap(self.pid)
    }

    /// Stops the process: SIGTERM and SIGCONT (a stopped process would keep
    /// SIGTERM pending), `grace` to exit, then SIGKILL; then reaps it.
    pub async fn stop(self, grace: Duration) -> ExitInfo {
        if !self.has_exited() {
            let _ = self.signal(Signal::SIGTERM);
            let _ = self.signal(Signal::SIGCONT);
            if tokio::time::timeout(grace, self.exited()).await.is_err() {
                let _ = self.signal(Signal::SIGKILL);
                self.exited().await;
            }
        }
        self.finish()
    }
}

/// Registers a pidfd with the reactor (readable = the process exited).
fn watch(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: we own `fd`, and an OwnedFd's as_raw_fd is always that fd.
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
}

/// Reaps our exited child `pid`.
fn reap(pid: i32) -> ExitInfo {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return ExitInfo::Code(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return ExitInfo::Signal(sig),
            Err(Errno::EINTR) => continue,
            // Stopped/continued reports are not asked for; ECHILD means
            // someone else reaped it: nothing left to collect either way.
            Ok(_) | Err(_) => return ExitInfo::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guards refuse pid 1, our own pid and our own process group.
    #[test]
    fn guards_refuse_init_self_and_own_group() {
        assert!(forbidden_pid(1));
        assert!(forbidden_pid(0));
        assert!(forbidden_pid(-5));
        assert!(forbidden_pid(getpid().as_raw()));
        assert!(signal_group(1, Signal::SIGCONT).is_err());
        assert!(signal_group(getpgrp().as_raw(), Signal::SIGCONT).is_err());
        assert!(signal_group(getpid().as_raw(), Signal::SIGCONT).is_err());
    }
}
