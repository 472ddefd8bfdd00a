//! sd_notify for workers (`watchdog`, `notify_ready`), so programs written
//! for systemd's `Type=notify` and `WatchdogSec=` run under healthmon
//! unchanged. Only a worker with one of these keys gets `NOTIFY_SOCKET`.
//!
//! Where a worker runs decides who listens:
//! - fork mode: healthmon itself, on one socket per worker ([`socket`]);
//!   `READY=1` ends the start, no `READY=1` within `start_timeout` is a
//!   failed start, and no `WATCHDOG=1` for `watchdog` once it is ready
//!   means hung (both: [`Watch::overdue`]);
//! - a transient unit: systemd (`Type=notify`, `WatchdogSec=`,
//!   `TimeoutStartSec=`, `NotifyAccess=all`, see [`unit`]); healthmon
//!   reads the unit's state for readiness and its `StatusText`, and
//!   systemd's verdict from the unit's `Result` when it ends.
//!
//! As in systemd, the watchdog runs from readiness on (from the start for
//! a worker without `notify_ready`).

mod message;
mod socket;
pub mod unit;

use std::time::{Duration, Instant};

use crate::config::WorkerSettings;

use super::proc::{ExitInfo, Proc};

pub use message::Notice;
pub use socket::NotifySocket;

/// Does the worker speak sd_notify at all?
pub fn wanted(w: &WorkerSettings) -> bool {
    w.watchdog.is_some() || w.notify_ready
}

/// What one run of a worker has told so far.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    ready: bool,
    /// Readiness or the last `WATCHDOG=1`, whichever came last.
    beat: Instant,
}

impl Watch {
    /// A run just started: ready at once unless `notify_ready`.
    pub fn started(w: &WorkerSettings) -> Watch {
        Watch { ready: !w.notify_ready, beat: Instant::now() }
    }

    /// A run healthmon found running: its start is long over.
    pub fn adopted() -> Watch {
        Watch { ready: true, beat: Instant::now() }
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Takes a message in; true when it made the run ready.
    pub fn on_notice(&mut self, notice: &Notice) -> bool {
        let now = Instant::now();
        let became_ready = notice.ready && !self.ready;
        if became_ready {
            self.ready = true;
            self.beat = now;
        }
        if notice.ping {
            self.beat = now;
        }
        became_ready
    }

    /// When the run started at `started` is overdue, and how it then
    /// ended: no `READY=1` within `start_timeout`, or no `WATCHDOG=1` for
    /// `watchdog` once ready. `None` while nothing is awaited.
    pub fn overdue(&self, w: &WorkerSettings, started: Instant) -> Option<(Instant, ExitInfo)> {
        if !self.ready {
            return Some((started + w.start_timeout, ExitInfo::NotReady(w.start_timeout)));
        }
        w.watchdog.map(|every| (self.beat + every, ExitInfo::NoWatchdog(every)))
    }
}

/// The next message about the worker running as `proc`: from healthmon's
/// own socket in fork mode, from its unit's state under systemd; never
/// for a worker that does not speak sd_notify.
pub async fn next(socket: Option<&NotifySocket>, proc: &Proc, w: &WorkerSettings, ready: bool) -> Notice {
    match (socket, proc.unit_ref()) {
        (Some(socket), _) => socket.recv().await,
        (None, Some(unit)) if wanted(w) => Box::pin(unit::notice(unit, ready)).await,
        _ => std::future::pending().await,
    }
}

/// Resolves with how the run ended once `overdue` (from [`Watch::overdue`])
/// comes due; never when nothing is awaited.
pub async fn come_due(overdue: Option<(Instant, ExitInfo)>) -> ExitInfo {
    match overdue {
        Some((due, hang)) => {
            tokio::time::sleep_until(due.into()).await;
            hang
        }
        None => std::future::pending().await,
    }
}

/// `WATCHDOG_USEC` as systemd sets it.
pub fn watchdog_usec(every: Duration) -> String {
    every.as_micros().to_string()
}

/// A worker for unit tests (no sd_notify keys).
#[cfg(test)]
pub(crate) fn test_worker() -> WorkerSettings {
    WorkerSettings {
        name: "w".into(),
        kind: crate::config::WorkerKind::Unit("w.service".into()),
        critical: false,
        restart_delay: Duration::ZERO,
        verify_after: Duration::ZERO,
        max_restarts: 1,
        restart_window: Duration::from_secs(60),
        health_command: None,
        health_timeout: Duration::from_secs(1),
        health_failures: 1,
        stop_timeout: Duration::from_secs(1),
        watchdog: None,
        notify_ready: false,
        start_timeout: Duration::from_secs(90),
        health_interval: Duration::from_secs(10),
        probes: Default::default(),
        limits: Default::default(),
        pool: None,
        depends_on: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(watchdog: Option<u64>, notify_ready: bool) -> WorkerSettings {
        let mut w = test_worker();
        w.watchdog = watchdog.map(Duration::from_secs);
        w.notify_ready = notify_ready;
        w.start_timeout = Duration::from_secs(90);
        w
    }

    /// Until READY=1 only start_timeout counts; after it, the watchdog from readiness on.
    #[test]
    fn start_timeout_then_watchdog() {
        let w = worker(Some(30), true);
        let started = Instant::now();
        let mut watch = Watch::started(&w);
        assert!(!watch.is_ready());
        assert_eq!(watch.overdue(&w, started), Some((started + w.start_timeout, ExitInfo::NotReady(w.start_timeout))));
        assert!(!watch.on_notice(&Notice { ping: true, ..Notice::default() }), "a ping is not readiness");
        assert!(watch.on_notice(&Notice { ready: true, ..Notice::default() }));
        assert!(!watch.on_notice(&Notice { ready: true, ..Notice::default() }), "ready only once");
        let (due, why) = watch.overdue(&w, started).unwrap();
        assert_eq!(why, ExitInfo::NoWatchdog(Duration::from_secs(30)));
        assert!(due >= started + Duration::from_secs(30));
    }

    /// Without notify_ready a run is ready at once; without watchdog nothing is awaited then.
    #[test]
    fn nothing_awaited_without_the_keys() {
        let started = Instant::now();
        assert_eq!(Watch::started(&worker(None, false)).overdue(&worker(None, false), started), None);
        assert!(Watch::started(&worker(Some(5), false)).is_ready());
        assert_eq!(Watch::adopted().overdue(&worker(None, true), started), None);
    }

    /// A ping moves the watchdog deadline on.
    #[test]
    fn ping_moves_the_deadline() {
        let w = worker(Some(5), false);
        let mut watch = Watch::started(&w);
        let first = watch.overdue(&w, Instant::now()).unwrap().0;
        std::thread::sleep(Duration::from_millis(5));
        watch.on_notice(&Notice { ping: true, ..Notice::default() });
        assert!(watch.overdue(&w, Instant::now()).unwrap().0 > first);
    }
}
