//! journald entries with the HEALTHMON_* fields and the contract's
//! priorities, sent through the journal's native protocol (a datagram of
//! `KEY=value` fields to `/run/systemd/journal/socket`) because the `log`
//! bridge stops at priority 3 and CRITICAL must be 2; plain stderr lines
//! when not connected to the journal.
//!
//! Limits: each field value is cut to [`MAX_VALUE_BYTES`] (marked with
//! [`TRUNCATED_MARK`]) instead of passing large entries in a memfd; an
//! entry the socket still refuses (or any failed send) is written to
//! stderr as its plain line, never dropped and never a panic.

mod entries;
mod logging;

use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::PathBuf;

pub use entries::{alert_raised_entry, alert_recovered_entry, alert_resolved_entry, finding_entry};
pub use logging::init_logging;

use crate::systemd::SocketAddress;

/// Syslog priorities the contract uses.
pub mod priority {
    pub const CRIT: u8 = 2;
    pub const ERR: u8 = 3;
    pub const WARNING: u8 = 4;
    pub const NOTICE: u8 = 5;
    pub const INFO: u8 = 6;
}

/// journald's native socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";
/// Names a socket to send entries to instead (tests, debugging); a path,
/// or `@name` for an abstract socket.
pub const SOCKET_ENV: &str = "HEALTHMON_JOURNAL_SOCKET";
/// The `SYSLOG_IDENTIFIER` of every entry (`journalctl -t healthmon`).
pub const IDENTIFIER: &str = "healthmon";
/// Longest field value sent, in bytes. With the handful of fields an entry
/// has, this keeps a datagram well under the default socket send buffer
/// (`net.core.wmem_default`, 208 KiB).
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Appended to a value cut at [`MAX_VALUE_BYTES`].
pub const TRUNCATED_MARK: &str = "…[truncated]";

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("failed to send a journal entry to {socket}: {source}")]
    Send { socket: String, source: io::Error },
}

/// One structured entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub priority: u8,
    pub message: String,
    /// `HEALTHMON_*` (and any other) fields, besides MESSAGE and PRIORITY.
    /// Keys must be valid journal field names (uppercase letters, digits,
    /// `_`, not starting with `_`); journald drops others.
    pub fields: Vec<(&'static str, String)>,
}

impl Entry {
    pub fn new(priority: u8, message: impl Into<String>) -> Entry {
        Entry { priority, message: message.into(), fields: Vec::new() }
    }

    pub fn field(mut self, key: &'static str, value: impl Into<String>) -> Entry {
        self.fields.push((key, value.into()));
        self
    }

    /// The value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }

    /// The datagram the native protocol expects: PRIORITY, MESSAGE,
    /// SYSLOG_IDENTIFIER, then the fields.
    pub fn to_native(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(256);
        put_field(&mut payload, "PRIORITY", &self.priority.to_string());
        put_field(&mut payload, "MESSAGE", &self.message);
        put_field(&mut payload, "SYSLOG_IDENTIFIER", IDENTIFIER);
        for (key, value) in &self.fields {
            put_field(&mut payload, key, value);
        }
        payload
    }

    /// The plain stderr form: `CRITICAL disk:/ disk_usage unhealthy: ...`,
    /// one line however many newlines the message has.
    pub fn to_line(&self) -> String {
        format!("{} {}", priority_label(self.priority), self.message.replace('\n', "\\n"))
    }
}

/// `KEY=value\n`, or `KEY\n<u64 LE length>value\n` when the value holds a
/// newline (the protocol's binary-safe form).
fn put_field(payload: &mut Vec<u8>, key: &str, value: &str) {
    let value = truncate(value);
    payload.extend_from_slice(key.as_bytes());
    if value.contains('\n') {
        payload.push(b'\n');
        payload.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        payload.push(b'=');
    }
    payload.extend_from_slice(value.as_bytes());
    payload.push(b'\n');
}

/// Cuts `value` to at most [`MAX_VALUE_BYTES`] on a character boundary.
fn truncate(value: &str) -> std::borrow::Cow<'_, str> {
    if value.len() <= MAX_VALUE_BYTES {
        return value.into();
    }
    let mut end = MAX_VALUE_BYTES - TRUNCATED_MARK.len();
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED_MARK}", &value[..end]).into()
}

/// The word a person reads for a syslog priority.
fn priority_label(priority: u8) -> &'static str {
    match priority {
        0 => "EMERG",
        1 => "ALERT",
        2 => "CRITICAL",
        3 => "ERROR",
        4 => "WARNING",
        5 => "NOTICE",
        6 => "INFO",
        _ => "DEBUG",
    }
}

/// Where entries go.
#[derive(Debug, Clone)]
pub struct Journal {
    socket: Option<SocketAddress>,
    /// Whether entries that do not reach a journal become stderr lines
    /// (off for `healthmon --once` without `-v`: its report says it all).
    stderr_lines: bool,
}

impl Journal {
    /// The socket named by `HEALTHMON_JOURNAL_SOCKET` if set; else the
    /// journal when stderr is connected to it (`JOURNAL_STREAM` matches
    /// fd 2, as systemd sets it for a service); else stderr.
    pub fn detect() -> Journal {
        match std::env::var_os(SOCKET_ENV).filter(|value| !value.is_empty()) {
            Some(value) => Journal::from_env_value(&value),
            None if systemd_journal_logger::connected_to_journal() => Journal::to_socket(JOURNAL_SOCKET),
            None => Journal::stderr(),
        }
    }

    fn from_env_value(value: &OsStr) -> Journal {
        match SocketAddress::parse(value) {
            Some(socket) => Journal { socket: Some(socket), stderr_lines: true },
            None => {
                log::warn!(
                    "{SOCKET_ENV}={} is not an absolute path or @name; journal entries go to stderr",
                    value.to_string_lossy()
                );
                Journal::stderr()
            }
        }
    }

    /// Entries go as datagrams to the socket at `path`.
    pub fn to_socket(path: impl Into<PathBuf>) -> Journal {
        Journal { socket: Some(SocketAddress::Path(path.into())), stderr_lines: true }
    }

    /// Entries go to stderr as plain lines.
    pub fn stderr() -> Journal {
        Journal { socket: None, stderr_lines: true }
    }

    /// The same journal, but what would go to stderr is dropped.
    pub fn quiet_on_stderr(self) -> Journal {
        Journal { stderr_lines: false, ..self }
    }

    /// Sends the entry; a failed send falls back to a stderr line.
    pub fn send(&self, entry: &Entry) {
        if let Err(err) = self.try_send(entry) {
            log::debug!("{err}; writing the entry to stderr");
            self.write_line(entry);
        }
    }

    /// Sends the entry to the socket (or writes the stderr line), reporting
    /// a failed send instead of falling back.
    pub fn try_send(&self, entry: &Entry) -> Result<(), JournalError> {
        let Some(socket) = &self.socket else {
            self.write_line(entry);
            return Ok(());
        };
        // Not waited for: a journald that does not read must not hold the
        // loop; the entry then goes to stderr as its plain line.
        socket.send_now(&entry.to_native()).map_err(|source| JournalError::Send { socket: socket.to_string(), source })
    }

    /// Writes the entry's line to stderr; a closed stderr is ignored
    /// (there is nowhere left to report it).
    fn write_line(&self, entry: &Entry) {
        if self.stderr_lines {
            let _ = writeln!(io::stderr().lock(), "{}", entry.to_line());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value without a newline is `KEY=value\n`.
    #[test]
    fn plain_field_form() {
        let mut payload = Vec::new();
        put_field(&mut payload, "HEALTHMON_COMPONENT", "disk:/");
        assert_eq!(payload, b"HEALTHMON_COMPONENT=disk:/\n");
    }

    /// A value with a newline is `KEY\n`, its length as u64 LE, the bytes, `\n`.
    #[test]
    fn binary_field_form() {
        let mut payload = Vec::new();
        put_field(&mut payload, "MESSAGE", "a\nb");
        let mut expected = b"MESSAGE\n".to_vec();
        expected.extend_from_slice(&3u64.to_le_bytes());
        expected.extend_from_slice(b"a\nb\n");
        assert_eq!(payload, expected);
    }

    /// Long values are cut on a char boundary to exactly the limit, with the mark.
    #[test]
    fn long_values_are_truncated() {
        let long = "é".repeat(MAX_VALUE_BYTES);
        let cut = truncate(&long);
        assert!(cut.len() <= MAX_VALUE_BYTES && cut.len() > MAX_VALUE_BYTES - 8, "{}", cut.len());
        assert!(cut.ends_with(TRUNCATED_MARK));
        assert_eq!(truncate("short"), "short");
    }

    /// The stderr line is the label and the message on one line.
    #[test]
    fn stderr_line() {
        let entry = Entry::new(priority::CRIT, "disk:/ disk_usage unhealthy: / is 96.1% full\nreally");
        assert_eq!(entry.to_line(), "CRITICAL disk:/ disk_usage unhealthy: / is 96.1% full\\nreally");
    }

    /// An unusable HEALTHMON_JOURNAL_SOCKET value means stderr, not a panic.
    #[test]
    fn relative_override_means_stderr() {
        assert!(Journal::from_env_value(OsStr::new("relative/sock")).socket.is_none());
    }
}
