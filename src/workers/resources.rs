//! A worker's memory, CPU time and task count: from its unit's accounting
//! where systemd keeps it (MemoryCurrent, CPUUsageNSec, TasksCurrent),
//! else summed from /proc over the worker's processes: the unit's
//! `cgroup.procs`, or the process group in fork mode. (In a container on a
//! cgroup-v1 hybrid host the unit properties are `[not set]`.)

use tokio::task::JoinSet;

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
    let mut read = read_all(vec![(0, whose)], manager.cloned()).await;
    read.pop().map(|(_, usage)| usage).unwrap_or_default()
}

/// Reads the usage of every `(index, whose)`: the units' accounting first,
/// asked concurrently, then /proc for all of them in one blocking task.
/// One task, not one per worker: with 1,500 workers a task each grew
/// tokio's blocking pool to hundreds of threads every cycle, and the
/// daemon's memory with it.
pub async fn read_all(workers: Vec<(usize, Whose)>, manager: Option<Manager>) -> Vec<(usize, Usage)> {
    let mut asks = JoinSet::new();
    for (index, whose) in workers {
        let manager = manager.clone();
        asks.spawn(async move {
            let (accounted, cgroup) = match (&whose, &manager) {
                (Whose::Unit(unit), Some(manager)) => manager.resources(unit).await.unwrap_or_default(),
                _ => (UnitResources::default(), String::new()),
            };
            (index, whose, accounted, cgroup)
        });
    }
    let mut answered = Vec::new();
    while let Some(Ok(answer)) = asks.join_next().await {
        answered.push(answer);
    }
    tokio::task::spawn_blocking(move || {
        answered
            .into_iter()
            .map(|(index, whose, accounted, cgroup)| (index, combine(accounted, &from_proc(whose, &cgroup))))
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Summed from /proc over the worker's processes. Blocking.
fn from_proc(whose: Whose, cgroup: &str) -> Usage {
    let pids = match whose {
        Whose::Unit(_) => cgroup_pids(cgroup),
        Whose::Group(leader) => group::live_members(leader),
        Whose::Process(pid) => vec![pid],
    };
    of_pids(&pids)
}

/// The unit's accounting where systemd keeps it, else what /proc says.
fn combine(accounted: UnitResources, from_proc: &Usage) -> Usage {
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

    /// Reading many workers' usage takes one blocking thread, not one
    /// each, and still answers for every worker.
    #[test]
    fn many_workers_are_read_on_one_blocking_thread() {
        let threads = || std::fs::read_dir("/proc/self/task").expect("/proc/self/task").count();
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let me = std::process::id() as i32;
        let before = threads();
        let usages = runtime.block_on(read_all((0..300).map(|i| (i, Whose::Process(me))).collect(), None));
        let grown = threads().saturating_sub(before);
        assert_eq!(usages.len(), 300);
        assert!(usages.iter().all(|(_, u)| u.memory_bytes > 0), "every worker read");
        // Other tests of this binary may start a few threads meanwhile.
        assert!(grown < 20, "{grown} threads more for 300 workers");
    }
}
