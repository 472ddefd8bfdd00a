//! The storage-health keys (0.2): `wal_max_size` of `[[databases]]`, the
//! disk forecast of `[disk]`, and archiving in `[[disk.cleanup]]`. Kept
//! apart from `validate` so each concern's rules read in one place.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::defaults::{ARCHIVE_TIMEOUT, PREDICT_HORIZON, PREDICT_WINDOW};
use super::file::{CleanupFile, DiskFile, Val};
use super::settings::{ArchiveSettings, Compression};
use super::size;
use super::values::{has_parent_component, Checker, Zero};

/// The text in `archive_command` replaced by the file's path.
pub const FILE_PLACEHOLDER: &str = "{}";

/// A size key, or `None` when absent (or invalid, after reporting it).
pub fn optional_size(key: &str, value: &Val<String>, c: &mut Checker) -> Option<u64> {
    let value = value.as_ref()?;
    match size::parse(value.get_ref()) {
        Ok(0) => {
            c.error(&value.span(), format!("{key} must be larger than 0"));
            None
        }
        Ok(bytes) => Some(bytes),
        Err(message) => {
            c.error(&value.span(), format!("{key}: {message}"));
            None
        }
    }
}

/// `(predict_horizon, predict_window)`; a zero horizon turns the forecast off.
pub fn forecast(d: &DiskFile, c: &mut Checker) -> (Duration, Duration) {
    let horizon = c.duration("disk.predict_horizon", &d.predict_horizon, PREDICT_HORIZON, Zero::Allowed);
    let window = c.duration("disk.predict_window", &d.predict_window, PREDICT_WINDOW, Zero::Forbidden);
    (horizon, window)
}

/// The archive keys of one cleanup rule whose directory is `dir` (when valid).
pub fn archive(r: &CleanupFile, dir: Option<&Path>, c: &mut Checker) -> ArchiveSettings {
    let archive_dir = r.archive_dir.as_ref().map(|value| archive_dir(value, c));
    let compression = r.archive_compression.as_ref().map_or(Compression::Gzip, |v| compression(v, c));
    if let (Some(v), None) = (&r.archive_compression, &archive_dir) {
        c.error(&v.span(), "disk.cleanup.archive_compression needs archive_dir");
    }
    if let (Some(value), Some(target), Some(dir)) = (&r.archive_dir, &archive_dir, dir) {
        check_placement(value, target, dir, compression, c);
    }
    let command = r.archive_command.as_ref().map(|list| {
        let argv = c.command("disk.cleanup.archive_command", list);
        if !argv.iter().skip(1).any(|arg| arg.contains(FILE_PLACEHOLDER)) {
            c.error(&list.span(), "disk.cleanup.archive_command must pass the file as an argument containing {}");
        }
        argv
    });
    if let (Some(v), None) = (&r.archive_timeout, &command) {
        c.error(&v.span(), "disk.cleanup.archive_timeout needs archive_command");
    }
    let timeout = c.duration("disk.cleanup.archive_timeout", &r.archive_timeout, ARCHIVE_TIMEOUT, Zero::Forbidden);
    ArchiveSettings { dir: archive_dir, compression, command, timeout }
}

fn archive_dir(value: &Spanned<String>, c: &mut Checker) -> PathBuf {
    let path = c.path("disk.cleanup.archive_dir", value);
    if has_parent_component(Path::new(value.get_ref())) {
        c.error(&value.span(), format!("disk.cleanup.archive_dir {:?} must not contain '..'", value.get_ref()));
    }
    path
}

fn compression(value: &Spanned<String>, c: &mut Checker) -> Compression {
    match value.get_ref().as_str() {
        "gzip" => Compression::Gzip,
        "none" => Compression::None,
        other => {
            let message = format!("invalid disk.cleanup.archive_compression {other:?}: expected \"gzip\" or \"none\"");
            c.error(&value.span(), message);
            Compression::Gzip
        }
    }
}

/// The archive must not lie inside the directory being cleaned (the next
/// walk would archive the archive), and an uncompressed archive on the
/// cleaned filesystem would free nothing. Both are decided on the paths as
/// written and, where they exist, as resolved.
fn check_placement(value: &Spanned<String>, target: &Path, dir: &Path, compression: Compression, c: &mut Checker) {
    let resolved = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    if target.starts_with(dir) || resolved(target).starts_with(resolved(dir)) {
        let message =
            format!("disk.cleanup.archive_dir {:?} is inside the cleaned dir {}", value.get_ref(), dir.display());
        c.error(&value.span(), message);
    } else if compression == Compression::None && same_filesystem(target, dir) {
        let message = format!(
            "disk.cleanup.archive_dir {:?} is on the same filesystem as {} and archive_compression is \"none\": \
             archiving would free no space",
            value.get_ref(),
            dir.display()
        );
        c.error(&value.span(), message);
    }
}

/// Whether the nearest existing ancestors of both paths are on one device.
fn same_filesystem(a: &Path, b: &Path) -> bool {
    let dev = |p: &Path| p.ancestors().find_map(|p| std::fs::metadata(p).ok()).map(|m| m.dev());
    matches!((dev(a), dev(b)), (Some(x), Some(y)) if x == y)
}
