//! Benchmark half (see bench/restart_latency.sh): runs healthmon's worker
//! supervisor on the one command given as arguments, with
//! `restart_delay = "0s"`, until SIGTERM, then stops the worker.

use std::collections::BTreeMap;
use std::time::Duration;

use healthmon::config::{CommandWorker, WorkerKind, WorkerSettings};
use healthmon::workers::Supervisor;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let command: Vec<String> = std::env::args().skip(1).collect();
    assert!(!command.is_empty(), "usage: restart_latency COMMAND [ARG...]");
    let worker = WorkerSettings {
        name: "bench".into(),
        kind: WorkerKind::Command(CommandWorker {
            command,
            working_dir: None,
            environment: BTreeMap::new(),
            user: None,
            match_cmdline: None,
        }),
        critical: true,
        restart_delay: Duration::ZERO,
        verify_after: Duration::from_millis(100),
        max_restarts: 10_000,
        restart_window: Duration::from_secs(600),
        health_command: None,
        health_timeout: Duration::from_secs(10),
        health_failures: 3,
        stop_timeout: Duration::from_secs(2),
    };
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
