//! The live members of a process group, read from /proc: how a worker's
//! stop knows that its whole group is gone, not only the leader.

use procfs::process::{all_processes, ProcState};

/// Pids of the processes in group `pgid` that have not exited (zombies are
/// gone as far as a stop is concerned: they run no code). Blocking (/proc).
pub fn live_members(pgid: i32) -> Vec<i32> {
    let Ok(all) = all_processes() else { return Vec::new() };
    all.flatten()
        .filter_map(|p| p.stat().ok())
        .filter(|s| s.pgrp == pgid && !matches!(s.state(), Ok(ProcState::Zombie) | Ok(ProcState::Dead)))
        .map(|s| s.pid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    /// A group's member is found, and a group with only a zombie leader is empty.
    #[test]
    fn finds_members_and_ignores_zombies() {
        let mut child = std::process::Command::new("sleep").arg("30").process_group(0).spawn().expect("sleep");
        let pid = child.id() as i32;
        assert_eq!(live_members(pid), vec![pid]);
        child.kill().expect("kill");
        // Wait for the zombie without reaping it.
        let fd = crate::process::pidfd::PidFd::open(pid).expect("pidfd");
        assert!(fd.exited_within(std::time::Duration::from_secs(5)).unwrap());
        assert!(live_members(pid).is_empty());
        child.wait().expect("reap");
    }
}
