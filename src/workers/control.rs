//! An administrator's levers on one worker: [`Supervisor::start_worker`],
//! [`Supervisor::stop_worker`] and [`Supervisor::restart_worker`].
//!
//! Command workers get the request through their task's [`Control`]
//! channel and answer once it is done (a graceful stop takes up to
//! `stop_timeout`), so the caller waits on a [`Pending`] without holding
//! the supervisor. Unit workers are started, stopped and restarted through
//! systemd (`StartUnit`, `StopUnit`, `RestartUnit`, mode `replace`), and
//! a unit systemd refuses is an error that changes nothing.
//!
//! Ordering (documented for admins): requests for one worker are applied
//! one after the other in the order they reach the daemon, each completing
//! before the next begins; so a stop and a start racing each other end in
//! the state of whichever arrived last. A stop is "stopped by an
//! administrator" (`stopped`): never restarted, no alert, healthy in the
//! counts. A start from `stopped` or `given-up`, and every restart, begins
//! with a fresh restart budget and is not counted against it.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::oneshot;

use super::command::{Admin, Control};
use super::order;
use super::unit::{self, Job};
use super::{Entry, Supervisor};

/// What a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The worker was started, stopped or restarted.
    Done,
    /// It already was in the asked-for state; nothing was done.
    Already,
}

/// The longest worker name a request may carry (bytes).
pub const MAX_NAME_BYTES: usize = 255;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("a worker name is needed (`healthctl workers` lists them)")]
    EmptyName,
    #[error("a worker name of {0} bytes is too long; at most {MAX_NAME_BYTES} are allowed")]
    NameTooLong(usize),
    #[error("no worker named {0:?} is configured (`healthctl workers` lists them)")]
    Unknown(String),
    #[error("{pool} is a pool; name one of its instances, {pool}@1 to {pool}@{size}")]
    Pool { pool: String, size: usize },
    #[error("systemd refused to {verb} {unit} for worker {name}: {message}")]
    Systemd { name: String, verb: &'static str, unit: String, message: String },
    #[error("worker {0} is being shut down with healthmon")]
    Gone(String),
    #[error("restart of pool {pool} halted: {instance} did not come back up ({why}); the instances after it were not restarted")]
    NotUp { pool: String, instance: String, why: String },
}

/// A request on its way; [`Pending::wait`] gives its outcome.
pub struct Pending(Pin<Box<dyn Future<Output = Result<Change, ControlError>> + Send>>);

impl Pending {
    fn ready(result: Result<Change, ControlError>) -> Pending {
        Pending(Box::pin(std::future::ready(result)))
    }

    pub async fn wait(self) -> Result<Change, ControlError> {
        self.0.await
    }
}

impl Supervisor {
    /// Runs a stopped or given-up worker again (fresh budget); `Already`
    /// when it runs.
    pub async fn start_worker(&mut self, name: &str) -> Result<Pending, ControlError> {
        self.control(name, Admin::Release).await
    }

    /// Stops a worker gracefully and keeps it stopped; `Already` when an
    /// administrator had stopped it.
    pub async fn stop_worker(&mut self, name: &str) -> Result<Pending, ControlError> {
        self.control(name, Admin::Hold).await
    }

    /// Stops and starts a worker (or starts it), not counted against the
    /// restart budget.
    pub async fn restart_worker(&mut self, name: &str) -> Result<Pending, ControlError> {
        self.control(name, Admin::Bounce).await
    }

    /// The workers `name` stands for: itself, or a pool's instances in
    /// number order; none when it names nothing configured.
    pub fn members(&self, name: &str) -> Vec<String> {
        if self.entries.iter().any(|e| e.name() == name) {
            return vec![name.to_string()];
        }
        let in_pool = |e: &&Entry| match e {
            Entry::Command(c) => c.handle.settings.pool.as_ref().is_some_and(|p| p.pool == name),
            Entry::Unit(_) => false,
        };
        self.entries.iter().filter(in_pool).map(|e| e.name().to_string()).collect()
    }

    async fn control(&mut self, name: &str, admin: Admin) -> Result<Pending, ControlError> {
        check_name(name)?;
        let members = self.members(name);
        let pending = match members.as_slice() {
            [] => return Err(ControlError::Unknown(name.to_string())),
            [one] if one == name => self.control_one(name, admin).await?,
            _ => self.control_pool(name, &members, admin),
        };
        for member in members {
            if admin == Admin::Hold {
                self.held.insert(member);
            } else {
                self.held.remove(&member);
            }
        }
        Ok(pending)
    }

    /// A pool's instances one after another in number order, each request
    /// done before the next; a restart also waits for each instance to be
    /// up again ([`order::wait_up`]) before it restarts the next, so the
    /// pool never has more than one instance down.
    fn control_pool(&self, pool: &str, members: &[String], admin: Admin) -> Pending {
        let steps: Vec<_> = self
            .entries
            .iter()
            .filter_map(|e| match e {
                Entry::Command(c) if members.contains(&c.handle.settings.name) => {
                    Some((c.handle.settings.name.clone(), c.handle.peer()))
                }
                _ => None,
            })
            .collect();
        let (board, pool) = (self.board.clone(), pool.to_string());
        Pending(Box::pin(async move {
            let mut changed = false;
            for (instance, peer) in steps {
                let (ack, answer) = oneshot::channel();
                peer.send(Control::Admin(admin, ack));
                changed |= answer.await.map_err(|_| ControlError::Gone(instance.clone()))?;
                if admin == Admin::Bounce {
                    let not_up = |why| ControlError::NotUp { pool: pool.clone(), instance: instance.clone(), why };
                    order::wait_up(&board, &instance).await.map_err(not_up)?;
                }
            }
            Ok(if changed { Change::Done } else { Change::Already })
        }))
    }

    /// One worker (a command worker's task, or a unit through systemd).
    async fn control_one(&mut self, name: &str, admin: Admin) -> Result<Pending, ControlError> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.name() == name)
            .ok_or_else(|| ControlError::Unknown(name.to_string()))?;
        let pending = match entry {
            Entry::Command(c) => {
                let (ack, answer) = oneshot::channel();
                c.handle.send(Control::Admin(admin, ack));
                let name = name.to_string();
                Pending(Box::pin(async move {
                    let changed = answer.await.map_err(|_| ControlError::Gone(name))?;
                    Ok(if changed { Change::Done } else { Change::Already })
                }))
            }
            Entry::Unit(u) => {
                let already = match admin {
                    Admin::Hold => u.is_held(),
                    Admin::Release => !u.is_held() && u.info().state == "running",
                    Admin::Bounce => false,
                };
                if already {
                    return Ok(Pending::ready(Ok(Change::Already)));
                }
                let (job, verb) = match admin {
                    Admin::Hold => (Job::Stop, "stop"),
                    Admin::Release => (Job::Start, "start"),
                    Admin::Bounce => (Job::Restart, "restart"),
                };
                let refused = |message| ControlError::Systemd {
                    name: name.to_string(),
                    verb,
                    unit: u.unit().to_string(),
                    message,
                };
                unit::enqueue(u.unit(), job).await.map_err(refused)?;
                log::info!("worker {name}: {verb} of {} queued as a systemd job", u.unit());
                u.set_held(admin == Admin::Hold);
                Pending::ready(Ok(Change::Done))
            }
        };
        Ok(pending)
    }
}

impl ControlError {
    /// `name` is not one worker: a pool's name among `workers` (whose
    /// instances are `name@N`) is told so, anything else is unknown.
    pub fn unknown<'a>(name: &str, workers: impl Iterator<Item = &'a String>) -> ControlError {
        let size = workers.filter(|w| w.rsplit_once('@').is_some_and(|(pool, _)| pool == name)).count();
        match size {
            0 => ControlError::Unknown(name.to_string()),
            size => ControlError::Pool { pool: name.to_string(), size },
        }
    }
}

/// Refuses an empty name or one longer than `MAX_NAME_BYTES` before any
/// lookup, so a bad request is told why rather than "unknown".
pub fn check_name(name: &str) -> Result<(), ControlError> {
    match name.len() {
        0 => Err(ControlError::EmptyName),
        n if n > MAX_NAME_BYTES => Err(ControlError::NameTooLong(n)),
        _ => Ok(()),
    }
}
