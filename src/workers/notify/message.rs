//! One sd_notify datagram read as systemd reads it: newline-separated
//! `KEY=VALUE` assignments, unknown keys ignored. Only what healthmon acts
//! on is kept: `READY=1`, `WATCHDOG=1` and `STATUS=`.

/// The largest datagram healthmon reads; a longer one is ignored whole.
pub const MAX_LEN: usize = 4096;

/// What one message says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notice {
    /// `READY=1`: the start is complete.
    pub ready: bool,
    /// `WATCHDOG=1`: alive.
    pub ping: bool,
    /// `STATUS=`: free text for people (the last one in the message wins).
    pub status: Option<String>,
}

impl Notice {
    /// Parses a datagram (invalid UTF-8 is replaced, not refused).
    pub fn parse(bytes: &[u8]) -> Notice {
        let text = String::from_utf8_lossy(bytes);
        let mut notice = Notice::default();
        for line in text.split('\n') {
            match line.split_once('=') {
                Some(("READY", "1")) => notice.ready = true,
                Some(("WATCHDOG", "1")) => notice.ping = true,
                Some(("STATUS", status)) => notice.status = Some(status.to_string()),
                _ => {}
            }
        }
        notice
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Several assignments in one datagram are all read; unknown ones are ignored.
    #[test]
    fn reads_the_assignments_it_knows() {
        let n = Notice::parse(b"READY=1\nSTATUS=serving 3 clients\nMAINPID=42\nWATCHDOG=1\n");
        assert_eq!(n, Notice { ready: true, ping: true, status: Some("serving 3 clients".into()) });
    }

    /// Values other than the documented ones do nothing, as in systemd.
    #[test]
    fn other_values_do_nothing() {
        assert_eq!(Notice::parse(b"READY=0\nWATCHDOG=trigger\nREADY\n=1\n"), Notice::default());
        assert_eq!(Notice::parse(b""), Notice::default());
    }

    /// An empty STATUS= clears the text; invalid UTF-8 is replaced.
    #[test]
    fn status_text() {
        assert_eq!(Notice::parse(b"STATUS=").status.as_deref(), Some(""));
        assert_eq!(Notice::parse(b"STATUS=a\xffb").status.as_deref(), Some("a\u{fffd}b"));
        assert_eq!(Notice::parse(b"STATUS=one\nSTATUS=two").status.as_deref(), Some("two"));
    }
}
