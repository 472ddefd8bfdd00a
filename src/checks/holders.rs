//! Who has a SQLite database open, and who holds a write lock on it, from
//! /proc/PID/fd and /proc/locks.
//!
//! Files are matched by identity (device + inode via stat), never by name,
//! so renamed, deleted-and-recreated or bind-mounted paths cannot confuse
//! the scan. /proc/locks is parsed here rather than with `procfs::locks()`
//! because that parser drops the `->` marker of blocked waiters, and a
//! waiter holds nothing. healthmon's own process is always left out.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity as /proc/locks prints it (`MAJ:MIN:INODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    pub major: u64,
    pub minor: u64,
    pub ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> FileId {
        let dev = meta.dev();
        FileId { major: nix::sys::stat::major(dev), minor: nix::sys::stat::minor(dev), ino: meta.ino() }
    }
}

/// The suffixes of the files SQLite keeps next to a database.
pub const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `PATH-wal`, `PATH-shm`, `PATH-journal`.
pub fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The identities of a database and those of its sidecars that exist now.
#[derive(Debug, Clone)]
pub struct DbFiles {
    ids: Vec<FileId>,
}

impl DbFiles {
    /// `db` must exist; a missing sidecar is simply not part of the set.
    /// stat only: opening and closing a file would drop this process's
    /// POSIX locks on it, including those of its own SQLite connections.
    pub fn identify(db: &Path) -> io::Result<DbFiles> {
        let mut ids = vec![FileId::of(&fs::metadata(db)?)];
        for suffix in SIDECARS {
            match fs::metadata(sidecar(db, suffix)) {
                Ok(meta) => ids.push(FileId::of(&meta)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(DbFiles { ids })
    }

    fn contains(&self, id: FileId) -> bool {
        self.ids.contains(&id)
    }

    fn has_inode(&self, ino: u64) -> bool {
        self.ids.iter().any(|id| id.ino == ino)
    }
}

/// One line of /proc/locks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockEntry {
    /// 0 when the kernel shows none (`-1` for OFD locks).
    pub pid: i32,
    /// POSIX or OFD (the kinds SQLite's locks conflict with); FLOCK and
    /// leases are separate lock spaces on Linux.
    pub fcntl: bool,
    pub write: bool,
    /// A `->` line: a process waiting for this range, not holding it.
    pub waiting: bool,
    pub id: FileId,
}

/// Parses /proc/locks text; lines it does not understand are skipped.
pub fn parse_locks(text: &str) -> Vec<LockEntry> {
    text.lines().filter_map(parse_lock_line).collect()
}

fn parse_lock_line(line: &str) -> Option<LockEntry> {
    let mut fields = line.split_whitespace().skip(1).peekable();
    let waiting = fields.next_if_eq(&"->").is_some();
    let kind = fields.next()?;
    let _mode = fields.next()?;
    let access = fields.next()?;
    let pid = fields.next()?.parse::<i32>().ok()?.max(0);
    let mut dev = fields.next()?.split(':');
    let major = u64::from_str_radix(dev.next()?, 16).ok()?;
    let minor = u64::from_str_radix(dev.next()?, 16).ok()?;
    let ino = dev.next()?.parse().ok()?;
    Some(LockEntry {
        pid,
        fcntl: matches!(kind, "POSIX" | "OFDLCK"),
        write: access == "WRITE",
        waiting,
        id: FileId { major, minor, ino },
    })
}

pub fn read_locks() -> io::Result<Vec<LockEntry>> {
    Ok(parse_locks(&fs::read_to_string("/proc/locks")?))
}

/// Processes (other than healthmon) with any of the files open.
#[derive(Debug, Clone, Default)]
pub struct Openers {
    pub pids: BTreeSet<i32>,
    /// False when some process's fds could not be read (not root, hidepid):
    /// then "nobody has it open" cannot be concluded.
    pub complete: bool,
}

pub fn scan_openers(files: &DbFiles) -> io::Result<Openers> {
    let me = std::process::id() as i32;
    let mut found = Openers { pids: BTreeSet::new(), complete: true };
    for entry in fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        match opens_any(pid, files) {
            Ok(true) => {
                found.pids.insert(pid);
            }
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => found.complete = false,
            // Exited mid-scan: normal.
            Err(_) => {}
        }
    }
    Ok(found)
}

/// Whether `pid` has one of the files open (fds closed mid-scan are skipped).
fn opens_any(pid: i32, files: &DbFiles) -> io::Result<bool> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd"))?;
    Ok(dir.flatten().any(|fd| fs::metadata(fd.path()).is_ok_and(|meta| files.contains(FileId::of(&meta)))))
}

/// Whether a lock entry is a write lock held (not awaited) by `pid` on
/// one of the files. The device must match too, except for a process that
/// has the file open: on btrfs and overlayfs stat's device differs from the
/// superblock device /proc/locks prints.
fn holds_write(lock: &LockEntry, files: &DbFiles, has_open: impl Fn(i32) -> bool) -> bool {
    lock.fcntl
        && lock.write
        && !lock.waiting
        && lock.pid > 0
        && (files.contains(lock.id) || (files.has_inode(lock.id.ino) && has_open(lock.pid)))
}

/// The processes (other than healthmon) holding a write lock on the files.
pub fn write_holders(files: &DbFiles, locks: &[LockEntry], openers: &Openers) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    locks
        .iter()
        .filter(|lock| lock.pid != me && holds_write(lock, files, |pid| openers.pids.contains(&pid)))
        .map(|lock| lock.pid)
        .collect()
}

/// Re-checks, from a fresh /proc/locks, that `pid` still holds a write
/// lock on the files: asked right before every signal.
pub fn verify_holder(pid: i32, files: &DbFiles) -> Result<(), String> {
    let locks = read_locks().map_err(|e| format!("cannot read /proc/locks: {e}"))?;
    let has_open = |p: i32| opens_any(p, files).unwrap_or(false);
    if locks.iter().any(|lock| lock.pid == pid && holds_write(lock, files, has_open)) {
        Ok(())
    } else {
        Err("it holds no write lock on the database".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
1: POSIX  ADVISORY  WRITE 4242 fd:01:1311 1073741824 1073741825
1: -> POSIX  ADVISORY  WRITE 4343 fd:01:1311 1073741824 1073741825
2: POSIX  ADVISORY  READ 4444 fd:01:1311 1073741826 1073742335
3: FLOCK  ADVISORY  WRITE 4545 fd:01:1311 0 EOF
4: OFDLCK ADVISORY  WRITE -1 00:1a:77 0 EOF
garbage
";

    /// Holders, waiters, readers and device numbers are read as the kernel means them.
    #[test]
    fn parses_proc_locks_lines() {
        let locks = parse_locks(SAMPLE);
        assert_eq!(locks.len(), 5);
        let holder = &locks[0];
        assert_eq!((holder.pid, holder.write, holder.waiting, holder.fcntl), (4242, true, false, true));
        assert_eq!(holder.id, FileId { major: 0xfd, minor: 1, ino: 1311 });
        assert!(locks[1].waiting && locks[1].pid == 4343);
        assert!(!locks[2].write);
        assert!(!locks[3].fcntl, "flock is a separate lock space");
        assert_eq!((locks[4].pid, locks[4].id.minor), (0, 0x1a));
    }

    /// Only a granted fcntl write lock on the database's device and inode makes a holder.
    #[test]
    fn only_granted_write_locks_on_the_files_are_holders() {
        let files = DbFiles { ids: vec![FileId { major: 0xfd, minor: 1, ino: 1311 }] };
        let holders = write_holders(&files, &parse_locks(SAMPLE), &Openers::default());
        assert_eq!(holders.into_iter().collect::<Vec<_>>(), vec![4242]);
    }

    /// Same inode number on another device is not the database, unless the pid has the file open.
    #[test]
    fn other_device_needs_an_open_fd() {
        let files = DbFiles { ids: vec![FileId { major: 8, minor: 2, ino: 1311 }] };
        let locks = parse_locks(SAMPLE);
        assert!(write_holders(&files, &locks, &Openers::default()).is_empty());
        let openers = Openers { pids: [4242].into(), complete: true };
        assert_eq!(write_holders(&files, &locks, &openers).len(), 1);
    }
}
