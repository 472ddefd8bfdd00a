//! Who has a SQLite database open, and who holds a write lock on it, from
//! /proc/PID/fd and /proc/PID/fdinfo.
//!
//! Files are matched by identity (device + inode via stat), never by name,
//! so renamed, deleted-and-recreated or bind-mounted paths cannot confuse
//! the scan. Locks are read per open file from /proc/PID/fdinfo/FD, not
//! from /proc/locks: the kernel prints one file's locks under that file's
//! lock, so the list is exact, whereas /proc/locks is a global list that
//! is re-walked by index on every read(2) (a page at most), and loses lines
//! whenever an earlier line goes away between two reads: a holder that
//! never moved could vanish from it while other processes lock and unlock.
//! healthmon's own process is always left out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file's identity as stat gives it: device (major, minor) and inode.
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

    /// The set of one existing file.
    fn of_file(path: &Path) -> io::Result<DbFiles> {
        Ok(DbFiles { ids: vec![FileId::of(&fs::metadata(path)?)] })
    }

    fn contains(&self, id: FileId) -> bool {
        self.ids.contains(&id)
    }
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
    let mut found = Openers { pids: BTreeSet::new(), complete: true };
    for pid in other_pids()? {
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

/// The processes (other than healthmon) holding a write lock on the files.
/// A process whose fds cannot be read is not seen.
pub fn write_holders(files: &DbFiles) -> io::Result<BTreeSet<i32>> {
    Ok(other_pids()?.into_iter().filter(|&pid| holds_write_lock(pid, files).unwrap_or(false)).collect())
}

/// Re-checks that `pid` holds a write lock on the files right now: asked
/// right before every signal.
pub fn verify_holder(pid: i32, files: &DbFiles) -> Result<(), String> {
    match holds_write_lock(pid, files) {
        Ok(true) => Ok(()),
        Ok(false) => Err("it holds no write lock on the database".to_string()),
        Err(e) => Err(format!("cannot read its open files in /proc/{pid}/fd: {e}")),
    }
}

/// Every pid in /proc except healthmon's own.
fn other_pids() -> io::Result<Vec<i32>> {
    let me = std::process::id() as i32;
    let pids = fs::read_dir("/proc")?.flatten().filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok());
    Ok(pids.filter(|&pid| pid != me).collect())
}

/// Whether `pid` has one of the files open (fds closed mid-scan are skipped).
fn opens_any(pid: i32, files: &DbFiles) -> io::Result<bool> {
    let dir = fs::read_dir(format!("/proc/{pid}/fd"))?;
    Ok(dir.flatten().any(|fd| fs::metadata(fd.path()).is_ok_and(|meta| files.contains(FileId::of(&meta)))))
}

/// Whether `pid` holds a write lock on one of the files.
fn holds_write_lock(pid: i32, files: &DbFiles) -> io::Result<bool> {
    Ok(own_locks(pid, files)?.iter().any(|lock| lock.write))
}

/// The fcntl locks `pid` itself holds on the files, from the fdinfo of
/// each of its fds open on them. An fd closed mid-scan is skipped: closing
/// any fd on a file drops the process's POSIX locks on it anyway.
fn own_locks(pid: i32, files: &DbFiles) -> io::Result<Vec<FdLock>> {
    let mut locks = Vec::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fd"))?.flatten() {
        let Ok(meta) = fs::metadata(fd.path()) else { continue };
        if !files.contains(FileId::of(&meta)) {
            continue;
        }
        let fdinfo = Path::new("/proc").join(pid.to_string()).join("fdinfo").join(fd.file_name());
        if let Ok(text) = fs::read_to_string(fdinfo) {
            locks.extend(own_fd_locks(&text, pid, meta.ino()));
        }
    }
    Ok(locks)
}

/// The processes (other than healthmon) holding a lock that covers any of
/// `bytes` of the file `shm` (a -shm), with the bytes each one covers.
pub fn byte_lock_holders(shm: &Path, bytes: &[u64]) -> io::Result<BTreeMap<i32, BTreeSet<u64>>> {
    let files = DbFiles::of_file(shm)?;
    let mut holders = BTreeMap::new();
    for pid in other_pids()? {
        let held = covered_bytes(&own_locks(pid, &files).unwrap_or_default(), bytes);
        if !held.is_empty() {
            holders.insert(pid, held);
        }
    }
    Ok(holders)
}

/// Re-checks, right before a signal, that `pid` still holds a lock on one
/// of `bytes` of `shm`.
pub fn verify_byte_holder(pid: i32, shm: &Path, bytes: &[u64]) -> Result<(), String> {
    let files = DbFiles::of_file(shm).map_err(|e| format!("cannot stat {}: {e}", shm.display()))?;
    match own_locks(pid, &files) {
        Ok(locks) if !covered_bytes(&locks, bytes).is_empty() => Ok(()),
        Ok(_) => Err("it holds no read lock on the database any more".to_string()),
        Err(e) => Err(format!("cannot read its open files in /proc/{pid}/fd: {e}")),
    }
}

fn covered_bytes(locks: &[FdLock], bytes: &[u64]) -> BTreeSet<u64> {
    bytes.iter().copied().filter(|&b| locks.iter().any(|lock| lock.start <= b && b <= lock.end)).collect()
}

/// One `lock:` line of /proc/PID/fdinfo/FD (the /proc/locks format):
/// `lock:\t1: POSIX  ADVISORY  WRITE 4242 fd:01:1311 1073741824 1073742335`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FdLock {
    /// POSIX or OFD (the kinds SQLite's locks conflict with); FLOCK and
    /// leases are separate lock spaces on Linux.
    fcntl: bool,
    write: bool,
    /// -1 for an OFD lock (owned by an open file, which forked processes
    /// share), 0 for an owner in another PID namespace.
    pid: i32,
    ino: u64,
    /// The locked byte range, both ends included (`EOF` = u64::MAX).
    start: u64,
    end: u64,
}

fn parse_fd_lock(line: &str) -> Option<FdLock> {
    let mut fields = line.strip_prefix("lock:")?.split_whitespace().skip(1);
    let kind = fields.next()?;
    let _mode = fields.next()?;
    let access = fields.next()?;
    let pid = fields.next()?.parse().ok()?;
    let ino = fields.next()?.rsplit(':').next()?.parse().ok()?;
    let start = fields.next()?.parse().ok()?;
    let end = match fields.next()? {
        "EOF" => u64::MAX,
        end => end.parse().ok()?,
    };
    Some(FdLock { fcntl: matches!(kind, "POSIX" | "OFDLCK"), write: access == "WRITE", pid, ino, start, end })
}

/// The fcntl locks in the fdinfo text of an fd open on inode `ino` that
/// `pid` itself holds. The kernel lists only granted locks there. The
/// device is not compared (on btrfs and overlayfs it is not stat's device);
/// the inode ties the text to the file stat'ed just before, should the fd
/// have been closed and reused in between.
fn own_fd_locks(fdinfo: &str, pid: i32, ino: u64) -> impl Iterator<Item = FdLock> + '_ {
    fdinfo
        .lines()
        .filter_map(parse_fd_lock)
        .filter(move |lock| lock.fcntl && lock.pid > 0 && lock.pid == pid && lock.ino == ino)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FDINFO: &str = "\
pos:\t0
flags:\t02500002
mnt_id:\t27
ino:\t1311
lock:\t1: POSIX  ADVISORY  WRITE 4242 fd:01:1311 1073741824 1073742335
lock:\t2: POSIX  ADVISORY  READ 4242 fd:01:1311 1073741826 1073742335
lock:\t3: FLOCK  ADVISORY  WRITE 4242 fd:01:1311 0 EOF
lock:\t4: OFDLCK ADVISORY  WRITE -1 fd:01:1311 0 EOF
lock:\tgarbage
";

    /// Kind, access, owner and inode of fdinfo lock lines are read as the kernel means them.
    #[test]
    fn parses_fdinfo_lock_lines() {
        let locks: Vec<_> = FDINFO.lines().filter_map(parse_fd_lock).collect();
        assert_eq!(locks.len(), 4, "{locks:?}");
        assert_eq!(
            locks[0],
            FdLock { fcntl: true, write: true, pid: 4242, ino: 1311, start: 1_073_741_824, end: 1_073_742_335 }
        );
        assert_eq!((locks[2].start, locks[2].end), (0, u64::MAX), "EOF is the end of the range");
        assert!(!locks[1].write);
        assert!(!locks[2].fcntl, "flock is a separate lock space");
        assert_eq!((locks[3].fcntl, locks[3].pid), (true, -1));
    }

    fn shows_write_lock(fdinfo: &str, pid: i32, ino: u64) -> bool {
        own_fd_locks(fdinfo, pid, ino).any(|lock| lock.write)
    }

    /// Only an fcntl write lock of the pid itself, on the stat'ed inode, makes a holder.
    #[test]
    fn only_the_pids_own_write_lock_on_the_inode_counts() {
        assert!(shows_write_lock(FDINFO, 4242, 1311));
        assert!(!shows_write_lock(FDINFO, 4343, 1311), "a lock of another process sharing the fd");
        assert!(!shows_write_lock(FDINFO, 4242, 1312), "the fd was reused for another file");
        let without_write_lock: String =
            FDINFO.lines().filter(|l| !l.contains("1: POSIX")).map(|l| format!("{l}\n")).collect();
        assert!(!shows_write_lock(&without_write_lock, 4242, 1311), "read, flock and OFD locks make no holder");
        assert!(!shows_write_lock(&without_write_lock, -1, 1311), "an OFD lock names no process");
    }

    /// A lock covers the bytes inside its range, both ends included, and no others.
    #[test]
    fn lock_ranges_cover_their_bytes() {
        let shm =
            "lock:\t1: POSIX  ADVISORY  READ 77 00:2a:9 124 125\nlock:\t2: POSIX  ADVISORY  READ 77 00:2a:9 128 128\n";
        let locks: Vec<_> = own_fd_locks(shm, 77, 9).collect();
        assert_eq!(covered_bytes(&locks, &[123, 124, 125, 126, 127]), BTreeSet::from([124, 125]));
        assert!(covered_bytes(&locks, &[127]).is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    const KINDS: [&str; 5] = ["POSIX", "OFDLCK", "FLOCK", "LEASE", "DELEG"];

    /// The fields of one lock line as the kernel writes it, and the line.
    fn lock_line() -> impl Strategy<Value = (FdLock, String)> {
        (0..KINDS.len(), any::<bool>(), any::<bool>(), -1i32..100_000, any::<u64>(), any::<(u8, u8)>(), any::<u32>())
            .prop_map(|(kind, mandatory, write, pid, ino, (major, minor), start)| {
                let line = format!(
                    "lock:\t{n}: {kind:<6} {mode} {access} {pid} {major:02x}:{minor:02x}:{ino} {start} EOF",
                    n = start % 9 + 1,
                    kind = KINDS[kind],
                    mode = if mandatory { "MANDATORY" } else { "ADVISORY " },
                    access = if write { "WRITE" } else { "READ " },
                );
                (FdLock { fcntl: kind < 2, write, pid, ino, start: u64::from(start), end: u64::MAX }, line)
            })
    }

    proptest! {
        /// Every lock line the kernel can write is read as it means.
        #[test]
        fn lock_lines_parse_exactly((lock, line) in lock_line()) {
            prop_assert_eq!(parse_fd_lock(&line), Some(lock));
        }

        /// A write lock is seen for exactly the pid and inode that hold a
        /// fcntl (POSIX or OFD) write lock, whatever else the fdinfo lists.
        #[test]
        fn write_lock_seen_only_for_its_holder(
            locks in prop::collection::vec(lock_line(), 0..8),
            noise in "[a-z_]{1,8}:\t[ -~]{0,20}",
            pid in 1i32..100_000,
            ino in any::<u64>(),
        ) {
            let text: String = std::iter::once(noise).chain(locks.iter().map(|(_, l)| l.clone()))
                .collect::<Vec<_>>().join("\n");
            let expected = locks.iter().any(|(l, _)| l.fcntl && l.write && l.pid == pid && l.ino == ino);
            prop_assert_eq!(own_fd_locks(&text, pid, ino).any(|l| l.write), expected);
        }

        /// Arbitrary text is never misread as a lock of any pid.
        #[test]
        fn garbage_is_no_lock(text in "[ -~\t\n]{0,200}") {
            prop_assume!(!text.lines().any(|l| l.starts_with("lock:")));
            prop_assert!(text.lines().all(|l| parse_fd_lock(l).is_none()));
        }
    }
}
