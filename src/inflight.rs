//! The checks' in-flight guard: at most one run of each check at a time.
//! A run that overruns `check_timeout` is abandoned by the cycle, not
//! killed (a thread blocked in the kernel, e.g. on a dead NFS or FUSE
//! mount, cannot be), and stays registered until it returns: later cycles
//! report it as still running instead of starting a second copy, so a hung
//! path holds one blocking thread, not one per cycle. When it finally
//! returns, its findings (which may include actions already taken) come
//! back through a channel for the daemon to record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinError;

use crate::checks::{Check, CheckContext, CheckError};
use crate::model::{Finding, Severity, Status};

/// The metric type of a whole check's failure (timeout, panic, error).
pub const CHECK_RUN_METRIC: &str = "check_run";

/// Findings of a run that returned after the cycle gave up on it.
#[derive(Debug)]
pub struct LateRun {
    pub check: &'static str,
    pub findings: Vec<Finding>,
}

/// Where late runs are announced; the daemon takes the receiver.
pub type LateReceiver = mpsc::UnboundedReceiver<LateRun>;

/// The runs still in flight (by check name, since when) and the channel
/// late ones report to.
pub struct InFlight {
    running: Arc<Mutex<HashMap<&'static str, Instant>>>,
    late: mpsc::UnboundedSender<LateRun>,
    receiver: Option<LateReceiver>,
}

impl Default for InFlight {
    fn default() -> InFlight {
        let (late, receiver) = mpsc::unbounded_channel();
        InFlight { running: Arc::default(), late, receiver: Some(receiver) }
    }
}

impl InFlight {
    /// The receiver of late runs, once (the daemon records them; `--once`
    /// exits without waiting for them).
    pub fn take_late(&mut self) -> Option<LateReceiver> {
        self.receiver.take()
    }

    /// Runs `check` on the blocking pool for at most `timeout`. A check
    /// whose earlier run is still going is not started again.
    pub async fn run(&self, check: Arc<dyn Check>, ctx: CheckContext, timeout: Duration) -> Vec<Finding> {
        let name = check.name();
        if let Some(since) = self.since(name) {
            let message = format!(
                "{name} check still running since {}s ago (timed out, abandoned); not started again until it returns",
                since.elapsed().as_secs()
            );
            return vec![check_failed(name, &message)];
        }
        let started = Instant::now();
        self.lock().insert(name, started);
        let mut task = tokio::task::spawn_blocking(move || check.run(&ctx));
        match tokio::time::timeout(timeout, &mut task).await {
            Ok(joined) => {
                self.lock().remove(name);
                outcome(name, joined)
            }
            Err(_) => {
                let (running, late) = (Arc::clone(&self.running), self.late.clone());
                tokio::spawn(async move {
                    let joined = task.await;
                    running.lock().unwrap_or_else(PoisonError::into_inner).remove(name);
                    let mut findings = outcome(name, joined);
                    let message = format!(
                        "{name} check returned {}s late; its findings are recorded",
                        started.elapsed().as_secs()
                    );
                    findings.push(Finding::healthy(name, CHECK_RUN_METRIC, message));
                    // No receiver: `--once` already exited its cycle.
                    let _ = late.send(LateRun { check: name, findings });
                });
                let message = format!(
                    "{name} check timed out after {}s; still running, not started again until it returns",
                    timeout.as_secs_f64()
                );
                vec![check_failed(name, &message)]
            }
        }
    }

    fn since(&self, name: &str) -> Option<Instant> {
        self.lock().get(name).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Instant>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn outcome(name: &str, joined: Result<Result<Vec<Finding>, CheckError>, JoinError>) -> Vec<Finding> {
    match joined {
        Ok(Ok(findings)) => findings,
        Ok(Err(err)) => vec![check_failed(name, &format!("{name} check failed: {err}"))],
        Err(join) => vec![check_failed(name, &format!("{name} check crashed: {join}"))],
    }
}

/// A whole check's failure: an error finding on the check's name.
pub fn check_failed(name: &str, message: &str) -> Finding {
    Finding::problem(name, CHECK_RUN_METRIC, Status::Error, Severity::Warning, message, message)
}
