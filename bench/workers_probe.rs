//! The D-Bus client of bench/workers_1500.sh, run inside the booted
//! container against the packaged healthmon on the system bus:
//!
//! - `wait-running COUNT [OLD_PIDS_FILE]`: polls ListWorkers until COUNT
//!   workers are `running` with a pid (none of them one in the file);
//!   prints the seconds it took from its own start.
//! - `pids`: every worker's pid, one a line.
//! - `status CALLS`: Status round trips, idle: p50 and p99.
//! - `status-cycle`: Status round trips while a RunOnce (on another
//!   connection) runs: p50 and p99, and how long the cycle took.
//! - `list-workers CALLS`: ListWorkers round trips: median and max.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use healthmon::dbus::MonitorProxy;

#[path = "support.rs"]
mod support;
use support::{ms, quantile};

/// How long `wait-running` waits before it gives up.
const WAIT_LIMIT: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let started = Instant::now();
        let number = |i: usize| args.get(i).map(|s| s.parse::<usize>().expect("a number"));
        match args.first().map(String::as_str) {
            Some("wait-running") => wait_running(number(1).expect("COUNT"), args.get(2), started).await,
            Some("pids") => {
                for w in proxy().await.list_workers().await.expect("ListWorkers") {
                    println!("{}", w.pid);
                }
            }
            Some("status") => status_idle(number(1).unwrap_or(2000)).await,
            Some("status-cycle") => status_during_cycle().await,
            Some("list-workers") => list_workers(number(1).unwrap_or(21)).await,
            _ => panic!(
                "usage: workers_probe wait-running COUNT [OLD_PIDS] | pids | status N | status-cycle | list-workers N"
            ),
        }
    });
}

async fn connect() -> zbus::Connection {
    zbus::Connection::system().await.expect("connect to the system bus")
}

async fn proxy() -> MonitorProxy<'static> {
    MonitorProxy::new(&connect().await).await.expect("proxy")
}

async fn wait_running(count: usize, old_pids: Option<&String>, started: Instant) {
    let old: HashSet<u32> = old_pids
        .map(|path| std::fs::read_to_string(path).expect("old pids").lines().filter_map(|l| l.parse().ok()).collect())
        .unwrap_or_default();
    loop {
        assert!(started.elapsed() < WAIT_LIMIT, "not all {count} workers running within {WAIT_LIMIT:?}");
        // Before healthmon owns its name, or while it starts, calls fail: retry.
        if let Ok(conn) = zbus::Connection::system().await {
            if let Ok(p) = MonitorProxy::new(&conn).await {
                while let Ok(workers) = p.list_workers().await {
                    let up = workers.iter().filter(|w| w.state == "running" && w.pid != 0 && !old.contains(&w.pid));
                    if up.count() >= count {
                        println!("{:.2}", started.elapsed().as_secs_f64());
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn timed_status(p: &MonitorProxy<'_>) -> Duration {
    let t = Instant::now();
    p.status().await.expect("Status");
    t.elapsed()
}

fn print_percentiles(what: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{what}: {} calls, p50 {:.2} ms, p99 {:.2} ms",
        times.len(),
        ms(quantile(&times, 0.5)),
        ms(quantile(&times, 0.99))
    );
}

async fn status_idle(calls: usize) {
    let p = proxy().await;
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        times.push(timed_status(&p).await);
    }
    print_percentiles("Status idle", times);
}

async fn status_during_cycle() {
    let p = proxy().await;
    let other = proxy().await;
    let started = Instant::now();
    let cycle = tokio::spawn(async move { other.run_once().await.map(|_| started.elapsed()) });
    let mut times = Vec::new();
    while !cycle.is_finished() {
        times.push(timed_status(&p).await);
    }
    let took = cycle.await.expect("RunOnce task").expect("RunOnce");
    print_percentiles(&format!("Status during a {:.2} s cycle", took.as_secs_f64()), times);
}

async fn list_workers(calls: usize) {
    let p = proxy().await;
    let mut times = Vec::with_capacity(calls);
    let mut rows = 0;
    for _ in 0..calls {
        let t = Instant::now();
        rows = p.list_workers().await.expect("ListWorkers").len();
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "ListWorkers ({rows} rows): median {:.2} ms, max {:.2} ms ({calls} calls)",
        ms(quantile(&times, 0.5)),
        ms(times[times.len() - 1])
    );
}
