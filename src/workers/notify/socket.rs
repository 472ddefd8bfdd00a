//! healthmon's own notify socket for one worker in fork mode: an AF_UNIX
//! datagram socket per worker, so the socket a message arrives on says
//! whose it is, and a helper that sent `READY=1` and exited at once still
//! counts (nothing about the sender is looked up after the fact to decide
//! whose it is).
//!
//! Ignored, the first of each kind logged per worker: messages over
//! [`MAX_LEN`] bytes, and (SO_PASSCRED) messages whose sender is alive and
//! outside the worker's session and process group (the worker is started
//! with setsid, so both are the leader's pid). A sender that is already gone
//! when the message is read cannot be placed and is accepted: the socket
//! file belongs to the worker's user (mode 0600), so only that user and
//! root can send at all. File descriptors passed along (`FDSTORE=1`) are
//! closed at once.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags, UnixAddr, UnixCredentials};
use tokio::io::Interest;
use tokio::net::UnixDatagram;

use super::message::{Notice, MAX_LEN};

/// The most descriptors one message may carry (SCM_MAX_FD).
const MAX_FDS: usize = 253;

/// One worker's notify socket; the file is removed when it is dropped.
#[derive(Debug)]
pub struct NotifySocket {
    sock: UnixDatagram,
    path: PathBuf,
    worker: String,
    /// The session (and group) messages must come from: the pid of the
    /// leader started last, 0 while none runs.
    session: AtomicI32,
    warned_size: AtomicBool,
    warned_foreign: AtomicBool,
}

/// Where a message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// The worker or one of its processes (or gone already).
    Worker,
    /// A live process outside the worker's session and group.
    Foreign(i32),
    /// No process is expected to send now (between runs).
    Stale,
}

impl NotifySocket {
    /// Binds the worker's socket in [`dir`], owned by `owner` (uid, gid)
    /// when the worker runs as another user. A file left by an earlier
    /// healthmon of the same pid is replaced.
    pub fn bind(worker: &str, owner: Option<(u32, u32)>) -> io::Result<NotifySocket> {
        let dir = dir();
        std::fs::create_dir_all(&dir)?;
        // The worker's user must reach its socket through the directories.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let path = dir.join(worker);
        match std::fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
        let sock = UnixDatagram::bind(&path).map_err(|err| with_path(err, &path))?;
        setsockopt(&sock, sockopt::PassCred, &true).map_err(io::Error::from)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        if let Some((uid, gid)) = owner {
            nix::unistd::chown(&path, Some(uid.into()), Some(gid.into())).map_err(io::Error::from)?;
        }
        Ok(NotifySocket {
            sock,
            path,
            worker: worker.to_string(),
            session: AtomicI32::new(0),
            warned_size: AtomicBool::new(false),
            warned_foreign: AtomicBool::new(false),
        })
    }

    /// The path a worker gets as `NOTIFY_SOCKET`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Before a start: what the previous process left queued is dropped,
    /// and nothing is accepted until [`NotifySocket::expect`].
    pub fn clear(&self) {
        self.session.store(0, Ordering::Relaxed);
        let mut buf = [0u8; 64];
        while self.sock.try_recv(&mut buf).is_ok() {}
    }

    /// The process started last leads session and group `leader`.
    pub fn expect(&self, leader: u32) {
        self.session.store(leader as i32, Ordering::Relaxed);
    }

    /// The next message from the worker; ignored ones are skipped.
    pub async fn recv(&self) -> Notice {
        loop {
            match self.sock.async_io(Interest::READABLE, || self.read_one()).await {
                Ok(Datagram { len, .. }) if len > MAX_LEN => self.warn_once(&self.warned_size, || {
                    format!("ignored a notify message of {len} bytes (the limit is {MAX_LEN})")
                }),
                Ok(Datagram { len, pid, text }) => match self.sender(pid) {
                    Sender::Worker => return Notice::parse(&text[..len]),
                    Sender::Foreign(pid) => self.warn_once(&self.warned_foreign, || {
                        format!("ignored a notify message from pid {pid}, which is not one of the worker's processes")
                    }),
                    Sender::Stale => {}
                },
                Err(err) => {
                    // Not expected on a bound datagram socket; do not spin on it.
                    log::warn!("{}: cannot read the notify socket {}: {err}", self.worker, self.path.display());
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Reads one datagram without blocking.
    fn read_one(&self) -> io::Result<Datagram> {
        let mut text = vec![0u8; MAX_LEN];
        let mut iov = [io::IoSliceMut::new(&mut text)];
        let mut cmsg = nix::cmsg_space!(UnixCredentials, [RawFd; MAX_FDS]);
        // MSG_TRUNC: the length returned is the datagram's, not what fitted.
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC | MsgFlags::MSG_CMSG_CLOEXEC;
        let msg =
            recvmsg::<UnixAddr>(self.sock.as_raw_fd(), &mut iov, Some(&mut cmsg), flags).map_err(io::Error::from)?;
        let mut pid = 0;
        for cmsg in msg.cmsgs().map_err(io::Error::from)? {
            match cmsg {
                ControlMessageOwned::ScmCredentials(cred) => pid = cred.pid(),
                ControlMessageOwned::ScmRights(fds) => close_all(fds),
                _ => {}
            }
        }
        let len = msg.bytes;
        Ok(Datagram { len, pid, text })
    }

    fn sender(&self, pid: i32) -> Sender {
        let leader = self.session.load(Ordering::Relaxed);
        if leader == 0 {
            return Sender::Stale;
        }
        if pid == leader {
            return Sender::Worker;
        }
        match procfs::process::Process::new(pid).and_then(|p| p.stat()) {
            Ok(stat) if stat.session == leader || stat.pgrp == leader => Sender::Worker,
            Ok(_) => Sender::Foreign(pid),
            // Gone (a helper that sent READY=1 and exited): see the module doc.
            Err(_) => Sender::Worker,
        }
    }

    fn warn_once(&self, flag: &AtomicBool, message: impl FnOnce() -> String) {
        if !flag.swap(true, Ordering::Relaxed) {
            log::warn!("{}: {} (further ones are not logged)", self.worker, message());
        }
    }
}

/// One datagram as read: its full length, the sender's pid, and the first
/// [`MAX_LEN`] bytes of its text.
struct Datagram {
    len: usize,
    pid: i32,
    text: Vec<u8>,
}

/// Descriptors passed along with a message are not kept.
fn close_all(fds: Vec<RawFd>) {
    for fd in fds {
        // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // The per-healthmon directory goes with its last socket.
        let _ = std::fs::remove_dir(dir());
    }
}

/// `/run/healthmon/notify/<healthmon's pid>` as root, else under
/// `$XDG_RUNTIME_DIR` (or the temporary directory): one directory per
/// healthmon, so two of them (tests, a user's own) never share a socket.
pub fn dir() -> PathBuf {
    let base = if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/healthmon")
    } else {
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d).join("healthmon"),
            _ => std::env::temp_dir().join(format!("healthmon-{}", nix::unistd::geteuid())),
        }
    };
    base.join("notify").join(std::process::id().to_string())
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("cannot bind the notify socket {}: {err}", path.display()))
}
