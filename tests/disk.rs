//! Integration tests of the disk check and its cleanup on real tmpfs
//! mounts: thresholds, exact deletions, dry-run, and the symlink and
//! mount traps a root daemon must not fall into. Needs root (mount).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthmon::checks::disk::DiskCheck;
use healthmon::checks::{Check, CheckContext};
use healthmon::config::{CleanupRule, CleanupWhen, DiskSettings};
use healthmon::model::{ActionKind, Finding, Severity, Status};

mod common {
    pub mod fs;
}

use common::fs::{age, keep_swapping, log_rule as rule, write, Tmpfs, KIB};

fn settings(paths: &[&Path], cleanup: Vec<CleanupRule>) -> DiskSettings {
    DiskSettings {
        paths: paths.iter().map(|p| p.to_path_buf()).collect(),
        warning_percent: 85.0,
        critical_percent: 95.0,
        cleanup,
        predict_horizon: Duration::ZERO,
        predict_window: Duration::from_secs(3600),
    }
}

fn run(settings: DiskSettings, dry_run: bool) -> Vec<Finding> {
    DiskCheck::new(settings).run(&CheckContext { dry_run }).expect("disk check runs")
}

fn finding<'a>(findings: &'a [Finding], component: &str, metric: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.component == component && f.metric_type == metric)
        .unwrap_or_else(|| panic!("no {metric} finding for {component} in {findings:#?}"))
}

fn component(path: &Path) -> String {
    format!("disk:{}", path.display())
}

/// A 4 MiB tmpfs filled to ~96% under `logs/`: 3800 KiB of aged `*.log*`
/// files (one in a subdirectory), plus a fresh `.log` and an aged
/// non-matching file that must survive.
struct Full {
    fs: Tmpfs,
    logs: PathBuf,
    aged: Vec<PathBuf>,
    kept: Vec<PathBuf>,
}

impl Full {
    fn new() -> Full {
        let fs = Tmpfs::mount("4m");
        let logs = fs.path().join("logs");
        fs::create_dir_all(logs.join("sub")).expect("mkdir logs/sub");
        let mut aged: Vec<PathBuf> = (1..=7).map(|i| logs.join(format!("app{i}.log"))).collect();
        aged.push(logs.join("sub/old.log.1"));
        for (i, path) in aged.iter().enumerate() {
            write(path, if i < 7 { 500 } else { 300 }, 8);
        }
        let kept = vec![logs.join("new.log"), logs.join("keep.dat")];
        write(&kept[0], 64, 0);
        write(&kept[1], 64, 8);
        Full { fs, logs, aged, kept }
    }

    fn mnt(&self) -> &Path {
        self.fs.path()
    }
}

/// Above critical with nothing the rule can delete, a CRITICAL problem is raised.
#[test]
fn critical_problem_when_nothing_can_be_cleaned() {
    let full = Full::new();
    let mut nothing = rule(&full.logs, CleanupWhen::Critical);
    nothing.pattern = "*.gz".into();
    let findings = run(settings(&[full.mnt()], vec![nothing]), false);

    let usage = finding(&findings, &component(full.mnt()), "disk_usage");
    assert_eq!(usage.status, Status::Unhealthy);
    let problem = usage.problem.as_ref().expect("problem raised");
    assert_eq!(problem.severity, Severity::Critical);
    assert!(problem.message.starts_with(&format!("{} is 9", full.mnt().display())), "{}", problem.message);
    assert!(problem.message.ends_with("% full (critical at 95%)"), "{}", problem.message);
    let cleanup = finding(&findings, &component(full.mnt()), "disk_cleanup");
    assert_eq!((cleanup.status, cleanup.action.is_none()), (Status::Healthy, true));
    assert!(full.aged.iter().all(|p| p.exists()), "nothing may be deleted");
}

/// A critical rule deletes exactly the aged matching files and the usage recorded is post-cleanup.
#[test]
fn critical_rule_deletes_exactly_aged_matching_files() {
    let full = Full::new();
    let findings = run(settings(&[full.mnt()], vec![rule(&full.logs, CleanupWhen::Critical)]), false);

    for path in &full.aged {
        assert!(!path.exists(), "aged matching file survived: {}", path.display());
    }
    for path in &full.kept {
        assert!(path.exists(), "file that must stay was deleted: {}", path.display());
    }
    assert!(full.logs.join("sub").is_dir(), "subdirectory must stay");
    let cleanup = finding(&findings, &component(full.mnt()), "disk_cleanup");
    assert_eq!(cleanup.status, Status::Recovered);
    let action = cleanup.action.as_ref().expect("action recorded");
    assert_eq!(action.kind, ActionKind::DiskCleanup);
    assert_eq!(action.taken, format!("deleted 8 files (3.7 MiB) from {}", full.logs.display()));
    let usage = finding(&findings, &component(full.mnt()), "disk_usage");
    assert_eq!((usage.status, &usage.problem), (Status::Healthy, &None), "{usage:?}");
    assert!(usage.details.starts_with("used "), "{}", usage.details);
}

/// After a successful cleanup, the next run reports both findings healthy.
#[test]
fn second_run_after_cleanup_is_healthy() {
    let full = Full::new();
    let s = settings(&[full.mnt()], vec![rule(&full.logs, CleanupWhen::Critical)]);
    run(s.clone(), false);
    let findings = run(s, false);

    for metric in ["disk_cleanup", "disk_usage"] {
        let f = finding(&findings, &component(full.mnt()), metric);
        assert_eq!((f.status, &f.problem, &f.action), (Status::Healthy, &None, &None), "{f:?}");
    }
}

/// A `when = "critical"` rule does not run while its filesystem is below critical.
#[test]
fn critical_rule_waits_below_critical() {
    let fs = Tmpfs::mount("4m");
    let logs = fs.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    write(&logs.join("old.log"), 4, 8);
    let findings = run(settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Critical)]), false);

    assert!(logs.join("old.log").exists(), "rule ran below critical");
    let f = finding(&findings, &component(fs.path()), "disk_cleanup");
    assert_eq!((f.status, &f.action), (Status::Healthy, &None));
    assert!(f.details.contains("not run"), "{}", f.details);
}

/// Dry-run deletes nothing but reports how many files it would delete.
#[test]
fn dry_run_counts_and_deletes_nothing() {
    let full = Full::new();
    let findings = run(settings(&[full.mnt()], vec![rule(&full.logs, CleanupWhen::Critical)]), true);

    assert!(full.aged.iter().chain(&full.kept).all(|p| p.exists()), "dry-run deleted a file");
    let cleanup = finding(&findings, &component(full.mnt()), "disk_cleanup");
    let action = cleanup.action.as_ref().expect("would-be action recorded");
    assert_eq!(action.kind, ActionKind::Other);
    assert_eq!(action.taken, format!("would delete 8 files (3.7 MiB) from {}", full.logs.display()));
    let usage = finding(&findings, &component(full.mnt()), "disk_usage");
    assert_eq!(usage.problem.as_ref().map(|p| p.severity), Some(Severity::Critical));
}

/// Usage at/above warning_percent but below critical raises a WARNING naming the threshold.
#[test]
fn warning_threshold_raises_warning() {
    let fs = Tmpfs::mount("4m");
    write(&fs.path().join("fill"), 3700, 0);
    let findings = run(settings(&[fs.path()], vec![]), false);

    let usage = finding(&findings, &component(fs.path()), "disk_usage");
    let problem = usage.problem.as_ref().expect("problem raised");
    assert_eq!((usage.status, problem.severity), (Status::Unhealthy, Severity::Warning));
    assert!(problem.message.ends_with("% full (warning at 85%)"), "{}", problem.message);
}

/// A path statvfs cannot read gives an error finding; the other paths are still checked.
#[test]
fn unreadable_path_is_an_error_and_others_still_checked() {
    let fs = Tmpfs::mount("4m");
    let missing = fs.path().join("missing");
    let findings = run(settings(&[&missing, fs.path()], vec![]), false);

    let bad = finding(&findings, &component(&missing), "disk_usage");
    assert_eq!((bad.status, bad.problem.as_ref().map(|p| p.severity)), (Status::Error, Some(Severity::Warning)));
    let good = finding(&findings, &component(fs.path()), "disk_usage");
    assert_eq!(good.status, Status::Healthy);
}

/// A missing rule dir is an error finding under the disk's component, resolved once the dir exists.
#[test]
fn missing_rule_dir_errors_then_resolves_under_same_component() {
    let fs = Tmpfs::mount("4m");
    let logs = fs.path().join("logs");
    let s = settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Always)]);

    let first = run(s.clone(), false);
    let failed = finding(&first, &component(fs.path()), "disk_cleanup");
    assert_eq!((failed.status, failed.problem.as_ref().map(|p| p.severity)), (Status::Error, Some(Severity::Warning)));
    fs::create_dir(&logs).expect("mkdir logs");
    let second = run(s, false);
    let fixed = finding(&second, &component(fs.path()), "disk_cleanup");
    assert_eq!((fixed.status, &fixed.problem), (Status::Healthy, &None));
}

/// An aged symlink in the rule dir is removed itself; the aged file it points to outside survives.
#[test]
fn symlink_is_removed_not_its_target() {
    let fs = Tmpfs::mount("4m");
    let (logs, outside) = (fs.path().join("logs"), fs.path().join("outside"));
    fs::create_dir(&logs).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    write(&outside.join("victim.log"), 4, 8);
    let link = logs.join("link.log");
    std::os::unix::fs::symlink(outside.join("victim.log"), &link).expect("symlink");
    age(&link, 8);
    let findings = run(settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Always)]), false);

    assert!(fs::symlink_metadata(&link).is_err(), "aged symlink must be removed");
    assert_eq!(fs::read(outside.join("victim.log")).expect("target intact").len(), 4 * KIB);
    let action = finding(&findings, &component(fs.path()), "disk_cleanup").action.as_ref().expect("action");
    assert!(action.taken.starts_with("deleted 1 file ("), "{}", action.taken);
}

/// Aged matching fifos, sockets and directories are never deleted; only regular files and symlinks are.
#[test]
fn only_files_and_symlinks_are_deleted() {
    let fs = Tmpfs::mount("4m");
    let logs = fs.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    let fifo = logs.join("pipe.log");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR).expect("mkfifo");
    let socket = logs.join("sock.log");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind socket");
    let dir = logs.join("dir.log");
    fs::create_dir(&dir).expect("mkdir");
    [&fifo, &socket, &dir].iter().for_each(|p| age(p, 8));
    write(&logs.join("file.log"), 4, 8);
    run(settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Always)]), false);

    assert!(!logs.join("file.log").exists(), "the walk must have run");
    for kept in [&fifo, &socket, &dir] {
        assert!(fs::symlink_metadata(kept).is_ok(), "{} was deleted", kept.display());
    }
}

/// The walk stops at MAX_DEPTH levels: a file deeper down stays, one at the limit goes.
#[test]
fn walk_depth_is_bounded() {
    let fs = Tmpfs::mount("4m");
    let logs = fs.path().join("logs");
    let at_limit = (0..healthmon::cleanup::MAX_DEPTH).fold(logs.clone(), |p, _| p.join("d"));
    let too_deep = at_limit.join("d");
    fs::create_dir_all(&too_deep).expect("mkdir nested");
    write(&at_limit.join("ok.log"), 1, 8);
    write(&too_deep.join("deep.log"), 1, 8);
    let findings = run(settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Always)]), false);

    assert!(!at_limit.join("ok.log").exists(), "file at the depth limit must be cleaned");
    assert!(too_deep.join("deep.log").exists(), "file below the depth limit must stay");
    let details = &finding(&findings, &component(fs.path()), "disk_cleanup").details;
    assert!(details.contains("1 dir too deep skipped"), "{details}");
}

/// A subdirectory that is a symlink to an outside directory is never walked into.
#[test]
fn symlinked_subdir_is_not_followed() {
    let fs = Tmpfs::mount("4m");
    let (logs, outside) = (fs.path().join("logs"), fs.path().join("outside"));
    fs::create_dir(&logs).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    let victims: Vec<PathBuf> = (0..5).map(|i| outside.join(format!("v{i}.log"))).collect();
    victims.iter().for_each(|v| write(v, 4, 8));
    std::os::unix::fs::symlink(&outside, logs.join("sub")).expect("symlink");
    write(&logs.join("own.log"), 4, 8);
    run(settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Always)]), false);

    assert!(!logs.join("own.log").exists(), "the walk must have run");
    assert!(victims.iter().all(|v| v.exists()), "a file behind the symlinked subdir was deleted");
}

/// A rule dir that is itself a symlink is refused with an error finding; nothing is deleted.
#[test]
fn symlinked_rule_dir_is_refused() {
    let fs = Tmpfs::mount("4m");
    let real = fs.path().join("real");
    fs::create_dir(&real).expect("mkdir");
    write(&real.join("old.log"), 4, 8);
    let link = fs.path().join("link");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let findings = run(settings(&[fs.path()], vec![rule(&link, CleanupWhen::Always)]), false);

    assert!(real.join("old.log").exists(), "file behind a symlinked rule dir was deleted");
    let f = finding(&findings, &component(fs.path()), "disk_cleanup");
    assert_eq!((f.status, f.action.is_none()), (Status::Error, true));
    let problem = f.problem.as_ref().expect("problem");
    assert!(problem.message.contains("symlink"), "{}", problem.message);
}

/// A rule dir reached through a symlinked parent component is refused too.
#[test]
fn rule_dir_under_symlinked_parent_is_refused() {
    let fs = Tmpfs::mount("4m");
    let real_logs = fs.path().join("real/logs");
    fs::create_dir_all(&real_logs).expect("mkdir");
    write(&real_logs.join("old.log"), 4, 8);
    std::os::unix::fs::symlink(fs.path().join("real"), fs.path().join("link")).expect("symlink");
    let findings = run(settings(&[fs.path()], vec![rule(&fs.path().join("link/logs"), CleanupWhen::Always)]), false);

    assert!(real_logs.join("old.log").exists(), "file behind a symlinked parent was deleted");
    assert_eq!(finding(&findings, &component(fs.path()), "disk_cleanup").status, Status::Error);
}

/// Another filesystem mounted inside the rule dir is not entered.
#[test]
fn other_filesystem_inside_rule_dir_is_untouched() {
    let outer = Tmpfs::mount("4m");
    let logs = outer.path().join("logs");
    fs::create_dir(&logs).expect("mkdir");
    write(&logs.join("own.log"), 4, 8);
    let inner_dir = tempfile::Builder::new().tempdir_in(&logs).expect("inner mount point");
    let inner = Tmpfs::mount_at(inner_dir, "1m");
    let victims: Vec<PathBuf> = (0..3).map(|i| inner.path().join(format!("v{i}.log"))).collect();
    victims.iter().for_each(|v| write(v, 4, 8));
    let findings = run(settings(&[outer.path()], vec![rule(&logs, CleanupWhen::Always)]), false);

    assert!(!logs.join("own.log").exists(), "the walk must have run");
    assert!(victims.iter().all(|v| v.exists()), "a file on the inner filesystem was deleted");
    let details = &finding(&findings, &component(outer.path()), "disk_cleanup").details;
    assert!(details.contains("1 dir on other filesystems skipped"), "{details}");
}

/// Swapping a subdirectory for a symlink to an outside dir, over and over
/// while cleanups run, never gets an outside file deleted.
#[test]
fn swap_during_walk_never_reaches_outside() {
    let fs = Tmpfs::mount("16m");
    let (logs, outside) = (fs.path().join("logs"), fs.path().join("outside"));
    fs::create_dir_all(logs.join("sub")).expect("mkdir");
    fs::create_dir(&outside).expect("mkdir");
    let victims: Vec<PathBuf> = (0..50).map(|i| outside.join(format!("v{i}.log"))).collect();
    victims.iter().for_each(|v| write(v, 1, 8));
    // Many aged entries in the real subdirectory keep the walk busy in it.
    for i in 0..2000 {
        write(&logs.join(format!("sub/s{i}.log")), 0, 8);
    }
    std::os::unix::fs::symlink(&outside, logs.join("swap")).expect("symlink");

    let stop = Arc::new(AtomicBool::new(false));
    let swapper = keep_swapping(logs.join("sub"), logs.join("swap"), Arc::clone(&stop));
    let s = settings(&[fs.path()], vec![rule(&logs, CleanupWhen::Always)]);
    // Enough runs to meet the swapper many times, however loaded the
    // machine is; the bound only keeps a broken swapper from hanging.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut runs = 0;
    while runs < 200 && Instant::now() < deadline {
        run(s.clone(), false);
        runs += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swapper.join().expect("swapper thread");

    assert!(runs == 200 && swaps > 100, "race too weak: {runs} runs, {swaps} swaps");
    let real_sub = if fs::symlink_metadata(logs.join("sub")).expect("sub").is_dir() { "sub" } else { "swap" };
    assert_eq!(
        fs::read_dir(logs.join(real_sub)).expect("read real sub").count(),
        0,
        "the walk must have cleaned the real subdir"
    );
    let lost: Vec<&PathBuf> = victims.iter().filter(|v| !v.exists()).collect();
    assert!(lost.is_empty(), "outside files deleted through a swapped symlink: {lost:?}");
}
