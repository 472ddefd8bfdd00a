//! Archive before delete on real tmpfs mounts: gzip copies that decompress
//! to the same bytes with the same mtime, archive_command deciding whether
//! a file may go, a full archive disk, a dry run, and a directory swapped
//! for a symlink during the walk. Needs root (mount).

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthmon::checks::disk::DiskCheck;
use healthmon::checks::{Check, CheckContext};
use healthmon::config::{ArchiveSettings, CleanupRule, CleanupWhen, DiskSettings};
use healthmon::model::{Finding, Severity, Status};

mod common {
    pub mod fs;
}

use common::fs::{keep_swapping, log_rule, write, Tmpfs};

fn rule(dir: &Path, archive: ArchiveSettings) -> CleanupRule {
    CleanupRule { archive, ..log_rule(dir, CleanupWhen::Always) }
}

fn into_dir(dir: &Path) -> ArchiveSettings {
    ArchiveSettings { dir: Some(dir.to_path_buf()), timeout: Duration::from_secs(10), ..Default::default() }
}

fn through(command: &[&str], timeout: Duration) -> ArchiveSettings {
    ArchiveSettings { command: Some(command.iter().map(|s| s.to_string()).collect()), timeout, ..Default::default() }
}

fn run(disk: &Path, rule: CleanupRule, dry_run: bool) -> Finding {
    let settings = DiskSettings {
        paths: vec![disk.to_path_buf()],
        warning_percent: 99.0,
        critical_percent: 100.0,
        cleanup: vec![rule],
        predict_horizon: Duration::ZERO,
        predict_window: Duration::from_secs(3600),
    };
    let findings = DiskCheck::new(settings).run(&CheckContext { dry_run }).expect("disk check runs");
    findings.into_iter().find(|f| f.metric_type == "disk_cleanup").expect("a disk_cleanup finding")
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).expect("open archive")).read_to_end(&mut out).expect("gunzip");
    out
}

/// Every file below `dir`, recursively.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(files_below(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// A tmpfs with `logs/app.log` and `logs/sub/old.log.1` aged 8 days (text,
/// and 64 KiB each) and a fresh `logs/new.log`; returns (fs, logs, aged).
fn aged_logs() -> (Tmpfs, PathBuf, Vec<PathBuf>) {
    let fs = Tmpfs::mount("16m");
    let logs = fs.path().join("logs");
    fs::create_dir_all(logs.join("sub")).unwrap();
    let aged = vec![logs.join("app.log"), logs.join("sub/old.log.1")];
    for path in &aged {
        write(path, 64, 8);
    }
    write(&logs.join("new.log"), 4, 0);
    (fs, logs, aged)
}

/// Aged files become .gz copies at the same relative path, decompressing to the same bytes, with the same mtime; then the originals go.
#[test]
fn gzip_archive_keeps_bytes_path_and_mtime() {
    let (fs, logs, aged) = aged_logs();
    let archive = fs.path().join("archive");
    let before: Vec<(Vec<u8>, i64, i64)> = aged
        .iter()
        .map(|p| {
            let m = fs::metadata(p).unwrap();
            (fs::read(p).unwrap(), m.mtime(), m.mtime_nsec())
        })
        .collect();

    let cleanup = run(fs.path(), rule(&logs, into_dir(&archive)), false);

    assert_eq!(cleanup.status, Status::Healthy, "{cleanup:?}");
    let taken = &cleanup.action.as_ref().unwrap().taken;
    assert!(taken.starts_with("archived, then deleted 2 files ("), "{taken}");
    assert!(taken.ends_with(&format!("from {} into {}", logs.display(), archive.display())), "{taken}");
    for (path, (bytes, mtime, nsec)) in aged.iter().zip(before) {
        assert!(!path.exists(), "{} must be gone", path.display());
        let rel = path.strip_prefix(&logs).unwrap();
        let copy = archive.join(format!("{}.gz", rel.display()));
        assert_eq!(gunzip(&copy), bytes, "{} decompresses to the original", copy.display());
        let m = fs::metadata(&copy).unwrap();
        assert_eq!((m.mtime(), m.mtime_nsec()), (mtime, nsec), "{} keeps the mtime", copy.display());
    }
    assert!(logs.join("new.log").exists(), "a fresh file stays");
    assert_eq!(files_below(&archive).len(), 2, "no temporary file is left: {:?}", files_below(&archive));
}

/// An archive that already holds a file of that name gets a numbered copy; nothing is overwritten.
#[test]
fn existing_archive_is_never_overwritten() {
    let (fs, logs, aged) = aged_logs();
    let archive = fs.path().join("archive");
    fs::create_dir_all(&archive).unwrap();
    fs::write(archive.join("app.log.gz"), b"earlier").unwrap();

    run(fs.path(), rule(&logs, into_dir(&archive)), false);

    assert_eq!(fs::read(archive.join("app.log.gz")).unwrap(), b"earlier");
    assert!(archive.join("app.log.1.gz").exists() && !aged[0].exists());
}

/// A failing archive_command, or one that outlives its timeout, keeps every original and raises a WARNING.
#[test]
fn failing_or_slow_archive_command_keeps_the_originals() {
    let (fs, logs, aged) = aged_logs();
    for command in [
        through(&["/bin/sh", "-c", "exit 3", "sh", "{}"], Duration::from_secs(10)),
        through(&["/bin/sh", "-c", "sleep 30", "sh", "{}"], Duration::from_millis(300)),
    ] {
        let cleanup = run(fs.path(), rule(&logs, command), false);

        assert!(aged.iter().all(|p| p.exists()), "originals must stay: {cleanup:?}");
        let problem = cleanup.problem.as_ref().expect("a problem");
        assert_eq!(problem.severity, Severity::Warning);
        assert!(problem.message.contains("2 aged files") && problem.message.contains("kept"), "{}", problem.message);
    }
}

/// A succeeding archive_command runs in the file's directory with {} = ./NAME, and only then is the file removed.
#[test]
fn succeeding_archive_command_ships_then_deletes() {
    let (fs, logs, aged) = aged_logs();
    let shipped = fs.path().join("shipped");
    fs::create_dir(&shipped).unwrap();
    let script = format!("cp -p \"$1\" {}/\"$(echo \"$HEALTHMON_ARCHIVE_RELATIVE\" | tr / _)\"", shipped.display());
    let original = fs::read(&aged[1]).unwrap();

    let cleanup =
        run(fs.path(), rule(&logs, through(&["/bin/sh", "-c", &script, "sh", "{}"], Duration::from_secs(10))), false);

    assert_eq!(cleanup.status, Status::Healthy, "{cleanup:?}");
    assert!(aged.iter().all(|p| !p.exists()));
    assert_eq!(fs::read(shipped.join("sub_old.log.1")).unwrap(), original);
    assert!(shipped.join("app.log").exists());
}

/// With the archive on a full disk, the originals stay and no partial file is left behind.
#[test]
fn full_archive_disk_keeps_originals_and_leaves_no_partial_file() {
    let fs = Tmpfs::mount("16m");
    let logs = fs.path().join("logs");
    fs::create_dir(&logs).unwrap();
    // Incompressible: 1 MiB of pseudo-random bytes per file.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let aged: Vec<PathBuf> = (0..3).map(|i| logs.join(format!("big{i}.log"))).collect();
    for path in &aged {
        let bytes: Vec<u8> = (0..1 << 20)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        fs::write(path, bytes).unwrap();
        common::fs::age(path, 8);
    }
    let small = Tmpfs::mount("512k");

    let cleanup = run(fs.path(), rule(&logs, into_dir(small.path())), false);

    assert!(aged.iter().all(|p| p.exists()), "originals must stay: {cleanup:?}");
    let problem = cleanup.problem.as_ref().expect("a problem");
    assert!(
        problem.message.contains("No space left on device") || problem.message.contains("ENOSPC"),
        "{}",
        problem.message
    );
    assert_eq!(files_below(small.path()), Vec::<PathBuf>::new(), "no partial or temporary file may be left");
}

/// A dry run reports what it would archive and delete, and creates, copies and deletes nothing.
#[test]
fn dry_run_archives_nothing() {
    let (fs, logs, aged) = aged_logs();
    let archive = fs.path().join("archive");

    let cleanup = run(fs.path(), rule(&logs, into_dir(&archive)), true);

    let taken = &cleanup.action.as_ref().unwrap().taken;
    assert!(taken.starts_with("would archive, then delete 2 files"), "{taken}");
    assert!(taken.ends_with(&format!("into {}", archive.display())), "{taken}");
    assert!(aged.iter().all(|p| p.exists()));
    assert!(!archive.exists(), "a dry run must not even create the archive dir");
}

/// An archive dir that is, or passes through, a symlink is refused and nothing is deleted.
#[test]
fn symlinked_archive_dir_is_refused() {
    let (fs, logs, aged) = aged_logs();
    let real = fs.path().join("real");
    fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, fs.path().join("link")).unwrap();

    let cleanup = run(fs.path(), rule(&logs, into_dir(&fs.path().join("link"))), false);

    assert_eq!(cleanup.status, Status::Error, "{cleanup:?}");
    assert!(aged.iter().all(|p| p.exists()));
    assert!(fs::read_dir(&real).unwrap().next().is_none());
}

/// Swapping a subdirectory for a symlink to an outside dir during archiving walks never archives or deletes an outside file.
#[test]
fn swap_during_archiving_walk_never_reaches_outside() {
    let fs = Tmpfs::mount("64m");
    let (logs, outside, archive) = (fs.path().join("logs"), fs.path().join("outside"), fs.path().join("archive"));
    fs::create_dir_all(logs.join("sub")).unwrap();
    fs::create_dir(&outside).unwrap();
    let victims: Vec<PathBuf> = (0..50).map(|i| outside.join(format!("v{i}.log"))).collect();
    victims.iter().for_each(|v| write(v, 1, 8));
    let refill = |n: usize| (0..n).for_each(|i| write(&logs.join(format!("sub/s{i}.log")), 0, 8));
    refill(500);
    std::os::unix::fs::symlink(&outside, logs.join("swap")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let swapper = keep_swapping(logs.join("sub"), logs.join("swap"), Arc::clone(&stop));

    let deadline = Instant::now() + Duration::from_secs(3);
    let mut runs = 0;
    while Instant::now() < deadline {
        run(fs.path(), rule(&logs, into_dir(&archive)), false);
        runs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().unwrap();

    assert!(runs > 0 && swaps > 100, "race too weak: {runs} runs, {swaps} swaps");
    let lost: Vec<&PathBuf> = victims.iter().filter(|v| !v.exists()).collect();
    assert!(lost.is_empty(), "outside files deleted through a swapped symlink: {lost:?}");
    let leaked: Vec<PathBuf> =
        files_below(&archive).into_iter().filter(|p| p.to_string_lossy().contains("/v")).collect();
    assert!(leaked.is_empty(), "outside files archived through a swapped symlink: {leaked:?}");
    assert!(files_below(&archive).iter().any(|p| p.to_string_lossy().contains("/s")), "the real subdir was archived");
}
