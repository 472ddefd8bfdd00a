//! Archive before delete: an aged file is compressed into `archive_dir`
//! at the same path below it as below the rule directory, with its mtime,
//! mode and owner, before the original is unlinked. Written to a temporary
//! name, fsynced, renamed into place without replacing anything, the
//! directory fsynced; only then does the walker unlink the original. Any
//! failure removes the temporary file and leaves the original in place.
//!
//! The archive side follows no symlink either: its root is opened with the
//! walker's `RESOLVE_NO_SYMLINKS` open, subdirectories with `mkdirat` and
//! `openat(O_NOFOLLOW | O_DIRECTORY)`, and the source is read through
//! `openat(dirfd, name, O_NOFOLLOW)` and must still be the inode the walk
//! examined.

use std::ffi::{CStr, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use flate2::write::GzEncoder;
use nix::errno::Errno;
use nix::fcntl::{openat, renameat2, AtFlags, OFlag, RenameFlags};
use nix::sys::stat::{fchmod, fstat, fstatat, futimens, mkdirat, FileStat, Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fsync, unlinkat, Gid, Uid, UnlinkatFlags};

use super::{command, dir_flags, kind, open_no_symlinks, CleanupError};
use crate::config::Compression;

/// Benchmark-only: with this set to `1`, archiving skips its fsyncs (see
/// bench/archive.sh). Never set it on a real system: a crash could then
/// lose a file that was already unlinked.
pub const NO_FSYNC_ENV: &str = "HEALTHMON_BENCH_NO_FSYNC";
/// Other names tried when the archive already holds one (`app.log.1.gz`,
/// then `app.log.1.1.gz` ...): an archive is never overwritten.
const MAX_SUFFIX: u32 = 99;

/// What keeps a copy of each aged file before it goes: the command, the
/// archive directory, or both (the command first).
pub struct Archiver {
    pub dir: Option<ArchiveDir>,
    /// argv with `{}`, and its timeout.
    pub command: Option<(Vec<String>, Duration)>,
}

impl Archiver {
    /// Keeps a copy of `name` in `dir` (`full` is its path, `rel` its
    /// directory below the rule directory); the archived size on success.
    /// Fails too when the file changed while it was copied (the copy may
    /// then be older than what would be deleted).
    pub fn keep(&mut self, dir: &OwnedFd, name: &CStr, st: &FileStat, full: &Path, rel: &Path) -> Result<u64, String> {
        if let Some((argv, timeout)) = &self.command {
            command::run(argv, *timeout, dir, name, full, &rel.join(OsStr::from_bytes(name.to_bytes())))?;
        }
        let bytes = match &mut self.dir {
            Some(archive) => archive.store(dir, name, st, rel)?,
            None => 0,
        };
        let same = |now: &FileStat| {
            (now.st_ino, now.st_size, now.st_mtime, now.st_mtime_nsec)
                == (st.st_ino, st.st_size, st.st_mtime, st.st_mtime_nsec)
        };
        match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(now) if same(&now) => Ok(bytes),
            _ => Err("it changed or moved while it was archived; kept".to_string()),
        }
    }
}

impl super::Walker<'_> {
    /// Keeps a copy first; false when the file must stay (a symlink, a
    /// failed copy, or a file that changed meanwhile).
    pub(super) fn archived(&mut self, dir: &OwnedFd, name: &CStr, st: &FileStat) -> bool {
        if kind(st) != SFlag::S_IFREG {
            self.report.links_kept += 1;
            return false;
        }
        let Some(archiver) = self.archiver.as_deref_mut() else { return true };
        if !self.dry_run {
            let full = self.root.join(&self.rel).join(OsStr::from_bytes(name.to_bytes()));
            match archiver.keep(dir, name, st, &full, &self.rel) {
                Ok(bytes) => self.report.archived_bytes += bytes,
                Err(reason) => {
                    self.report.kept += 1;
                    self.report.first_kept.get_or_insert_with(|| format!("{}: {reason}", full.display()));
                    return false;
                }
            }
        }
        self.report.archived += 1;
        true
    }
}

/// The opened archive directory of one cleanup walk.
pub struct ArchiveDir {
    path: PathBuf,
    fd: OwnedFd,
    compression: Compression,
    fsync: bool,
    /// The last subdirectory used (most files share their neighbour's).
    last: Option<(PathBuf, OwnedFd)>,
    /// Reused read buffer.
    buffer: Vec<u8>,
}

impl ArchiveDir {
    /// Opens `path` (creating it, 0750, when missing) refusing symlinks.
    pub fn open(path: &Path, compression: Compression) -> Result<ArchiveDir, CleanupError> {
        if !path.exists() {
            std::fs::DirBuilder::new().recursive(true).mode(0o750).create(path).map_err(|e| CleanupError::Open {
                dir: path.to_path_buf(),
                source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
            })?;
        }
        let fd = open_no_symlinks(path).map_err(|source| match source {
            Errno::ELOOP => CleanupError::Symlink { dir: path.to_path_buf() },
            source => CleanupError::Open { dir: path.to_path_buf(), source },
        })?;
        let fsync = std::env::var_os(NO_FSYNC_ENV).is_none_or(|v| v != "1");
        Ok(ArchiveDir { path: path.to_path_buf(), fd, compression, fsync, last: None, buffer: Vec::new() })
    }

    /// Copies the file `name` of `dir` (examined as `st`, `rel` below the
    /// rule directory) into the archive; the archived size on success.
    pub fn store(&mut self, dir: &OwnedFd, name: &CStr, st: &FileStat, rel: &Path) -> Result<u64, String> {
        let source = open_same(dir, name, st).map_err(|e| format!("cannot open it again: {}", e.desc()))?;
        let (target_rel, target) =
            self.subdir(rel).map_err(|e| format!("archive dir {}: {}", self.path.join(rel).display(), e.desc()))?;
        let file_name = OsStr::from_bytes(name.to_bytes());
        let tmp = temp_name(file_name);
        let written = self.write_temp(source, &target, &tmp, st);
        let placed = written.and_then(|size| self.place(&target, &tmp, file_name).map(|_| size));
        if placed.is_err() {
            let _ = unlinkat(&target, tmp.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
        self.last = Some((target_rel, target));
        placed.map_err(|e| format!("archiving into {} failed: {e}", self.path.join(rel).display()))
    }

    /// Compresses (or copies) into a new temporary file and gives it the
    /// source's mode, owner and times.
    fn write_temp(&mut self, source: File, target: &OwnedFd, tmp: &OsStr, st: &FileStat) -> io::Result<u64> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let out = File::from(openat(target, tmp, flags, Mode::from_bits_truncate(0o600))?);
        self.buffer.clear();
        (&source).read_to_end(&mut self.buffer)?;
        let out = match self.compression {
            Compression::Gzip => {
                let mut gz = GzEncoder::new(out, flate2::Compression::default());
                gz.write_all(&self.buffer)?;
                gz.finish()?
            }
            Compression::None => {
                let mut out = out;
                out.write_all(&self.buffer)?;
                out
            }
        };
        // Owner first: chown clears set-id bits, which fchmod then restores.
        let _ = fchown(out.as_fd(), Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
        fchmod(out.as_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
        let atime = TimeSpec::new(st.st_atime, st.st_atime_nsec);
        let mtime = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
        futimens(out.as_fd(), &atime, &mtime)?;
        if self.fsync {
            fsync(out.as_fd())?;
        }
        Ok(out.metadata()?.len())
    }

    /// Renames the temporary file to the archived name, never over an
    /// existing file, then makes the rename durable.
    fn place(&self, target: &OwnedFd, tmp: &OsStr, name: &OsStr) -> io::Result<OsString> {
        for n in 0..=MAX_SUFFIX {
            let candidate = archived_name(name, self.compression, n);
            match renameat2(target, tmp, target, candidate.as_os_str(), RenameFlags::RENAME_NOREPLACE) {
                Ok(()) => {
                    if self.fsync {
                        fsync(target)?;
                    }
                    return Ok(candidate);
                }
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::other(format!("{} names taken", MAX_SUFFIX + 1)))
    }

    /// The archive's directory for `rel` (taken from the one-entry cache,
    /// which the caller refills), made and opened component by component
    /// without following symlinks.
    fn subdir(&mut self, rel: &Path) -> Result<(PathBuf, OwnedFd), Errno> {
        if let Some(last) = self.last.take().filter(|(path, _)| path == rel) {
            return Ok(last);
        }
        let mut fd = openat(&self.fd, ".", dir_flags(), Mode::empty())?;
        for part in rel.components() {
            let Component::Normal(part) = part else { return Err(Errno::EINVAL) };
            match mkdirat(&fd, part, Mode::from_bits_truncate(0o750)) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(e),
            }
            fd = openat(&fd, part, dir_flags(), Mode::empty())?;
        }
        Ok((rel.to_path_buf(), fd))
    }
}

/// Opens `name` in `dir` for reading without following a symlink, and
/// only if it is still the regular file the walk examined.
fn open_same(dir: &OwnedFd, name: &CStr, st: &FileStat) -> Result<File, Errno> {
    let fd =
        openat(dir, name, OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK, Mode::empty())?;
    let now = fstat(&fd)?;
    if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) || kind(&now) != SFlag::S_IFREG {
        return Err(Errno::ESTALE);
    }
    Ok(File::from(fd))
}

/// `.NAME.healthmon-PID.tmp`: hidden, and unique to this process.
fn temp_name(name: &OsStr) -> OsString {
    let mut tmp = OsString::from(".");
    tmp.push(name);
    tmp.push(format!(".healthmon-{}.tmp", std::process::id()));
    tmp
}

/// `NAME.gz` (gzip) or `NAME` (none); with `n > 0`, `NAME.n.gz` / `NAME.n`.
fn archived_name(name: &OsStr, compression: Compression, n: u32) -> OsString {
    let mut out = name.to_os_string();
    if n > 0 {
        out.push(format!(".{n}"));
    }
    if compression == Compression::Gzip {
        out.push(".gz");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Archived names keep the original name, add .gz, and count up instead of overwriting.
    #[test]
    fn archived_names() {
        let name = OsStr::new("app.log.1");
        assert_eq!(archived_name(name, Compression::Gzip, 0), "app.log.1.gz");
        assert_eq!(archived_name(name, Compression::Gzip, 2), "app.log.1.2.gz");
        assert_eq!(archived_name(name, Compression::None, 0), "app.log.1");
        assert_eq!(archived_name(name, Compression::None, 1), "app.log.1.1");
    }
}
