//! The configuration layer against real files in temporary directories:
//! drop-in merging, defaults, every error class with its exact position,
//! the rendered effective config and the shipped /etc file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use healthmon::config::{self, CleanupWhen, ConfigError, Settings, WorkerKind};
use healthmon::model::Severity;
use tempfile::TempDir;

/// A config directory: `healthmon.toml` plus `conf.d/`.
struct ConfigDir {
    dir: TempDir,
}

impl ConfigDir {
    fn new(main: &str) -> ConfigDir {
        let dir = tempfile::tempdir().expect("create temp dir");
        std::fs::write(dir.path().join("healthmon.toml"), main).expect("write main config");
        ConfigDir { dir }
    }

    fn drop_in(&self, name: &str, text: &str) -> &ConfigDir {
        let conf_d = self.dir.path().join("conf.d");
        std::fs::create_dir_all(&conf_d).expect("create conf.d");
        std::fs::write(conf_d.join(name), text).expect("write drop-in");
        self
    }

    fn main(&self) -> PathBuf {
        self.dir.path().join("healthmon.toml")
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join("conf.d").join(name).display().to_string()
    }

    fn load(&self) -> Result<Settings, ConfigError> {
        config::load(Some(&self.main()))
    }
}

/// `(file, line, column, message)` of every error of a failed load.
fn errors(result: Result<Settings, ConfigError>) -> Vec<(String, usize, usize, String)> {
    let err = result.expect_err("the config should be invalid");
    err.errors()
        .into_iter()
        .map(|e| match e {
            ConfigError::Invalid { file, line, column, message } => (file.clone(), *line, *column, message.clone()),
            other => panic!("expected a positioned error, got: {other}"),
        })
        .collect()
}

/// Asserts the main file fails with exactly one error at `line:column` whose message contains `fragment`.
fn assert_error(main: &str, line: usize, column: usize, fragment: &str) {
    let dir = ConfigDir::new(main);
    let all = errors(dir.load());
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    let (file, l, c, message) = &all[0];
    assert_eq!(file, &dir.main().display().to_string());
    assert_eq!((*l, *c), (line, column), "position of {message:?}");
    assert!(message.contains(fragment), "{message:?} should contain {fragment:?}");
}

fn defaults_with_sources(sources: Vec<PathBuf>) -> Settings {
    Settings { sources, ..config::embedded_defaults() }
}

fn dist_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/config/healthmon.toml")
}

/// An explicit --config path that does not exist is an error naming it.
#[test]
fn explicit_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let err = config::load(Some(&missing)).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
}

/// An empty main file gives exactly the embedded defaults, with the file as source.
#[test]
fn empty_file_gives_embedded_defaults() {
    let dir = ConfigDir::new("");
    assert_eq!(dir.load().unwrap(), defaults_with_sources(vec![dir.main()]));
}

/// A syntax error is reported at its position and ends that file.
#[test]
fn syntax_error_names_position() {
    assert_error("[monitor]\ncheck_interval = \"60s\nretention = \"1d\"\n", 2, 22, "invalid basic string");
}

/// An unknown key is an error at the key.
#[test]
fn unknown_key_names_position() {
    assert_error(
        "[monitor]\ncheck_interval = \"60s\"\n  chek_timeout = \"5s\"\n",
        3,
        3,
        "unknown field `chek_timeout`",
    );
}

/// A value of the wrong type is an error at the value.
#[test]
fn wrong_type_names_position() {
    assert_error("[disk]\npaths = \"/\"\n", 2, 9, "disk.paths: invalid type: string \"/\", expected an array");
}

/// A bad duration in a drop-in names the drop-in, line and column, with the contract's message.
#[test]
fn bad_duration_in_drop_in_names_position() {
    let dir = ConfigDir::new("");
    dir.drop_in("10-x.toml", "# comment\n\n[monitor]\ncheck_interval = \"5 parsecs\"\n");
    let err = dir.load().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4:18: invalid duration \"5 parsecs\": expected a number followed by ms, s, m, h or d",
            dir.path("10-x.toml")
        )
    );
}

/// check_interval = "0s" is refused where zero makes no sense; restart_delay = "0s" is fine.
#[test]
fn zero_duration_only_where_meaningful() {
    assert_error("[monitor]\ncheck_interval = \"0s\"\n", 2, 18, "monitor.check_interval must be longer than 0s");
    let dir = ConfigDir::new("[workers.w]\ncommand = [\"/bin/true\"]\nrestart_delay = \"0s\"\n");
    assert_eq!(dir.load().unwrap().workers[0].restart_delay, Duration::ZERO);
}

/// A warning threshold at or above the critical one is an error at the warning value.
#[test]
fn bad_threshold_order_names_position() {
    assert_error("[disk]\nwarning_percent = 96\ncritical_percent = 95.5\n", 2, 19, "must be below");
}

/// A threshold outside (0, 100] is an error at that value.
#[test]
fn threshold_out_of_range_names_position() {
    assert_error("[disk]\ncritical_percent = 101\n", 2, 20, "disk.critical_percent must be above 0 and at most 100");
}

/// Integer and float thresholds are both accepted.
#[test]
fn thresholds_accept_integers_and_floats() {
    let dir = ConfigDir::new("[disk]\nwarning_percent = 80\ncritical_percent = 92.5\n");
    let disk = dir.load().unwrap().disk;
    assert_eq!((disk.warning_percent, disk.critical_percent), (80.0, 92.5));
}

/// A relative path is an error at the value.
#[test]
fn relative_path_names_position() {
    assert_error(
        "[[databases]]\npath = \"var/lib/x.db\"\n",
        2,
        8,
        "databases.path \"var/lib/x.db\" must be an absolute path",
    );
}

/// A worker name outside [A-Za-z0-9_.-] is an error at the name.
#[test]
fn bad_worker_name_names_position() {
    assert_error("[workers.\"my worker\"]\ncommand = [\"/bin/true\"]\n", 1, 10, "invalid worker name \"my worker\"");
}

/// A worker with both command and unit is an error at the unit.
#[test]
fn worker_with_command_and_unit_is_an_error() {
    assert_error("[workers.w]\ncommand = [\"/bin/true\"]\nunit = \"w.service\"\n", 3, 8, "has both command and unit");
}

/// A worker with neither command nor unit is an error at its table header.
#[test]
fn worker_without_command_or_unit_is_an_error() {
    assert_error("\n[workers.w]\ncritical = true\n", 2, 1, "needs either command or unit");
}

/// command[0] must be absolute or a bare name: a relative path with '/' is an error at that element.
#[test]
fn relative_command_names_position() {
    assert_error("[workers.w]\ncommand = [\"bin/worker\", \"-v\"]\n", 2, 12, "workers.w.command[0] \"bin/worker\"");
}

/// A bare program name is accepted and kept for PATH lookup at start time.
#[test]
fn bare_command_name_is_accepted() {
    let dir = ConfigDir::new("[workers.w]\ncommand = [\"python3\", \"x.py\"]\n");
    let WorkerKind::Command(command) = &dir.load().unwrap().workers[0].kind else {
        panic!("expected a command worker")
    };
    assert_eq!(command.command, ["python3", "x.py"]);
}

/// A unit without a systemd unit suffix is an error at the value.
#[test]
fn unit_without_suffix_names_position() {
    assert_error("[workers.w]\nunit = \"task-worker\"\n", 2, 8, "is not a systemd unit name");
}

/// Command-only keys on a unit worker are errors at each key's value.
#[test]
fn command_only_key_on_unit_worker_is_an_error() {
    assert_error("[workers.w]\nunit = \"w.service\"\nuser = \"nobody\"\n", 3, 8, "applies only to command workers");
}

/// A cleanup pattern with '/' is an error at the pattern.
#[test]
fn cleanup_pattern_with_slash_names_position() {
    let main = "[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"sub/*.log\"\nolder_than = \"7d\"\n";
    assert_error(main, 3, 11, "must not contain '/'");
}

/// An invalid glob is an error at the pattern.
#[test]
fn invalid_glob_names_position() {
    let main = "[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"[*.log\"\nolder_than = \"7d\"\n";
    assert_error(main, 3, 11, "is not a valid glob");
}

/// A malformed size is an error at its value, naming the accepted units.
#[test]
fn bad_size_names_position() {
    let main = "[[databases]]\npath = \"/var/lib/a.db\"\nwal_max_size = \"256 MB\"\n";
    assert_error(main, 3, 16, "followed by K, M, G, KB, MB or GB");
}

/// Sizes are powers of 1024, with or without the B.
#[test]
fn sizes_are_binary() {
    let dir = ConfigDir::new("[[databases]]\npath = \"/var/lib/a.db\"\nwal_max_size = \"256M\"\n");
    assert_eq!(dir.load().unwrap().databases[0].wal_max_size, Some(256 << 20));
}

/// A zero predict_window is refused; a zero predict_horizon turns the forecast off.
#[test]
fn forecast_keys_are_checked() {
    assert_error("[disk]\npredict_window = \"0s\"\n", 2, 18, "must be longer than 0s");
    let dir = ConfigDir::new("[disk]\npredict_horizon = \"0s\"\npredict_window = \"30m\"\n");
    let disk = dir.load().unwrap().disk;
    assert_eq!((disk.predict_horizon, disk.predict_window), (Duration::ZERO, Duration::from_secs(1800)));
}

/// An archive_dir inside the cleaned dir is an error at archive_dir.
#[test]
fn archive_inside_cleaned_dir_is_refused() {
    let main = "[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"*.log\"\nolder_than = \"7d\"\narchive_dir = \"/var/log/x/old\"\n";
    assert_error(main, 5, 15, "is inside the cleaned dir /var/log/x");
}

/// An uncompressed archive on the cleaned filesystem would free nothing: an error.
#[test]
fn uncompressed_archive_on_same_filesystem_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (logs, archive) = (tmp.path().join("logs"), tmp.path().join("archive"));
    let main = format!(
        "[[disk.cleanup]]\ndir = \"{}\"\npattern = \"*.log\"\nolder_than = \"7d\"\narchive_dir = \"{}\"\narchive_compression = \"none\"\n",
        logs.display(),
        archive.display()
    );
    assert_error(&main, 5, 15, "archiving would free no space");
}

/// archive_command must pass the file with {}; archive_timeout needs a command.
#[test]
fn archive_command_needs_the_placeholder() {
    let base = "[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"*.log\"\nolder_than = \"7d\"\n";
    assert_error(&format!("{base}archive_command = [\"/bin/true\"]\n"), 5, 19, "containing {}");
    assert_error(&format!("{base}archive_timeout = \"5s\"\n"), 5, 19, "needs archive_command");
}

/// A cleanup in a system directory such as /etc is refused: the monitor deletes as root.
#[test]
fn cleanup_in_system_directory_is_refused() {
    let main = "[[disk.cleanup]]\ndir = \"/etc/\"\npattern = \"*.conf\"\nolder_than = \"7d\"\n";
    assert_error(main, 2, 7, "is a system directory");
}

/// A cleanup dir with '..' is refused, so it cannot climb out of the named tree.
#[test]
fn cleanup_dir_with_parent_component_is_refused() {
    let main = "[[disk.cleanup]]\ndir = \"/var/log/../../etc\"\npattern = \"*\"\nolder_than = \"7d\"\n";
    assert_error(main, 2, 7, "must not contain '..'");
}

/// A missing required key of an array entry is an error at the entry's header.
#[test]
fn missing_cleanup_key_names_entry() {
    assert_error(
        "[disk]\n[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"*.log\"\n",
        2,
        1,
        "missing the required key older_than",
    );
}

/// An enabled [sessions] without task_database is an error at the table header.
#[test]
fn sessions_without_task_database_is_an_error() {
    assert_error("[sessions]\nstuck_after = \"10m\"\n", 1, 1, "missing the required key task_database");
}

/// Disabled sessions need no task_database and give no session settings.
#[test]
fn disabled_sessions_are_none() {
    let dir = ConfigDir::new("[sessions]\nenabled = false\nstuck_after = \"10m\"\n");
    assert_eq!(dir.load().unwrap().sessions, None);
}

/// An empty on_stuck list is an error while sessions are enabled.
#[test]
fn empty_on_stuck_is_an_error() {
    assert_error("[sessions]\ntask_database = \"/var/lib/a.db\"\non_stuck = []\n", 3, 12, "at least one statement");
}

/// `when` accepts only "critical" and "always".
#[test]
fn bad_cleanup_when_names_position() {
    let main = "[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"*\"\nolder_than = \"1d\"\nwhen = \"sometimes\"\n";
    assert_error(main, 5, 8, "expected \"critical\" or \"always\"");
}

/// min_severity accepts only the contract's spellings.
#[test]
fn bad_min_severity_names_position() {
    assert_error(
        "[notify]\ncommand = [\"/bin/true\"]\nmin_severity = \"warn\"\n",
        3,
        16,
        "expected CRITICAL, WARNING or INFO",
    );
}

/// A webhook must be an http(s) URL.
#[test]
fn bad_webhook_names_position() {
    assert_error("[notify]\nwebhook = \"ftp://host/x\"\n", 2, 11, "must be an http:// or https:// URL");
}

/// [notify] with no channel is an error at its header.
#[test]
fn empty_notify_is_an_error() {
    assert_error("[notify]\nmin_severity = \"INFO\"\n", 1, 1, "needs a webhook, a command or alertmanager");
}

/// A bad Alertmanager URL is named by position, and the error never
/// quotes a URL value (it may carry a token, and reload errors become alerts).
#[test]
fn bad_alertmanager_url_names_position_not_value() {
    assert_error("[notify]\nalertmanager = \"ftp://host/SECRET\"\n", 2, 16, "notify.alertmanager must be an http://");
    let dir = ConfigDir::new("[notify]\nwebhook = \"hxxp://hooks/SECRET\"\n");
    assert!(errors(dir.load()).iter().all(|(_, _, _, m)| !m.contains("SECRET")));
}

/// `[alerts]` takes flap_threshold and flap_window; an unknown key there
/// is an error at its position, and a zero window is refused.
#[test]
fn alerts_section_keys() {
    let dir = ConfigDir::new("[alerts]\nflap_threshold = 5\nflap_window = \"10m\"\n");
    let settings = dir.load().expect("valid [alerts]");
    assert_eq!((settings.alerts.flap_threshold, settings.alerts.flap_window.as_secs()), (5, 600));
    assert_eq!(config::embedded_defaults().alerts.flap_threshold, 3);
    assert_error("[alerts]\nflap_treshold = 5\n", 2, 1, "flap_treshold");
    assert_error("[alerts]\nflap_window = \"0s\"\n", 2, 15, "alerts.flap_window");
}

/// health_failures = 0 would never restart a failing worker: refused.
#[test]
fn zero_health_failures_is_an_error() {
    assert_error("[workers.w]\ncommand = [\"/bin/true\"]\nhealth_failures = 0\n", 3, 19, "must be at least 1");
}

/// max_restarts = 0 is allowed: it means alert, never restart.
#[test]
fn zero_max_restarts_is_allowed() {
    let dir = ConfigDir::new("[workers.w]\ncommand = [\"/bin/true\"]\nmax_restarts = 0\n");
    assert_eq!(dir.load().unwrap().workers[0].max_restarts, 0);
}

/// A [[databases]] path given again in a later drop-in is an error naming the later one and the first.
#[test]
fn duplicate_database_across_files_names_later() {
    let dir = ConfigDir::new("[[databases]]\npath = \"/var/lib/a.db\"\n");
    dir.drop_in("10-a.toml", "\n[[databases]]\npath = \"/var/lib//a.db\"\n");
    let all = errors(dir.load());
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!((all[0].0.as_str(), all[0].1, all[0].2), (dir.path("10-a.toml").as_str(), 3, 8));
    assert!(all[0].3.contains(&format!("first given at {}:2:8", dir.main().display())), "{}", all[0].3);
}

/// A duplicate disk.paths entry is an error at the second entry.
#[test]
fn duplicate_disk_path_names_later() {
    assert_error("[disk]\npaths = [\"/\", \"/var\", \"/var/\"]\n", 2, 23, "duplicate disk.paths entry \"/var/\"");
}

/// A duplicate (dir, pattern) cleanup rule is an error at the later entry.
#[test]
fn duplicate_cleanup_rule_names_later() {
    let rule = "[[disk.cleanup]]\ndir = \"/var/log/x\"\npattern = \"*.gz\"\nolder_than = \"7d\"\n";
    assert_error(&format!("{rule}{rule}"), 5, 1, "duplicate [[disk.cleanup]]");
}

/// Drop-ins merge in name order: workers replaced whole, databases appended, disk.paths replaced, other keys kept.
#[test]
fn drop_ins_merge_in_name_order() {
    let dir = ConfigDir::new(concat!(
        "[monitor]\ncheck_interval = \"30s\"\nretention = \"7d\"\n",
        "[workers.w]\ncommand = [\"/bin/a\"]\ncritical = true\nmax_restarts = 9\n",
        "[[databases]]\npath = \"/var/lib/one.db\"\n",
        "[disk]\npaths = [\"/\", \"/var\"]\nwarning_percent = 70\n",
    ));
    dir.drop_in("20-b.toml", "[monitor]\ncheck_interval = \"2m\"\n[workers.w]\nunit = \"w.service\"\n");
    dir.drop_in(
        "10-a.toml",
        "[monitor]\ncheck_interval = \"1m\"\n[[databases]]\npath = \"/var/lib/two.db\"\n[disk]\npaths = [\"/srv\"]\n",
    );
    dir.drop_in("30-c.conf", "this is not TOML and not read");
    dir.drop_in(".40-d.toml", "neither is this hidden file");
    let s = dir.load().unwrap();
    assert_eq!(s.sources, [dir.main(), dir.path("10-a.toml").into(), dir.path("20-b.toml").into()]);
    assert_eq!(s.monitor.check_interval, Duration::from_secs(120));
    assert_eq!(s.monitor.retention, Duration::from_secs(7 * 86_400));
    let w = &s.workers[0];
    assert_eq!(w.kind, WorkerKind::Unit("w.service".into()));
    assert_eq!((w.critical, w.max_restarts), (false, 5), "the replaced worker keeps nothing of the old one");
    let dbs: Vec<_> = s.databases.iter().map(|d| d.path.clone()).collect();
    assert_eq!(dbs, [PathBuf::from("/var/lib/one.db"), PathBuf::from("/var/lib/two.db")]);
    assert_eq!(s.disk.paths, [PathBuf::from("/srv")]);
    assert_eq!((s.disk.warning_percent, s.disk.critical_percent), (70.0, 95.0));
}

/// [sessions] merges key by key: a drop-in changes one key and keeps the others.
#[test]
fn sessions_merge_key_by_key() {
    let dir = ConfigDir::new("[sessions]\ntask_database = \"/var/lib/a.db\"\nstuck_after = \"1h\"\n");
    dir.drop_in("10-a.toml", "[sessions]\nstuck_after = \"45m\"\n");
    let sessions = dir.load().unwrap().sessions.expect("sessions enabled");
    assert_eq!((sessions.task_database, sessions.stuck_after), ("/var/lib/a.db".into(), Duration::from_secs(2_700)));
}

/// A drop-in can switch off sessions the main file enabled.
#[test]
fn drop_in_disables_sessions() {
    let dir = ConfigDir::new("[sessions]\ntask_database = \"/var/lib/a.db\"\n");
    dir.drop_in("10-off.toml", "[sessions]\nenabled = false\n");
    assert_eq!(dir.load().unwrap().sessions, None);
}

/// A table given where a value is expected is reported in TOML words, not Rust type names.
#[test]
fn wrong_table_type_is_in_plain_words() {
    assert_error("[workers]\nw = 5\n", 2, 5, "workers.w: invalid type: integer `5`, expected a table");
}

/// An environment variable name execve cannot pass is an error at the environment table.
#[test]
fn unusable_environment_name_is_an_error() {
    assert_error(
        "[workers.w]\ncommand = [\"/bin/true\"]\nenvironment = { \"A=B\" = \"1\" }\n",
        3,
        15,
        "unusable variable \"A=B\"",
    );
}

/// Errors of all files are collected in one load, in file and position order.
#[test]
fn errors_of_all_files_are_collected() {
    let dir = ConfigDir::new("[monitor]\nretention = \"forever\"\nbogus = 1\n[disk]\nwarning_percent = \"high\"\n");
    dir.drop_in("10-a.toml", "[workers.w]\ncommand = [\"/bin/a\"]\nrestart_delay = \"5 s\"\n");
    dir.drop_in("20-b.toml", "[sessions\n");
    let main = dir.main().display().to_string();
    let found: Vec<_> = errors(dir.load()).into_iter().map(|(f, l, c, _)| (f, l, c)).collect();
    assert_eq!(
        found,
        [
            (main.clone(), 2, 13),
            (main.clone(), 3, 1),
            (main, 5, 19),
            (dir.path("10-a.toml"), 3, 17),
            (dir.path("20-b.toml"), 1, 10),
        ]
    );
}

/// The rendered effective config loads back to the same settings.
#[test]
fn render_round_trips() {
    let dir = ConfigDir::new(include_str!("../dist/config/healthmon.toml"));
    let text = uncomment_settings(&std::fs::read_to_string(dir.main()).unwrap());
    std::fs::write(dir.main(), text).unwrap();
    dir.drop_in(
        "10-more.toml",
        concat!(
            "[monitor]\ncheck_interval = \"90s\"\nretention = \"36h\"\ndry_run = true\n",
            "[workers.quick]\ncommand = [\"sleep\", \"100\"]\nrestart_delay = \"0s\"\nverify_after = \"1500ms\"\n",
            "[notify]\nreminder_interval = \"4h\"\nmin_severity = \"CRITICAL\"\n",
            "[[disk.cleanup]]\ndir = \"/tmp/x\"\npattern = \"*.tmp\"\nolder_than = \"1d\"\nwhen = \"always\"\n",
        ),
    );
    let first = dir.load().unwrap();
    let rendered = config::render(&first);
    let again = ConfigDir::new(&rendered);
    let second = again.load().unwrap_or_else(|e| panic!("rendered config does not load: {e}\n{rendered}"));
    assert_eq!(Settings { sources: first.sources.clone(), ..second }, first);
    assert!(rendered.contains(&format!("#   {}", dir.path("10-more.toml"))), "{rendered}");
    assert!(rendered.contains("check_interval = \"90s\"") && rendered.contains("retention = \"36h\""), "{rendered}");
}

/// The embedded defaults render and load back unchanged too.
#[test]
fn render_of_defaults_round_trips() {
    let rendered = config::render(&config::embedded_defaults());
    assert!(rendered.contains("(no file: embedded defaults)"), "{rendered}");
    assert!(rendered.contains("check_interval = \"1m\""), "{rendered}");
    let dir = ConfigDir::new(&rendered);
    assert_eq!(dir.load().unwrap(), defaults_with_sources(vec![dir.main()]));
}

/// The shipped /etc file, as installed, changes nothing: the effective config is the embedded defaults.
#[test]
fn shipped_file_changes_nothing() {
    let shipped = dist_file();
    assert_eq!(config::load(Some(&shipped)).unwrap(), defaults_with_sources(vec![shipped]));
}

/// The shipped file's convention: "#" directly followed by a setting or a [table] is a commented-out setting.
fn uncomment_settings(text: &str) -> String {
    text.lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest.starts_with(|ch: char| !ch.is_whitespace() && ch != '#') => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every example of the shipped file, uncommented, is a valid config with the documented values.
#[test]
fn shipped_file_examples_are_valid() {
    let text = uncomment_settings(&std::fs::read_to_string(dist_file()).unwrap());
    assert!(
        text.lines().filter(|l| l.starts_with('#')).all(|l| l.starts_with("# ") || l == "#"),
        "a commented line was not an example"
    );
    let dir = ConfigDir::new(&text);
    let s = dir.load().unwrap_or_else(|e| panic!("uncommented shipped file does not load: {e}"));
    assert_eq!(s.monitor.check_interval, Duration::from_secs(60));
    assert_eq!(s.workers.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["assigner_worker", "task_worker"]);
    assert_eq!(s.workers[1].kind, WorkerKind::Unit("task-worker.service".into()));
    let sessions = s.sessions.expect("sessions enabled");
    assert_eq!(sessions.task_database, PathBuf::from("/var/lib/architect/assigner.db"));
    assert_eq!(sessions.requeue, ["INSERT INTO queue (task_id) VALUES (:task_id)"]);
    assert_eq!(s.databases[0].locked_after, Duration::from_secs(30));
    assert_eq!(s.disk.cleanup[0].when, CleanupWhen::Critical);
    let notify = s.notify.expect("notify set");
    assert_eq!((notify.min_severity, notify.reminder_interval), (Severity::Warning, None));
    assert_eq!(s.prometheus.unwrap().textfile, PathBuf::from("/var/lib/prometheus/node-exporter/healthmon.prom"));
}

/// A worker table given twice is one error that names the table and where
/// it was first defined (not a second error for each of its keys).
#[test]
fn duplicate_table_names_the_key_and_its_first_definition() {
    let dir =
        ConfigDir::new("[workers.a]\ncommand = [\"/bin/sleep\", \"100\"]\n\n[workers.a]\ncommand = [\"/bin/true\"]\n");
    let err = dir.load().unwrap_err();
    let main = dir.main().display().to_string();
    assert_eq!(err.to_string(), format!("{main}:4:10: duplicate key workers.a (first defined at {main}:1:1)"));
}

/// A key given twice in one table is named with its first line.
#[test]
fn duplicate_key_names_its_first_definition() {
    let dir = ConfigDir::new("[disk]\npaths = [\"/\"]\npaths = [\"/srv\"]\n");
    let main = dir.main().display().to_string();
    assert_eq!(
        dir.load().unwrap_err().to_string(),
        format!("{main}:3:1: duplicate key disk.paths (first defined at {main}:2:1)")
    );
}

/// An unknown key close to a known one gets "did you mean".
#[test]
fn unknown_key_suggests_the_nearest() {
    let dir = ConfigDir::new("[monitor]\ncheck_intervl = \"5s\"\n");
    let err = dir.load().unwrap_err().to_string();
    assert!(err.ends_with("; did you mean `check_interval`?"), "{err}");
}
