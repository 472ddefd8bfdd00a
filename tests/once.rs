//! `healthmon --once` end to end, as an administrator runs it: the real
//! binary, a real config file, a real tmpfs filled past 95 %, and the
//! SQLite database it leaves behind.

mod common {
    pub mod fs;
    pub mod http;
    pub mod sqlite;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

use common::fs::{age, write, Tmpfs};
use healthmon::model::{Finding, Severity, Status};
use healthmon::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_healthmon");

/// A tmpfs of 4 MiB filled past 95 % with 1 MiB of aged logs (which a
/// cleanup may take) and fresh files; `logs` is the cleanup dir.
struct FullDisk {
    fs: Tmpfs,
    state: tempfile::TempDir,
}

impl FullDisk {
    fn new() -> FullDisk {
        let fs = Tmpfs::mount("4m");
        let logs = fs.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        for i in 0..4 {
            write(&logs.join(format!("app.{i}.log")), 256, 0);
        }
        write(&logs.join("keep.txt"), 256, 10);
        for i in 0..11 {
            write(&fs.path().join(format!("data.{i}")), 256, 0);
        }
        FullDisk { fs, state: tempfile::tempdir().unwrap() }
    }

    fn logs(&self) -> PathBuf {
        self.fs.path().join("logs")
    }

    fn database(&self) -> PathBuf {
        self.state.path().join("health.db")
    }

    /// Writes a config watching the tmpfs with a critical-only cleanup
    /// rule, with `extra` TOML appended.
    fn config_with(&self, extra: &str) -> PathBuf {
        let path = self.state.path().join("healthmon.toml");
        let text = format!(
            "[monitor]\ndatabase = \"{db}\"\n\n[disk]\npaths = [\"{mnt}\"]\nwarning_percent = 85\ncritical_percent = 95\n\n\
             [[disk.cleanup]]\ndir = \"{logs}\"\npattern = \"*.log*\"\nolder_than = \"7d\"\nwhen = \"critical\"\n",
            db = self.database().display(),
            mnt = self.fs.path().display(),
            logs = self.logs().display(),
        );
        std::fs::write(&path, text + extra).unwrap();
        path
    }

    fn once(&self, extra: &[&str]) -> Output {
        self.once_with("", extra)
    }

    /// `--once` with `toml` appended to the config.
    fn once_with(&self, toml: &str, extra: &[&str]) -> Output {
        let config = self.config_with(toml);
        let mut args = vec!["--once", "--config", config.to_str().unwrap()];
        args.extend_from_slice(extra);
        Command::new(BIN).args(&args).env("NO_COLOR", "1").output().expect("run healthmon")
    }

    fn age_logs(&self) {
        for i in 0..4 {
            age(&self.logs().join(format!("app.{i}.log")), 8);
        }
    }

    fn sql(&self, query: &str) -> Vec<Vec<String>> {
        common::sqlite::rows(&self.database(), query)
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// A disk past 95 % raises one CRITICAL alert (exit 2); once logs age,
/// the next cycle deletes exactly the aged matching files, usage falls,
/// the alert resolves and the exit code is 0.
#[test]
fn full_disk_alert_cleanup_and_resolution() {
    let disk = FullDisk::new();
    let first = disk.once(&[]);
    assert_eq!(code(&first), 2, "{}", text(&first));
    let open = disk.sql("SELECT severity, component FROM health_alerts WHERE resolved = 0");
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(
        open[0][0].contains("CRITICAL") && open[0][1].contains(&format!("disk:{}", disk.fs.path().display())),
        "{open:?}"
    );

    disk.age_logs();
    let second = disk.once(&[]);
    assert_eq!(code(&second), 0, "{}", text(&second));
    assert_eq!(files(&disk.logs()), vec!["keep.txt"], "only the aged *.log* files go");
    assert!(disk.sql("SELECT id FROM health_alerts WHERE resolved = 0").is_empty());
    let cleanup = disk.sql(
        "SELECT status, action_taken FROM health_metrics WHERE metric_type = 'disk_cleanup' AND status = 'recovered'",
    );
    assert_eq!(cleanup.len(), 1, "{cleanup:?}");
    assert!(cleanup[0][1].contains("deleted 4 files"), "{cleanup:?}");
    let usage = disk.sql("SELECT status FROM health_metrics WHERE metric_type = 'disk_usage' ORDER BY id DESC LIMIT 1");
    assert!(usage[0][0].contains("healthy"), "usage after cleanup is recorded: {usage:?}");
    let cleanups = text(&second).lines().any(|l| l.trim_start().starts_with("Disk cleanups:") && l.ends_with(" 1"));
    assert!(cleanups, "{}", text(&second));
}

/// A disk past 95 % whose aged logs a cleanup takes in the same cycle has
/// no alert of its own: it leaves one INFO alert, already resolved, that
/// says what was seen and what was done; with min_severity INFO the
/// webhook hears of it as auto-recovered.
#[test]
fn disk_cleaned_in_one_cycle_leaves_one_resolved_info_alert() {
    let disk = FullDisk::new();
    disk.age_logs();
    let hook = common::http::HookServer::start(200);
    let notify = format!("\n[notify]\nwebhook = \"{}\"\nmin_severity = \"INFO\"\n", hook.url());
    let out = disk.once_with(&notify, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(files(&disk.logs()), vec!["keep.txt"], "the cleanup ran");

    let alerts =
        disk.sql("SELECT severity, component, kind, message, resolved, resolved_at IS NOT NULL FROM health_alerts");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let row = &alerts[0];
    assert_eq!(row[0], "Text(\"INFO\")", "{row:?}");
    assert_eq!(row[1], format!("Text(\"disk:{}\")", disk.fs.path().display()));
    assert_eq!(row[2], "Text(\"disk_cleanup\")");
    assert!(row[3].contains("full before cleanup (critical at 95%)") && row[3].contains("deleted 4 files"), "{row:?}");
    assert_eq!((row[4].as_str(), row[5].as_str()), ("Integer(1)", "Integer(1)"), "recorded resolved: {row:?}");

    let body: serde_json::Value =
        serde_json::from_str(&hook.next_body(std::time::Duration::from_secs(10)).expect("INFO notified")).unwrap();
    assert_eq!((body["severity"].as_str(), body["state"].as_str()), (Some("INFO"), Some("auto-recovered")), "{body}");
}

/// --dry-run deletes nothing and opens no alert, but reports what it
/// would do and exits with the state it found.
#[test]
fn dry_run_deletes_nothing_and_opens_no_alert() {
    let disk = FullDisk::new();
    disk.age_logs();
    let before = files(&disk.logs());
    let out = disk.once(&["--dry-run"]);
    assert_eq!(files(&disk.logs()), before);
    assert!(text(&out).contains("would delete 4 files"), "{}", text(&out));
    assert!(disk.sql("SELECT id FROM health_alerts").is_empty(), "dry run wrote alerts");
    assert_eq!(code(&out), 2, "the disk is still critical: {}", text(&out));
}

/// --json prints one document with the cycle summary keys.
#[test]
fn json_report_has_stable_keys() {
    let disk = FullDisk::new();
    let out = disk.once(&["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    for key in [
        "state",
        "duration_ms",
        "workers_restarted",
        "sessions_cleared",
        "locks_cleared",
        "disk_cleanups",
        "alerts_raised",
        "alerts_resolved",
        "actions",
    ] {
        assert!(doc.get(key).is_some(), "missing {key}: {doc}");
    }
    assert_eq!(doc["state"], "critical");
    assert_eq!(doc["alerts_raised"], 1);
}

/// An unprivileged user with no config at all gets the embedded defaults
/// and a database under $XDG_STATE_HOME.
#[test]
fn unprivileged_user_without_config_uses_xdg_state_home() {
    assert!(nix::unistd::geteuid().is_root(), "this test must run as root to switch to uid 65534");
    let home = tempfile::tempdir().unwrap();
    nix::unistd::chown(home.path(), Some(65534.into()), Some(65534.into())).unwrap();
    std::fs::set_permissions(home.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let state = home.path().join("state");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "--once"])
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", &state)
        .env("NO_COLOR", "1")
        .output()
        .expect("setpriv (util-linux) is needed");
    assert!(matches!(code(&out), 0..=2), "{}", text(&out));
    assert!(text(&out).contains("Session Stats"), "{}", text(&out));
    assert!(state.join("healthmon/health.db").exists(), "{}", text(&out));
}

/// --check-config prints the effective config; a broken one exits 78
/// naming file, line and column.
#[test]
fn check_config_reports_errors_with_position() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[disk]\npaths = [\"/\"]\nwarning_percent = 80\n").unwrap();
    let out = Command::new(BIN).args(["--check-config", "--config"]).arg(&good).output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("warning_percent = 80"), "{}", text(&out));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[monitor]\ncheck_interval = \"60s\"\nbogus_key = 1\n").unwrap();
    let out = Command::new(BIN).args(["--check-config", "--config"]).arg(&bad).output().unwrap();
    assert_eq!(code(&out), 78, "{}", text(&out));
    assert!(text(&out).contains(&format!("{}:3:1", bad.display())), "{}", text(&out));
}

/// `--once` may run another config than the daemon on the same database:
/// it resolves nothing only because it does not watch that component (a
/// worker of the daemon's keeps its alert).
#[test]
fn once_leaves_alerts_of_components_it_does_not_watch() {
    let disk = FullDisk::new();
    let daemon_alert = Finding::problem(
        "assigner_worker",
        "worker_status",
        Status::Unhealthy,
        Severity::Critical,
        "assigner_worker is down",
        "",
    );
    Store::open(&disk.database()).unwrap().record(&[daemon_alert], SystemTime::now(), true).unwrap();

    let out = disk.once(&[]);

    // The daemon's CRITICAL alert is still open, so the host is critical.
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    let open = Store::open(&disk.database()).unwrap().unresolved().unwrap();
    assert!(open.iter().any(|a| a.component == "assigner_worker"), "{open:?}");
}

/// The report names the component on every finding and lists the open
/// alert behind the state; the event lines go to stderr only with -v.
#[test]
fn report_explains_the_state_and_events_need_verbose() {
    let disk = FullDisk::new();
    let quiet = disk.once(&[]);
    let report = String::from_utf8_lossy(&quiet.stdout).into_owned();
    let component = format!("disk:{}", disk.fs.path().display());
    assert!(report.starts_with("HEALTHMON CRITICAL - health check #1"), "{report}");
    assert!(report.lines().any(|l| l.contains("CRIT") && l.contains(&component)), "{report}");
    assert!(report.contains("Open alerts (they make the state critical): 1"), "{report}");
    assert!(quiet.stderr.is_empty(), "no event lines without -v: {}", String::from_utf8_lossy(&quiet.stderr));

    let verbose = disk.once(&["-v"]);
    let events = String::from_utf8_lossy(&verbose.stderr).into_owned();
    assert!(events.contains(&component), "-v repeats the events on stderr: {events}");
}
