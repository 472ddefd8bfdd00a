//! A supervised process held through a pidfd: exit noticed the moment it
//! happens (children and adopted processes alike, immune to PID reuse), and
//! the async "SIGTERM, grace, SIGKILL" stop, of the whole process group for
//! the workers healthmon started. Pinning, the guards (never pid
//! 1, healthmon itself or its own group) and signalling are
//! [`crate::process::pidfd`]'s. Children are reaped here, so no zombie is
//! left.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::process::group;

use super::launch::transient::UnitRef;
use crate::process::pidfd::{signal_group, PidFd, SignalError};

/// How often a stop looks for what is left of a group once its leader is
/// gone (the others have no pidfd to wait on).
const GROUP_POLL: Duration = Duration::from_millis(20);
/// How long the kernel gets to finish off a SIGKILLed group.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitInfo {
    Code(i32),
    Signal(Signal),
    /// An adopted process: not our child, so its status is its parent's.
    Unknown,
    /// Stopped as a failed start: no `READY=1` within `start_timeout`.
    NotReady(Duration),
    /// Stopped as hung: no `WATCHDOG=1` for `watchdog`.
    NoWatchdog(Duration),
}

impl fmt::Display for ExitInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitInfo::Code(code) => write!(f, "exit code {code}"),
            ExitInfo::Signal(sig) => write!(f, "signal {} ({})", *sig as i32, sig.as_str()),
            ExitInfo::Unknown => f.write_str("exit status unknown, not our child"),
            ExitInfo::NotReady(within) => write!(f, "no READY=1 within {}", crate::human::duration(*within)),
            ExitInfo::NoWatchdog(every) => write!(f, "no WATCHDOG=1 for {}", crate::human::duration(*every)),
        }
    }
}

pub struct Proc {
    pid: i32,
    fd: AsyncFd<PidFd>,
    held: Held,
    started: Instant,
}

/// Whose process it is, which decides how it is stopped.
enum Held {
    /// Our child, leading its own process group.
    Child,
    /// Someone else's, adopted through `match`: only this process is ours to signal.
    Adopted,
    /// The main process of a worker's systemd unit: systemd stops it.
    Unit(UnitRef),
}

impl Proc {
    /// Takes hold of a child we just spawned (not yet reaped, so the pid is
    /// still ours).
    pub fn child(pid: u32) -> io::Result<Proc> {
        let pid = pid as i32;
        Ok(Proc { pid, fd: watch(PidFd::open(pid)?)?, held: Held::Child, started: Instant::now() })
    }

    /// Takes hold of a process someone else started, through its pidfd.
    pub fn adopted(fd: PidFd) -> io::Result<Proc> {
        Ok(Proc { pid: fd.pid(), fd: watch(fd)?, held: Held::Adopted, started: Instant::now() })
    }

    /// Takes hold of the main process of a worker's unit.
    pub fn unit(pid: u32, unit: UnitRef) -> io::Result<Proc> {
        let fd = PidFd::open(pid as i32).map_err(io::Error::from)?;
        Ok(Proc { pid: pid as i32, fd: watch(fd)?, held: Held::Unit(unit), started: Instant::now() })
    }

    /// The systemd unit it runs in, if any.
    pub fn unit_name(&self) -> Option<&str> {
        self.unit_ref().map(|unit| unit.name.as_str())
    }

    pub fn unit_ref(&self) -> Option<&UnitRef> {
        match &self.held {
            Held::Unit(unit) => Some(unit),
            Held::Child | Held::Adopted => None,
        }
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
        self.fd.get_ref().exited_within(Duration::ZERO).unwrap_or(false)
    }

    /// Sends `sig`: to the whole group for our children (so a worker's own
    /// children get it too), through the pidfd for others (whose group is
    /// not ours to signal).
    pub fn signal(&self, sig: Signal) -> Result<(), SignalError> {
        let pidfd = self.fd.get_ref();
        if matches!(self.held, Held::Child) {
            return signal_group(self.pid, sig).or_else(|_| pidfd.signal(sig));
        }
        pidfd.signal(sig)
    }

    /// After the process exited on its own: what is left of a child's group
    /// (a crashed worker's leftovers would otherwise run beside its
    /// replacement) is stopped as in [`Proc::stop`], then the child is
    /// reaped and how it ended reported.
    /// A unit's end is systemd's: it stops the rest of the control group
    /// the same way; healthmon waits for it and reads the status.
    pub async fn finish(self, grace: Duration) -> ExitInfo {
        match &self.held {
            Held::Adopted => return ExitInfo::Unknown,
            Held::Unit(unit) => return unit.crashed().await,
            Held::Child => {}
        }
        if !self.group_gone_by(Instant::now()).await {
            return self.stop_group(grace).await;
        }
        reap(self.pid)
    }

    /// Stops the process: SIGTERM and SIGCONT (a stopped process would keep
    /// SIGTERM pending), `grace` to exit, then SIGKILL; then reaps it. For
    /// our children this is the whole process group.
    pub async fn stop(self, grace: Duration) -> ExitInfo {
        match &self.held {
            Held::Child => return self.stop_group(grace).await,
            Held::Unit(unit) => {
                unit.request_stop().await;
                return unit.settle().await;
            }
            Held::Adopted => {}
        }
        if !self.has_exited() {
            let _ = self.signal(Signal::SIGTERM);
            let _ = self.signal(Signal::SIGCONT);
            if tokio::time::timeout(grace, self.exited()).await.is_err() {
                let _ = self.signal(Signal::SIGKILL);
                self.exited().await;
            }
        }
        ExitInfo::Unknown
    }

    /// Every process of the group gets SIGTERM and the whole `grace`; only
    /// if one is still alive after it does the group get SIGKILL. The
    /// leader is reaped last: while it is an unreaped zombie its pid, which
    /// is the group's id, cannot be reused, so no signal can reach a
    /// stranger's group.
    async fn stop_group(self, grace: Duration) -> ExitInfo {
        let deadline = Instant::now() + grace;
        let _ = self.signal(Signal::SIGTERM);
        let _ = self.signal(Signal::SIGCONT);
        if !self.group_gone_by(deadline).await {
            let _ = self.signal(Signal::SIGKILL);
            self.group_gone_by(Instant::now() + KILL_WAIT).await;
        }
        reap(self.pid)
    }

    /// Waits until the leader has exited and no live process is left in
    /// its group, or `deadline`; true when the group is gone. The leader is
    /// waited for on its pidfd; the others, which have none, are looked up.
    async fn group_gone_by(&self, deadline: Instant) -> bool {
        if tokio::time::timeout_at(deadline.into(), self.exited()).await.is_err() {
            return false;
        }
        let pgid = self.pid;
        loop {
            let members = tokio::task::spawn_blocking(move || group::live_members(pgid)).await.unwrap_or_default();
            let now = Instant::now();
            if members.is_empty() {
                return true;
            }
            if now >= deadline {
                return false;
            }
            tokio::time::sleep(GROUP_POLL.min(deadline - now)).await;
        }
    }
}

/// Registers a pidfd with the reactor (readable = the process exited).
fn watch(fd: PidFd) -> io::Result<AsyncFd<PidFd>> {
    // SAFETY: we own `fd`, and a PidFd's as_raw_fd is always that fd.
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
