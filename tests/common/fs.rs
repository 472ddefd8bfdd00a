//! Real filesystems for tests: a tmpfs mounted on a temp dir (needs root),
//! and files written with a chosen age.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::AT_FDCWD;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{utimensat, UtimensatFlags};
use nix::sys::time::TimeSpec;

use healthmon::config::{CleanupRule, CleanupWhen};

pub const KIB: usize = 1024;
pub const DAY: u64 = 86_400;

/// A real tmpfs mounted on a fresh temporary directory, unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        Tmpfs::mount_at(tempfile::tempdir().expect("create mount point"), size)
    }

    pub fn mount_at(dir: tempfile::TempDir, size: &str) -> Tmpfs {
        assert!(nix::unistd::geteuid().is_root(), "this test must run as root: it mounts tmpfs filesystems");
        let options = format!("size={size},mode=0755");
        mount(Some("tmpfs"), dir.path(), Some("tmpfs"), MsFlags::empty(), Some(options.as_str()))
            .unwrap_or_else(|e| panic!("mount tmpfs on {}: {e}", dir.path().display()));
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: also detaches anything a test mounted below it.
        let _ = umount2(self.dir.path(), MntFlags::MNT_DETACH);
    }
}

/// Sets the access and modification times of `path` (not a symlink's
/// target) to `days` days ago.
pub fn age(path: &Path, days: u64) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let t = TimeSpec::new((now - days * DAY) as i64, 0);
    utimensat(AT_FDCWD, path, &t, &t, UtimensatFlags::NoFollowSymlink)
        .unwrap_or_else(|e| panic!("utimensat {}: {e}", path.display()));
}

/// Writes `kib` KiB to `path` and ages it by `days` days (0 = fresh).
pub fn write(path: &Path, kib: usize, days: u64) {
    fs::write(path, vec![b'x'; kib * KIB]).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    if days > 0 {
        age(path, days);
    }
}

/// The tests' cleanup rule: `*.log*` files below `dir` older than 7 days, no archive.
pub fn log_rule(dir: &Path, when: CleanupWhen) -> CleanupRule {
    CleanupRule {
        dir: dir.to_path_buf(),
        pattern: "*.log*".into(),
        older_than: std::time::Duration::from_secs(7 * DAY),
        when,
        archive: Default::default(),
    }
}

/// Exchanges `a` and `b` (a directory and a symlink) with RENAME_EXCHANGE
/// over and over until `stop`; the thread returns how many swaps it made.
pub fn keep_swapping(
    a: std::path::PathBuf,
    b: std::path::PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    use nix::fcntl::{renameat2, RenameFlags};
    std::thread::spawn(move || {
        let mut swaps = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            renameat2(AT_FDCWD, &a, AT_FDCWD, &b, RenameFlags::RENAME_EXCHANGE).expect("exchange the two entries");
            swaps += 1;
        }
        swaps
    })
}
