//! Diagnostics (start-up, reloads, errors) through the `log` facade: to
//! journald via systemd-journal-logger when stderr is connected to the
//! journal, else as plain `LEVEL message` lines on stderr. The level comes
//! from `HEALTHMON_LOG`.
//!
//! The stderr logger is a dozen lines here rather than a crate: it needs
//! no timestamps (journald and terminals' scrollback have their own) and
//! no per-module filters, which is all env_logger & co. would add.

use std::io::{self, Write};

use log::{LevelFilter, Log, Metadata, Record};
use systemd_journal_logger::JournalLog;

use super::IDENTIFIER;

/// `error`, `warn`, `info` (default), `debug` (also `trace`, `off`).
pub const LEVEL_ENV: &str = "HEALTHMON_LOG";

/// Installs the logger once per process; later calls do nothing. An
/// unreadable `HEALTHMON_LOG` falls back to `info` with a warning, and an
/// unreachable journald to stderr with a warning.
pub fn init_logging() {
    let (level, bad_level) = match parse_level(std::env::var(LEVEL_ENV).ok().as_deref()) {
        Ok(level) => (level, None),
        Err(value) => (LevelFilter::Info, Some(value)),
    };
    let (logger, journal_error) = choose_logger();
    if log::set_boxed_logger(logger).is_err() {
        return; // a second call, or a test harness's logger: it stays in charge
    }
    log::set_max_level(level);
    if let Some(err) = journal_error {
        log::warn!("journald is not reachable ({err}); logging to stderr");
    }
    if let Some(value) = bad_level {
        log::warn!("{LEVEL_ENV}={value} is not one of error, warn, info, debug; using info");
    }
}

/// The journal logger when connected to the journal and it answers, else
/// stderr (with the reason the journal was refused, if it was tried).
fn choose_logger() -> (Box<dyn Log>, Option<io::Error>) {
    if !systemd_journal_logger::connected_to_journal() {
        return (Box::new(StderrLogger), None);
    }
    match JournalLog::new() {
        Ok(journal) => (Box::new(journal.with_syslog_identifier(IDENTIFIER.to_string())), None),
        Err(err) => (Box::new(StderrLogger), Some(err)),
    }
}

/// The level named by `HEALTHMON_LOG` (case-insensitive); unset or empty is
/// `info`; anything else unknown is handed back for the warning.
pub fn parse_level(value: Option<&str>) -> Result<LevelFilter, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(LevelFilter::Info),
        Some(v) => v.parse().map_err(|_| v.to_string()),
    }
}

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            // A closed stderr leaves nowhere to complain to.
            let _ = writeln!(io::stderr().lock(), "{} {}", record.level(), record.args());
        }
    }

    fn flush(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unset and empty mean info; names parse in any case; junk is reported back.
    #[test]
    fn level_parsing() {
        assert_eq!(parse_level(None), Ok(LevelFilter::Info));
        assert_eq!(parse_level(Some("")), Ok(LevelFilter::Info));
        assert_eq!(parse_level(Some("DEBUG")), Ok(LevelFilter::Debug));
        assert_eq!(parse_level(Some("warn")), Ok(LevelFilter::Warn));
        assert_eq!(parse_level(Some("loud")), Err("loud".to_string()));
    }
}
