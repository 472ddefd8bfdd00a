//! A worker's memory, CPU time and task count: from its unit's accounting
//! where systemd keeps it, else summed from /proc over the worker's
//! processes: the unit's `cgroup.procs`, or the process group in fork
//! mode. (In a container on a cgroup-v1 hybrid host there is no unit
//! accounting.)
//!
//! A configured unit's accounting is asked of systemd (MemoryCurrent,
//! CPUUsageNSec, TasksCurrent). A transient worker's is read from the
//! files systemd takes those from (`memory.current`, `cpu.stat`,
//! `pids.current`) in the control group its name fixes: with 1,500
//! workers, asking systemd was 3,000 D-Bus calls every cycle.

use tokio::task::JoinSet;

use crate::process::group;
use crate::systemd::manager::{Manager, UnitResources};

use super::launch::transient;

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
    /// A configured unit, by name.
    Unit(String),
    /// A worker's transient unit, by name.
    Transient(String),
    /// Our child leading a process group.
    Group(i32),
    /// One process (adopted through `match`).
    Process(i32),
}

/// Where the processes of a command worker in `phase` are (none unless it runs).
pub fn whose(phase: &Phase) -> Option<Whose> {
    match phase {
        Phase::Up { unit: Some(unit), .. } => Some(Whose::Transient(unit.clone())),
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

/// Reads the usage of every `(index, whose)`: the configured units'
/// accounting first, asked concurrently, then the control-group files and
/// /proc for all of them in one blocking task.
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
            .map(|(index, whose, mut accounted, mut cgroup)| {
                if let Whose::Transient(unit) = &whose {
                    cgroup = transient::control_group(unit);
                    accounted = cgroup_accounting(&cgroup);
                }
                (index, combine(accounted, || from_proc(whose, &cgroup)))
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// Summed from /proc over the worker's processes. Blocking.
fn from_proc(whose: Whose, cgroup: &str) -> Usage {
    let pids = match whose {
        Whose::Unit(_) | Whose::Transient(_) => cgroup_pids(cgroup),
        Whose::Group(leader) => group::live_members(leader),
        Whose::Process(pid) => vec![pid],
    };
    of_pids(&pids)
}

/// The unit's accounting where systemd keeps it, else what /proc says
/// (read only then: a control group's processes and each one's stat file
/// are most of a cycle's reads).
fn combine(accounted: UnitResources, from_proc: impl FnOnce() -> Usage) -> Usage {
    let from_proc = match accounted {
        UnitResources { memory_bytes: Some(_), cpu_nsec: Some(_), tasks: Some(_) } => Usage::default(),
        _ => from_proc(),
    };
    Usage {
        memory_bytes: accounted.memory_bytes.unwrap_or(from_proc.memory_bytes),
        cpu_usec: accounted.cpu_nsec.map(|n| n / 1_000).unwrap_or(from_proc.cpu_usec),
        tasks: accounted.tasks.map(|t| u32::try_from(t).unwrap_or(u32::MAX)).unwrap_or(from_proc.tasks),
    }
}

/// Where the control groups systemd names (`/healthmon.slice/...`) are:
/// the unified hierarchy first (all of cgroup v2, or its part of a hybrid
/// one), then v1's named systemd hierarchy, which lists processes only.
const CGROUP_ROOTS: [&str; 3] = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"];

/// The first of `file` in the control group under each root. Blocking.
fn cgroup_file(cgroup: &str, file: &str) -> Option<String> {
    if cgroup.is_empty() {
        return None;
    }
    CGROUP_ROOTS.iter().find_map(|root| std::fs::read_to_string(format!("{root}{cgroup}/{file}")).ok())
}

/// The pids in a control group. Blocking.
fn cgroup_pids(cgroup: &str) -> Vec<i32> {
    cgroup_file(cgroup, "cgroup.procs")
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// A control group's accounting as systemd reads it for MemoryCurrent,
/// CPUUsageNSec and TasksCurrent (cgroup v2); `None` for what its
/// controllers do not keep. Blocking.
fn cgroup_accounting(cgroup: &str) -> UnitResources {
    let number = |file: &str| cgroup_file(cgroup, file)?.trim().parse::<u64>().ok();
    let cpu_usec = cgroup_file(cgroup, "cpu.stat")
        .and_then(|stat| stat.lines().find_map(|line| line.strip_prefix("usage_usec ")?.trim().parse::<u64>().ok()));
    UnitResources {
        memory_bytes: number("memory.current"),
        cpu_nsec: cpu_usec.map(|usec| usec.saturating_mul(1_000)),
        tasks: number("pids.current"),
    }
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

    /// A control group's CPU time is read from its `cpu.stat` (cgroup v2,
    /// or the unified part of a hybrid host), as systemd reads it; what no
    /// file gives is `None`, not 0.
    #[test]
    fn control_group_accounting_is_read_from_its_files() {
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
        let cgroup = own.lines().find_map(|l| l.strip_prefix("0::")).expect("a cgroup v2 line").trim();
        let accounted = cgroup_accounting(cgroup);
        assert!(accounted.cpu_nsec.is_some_and(|ns| ns > 0), "{cgroup}: {accounted:?}");
        assert_eq!(cgroup_accounting("/no-such-group-healthmon"), UnitResources::default());
        assert!(cgroup_pids(cgroup).contains(&(std::process::id() as i32)), "{cgroup} holds this test");
    }

    /// /proc is read only for what the unit's accounting lacks.
    #[test]
    fn proc_fills_in_only_what_accounting_lacks() {
        let from_proc = Usage { memory_bytes: 7, cpu_usec: 8, tasks: 9 };
        let full = UnitResources { memory_bytes: Some(1), cpu_nsec: Some(2_000), tasks: Some(3) };
        let usage = combine(full, || panic!("/proc read although the unit accounts for everything"));
        assert_eq!(usage, Usage { memory_bytes: 1, cpu_usec: 2, tasks: 3 });
        let partial = UnitResources { memory_bytes: None, cpu_nsec: Some(2_000), tasks: None };
        assert_eq!(combine(partial, || from_proc), Usage { memory_bytes: 7, cpu_usec: 2, tasks: 9 });
        assert_eq!(combine(UnitResources::default(), || from_proc), from_proc);
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
