//! sd_notify for the daemon: READY, STATUS, WATCHDOG, STOPPING and
//! RELOADING (+MONOTONIC_USEC). Every call logs a failed send and carries
//! on: losing systemd's socket must never take the monitor down with it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

/// Talks to the service manager named by `NOTIFY_SOCKET` (a no-op when the
/// variable is unset, e.g. run from a terminal).
#[derive(Debug, Clone)]
pub struct Notifier {
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `WATCHDOG_USEC`/`WATCHDOG_PID` once, at start.
    pub fn from_env() -> Notifier {
        Notifier { watchdog: sd_notify::watchdog_enabled() }
    }

    /// `READY=1`: start-up (or a reload) is complete.
    pub fn ready(&self) {
        send(&[NotifyState::Ready]);
    }

    /// `STATUS=`: the one-line summary `systemctl status` shows.
    pub fn status(&self, line: &str) {
        // A newline would end the field early and smuggle in another one.
        let line = line.replace('\n', " ");
        send(&[NotifyState::Status(&line)]);
    }

    /// `WATCHDOG=1`: the loop is alive.
    pub fn watchdog(&self) {
        if self.watchdog.is_some() {
            send(&[NotifyState::Watchdog]);
        }
    }

    /// `STOPPING=1`: a graceful stop has begun.
    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` in the same message, as
    /// `Type=notify-reload` requires; `ready()` ends the reload.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => send(&[NotifyState::Reloading, now]),
            Err(err) => {
                log::warn!("cannot read the monotonic clock for RELOADING=1: {err}");
                send(&[NotifyState::Reloading]);
            }
        }
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as
    /// sd_watchdog_enabled(3) advises; `None` when systemd set no watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|period| period / 2)
    }
}

/// Set after the first failed send, so a vanished socket is one log line
/// rather than one per heartbeat.
static SEND_FAILED: AtomicBool = AtomicBool::new(false);

fn send(states: &[NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        if !SEND_FAILED.swap(true, Ordering::Relaxed) {
            log::warn!("cannot notify systemd ({}): {err}; further failures are not logged", describe(states));
        }
    }
}

fn describe(states: &[NotifyState<'_>]) -> String {
    states.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" ")
}
