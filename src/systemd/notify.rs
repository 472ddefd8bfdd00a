//! sd_notify for `Type=notify`: READY, STATUS, WATCHDOG, RELOADING and
//! STOPPING messages to the service manager, which never fail the caller;
//! plus the datagram send that the journal's native protocol shares.
//!
//! The messages are formatted by the `sd-notify` crate, but sent here:
//! `sd_notify::notify` re-reads `NOTIFY_SOCKET` on every call and cannot
//! target an explicit socket, while a [`Notifier`] reads the environment
//! once at start ([`Notifier::from_env`]) or is pointed at a socket
//! ([`Notifier::to_socket`]), so tests exercise the very code that runs
//! under systemd.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

use sd_notify::NotifyState;

/// How long one datagram may wait for room in the receiver's queue: a
/// stalled journald or PID 1 must not hang the check loop.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// A datagram socket address as systemd passes it in the environment: a
/// filesystem path, or `@name` for a Linux abstract socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SocketAddress {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl SocketAddress {
    /// Parses `/path` or `@name`; anything else (a relative path, systemd
    /// 254's `vsock:`) is not supported and gives None.
    pub(crate) fn parse(value: &OsStr) -> Option<SocketAddress> {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'/') => Some(SocketAddress::Path(PathBuf::from(value))),
            Some(b'@') if bytes.len() > 1 => Some(SocketAddress::Abstract(bytes[1..].to_vec())),
            _ => None,
        }
    }

    /// Sends one datagram from a fresh unbound socket, waiting at most
    /// [`SEND_TIMEOUT`] for room. A fresh socket per message means a
    /// restarted journald (new socket inode) just works.
    pub(crate) fn send(&self, payload: &[u8]) -> io::Result<()> {
        self.send_with(payload, Some(SEND_TIMEOUT))
    }

    /// Sends one datagram or fails at once (`WouldBlock`) when the
    /// receiver's queue is full: for what the loop sends often (watchdog
    /// pings, `STATUS=`, journal entries), so a stalled receiver never
    /// holds the loop.
    pub(crate) fn send_now(&self, payload: &[u8]) -> io::Result<()> {
        self.send_with(payload, None)
    }

    fn send_with(&self, payload: &[u8], wait: Option<Duration>) -> io::Result<()> {
        let socket = UnixDatagram::unbound()?;
        match wait {
            Some(limit) => socket.set_write_timeout(Some(limit))?,
            None => socket.set_nonblocking(true)?,
        }
        let sent = match self {
            SocketAddress::Path(path) => socket.send_to(payload, path)?,
            SocketAddress::Abstract(name) => socket.send_to_addr(payload, &SocketAddr::from_abstract_name(name)?)?,
        };
        if sent == payload.len() {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::WriteZero, format!("sent {sent} of {} bytes", payload.len())))
        }
    }
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketAddress::Path(path) => write!(f, "{}", path.display()),
            SocketAddress::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// Talks to the service manager. Every method is fire-and-forget: a send
/// that fails (the socket is gone, systemd is restarting) is logged at
/// debug level and otherwise ignored, so the watchdog loop never dies of it.
/// Without `NOTIFY_SOCKET` (a terminal, `--once`) every method does nothing.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: Option<SocketAddress>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` once. The
    /// variables stay set: children (workers) are started with an explicit
    /// environment, and unsetting is unsafe once threads run.
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|value| {
            let parsed = SocketAddress::parse(&value);
            if parsed.is_none() {
                log::warn!(
                    "NOTIFY_SOCKET={} is not a path or @abstract name; not notifying systemd",
                    value.to_string_lossy()
                );
            }
            parsed
        });
        let watchdog = watchdog_interval_from(
            std::env::var("WATCHDOG_USEC").ok().as_deref(),
            std::env::var("WATCHDOG_PID").ok().as_deref(),
            std::process::id(),
        );
        Notifier { socket, watchdog }
    }

    /// Notifies the socket at `path` (a filesystem path), with no watchdog.
    pub fn to_socket(path: impl Into<PathBuf>) -> Notifier {
        Notifier { socket: Some(SocketAddress::Path(path.into())), watchdog: None }
    }

    /// `READY=1`: start-up (or a reload) is complete.
    pub fn ready(&self) {
        self.send(&[NotifyState::Ready]);
    }

    /// `STATUS=`: the one-line summary `systemctl status` shows; newlines
    /// would end the field early, so they become spaces.
    pub fn status(&self, summary: &str) {
        let line = one_line(summary);
        self.send_now(&[NotifyState::Status(&line)]);
    }

    /// `WATCHDOG=1`: the loop is alive.
    pub fn watchdog(&self) {
        self.send_now(&[NotifyState::Watchdog]);
    }

    /// `STOPPING=1`: a graceful stop has begun.
    pub fn stopping(&self) {
        self.send(&[NotifyState::Stopping]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` in the same message, as systemd
    /// 253+ requires to match the reload with the following `READY=1`.
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(err) => {
                log::debug!("cannot read CLOCK_MONOTONIC for RELOADING: {err}");
                self.send(&[NotifyState::Reloading]);
            }
        }
    }

    /// How often to send `WATCHDOG=1`: half the unit's `WatchdogSec=`, or
    /// None when systemd runs no watchdog for this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// Lifecycle messages (READY, RELOADING, STOPPING): rare, so worth
    /// waiting up to a second for a busy service manager.
    fn send(&self, states: &[NotifyState]) {
        self.deliver(states, SocketAddress::send);
    }

    /// Frequent messages: dropped rather than waited for when the service
    /// manager's queue is full.
    fn send_now(&self, states: &[NotifyState]) {
        self.deliver(states, SocketAddress::send_now);
    }

    fn deliver(&self, states: &[NotifyState], how: fn(&SocketAddress, &[u8]) -> io::Result<()>) {
        let Some(socket) = &self.socket else { return };
        let message: String = states.iter().map(|state| format!("{state}\n")).collect();
        if let Err(err) = how(socket, message.as_bytes()) {
            log::debug!("sd_notify to {socket} failed ({}): {err}", message.trim_end().replace('\n', " "));
        }
    }
}

/// The watchdog ping interval from `WATCHDOG_USEC` and `WATCHDOG_PID` (as
/// `sd_watchdog_enabled(3)` reads them): half the timeout, so one late ping
/// is not fatal; None when unset, zero or unparsable, or when
/// `WATCHDOG_PID` names another process.
pub fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, our_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|&usec| usec > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != our_pid {
            return None;
        }
    }
    Some(Duration::from_micros(usec / 2))
}

/// Newlines (and carriage returns) become spaces.
fn one_line(text: &str) -> String {
    text.trim_end_matches(['\n', '\r']).replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths and abstract names parse; relative paths and vsock do not.
    #[test]
    fn socket_address_forms() {
        assert_eq!(
            SocketAddress::parse(OsStr::new("/run/systemd/notify")),
            Some(SocketAddress::Path("/run/systemd/notify".into()))
        );
        assert_eq!(SocketAddress::parse(OsStr::new("@hm")), Some(SocketAddress::Abstract(b"hm".to_vec())));
        assert_eq!(SocketAddress::parse(OsStr::new("@")), None);
        assert_eq!(SocketAddress::parse(OsStr::new("notify")), None);
        assert_eq!(SocketAddress::parse(OsStr::new("vsock:2:1234")), None);
    }

    /// A status keeps one line: inner newlines become spaces, a trailing one goes.
    #[test]
    fn status_is_one_line() {
        assert_eq!(one_line("3/3 workers\nhealthy\r\n"), "3/3 workers healthy");
    }
}
