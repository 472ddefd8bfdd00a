//! Benchmark half (see bench/restart_latency.sh): runs healthmon's worker
//! supervisor on the one command given as arguments, with
//! `restart_delay = "0s"`, until SIGTERM, then stops the worker.

use healthmon::workers::Supervisor;
use tokio::signal::unix::{signal, SignalKind};

#[path = "../tests/common/workers.rs"]
mod workers_common;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let command: Vec<String> = std::env::args().skip(1).collect();
    assert!(!command.is_empty(), "usage: restart_latency COMMAND [ARG...]");
    // The tests' worker settings (no restart delay), with a budget large
    // enough for every kill of the benchmark.
    let mut worker = workers_common::command_worker("bench", command);
    worker.max_restarts = 10_000;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let supervisor = Supervisor::start(&[worker], false, tx).await;
    let mut term = signal(SignalKind::terminate())?;
    loop {
        tokio::select! {
            // Findings are dropped: the daemon would record them.
            Some(_) = events.recv() => {}
            _ = term.recv() => break,
        }
    }
    supervisor.shutdown().await;
    Ok(())
}
