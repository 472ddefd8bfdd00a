//! Finding an already-running worker by `match` and taking hold of it
//! through a pidfd.
//!
//! Rules: a process matches when its command line (arguments joined by
//! spaces) contains the `match` text. Never matched: healthmon itself, its
//! own children (probes, other workers), pid 1, kernel threads, zombies, and
//! pids another worker already holds. Of several matches the oldest is
//! adopted. The match is checked again after the pidfd is opened, so a pid
//! reused in between is never adopted.

use std::collections::HashSet;

use nix::unistd::getpid;

use crate::process::pidfd::PidFd;

/// One matching process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pid: i32,
    pub cmdline: String,
    starttime: u64,
}

/// The command line of `pid` as one string, `None` for kernel threads,
/// zombies and vanished processes. Blocking (/proc).
fn live_cmdline(pid: i32) -> Option<(String, procfs::process::Stat)> {
    let process = procfs::process::Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    if matches!(stat.state, 'Z' | 'X' | 'x') {
        return None;
    }
    let args = process.cmdline().ok()?;
    if args.is_empty() {
        return None;
    }
    Some((args.join(" "), stat))
}

/// Every live process whose command line passes `accept`, oldest first,
/// minus the ones `exclude` holds and those healthmon must never take.
/// Blocking (/proc).
pub fn scan(accept: impl Fn(&str) -> bool, exclude: &HashSet<i32>) -> Vec<Candidate> {
    let me = getpid().as_raw();
    let Ok(all) = procfs::process::all_processes() else { return Vec::new() };
    let mut found: Vec<Candidate> = all
        .flatten()
        .filter(|p| p.pid > 1 && p.pid != me && !exclude.contains(&p.pid))
        .filter_map(|p| {
            let (cmdline, stat) = live_cmdline(p.pid)?;
            (stat.ppid != me && accept(&cmdline)).then_some(Candidate { pid: p.pid, cmdline, starttime: stat.starttime })
        })
        .collect();
    found.sort_by_key(|c| (c.starttime, c.pid));
    found
}

/// Processes whose command line contains `pattern`.
pub fn find(pattern: &str, exclude: &HashSet<i32>) -> Vec<Candidate> {
    scan(|cmdline| cmdline.contains(pattern), exclude)
}

/// A pidfd for `pid` if, once it is open, the process still matches.
/// Blocking (/proc).
pub fn take(pid: i32, pattern: &str) -> Option<PidFd> {
    let fd = PidFd::open(pid).ok()?;
    let (cmdline, _) = live_cmdline(pid)?;
    cmdline.contains(pattern).then_some(fd)
}
