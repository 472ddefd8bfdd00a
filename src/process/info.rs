//! What `ps` would say about a process, read from /proc/PID/stat.

use std::time::Duration;

use procfs::process::{ProcState, Process};
use procfs::Current;

/// One process as /proc/PID/stat shows it.
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
