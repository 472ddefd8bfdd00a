//! Finding an already-running worker by `match` and taking hold of it
//! through a pidfd.
//!
//! Rules: `match` is compared with the process's argv, element by element:
//! it matches an element equal to it or whose file name is equal to it
//! (`worker.py` matches `/opt/app/worker.py`, not `worker.py.log`); a
//! `match` with spaces must match a run of consecutive elements, each by
//! the same rule (`python3 worker.py`). Never matched: healthmon itself, its
//! own children (probes, other workers), pid 1, kernel threads, zombies, and
//! pids another worker already holds. Several matches are ambiguous: none is
//! adopted (the caller says which pids). The match is checked again after
//! the pidfd is opened, so a pid reused in between is never adopted.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::Path;

use nix::unistd::getpid;

use crate::process::pidfd::PidFd;

/// One matching process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pid: i32,
    /// Its argv joined by spaces, for people.
    pub cmdline: String,
    starttime: u64,
}

/// Does `argv` match `pattern` by the rules above?
pub fn argv_matches(pattern: &str, argv: &[String]) -> bool {
    let words: Vec<&str> = pattern.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return false;
    }
    argv.windows(words.len()).any(|run| run.iter().zip(&words).all(|(arg, word)| element_matches(word, arg)))
}

fn element_matches(word: &str, arg: &str) -> bool {
    arg == word || Path::new(arg).file_name() == Some(OsStr::new(word))
}

/// The argv of `pid`, `None` for kernel threads, zombies and vanished
/// processes. Blocking (/proc).
fn live_argv(pid: i32) -> Option<(Vec<String>, procfs::process::Stat)> {
    let process = procfs::process::Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    if matches!(stat.state, 'Z' | 'X' | 'x') {
        return None;
    }
    let args = process.cmdline().ok()?;
    if args.is_empty() {
        return None;
    }
    Some((args, stat))
}

/// Every live process whose argv passes `accept`, oldest first, minus the
/// ones `exclude` holds and those healthmon must never take. Blocking (/proc).
pub fn scan(accept: impl Fn(&[String]) -> bool, exclude: &HashSet<i32>) -> Vec<Candidate> {
    let me = getpid().as_raw();
    let Ok(all) = procfs::process::all_processes() else { return Vec::new() };
    let mut found: Vec<Candidate> = all
        .flatten()
        .filter(|p| p.pid > 1 && p.pid != me && !exclude.contains(&p.pid))
        .filter_map(|p| {
            let (argv, stat) = live_argv(p.pid)?;
            (stat.ppid != me && accept(&argv)).then(|| Candidate {
                pid: p.pid,
                cmdline: argv.join(" "),
                starttime: stat.starttime,
            })
        })
        .collect();
    found.sort_by_key(|c| (c.starttime, c.pid));
    found
}

/// Processes whose argv matches `pattern`.
pub fn find(pattern: &str, exclude: &HashSet<i32>) -> Vec<Candidate> {
    scan(|argv| argv_matches(pattern, argv), exclude)
}

/// A pidfd for `pid` if, once it is open, the process still matches.
/// Blocking (/proc).
pub fn take(pid: i32, pattern: &str) -> Option<PidFd> {
    let fd = PidFd::open(pid).ok()?;
    let (argv, _) = live_argv(pid)?;
    argv_matches(pattern, &argv).then_some(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    /// An element equal to the match, or whose file name is, matches; a mere substring does not.
    #[test]
    fn matches_elements_and_file_names_only() {
        let worker = argv(&["/usr/bin/python3", "/opt/architect/workers/assigner_worker.py", "--daemon"]);
        assert!(argv_matches("assigner_worker.py", &worker));
        assert!(argv_matches("/opt/architect/workers/assigner_worker.py", &worker));
        assert!(argv_matches("--daemon", &worker));
        assert!(!argv_matches("assigner_worker", &worker));
        assert!(!argv_matches("assigner_worker.py", &argv(&["tail", "-f", "assigner_worker.py.log"])));
        assert!(!argv_matches("sleep 1000", &argv(&["tmux", "new-session", "sleep 100000"])));
        assert!(!argv_matches("", &worker));
    }

    /// A match with spaces needs consecutive elements, in order.
    #[test]
    fn spaces_match_consecutive_elements() {
        let worker = argv(&["/usr/bin/python3", "worker.py", "--queue", "fast"]);
        assert!(argv_matches("python3 worker.py", &worker));
        assert!(argv_matches("--queue fast", &worker));
        assert!(!argv_matches("python3 --queue", &worker));
        assert!(!argv_matches("fast --queue", &worker));
        assert!(!argv_matches("sleep 1000", &argv(&["tmux", "new-session", "-d", "sleep", "100000"])));
        assert!(argv_matches("sleep 1000", &argv(&["/bin/sleep", "1000"])));
    }
}
