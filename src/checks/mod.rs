//! The periodic checks. Each is blocking code (statvfs, SQLite, /proc,
//! tmux) that the engine runs on the blocking pool under a timeout; state a
//! check keeps between cycles (e.g. since when a lock is held) lives
//! behind the check's own lock, so a run that outlives its timeout cannot
//! race the next one.

use std::sync::Arc;

use crate::config::Settings;
use crate::model::Finding;

pub mod disk;
pub mod disk_trend;
pub mod disk_usage;
pub mod forecast;
pub mod holders;
pub mod locks;
pub mod sessions;
pub mod taskdb;
pub mod tmux;

/// What every check gets for one run.
#[derive(Debug, Clone, Copy)]
pub struct CheckContext {
    /// Detect and report only: no kill, restart, delete or SQL write.
    pub dry_run: bool,
}

/// A failure of the check as a whole (a per-component failure is a
/// [`Finding`] with status `error` instead).
pub type CheckError = Box<dyn std::error::Error + Send + Sync>;

pub trait Check: Send + Sync {
    /// Short name used in reports and for whole-check failures
    /// (`disk`, `sessions`, `locks`).
    fn name(&self) -> &'static str;

    /// One run: findings for every component the check covers. Blocking.
    fn run(&self, ctx: &CheckContext) -> Result<Vec<Finding>, CheckError>;
}

/// Which part of the cycle (report section) reports alerts of `kind`.
/// Each such part reports every component it watches on every run, so an
/// open alert of its kinds whose component it no longer reports is over:
/// the session ended, or a reload removed the worker, path or database.
pub fn watcher_of(kind: &str) -> Option<&'static str> {
    let watchers: [(&'static str, &[&str]); 4] = [
        (crate::workers::SECTION, crate::workers::KINDS),
        (sessions::NAME, sessions::KINDS),
        (locks::NAME, locks::KINDS),
        (disk::NAME, disk::KINDS),
    ];
    watchers.iter().find(|(_, kinds)| kinds.contains(&kind)).map(|(name, _)| *name)
}

/// What the checks remember between cycles (since when a lock is held,
/// the tasks already interrupted), kept by the engine so that a reload,
/// which builds the checks anew, does not forget it.
#[derive(Clone, Default)]
pub struct Memory {
    sessions: sessions::SessionsMemory,
    locks: locks::LocksMemory,
}

/// The checks the settings ask for, in the old monitor's report order
/// (workers come from the supervisor, before these).
pub fn build(settings: &Settings, memory: &Memory) -> Vec<Arc<dyn Check>> {
    let mut checks: Vec<Arc<dyn Check>> = Vec::new();
    if let Some(s) = &settings.sessions {
        checks.push(Arc::new(sessions::SessionsCheck::remembering(s.clone(), memory.sessions.clone())));
    }
    if !settings.databases.is_empty() {
        checks.push(Arc::new(locks::LocksCheck::remembering(settings.databases.clone(), memory.locks.clone())));
    }
    let history = crate::store::series::History::new(&settings.monitor.database);
    checks.push(Arc::new(disk::DiskCheck::new(settings.disk.clone()).with_history(history)));
    checks
}
