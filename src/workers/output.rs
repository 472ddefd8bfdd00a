//! A forked worker's output (fork mode only; under systemd the journal
//! takes it): stdout and stderr share one pipe, whose lines go to
//! healthmon's stderr prefixed with the worker's name (`name: line`), and
//! the last few lines are kept for the crash alert.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// At most this many lines end a crash alert ...
pub const TAIL_LINES: usize = 5;
/// ... and at most this many characters.
pub const TAIL_CHARS: usize = 1_000;
/// A line longer than this is cut here (a worker printing without newlines
/// must not grow healthmon's memory).
const MAX_LINE: usize = 4_096;

/// The last lines a worker printed, kept across its restarts.
#[derive(Debug, Default)]
pub struct Tail {
    lines: VecDeque<String>,
    partial: Vec<u8>,
}

impl Tail {
    /// Splits `bytes` into lines, passing each complete one to `emit` and
    /// keeping the last [`TAIL_LINES`].
    fn push(&mut self, bytes: &[u8], emit: &mut dyn FnMut(&str)) {
        for &b in bytes {
            if b == b'\n' || self.partial.len() >= MAX_LINE {
                self.end_line(emit);
                if b == b'\n' {
                    continue;
                }
            }
            self.partial.push(b);
        }
    }

    fn end_line(&mut self, emit: &mut dyn FnMut(&str)) {
        let line = String::from_utf8_lossy(&self.partial).trim_end_matches('\r').to_string();
        self.partial.clear();
        emit(&line);
        if self.lines.len() == TAIL_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last lines (a pending unterminated one included), newest last,
    /// at most [`TAIL_LINES`] and [`TAIL_CHARS`] in all (older lines go first).
    pub fn last(&self) -> Vec<String> {
        let pending = (!self.partial.is_empty()).then(|| String::from_utf8_lossy(&self.partial).to_string());
        bounded(self.lines.iter().cloned().chain(pending).collect())
    }
}

/// The last of `lines` (newest last) within [`TAIL_LINES`] and
/// [`TAIL_CHARS`]; the oldest line kept is cut from its start to fit.
pub fn bounded(lines: Vec<String>) -> Vec<String> {
    let mut kept = Vec::new();
    let mut chars = 0;
    for line in lines.into_iter().rev().take(TAIL_LINES) {
        let len = line.chars().count();
        if chars + len > TAIL_CHARS {
            let room = TAIL_CHARS - chars;
            if room > 0 {
                kept.push(line.chars().skip(len - room).collect());
            }
            break;
        }
        chars += len;
        kept.push(line);
    }
    kept.reverse();
    kept
}

/// One worker's output: its name for the prefix and its tail.
#[derive(Clone)]
pub struct Output {
    name: Arc<str>,
    tail: Arc<Mutex<Tail>>,
}

/// The reading end of one started process's pipe.
pub struct Reader {
    fd: AsyncFd<OwnedFd>,
    output: Output,
}

impl Output {
    pub fn new(name: &str) -> Output {
        Output { name: name.into(), tail: Arc::default() }
    }

    /// A new pipe for one start: the reader, and the write end to hand to
    /// the child as its stdout and stderr.
    pub fn pipe(&self) -> std::io::Result<(Arc<Reader>, OwnedFd)> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        // The child's end must block as a terminal or file would.
        nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))?;
        // SAFETY: we own `read`, and an OwnedFd's as_raw_fd is always that fd.
        let fd = unsafe { AsyncFd::register_with_interest(read, Interest::READABLE) }?;
        Ok((Arc::new(Reader { fd, output: self.clone() }), write))
    }

    /// The last lines the worker printed (see [`Tail::last`]).
    pub fn last(&self) -> Vec<String> {
        lock(&self.tail).last()
    }
}

impl Reader {
    /// Copies lines until every writer (the worker and whatever it left
    /// behind) has closed the pipe.
    pub async fn run(self: Arc<Self>) {
        loop {
            let Ok(mut guard) = self.fd.readable().await else { return };
            if self.drain() {
                return;
            }
            guard.clear_ready();
        }
    }

    /// Reads what is in the pipe now, without waiting; true at end of file.
    /// The exit path calls it too, so a crash alert has the last words.
    pub fn drain(&self) -> bool {
        let mut buf = [0u8; 8192];
        let mut tail = lock(&self.output.tail);
        let mut stderr = std::io::stderr().lock();
        let name = &self.output.name;
        loop {
            match nix::unistd::read(self.fd.get_ref(), &mut buf) {
                Ok(0) => return true,
                Ok(n) => tail.push(&buf[..n], &mut |line| {
                    let _ = writeln!(stderr, "{name}: {line}");
                }),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return false,
                Err(_) => return true,
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(chunks: &[&str]) -> (Tail, Vec<String>) {
        let mut tail = Tail::default();
        let mut seen = Vec::new();
        for chunk in chunks {
            tail.push(chunk.as_bytes(), &mut |line| seen.push(line.to_string()));
        }
        (tail, seen)
    }

    /// Lines split across reads are joined; only the last five are kept.
    #[test]
    fn keeps_the_last_five_whole_lines() {
        let (tail, seen) = fed(&["one\ntw", "o\nthree\nfour\nfive\nsix\nsev"]);
        assert_eq!(seen, ["one", "two", "three", "four", "five", "six"]);
        assert_eq!(tail.last(), ["three", "four", "five", "six", "sev"]);
    }

    /// The tail never exceeds 1,000 characters: the oldest kept line is cut from its start.
    #[test]
    fn tail_is_bounded_in_characters() {
        let long = "x".repeat(700);
        let (tail, _) = fed(&[&format!("{long}\n{long}\nend\n")]);
        let last = tail.last();
        assert_eq!(last.iter().map(|l| l.chars().count()).sum::<usize>(), TAIL_CHARS);
        assert_eq!(last.last().map(String::as_str), Some("end"));
    }
}
