//! How a command worker is run, chosen once at start: as a transient
//! systemd service ([`transient`]) where systemd is PID 1 and healthmon
//! serves the system bus, else forked in a process group of its own
//! (`fork`, the fallback, logged as such). The supervisor and the
//! worker tasks never ask which: they start, adopt and stop through a
//! [`Launcher`], and a running worker is a `Proc` either way.
//!
//! A unit systemd refuses is an error finding for that worker (and the
//! restart budget retries it), never a fallback to forking.

mod fork;
mod orphans;
mod probe_unit;
pub mod transient;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::config::{CommandWorker, WorkerSettings};
use crate::systemd::manager::Manager;

use super::notify::NotifySocket;
use super::output::{Output, Reader};
use super::probe::{self, Outcome};
use super::proc::Proc;
use super::WorkerError;

/// Which way workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Transient systemd services.
    Transient,
    /// Children of healthmon in process groups.
    Fork,
}

impl Mode {
    /// Transient units where systemd is PID 1 (`/run/systemd/system`
    /// exists) and healthmon is on the system bus; fork mode otherwise.
    pub fn detect(system_bus: bool) -> Mode {
        if system_bus && Path::new("/run/systemd/system").exists() {
            Mode::Transient
        } else {
            Mode::Fork
        }
    }
}

/// systemd's manager, connected on first need and forgotten after a
/// failure so the next use reconnects; shared by unit workers and
/// transient workers.
#[derive(Debug, Clone, Default)]
pub struct ManagerSlot(Arc<Mutex<Option<Manager>>>);

impl ManagerSlot {
    pub async fn get(&self) -> Result<Manager, String> {
        let mut slot = self.0.lock().await;
        if let Some(manager) = slot.as_ref() {
            return Ok(manager.clone());
        }
        let manager = Manager::connect().await.map_err(|err| err.to_string())?;
        *slot = Some(manager.clone());
        Ok(manager)
    }

    pub async fn forget(&self) {
        *self.0.lock().await = None;
    }
}

/// Starts and finds command workers the chosen way.
#[derive(Debug, Clone)]
pub enum Launcher {
    Transient(ManagerSlot),
    Fork,
}

/// A started worker: its process, and in fork mode the reader of its output.
pub struct Started {
    pub proc: Proc,
    pub reader: Option<Arc<Reader>>,
}

impl Launcher {
    pub fn new(mode: Mode, slot: &ManagerSlot) -> Launcher {
        match mode {
            Mode::Transient => Launcher::Transient(slot.clone()),
            Mode::Fork => Launcher::Fork,
        }
    }

    /// The unit name a worker runs in, `None` in fork mode.
    pub fn unit(&self, worker: &str) -> Option<String> {
        matches!(self, Launcher::Transient(_)).then(|| transient::unit_name(worker))
    }

    async fn manager(slot: &ManagerSlot, worker: &str) -> Result<Manager, WorkerError> {
        slot.get().await.map_err(|reason| WorkerError::Unit { unit: transient::unit_name(worker), reason })
    }

    /// healthmon's own notify socket for the worker: in fork mode, when it
    /// speaks sd_notify (under systemd its unit has one).
    pub async fn notify_socket(
        &self,
        w: &WorkerSettings,
        spec: &CommandWorker,
    ) -> Result<Option<NotifySocket>, WorkerError> {
        match self {
            Launcher::Fork => fork::notify_socket(w, spec).await,
            Launcher::Transient(_) => Ok(None),
        }
    }

    /// Starts the worker (in fork mode speaking to `socket`, if any).
    pub async fn start(
        &self,
        w: &WorkerSettings,
        spec: &CommandWorker,
        output: &Output,
        socket: Option<&NotifySocket>,
    ) -> Result<Started, WorkerError> {
        match self {
            Launcher::Fork => {
                fork::start(w, spec, output, socket).await.map(|(proc, reader)| Started { proc, reader: Some(reader) })
            }
            Launcher::Transient(slot) => {
                let manager = Launcher::manager(slot, &w.name).await?;
                let started = transient::start(&manager, w, spec).await;
                if started.is_err() {
                    slot.forget().await;
                }
                started.map(|proc| Started { proc, reader: None })
            }
        }
    }

    /// The worker stops for good (removed, or healthmon stops with it):
    /// its unit, if a crash left it failed, is reset and collected.
    pub async fn release(&self, worker: &str) {
        if let Launcher::Transient(slot) = self {
            if let Ok(manager) = slot.get().await {
                transient::release(&manager, worker).await;
            }
        }
    }

    /// The worker as an earlier healthmon left it running (its unit), if any.
    pub async fn find(&self, w: &WorkerSettings, spec: &CommandWorker) -> Result<Option<Proc>, WorkerError> {
        match self {
            Launcher::Fork => Ok(None),
            Launcher::Transient(slot) => transient::adopt(&Launcher::manager(slot, &w.name).await?, w, spec).await,
        }
    }

    /// Runs the worker's `health_command` once: a unit of its own under
    /// systemd (healthmon never changes identity there), a child in fork mode.
    pub async fn probe(&self, w: &WorkerSettings, spec: &CommandWorker, argv: &[String]) -> Outcome {
        match self {
            Launcher::Fork => probe::command::run(argv, spec, w.health_timeout).await,
            Launcher::Transient(slot) => match slot.get().await {
                Ok(manager) => probe_unit::run(&manager, w, spec, argv).await,
                Err(reason) => Outcome::Fail(format!("cannot run: {reason}")),
            },
        }
    }

    /// In the background, stops the worker units left running for workers
    /// that are not configured any more (see `orphans`); `units` are the
    /// configured workers' unit names. Nothing to do in fork mode.
    pub fn stop_orphans(&self, units: HashSet<String>) {
        let Launcher::Transient(slot) = self else { return };
        let slot = slot.clone();
        tokio::spawn(async move {
            let done = match slot.get().await {
                Ok(manager) => orphans::stop(&manager, &units).await.map_err(|err| err.to_string()),
                Err(reason) => Err(reason),
            };
            match done {
                Ok(done) => done.iter().for_each(|line| log::info!("{line}")),
                Err(err) => log::warn!("cannot look for worker units no longer configured: {err}"),
            }
        });
    }

    /// The worker's last lines of output from the journal (transient
    /// units); fork mode keeps its own in the output pipe's tail.
    pub async fn last_lines(&self, worker: &str) -> Vec<String> {
        match self {
            Launcher::Fork => Vec::new(),
            Launcher::Transient(_) => transient::last_lines(worker).await,
        }
    }
}
