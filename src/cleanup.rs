//! Safe deletion of aged files under a cleanup rule's directory. The daemon
//! runs as root, so every step is taken relative to a directory file
//! descriptor that was opened without following symlinks: nothing a user
//! can write inside the tree (a symlink, a directory swapped for a symlink,
//! a mount) can steer a deletion outside it. A rule may keep a copy of
//! each file first (`archive`, `command`); a file whose copy fails stays.
//!
//! # Guarantees
//! - The rule directory is opened with `openat2(RESOLVE_NO_SYMLINKS)`: it is
//!   refused if it, or any of its parent components, is a symlink (use the
//!   canonical path in the config). On kernels without `openat2` (< 5.6),
//!   the path is walked one component at a time from `/` with `O_PATH |
//!   O_NOFOLLOW`, which refuses the same paths.
//! - Subdirectories are opened with `openat(dirfd, name, O_NOFOLLOW |
//!   O_DIRECTORY)`; one swapped for a symlink fails to open and is skipped.
//! - A subdirectory on another filesystem (a mount point) is never entered.
//! - Only regular files and symlinks are unlinked (`unlinkat(dirfd, name,
//!   0)`); a symlink is removed itself, its target is never touched.
//!   Directories, sockets, fifos and devices are never deleted.
//! - The `fstatat(AT_SYMLINK_NOFOLLOW)` that decides (type, filesystem,
//!   age) is the last call before `unlinkat`, which keeps the window
//!   between check and deletion as narrow as the kernel allows.
//! - The walk stops descending at [`MAX_DEPTH`] levels below the rule
//!   directory (each level holds two descriptors open); skipped
//!   directories are counted. Errors on single entries are counted and the
//!   walk goes on.

use std::borrow::Cow;
use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::dir::{Dir, Type};
use nix::errno::Errno;
use nix::fcntl::{openat, openat2, OFlag, OpenHow, ResolveFlag, AT_FDCWD};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::sys::statvfs::{fstatvfs, Statvfs};
use nix::unistd::{unlinkat, UnlinkatFlags};

mod archive;
mod command;

pub use archive::{ArchiveDir, Archiver, NO_FSYNC_ENV};

/// How many directory levels below the rule directory are walked.
pub const MAX_DEPTH: usize = 64;

/// Why a rule directory cannot be cleaned at all.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error("cleanup dir {dir} is not an absolute path")]
    NotAbsolute { dir: PathBuf },
    #[error("refusing cleanup dir {dir}: it is, or passes through, a symlink")]
    Symlink { dir: PathBuf },
    #[error("cannot open cleanup dir {dir}: {source}")]
    Open { dir: PathBuf, source: Errno },
    #[error("cannot stat cleanup dir {dir}: {source}")]
    Stat { dir: PathBuf, source: Errno },
}

/// Which files a cleanup removes: names matching `pattern` (a glob on the
/// name, `*` also matching a leading dot as in `find -name`), last
/// modified strictly before `cutoff`.
#[derive(Debug, Clone)]
pub struct Selection {
    pub pattern: glob::Pattern,
    pub cutoff: SystemTime,
}

/// What one cleanup did (or, in dry-run, would have done).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Files and symlinks removed (or that would be).
    pub files: u64,
    /// Their apparent sizes (`st_size`) added up.
    pub bytes: u64,
    /// Entries that could not be examined or removed.
    pub errors: u64,
    /// The first of those errors, with its path, for the details column.
    pub first_error: Option<String>,
    /// Directories not entered because they are on another filesystem.
    pub other_filesystem: u64,
    /// Directories not entered because they are deeper than [`MAX_DEPTH`].
    pub too_deep: u64,
    /// Of `files`, those archived first (or that would be), and the
    /// archive's bytes they took.
    pub archived: u64,
    pub archived_bytes: u64,
    /// Aged files kept because archiving them failed, with the first reason.
    pub kept: u64,
    pub first_kept: Option<String>,
    /// Aged symlinks left alone because archiving is on (they hold no data to keep).
    pub links_kept: u64,
}

/// A rule directory, opened safely; the root of one cleanup walk.
#[derive(Debug)]
pub struct CleanupDir {
    path: PathBuf,
    fd: OwnedFd,
    dev: u64,
}

impl CleanupDir {
    /// Opens `path` refusing any symlink on the way (see the module doc).
    pub fn open(path: &Path) -> Result<CleanupDir, CleanupError> {
        if !path.is_absolute() {
            return Err(CleanupError::NotAbsolute { dir: path.to_path_buf() });
        }
        let fd = open_no_symlinks(path).map_err(|source| match source {
            Errno::ELOOP => CleanupError::Symlink { dir: path.to_path_buf() },
            source => CleanupError::Open { dir: path.to_path_buf(), source },
        })?;
        let st = fstat(&fd).map_err(|source| CleanupError::Stat { dir: path.to_path_buf(), source })?;
        Ok(CleanupDir { path: path.to_path_buf(), fd, dev: st.st_dev })
    }

    /// `statvfs` of the filesystem holding the directory itself.
    pub fn usage(&self) -> Result<Statvfs, CleanupError> {
        fstatvfs(&self.fd).map_err(|source| CleanupError::Stat { dir: self.path.clone(), source })
    }

    /// Removes (or with `dry_run` only counts) the selected files in the
    /// tree. Never fails as a whole: per-entry errors are in the report.
    pub fn clean(&self, selection: &Selection, dry_run: bool) -> CleanupReport {
        self.clean_archiving(selection, None, dry_run)
    }

    /// [`CleanupDir::clean`], keeping a copy of each file through
    /// `archiver` first: a file whose copy fails stays.
    pub fn clean_archiving(
        &self,
        selection: &Selection,
        archiver: Option<&mut Archiver>,
        dry_run: bool,
    ) -> CleanupReport {
        let mut walker = Walker {
            archiver,
            selection,
            cutoff: timespec(selection.cutoff),
            dev: self.dev,
            dry_run,
            root: &self.path,
            rel: PathBuf::new(),
            report: CleanupReport::default(),
        };
        match reopen_for_reading(&self.fd) {
            Ok(dir) => walker.walk(&self.fd, dir, 0),
            Err(errno) => walker.error(None, errno),
        }
        walker.report
    }
}

/// Opens a directory refusing symlinks in every component (`ELOOP`):
/// `openat2` with `RESOLVE_NO_SYMLINKS` where the kernel has it, else a
/// walk from `/`.
pub(crate) fn open_no_symlinks(path: &Path) -> Result<OwnedFd, Errno> {
    // No O_NOFOLLOW here: with O_DIRECTORY it turns a symlinked leaf into
    // ENOTDIR, while RESOLVE_NO_SYMLINKS already refuses it with ELOOP.
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let how = OpenHow::new().flags(flags).resolve(ResolveFlag::RESOLVE_NO_SYMLINKS);
    match openat2(AT_FDCWD, path, how) {
        Err(Errno::ENOSYS) => open_by_components(path),
        other => other,
    }
}

/// The fallback for kernels without `openat2`: each component is opened
/// relative to its parent's descriptor with `O_PATH | O_NOFOLLOW`, which
/// yields the symlink itself if it is one; that, or anything else that is
/// not a directory, ends the walk. The last one is then reopened readable.
fn open_by_components(path: &Path) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let mut fd: Option<OwnedFd> = None;
    for component in path.components() {
        let name: &OsStr = match component {
            Component::RootDir => OsStr::new("/"),
            Component::CurDir => continue,
            Component::ParentDir => OsStr::new(".."),
            Component::Normal(name) => name,
            Component::Prefix(_) => return Err(Errno::EINVAL),
        };
        let next = match &fd {
            None => openat(AT_FDCWD, name, flags, Mode::empty())?,
            Some(parent) => openat(parent, name, flags, Mode::empty())?,
        };
        match kind(&fstat(&next)?) {
            SFlag::S_IFDIR => fd = Some(next),
            SFlag::S_IFLNK => return Err(Errno::ELOOP),
            _ => return Err(Errno::ENOTDIR),
        }
    }
    openat(fd.as_ref().ok_or(Errno::EINVAL)?, ".", dir_flags(), Mode::empty())
}

pub(crate) fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

/// A second descriptor on the same directory for `readdir`, because the
/// iterator borrows its `Dir` while the `*at` calls need the first one.
/// Opening `.` relative to the fd resolves no path outside it.
fn reopen_for_reading(fd: &OwnedFd) -> Result<Dir, Errno> {
    Dir::openat(fd, ".", dir_flags(), Mode::empty())
}

fn timespec(t: SystemTime) -> (i64, i64) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, i64::from(d.subsec_nanos())),
        // A cutoff before 1970 selects nothing newer than it; no real
        // file is that old, so the epoch itself is close enough.
        Err(_) => (0, 0),
    }
}

/// One walk's state: the selection, the reference filesystem and the
/// path of the current directory relative to the root (for messages only).
struct Walker<'a> {
    archiver: Option<&'a mut Archiver>,
    selection: &'a Selection,
    cutoff: (i64, i64),
    dev: u64,
    dry_run: bool,
    root: &'a Path,
    rel: PathBuf,
    report: CleanupReport,
}

impl Walker<'_> {
    /// Visits every entry of one directory; `fd` is the directory opened
    /// with `O_NOFOLLOW`, `dir` a second handle on it for reading.
    fn walk(&mut self, fd: &OwnedFd, dir: Dir, depth: usize) {
        // Consuming iteration: `Dir::iter` would rewind (an lseek) when dropped.
        for entry in dir {
            let entry = match entry {
                Ok(entry) => entry,
                Err(errno) => {
                    self.error(None, errno);
                    return;
                }
            };
            let name = entry.file_name();
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            match entry.file_type() {
                Some(Type::Directory) => self.descend(fd, name, depth),
                Some(Type::File | Type::Symlink) => self.consider(fd, name),
                Some(_) => {}
                // Filesystems without d_type: ask, then dispatch the same way.
                None => match fstatat(fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(st) if kind(&st) == SFlag::S_IFDIR => self.descend(fd, name, depth),
                    Ok(_) => self.consider(fd, name),
                    Err(Errno::ENOENT) => {}
                    Err(errno) => self.error(Some(name), errno),
                },
            }
        }
    }

    /// Enters a subdirectory if it is still a directory (not a symlink),
    /// on the same filesystem, and not too deep.
    fn descend(&mut self, parent: &OwnedFd, name: &CStr, depth: usize) {
        if depth + 1 > MAX_DEPTH {
            self.report.too_deep += 1;
            return;
        }
        let fd = match openat(parent, name, dir_flags(), Mode::empty()) {
            Ok(fd) => fd,
            // Gone, or swapped for a symlink or a file since readdir: not ours to enter.
            Err(Errno::ENOENT | Errno::ELOOP | Errno::ENOTDIR) => return,
            Err(errno) => return self.error(Some(name), errno),
        };
        match fstat(&fd) {
            Ok(st) if st.st_dev != self.dev => {
                self.report.other_filesystem += 1;
                return;
            }
            Ok(_) => {}
            Err(errno) => return self.error(Some(name), errno),
        }
        let dir = match reopen_for_reading(&fd) {
            Ok(dir) => dir,
            Err(errno) => return self.error(Some(name), errno),
        };
        self.rel.push(OsStr::from_bytes(name.to_bytes()));
        self.walk(&fd, dir, depth + 1);
        self.rel.pop();
    }

    /// Removes one entry if its name matches and, checked right before the
    /// unlink, it is a regular file or symlink on our filesystem, old enough.
    fn consider(&mut self, dir: &OwnedFd, name: &CStr) {
        if !self.selection.pattern.matches(&name_str(name)) {
            return;
        }
        let st = match fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return,
            Err(errno) => return self.error(Some(name), errno),
        };
        if !self.deletable(&st) {
            return;
        }
        if self.archiver.is_some() && !self.archived(dir, name, &st) {
            return;
        }
        if !self.dry_run {
            match unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir) {
                Ok(()) => {}
                Err(Errno::ENOENT) => return,
                Err(errno) => return self.error(Some(name), errno),
            }
        }
        self.report.files += 1;
        self.report.bytes += u64::try_from(st.st_size).unwrap_or(0);
    }

    fn deletable(&self, st: &FileStat) -> bool {
        let kind = kind(st);
        (kind == SFlag::S_IFREG || kind == SFlag::S_IFLNK)
            && st.st_dev == self.dev
            && (st.st_mtime, st.st_mtime_nsec) < self.cutoff
    }

    fn error(&mut self, name: Option<&CStr>, errno: Errno) {
        self.report.errors += 1;
        if self.report.first_error.is_none() {
            let mut path = self.root.join(&self.rel);
            if let Some(name) = name {
                path.push(OsStr::from_bytes(name.to_bytes()));
            }
            self.report.first_error = Some(format!("{}: {}", path.display(), errno.desc()));
        }
    }
}

pub(crate) fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// The name as text for the glob; invalid UTF-8 is replaced (so `*.log`
/// still matches such a name), valid names are borrowed, not copied.
fn name_str(name: &CStr) -> Cow<'_, str> {
    String::from_utf8_lossy(name.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The component-by-component fallback opens a plain directory path.
    #[test]
    fn fallback_opens_plain_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let inner = tmp.path().join("a/b");
        std::fs::create_dir_all(&inner).expect("mkdir");
        let fd = open_by_components(&inner).expect("open a/b");
        let want = std::fs::metadata(&inner).expect("stat");
        assert_eq!(fstat(&fd).expect("fstat").st_ino, std::os::unix::fs::MetadataExt::ino(&want));
    }

    /// The fallback refuses a path whose parent component is a symlink.
    #[test]
    fn fallback_refuses_symlinked_parent() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(tmp.path().join("real/b")).expect("mkdir");
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).expect("symlink");
        let err = open_by_components(&tmp.path().join("link/b")).expect_err("must refuse");
        assert_eq!(err, Errno::ELOOP);
    }

    /// The fallback refuses a final component that is a symlink.
    #[test]
    fn fallback_refuses_symlinked_leaf() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(tmp.path().join("real")).expect("mkdir");
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).expect("symlink");
        let err = open_by_components(&tmp.path().join("link")).expect_err("must refuse");
        assert_eq!(err, Errno::ELOOP);
    }
}
