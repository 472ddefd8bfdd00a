//! A minimal tmux client for the sessions check: list sessions with their
//! last activity, and send Ctrl+C to a session. tmux is always run directly
//! (never through a shell) and sessions are always targeted by their
//! `#{session_id}` (`$3`), so no session name is ever parsed as tmux target
//! syntax.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one tmux client call may take. A server that stopped answering
/// (e.g. SIGSTOPped) must not hang the check until the engine's timeout,
/// which would leave the check's state locked for the next cycle too.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One line per window of every session. Window activity is what pane
/// output moves; `session_activity` only moves on client key input and
/// attach, so it stays at creation time for a detached session whose
/// programs print. The name is the last field so a name can never shift the
/// others (tmux already escapes tabs and newlines in names).
const LIST_FORMAT: &str = "#{session_id}\t#{session_activity}\t#{window_activity}\t#{session_name}";

#[derive(Debug, thiserror::Error)]
pub enum TmuxError {
    #[error("failed to run tmux{socket}: {source}")]
    Spawn { socket: SocketLabel, source: std::io::Error },
    #[error("tmux{socket} did not answer within {}s", CALL_TIMEOUT.as_secs())]
    Timeout { socket: SocketLabel },
    #[error("tmux{socket} {command} failed ({status}): {stderr}")]
    Failed { socket: SocketLabel, command: &'static str, status: ExitStatus, stderr: String },
    #[error("tmux{socket} printed an unexpected line: {line:?}")]
    Parse { socket: SocketLabel, line: String },
}

/// The socket as it appears in error messages (` -S /path` or nothing for
/// the default server).
#[derive(Debug, Clone)]
pub struct SocketLabel(Option<PathBuf>);

impl std::fmt::Display for SocketLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(path) => write!(f, " -S {}", path.display()),
            None => Ok(()),
        }
    }
}

/// A session as the sessions check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmuxSession {
    /// `$N`: stable for the server's lifetime, never reused.
    pub id: String,
    /// The name as tmux stores it (already sanitised by tmux).
    pub name: String,
    /// Unix seconds of the latest activity: key input to the session or
    /// output in any of its windows.
    pub last_activity: i64,
}

#[derive(Debug, Clone)]
pub struct Tmux {
    socket: Option<PathBuf>,
}

impl Tmux {
    /// `None` talks to the default server of the user healthmon runs as.
    pub fn new(socket: Option<PathBuf>) -> Tmux {
        Tmux { socket }
    }

    /// Every session, in tmux's order. `Ok(None)` when no server is running
    /// on the socket: nothing to check, not an error.
    pub fn list_sessions(&self) -> Result<Option<Vec<TmuxSession>>, TmuxError> {
        let out = self.call(&["list-windows", "-a", "-F", LIST_FORMAT])?;
        if !out.status.success() {
            if is_no_server(&out.stderr) {
                return Ok(None);
            }
            return Err(self.failed("list-windows", out));
        }
        parse_windows(&out.stdout).map(Some).map_err(|line| TmuxError::Parse { socket: self.label(), line })
    }

    /// Types Ctrl+C into the active pane of the session's current window
    /// (the terminal turns it into SIGINT for the pane's foreground job).
    /// The session itself is never killed.
    pub fn send_ctrl_c(&self, session_id: &str) -> Result<(), TmuxError> {
        let out = self.call(&["send-keys", "-t", session_id, "C-c"])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.failed("send-keys", out))
        }
    }

    fn label(&self) -> SocketLabel {
        SocketLabel(self.socket.clone())
    }

    fn failed(&self, command: &'static str, out: CallOutput) -> TmuxError {
        TmuxError::Failed { socket: self.label(), command, status: out.status, stderr: out.stderr.trim().to_owned() }
    }

    /// Runs `tmux -u [-S socket] ARGS` with a deadline. `-u` makes tmux
    /// print names in UTF-8 whatever the locale (under systemd LANG is often
    /// unset, and tmux would then replace every non-ASCII character by `_`).
    fn call(&self, args: &[&str]) -> Result<CallOutput, TmuxError> {
        let mut cmd = Command::new("tmux");
        cmd.arg("-u");
        if let Some(socket) = &self.socket {
            cmd.arg("-S").arg(socket);
        }
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| TmuxError::Spawn { socket: self.label(), source })?;
        // Drain both pipes on threads so a large listing cannot fill a pipe
        // and block tmux while we wait for it to exit.
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        let status = wait_until(&mut child, Instant::now() + CALL_TIMEOUT)
            .map_err(|source| TmuxError::Spawn { socket: self.label(), source })?;
        let Some(status) = status else {
            return Err(TmuxError::Timeout { socket: self.label() });
        };
        Ok(CallOutput { status, stdout: join(stdout), stderr: join(stderr) })
    }
}

struct CallOutput {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error only truncates the output, which parsing reports.
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn join(handle: thread::JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

/// Waits for our own child; past the deadline kills it (through the
/// `Child` handle, so only that process) and returns `None`.
fn wait_until(child: &mut std::process::Child, deadline: Instant) -> std::io::Result<Option<ExitStatus>> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// tmux's client messages when nothing listens on the socket: the socket
/// file is missing (ENOENT) or stale (ECONNREFUSED).
fn is_no_server(stderr: &str) -> bool {
    stderr.contains("no server running")
        || (stderr.contains("error connecting to") && stderr.contains("No such file or directory"))
}

/// Folds window lines into sessions (latest activity wins), keeping tmux's
/// order. `Err` carries the offending line.
fn parse_windows(stdout: &str) -> Result<Vec<TmuxSession>, String> {
    let mut sessions: Vec<TmuxSession> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for line in stdout.lines().filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(4, '\t');
        let (Some(id), Some(session_act), Some(window_act), Some(name)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(line.to_owned());
        };
        let (Ok(session_act), Ok(window_act)) = (session_act.parse::<i64>(), window_act.parse::<i64>()) else {
            return Err(line.to_owned());
        };
        let activity = session_act.max(window_act);
        match index.get(id) {
            Some(&i) => sessions[i].last_activity = sessions[i].last_activity.max(activity),
            None => {
                index.insert(id.to_owned(), sessions.len());
                sessions.push(TmuxSession { id: id.to_owned(), name: name.to_owned(), last_activity: activity });
            }
        }
    }
    Ok(sessions)
}

/// The name tmux (3.x) gives a session created with `new-session -s raw`:
/// `:` and `.` become `_`; `\` is doubled; `$` before a letter, `_` or `{`
/// gets a backslash; tab, newline and C escapes (`\r` `\b` `\v` `\f` `\a`)
/// are written C-style, other control characters as 3-digit octal. A task
/// database stores the name its program asked for, so this is how such a
/// name is found among tmux's.
pub fn tmux_session_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ':' | '.' => out.push('_'),
            '\\' => out.push_str("\\\\"),
            '$' if chars.peek().is_some_and(|&n| n.is_ascii_alphabetic() || n == '_' || n == '{') => {
                out.push_str("\\$")
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\u{7}' => out.push_str("\\a"),
            c if c.is_ascii_control() => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Window lines fold into one session per id with the latest activity.
    #[test]
    fn windows_fold_into_sessions() {
        let out = "$0\t100\t150\ta b\n$1\t100\t100\tx\n$0\t100\t170\ta b\n";
        let sessions = parse_windows(out).unwrap();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0], TmuxSession { id: "$0".into(), name: "a b".into(), last_activity: 170 });
        assert_eq!(sessions[1].last_activity, 100);
    }

    /// A name containing a tab (tmux never prints one raw) stays whole.
    #[test]
    fn name_is_last_field() {
        let sessions = parse_windows("$2\t1\t2\tweird\tname\n").unwrap();
        assert_eq!(sessions[0].name, "weird\tname");
    }

    /// A malformed line is an error naming the line.
    #[test]
    fn bad_line_is_reported() {
        assert_eq!(parse_windows("$0\tx\t1\tn\n"), Err("$0\tx\t1\tn".to_owned()));
    }

    /// The sanitiser matches what tmux 3.3a was observed to store.
    #[test]
    fn sanitiser_matches_tmux() {
        for (raw, stored) in [
            ("a$b", "a\\$b"),
            ("$1", "$1"),
            ("${x}", "\\${x}"),
            ("$$x", "$\\$x"),
            ("end$", "end$"),
            ("é$é", "é$é"),
            ("x.y:z", "x_y_z"),
            ("a\\b", "a\\\\b"),
            ("tab\there\nnl", "tab\\there\\nnl"),
            ("c\u{1}d\u{7f}e\u{1b}", "c\\001d\\177e\\033"),
            ("r\rb\u{8}", "r\\rb\\b"),
            ("q`b \"';&|", "q`b \"';&|"),
        ] {
            assert_eq!(tmux_session_name(raw), stored, "for {raw:?}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// One window line of `list-windows -a`: session id, session and window activity, name.
    type Window = (u8, u32, u32, String);

    fn windows() -> impl Strategy<Value = Vec<Window>> {
        // tmux writes control characters in names escaped (see
        // `tmux_session_name`), so a name is printable text.
        prop::collection::vec((0u8..5, any::<u32>(), any::<u32>(), "[^\x00-\x1f\x7f]{0,12}"), 0..20)
    }

    proptest! {
        /// Windows fold into one session per id, in order of first appearance,
        /// with the first line's name and the latest activity of any line.
        #[test]
        fn windows_fold_by_id(lines in windows()) {
            let stdout: String = lines.iter().map(|(id, s, w, name)| format!("${id}\t{s}\t{w}\t{name}\n")).collect();
            let sessions = parse_windows(&stdout).expect("well-formed lines");
            let mut expected: Vec<(String, String, i64)> = Vec::new();
            for (id, s, w, name) in &lines {
                let (id, activity) = (format!("${id}"), i64::from(*s.max(w)));
                match expected.iter_mut().find(|(e, _, _)| *e == id) {
                    Some(entry) => entry.2 = entry.2.max(activity),
                    None => expected.push((id, name.clone(), activity)),
                }
            }
            let got: Vec<(String, String, i64)> =
                sessions.into_iter().map(|s| (s.id, s.name, s.last_activity)).collect();
            prop_assert_eq!(got, expected);
        }

        /// A line with fewer than four fields or a non-numeric activity is
        /// reported as the offending line, never half-read.
        #[test]
        fn malformed_line_is_reported(good in windows(), bad in "[^\t\n]{1,10}(\t[a-z]{1,3}){0,3}") {
            let mut stdout: String = good.iter().map(|(id, s, w, name)| format!("${id}\t{s}\t{w}\t{name}\n")).collect();
            stdout.push_str(&bad);
            prop_assert_eq!(parse_windows(&stdout).err(), Some(bad.clone()));
        }
    }
}
