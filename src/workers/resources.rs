//! A worker's memory, CPU time and task count: from its unit's accounting
//! where systemd keeps it (MemoryCurrent, CPUUsageNSec, TasksCurrent),
//! else summed from /proc over the worker's processes: the unit's
//! `cgroup.procs`, or the process group in fork mode. (In a container on a
//! cgroup-v1 hybrid host the unit properties are `[not set]`.)

use crate::process::group;
use crate::systemd::manager::{Manager, UnitResources};

use super::command::Phase;

/// Resident memory in bytes, CPU time in µs, tasks (threads); 0 = not known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory_bytes: u64,
    pub cpu_usec: u64,
    pub tasks: u32,
}

/// Where a running worker's processes are.
#[derive(Debug, Clone)]
pub enum Whose {
    /// A transient or configured unit, by name.
    Unit(String),
    /// Our child leading a process group.
    Group(i32),
    /// One process (adopted through `match`).
    Process(i32),
}

/// Where the processes of a command worker in `phase` are (none unless it runs).
pub fn whose(phase: &Phase) -> Option<Whose> {
    match phase {
        Phase::Up { unit: Some(unit), .. } => Some(Whose::Unit(unit.clone())),
        Phase::Up { pid, adopted: true, .. } => Some(Whose::Process(*pid as i32)),
        Phase::Up { pid, .. } => Some(Whose::Group(*pid as i32)),
        _ => None,
    }
}

/// Reads the usage of `whose` (the unit's accounting first).
pub async fn read(whose: Whose, manager: Option<&Manager>) -> Usage {
    let (accounted, cgroup) = match (&whose, manager) {
        (Whose::Unit(unit), Some(manager)) => manager.resources(unit).await.unwrap_or_default(),
        _ => (UnitResources::default(), String::new()),
    };
    let from_proc = tokio::task::spawn_blocking(move || {
        let pids = match whose {
            Whose::Unit(_) => cgroup_pids(&cgroup),
            Whose::Group(leader) => group::live_members(leader),
            Whose::Process(pid) => vec![pid],
        };
        of_pids(&pids)
    })
    .await
    .unwrap_or_default();
    Usage {
        memory_bytes: accounted.memory_bytes.unwrap_or(from_proc.memory_bytes),
        cpu_usec: accounted.cpu_nsec.map(|n| n / 1_000).unwrap_or(from_proc.cpu_usec),
        tasks: accounted.tasks.map(|t| u32::try_from(t).unwrap_or(u32::MAX)).unwrap_or(from_proc.tasks),
    }
}

/// The pids in a control group named as systemd names it
/// (`/healthmon.slice/...`), on a unified or a hybrid hierarchy. Blocking.
fn cgroup_pids(cgroup: &str) -> Vec<i32> {
    if cgroup.is_empty() {
        return Vec::new();
    }
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]
        .iter()
        .find_map(|root| std::fs::read_to_string(format!("{root}{cgroup}/cgroup.procs")).ok())
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Resident memory, CPU time and threads summed over `pids` (vanished ones
/// count nothing). Blocking (/proc).
fn of_pids(pids: &[i32]) -> Usage {
    let page = procfs::page_size();
    let ticks = procfs::ticks_per_second().max(1);
    let mut usage = Usage::default();
    for stat in pids.iter().filter_map(|pid| procfs::process::Process::new(*pid).ok()?.stat().ok()) {
        usage.memory_bytes += stat.rss * page;
        usage.cpu_usec += (stat.utime + stat.stime) * 1_000_000 / ticks;
        usage.tasks += u32::try_from(stat.num_threads).unwrap_or(0);
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own process has memory, CPU time and at least one thread.
    #[test]
    fn own_process_is_counted() {
        let usage = of_pids(&[std::process::id() as i32]);
        assert!(usage.memory_bytes > 1_000_000, "{usage:?}");
        assert!(usage.tasks >= 1, "{usage:?}");
        assert_eq!(of_pids(&[]), Usage::default());
    }
}
