//! Benchmark of the service's figures on a private bus: Status round trips
//! through the generated proxy (rate, p50, p99) when idle and while a cycle
//! is blocked on the database, start-to-READY=1 time, and idle RSS.
//!
//! `cargo build --release && cargo run --release --example status_latency [-- SECONDS_IDLE]`
//! (needs dbus-daemon; uses target/release/healthmon next to the example).

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use healthmon::dbus::MonitorProxy;

#[path = "support.rs"]
mod support;
use support::{quantile, rss, spawn_daemon, start_bus, wait_for};

const ROUND_TRIPS: usize = 5000;

fn main() {
    let idle_secs: u64 = std::env::args().nth(1).map_or(60, |s| s.parse().expect("seconds"));
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("unix:path={}/bus", dir.path().display());
    let _bus = start_bus(&address);

    let notify_path = dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).expect("notify socket");
    notify.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let db = dir.path().join("health.db");
    let started = Instant::now();
    let daemon = spawn_daemon(&address, &notify_path, &db, &[]);
    wait_for(&notify, "READY=1");
    println!("start to READY=1: {:.1} ms", started.elapsed().as_secs_f64() * 1000.0);
    wait_for(&notify, "last check");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let conn = zbus::connection::Builder::address(address.as_str()).build().await.expect("connect");
        let proxy = MonitorProxy::new(&conn).await.expect("proxy");
        report("Status, idle", &measure(&proxy).await);

        // A long cycle: another process holds the database's write lock,
        // so the cycle's store call waits while Status keeps answering.
        let lock = rusqlite::Connection::open(&db).expect("open db");
        lock.execute_batch("BEGIN EXCLUSIVE").expect("lock");
        // The RunOnce caller is another client, on its own connection.
        let other = zbus::connection::Builder::address(address.as_str()).build().await.expect("connect");
        let cycle = tokio::spawn(async move { MonitorProxy::new(&other).await.expect("proxy").run_once().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let during = measure(&proxy).await;
        let still_running = !cycle.is_finished();
        report(&format!("Status, during a cycle (cycle still running at the end: {still_running})"), &during);
        lock.execute_batch("COMMIT").expect("unlock");
        let _ = cycle.await;
    });

    std::thread::sleep(Duration::from_secs(idle_secs));
    println!("idle RSS after {idle_secs} s: {}", rss(daemon.0.id()));
}

async fn measure(proxy: &MonitorProxy<'_>) -> Vec<Duration> {
    let mut times = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let t = Instant::now();
        proxy.status().await.expect("status");
        times.push(t.elapsed());
    }
    times
}

fn report(what: &str, times: &[Duration]) {
    let mut sorted = times.to_vec();
    sorted.sort();
    let total: Duration = times.iter().sum();
    let pct = |p: f64| quantile(&sorted, p).as_secs_f64() * 1e6;
    println!(
        "{what}: {} calls, {:.0}/s, p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        times.len(),
        times.len() as f64 / total.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        sorted[sorted.len() - 1].as_secs_f64() * 1e6
    );
}
