//! The man pages: clean under `man --warnings` (the way lintian runs it),
//! with a NAME line `lexgrog` parses, and complete, checked mechanically
//! against the binaries' `--help`, the D-Bus contract and the config keys.
//!
//! Needs man-db and groff-base (Debian); a missing tool fails the test.

mod common {
    pub mod manpages;
}

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::manpages::{help_commands, help_flags, sample_config_keys, section, sections, tags, text};

const HEALTHMON_8: &str = "man/healthmon.8";
const HEALTHCTL_1: &str = "man/healthctl.1";
const HEALTHMON_TOML_5: &str = "man/healthmon.toml.5";
/// (page, the name its NAME section gives).
const PAGES: [(&str, &str); 3] =
    [(HEALTHMON_8, "healthmon"), (HEALTHCTL_1, "healthctl"), (HEALTHMON_TOML_5, "healthmon.toml")];

/// healthmon's flags in the contract (the binary's `--help` adds any others).
const HEALTHMON_FLAGS: [&str; 12] = [
    "--once",
    "--dry-run",
    "--json",
    "--check-config",
    "--config",
    "--bus",
    "--database",
    "--daemon",
    "--status",
    "--stop",
    "--help",
    "--version",
];
/// healthctl's options that belong to the program, not to one command.
const HEALTHCTL_GLOBAL: [&str; 5] = ["--bus", "--full", "--utc", "--help", "--version"];
/// healthctl's commands and their options in the contract.
const HEALTHCTL_COMMANDS: [(&str, &[&str]); 16] = [
    ("status", &["--json"]),
    ("run-once", &["--json"]),
    ("alerts", &["--all", "--limit", "--json"]),
    ("resolve", &[]),
    ("metrics", &["--component", "--limit", "--json"]),
    ("workers", &["--json"]),
    ("reload", &[]),
    ("shutdown", &[]),
    ("start", &[]),
    ("stop", &[]),
    ("restart", &[]),
    ("worker", &["--json"]),
    ("logs", &["-f", "-n"]),
    ("silence", &["--for", "--reason", "--all"]),
    ("silences", &["--json"]),
    ("unsilence", &[]),
];
/// Every member of org.healthmon.Monitor1 with the signature text its
/// entry must show.
const DBUS_MEMBERS: [(&str, &str); 20] = [
    ("Status", "→ a{sv}"),
    ("RunOnce", "→ a{sv}"),
    ("Stop", "→ ()"),
    ("ListAlerts", "(b unresolved_only, u limit) → a(xxsssb)"),
    ("ResolveAlert", "(x id) → b"),
    ("ListMetrics", "(s component, u limit) → a(xsssss)"),
    ("ListWorkers", "→ a(ssuts)"),
    ("Reload", "→ ()"),
    ("StartWorker", "(s name) → ()"),
    ("StopWorker", "(s name) → ()"),
    ("RestartWorker", "(s name) → ()"),
    ("GetWorker", "(s name) → a{sv}"),
    ("Silence", "(s component, t seconds, s reason) → x"),
    ("ListSilences", "→ a(xsxs)"),
    ("Unsilence", "(x id) → b"),
    ("AlertRaised", "(x id, s severity, s component, s message)"),
    ("AlertResolved", "(x id)"),
    ("CheckCompleted", "(a{sv}"),
    ("Version", "Version s"),
    ("State", "State s"),
];
/// The keys of `Status()` and of a cycle summary, from the contract.
const DBUS_KEYS: [&str; 18] = [
    "version",
    "state",
    "uptime_sec",
    "checks_run",
    "last_check",
    "workers_total",
    "workers_healthy",
    "workers_restarted",
    "sessions_cleared",
    "locks_cleared",
    "disk_cleanups",
    "alerts_sent",
    "unresolved_alerts",
    "duration_ms",
    "alerts_raised",
    "alerts_resolved",
    "actions",
    "dry_run",
];
/// Every config key of the contract plus the extension keys, by table as
/// the page heads its sections (the shipped sample config adds any others).
const CONFIG_KEYS: [(&str, &[&str]); 8] = [
    ("[monitor]", &["check_interval", "database", "retention", "dry_run", "check_timeout"]),
    (
        "[workers.NAME]",
        &[
            "command",
            "unit",
            "working_dir",
            "environment",
            "user",
            "match",
            "critical",
            "restart_delay",
            "verify_after",
            "max_restarts",
            "restart_window",
            "health_command",
            "health_timeout",
            "health_failures",
            "stop_timeout",
            "watchdog",
            "notify_ready",
            "start_timeout",
            "instances",
            "depends_on",
        ],
    ),
    (
        "[sessions]",
        &["enabled", "tmux_socket", "stuck_after", "task_database", "in_progress_query", "on_stuck", "requeue"],
    ),
    ("[[databases]]", &["path", "locked_after", "kill_holders"]),
    ("[disk]", &["paths", "warning_percent", "critical_percent"]),
    ("[[disk.cleanup]]", &["dir", "pattern", "older_than", "when"]),
    ("[notify]", &["webhook", "command", "min_severity", "reminder_interval"]),
    ("[prometheus]", &["textfile"]),
];

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Runs a tool, failing loudly when it is not installed.
fn run(program: &str, args: &[&str], env: &[(&str, &str)], package: &str) -> Output {
    Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install the Debian package {package}"))
}

fn help_of(binary: &str, args: &[&str]) -> String {
    let out = Command::new(binary).args(args).output().unwrap_or_else(|e| panic!("cannot run {binary}: {e}"));
    assert!(out.status.success(), "{binary} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `man --warnings` (as lintian runs it) prints nothing for any page.
#[test]
fn pages_have_no_man_warnings() {
    let groff = run("groff", &["--version"], &[], "groff-base");
    assert!(groff.status.success(), "groff does not run: install groff-base");
    let env = [("LC_ALL", "C.UTF-8"), ("MANROFFSEQ", ""), ("MANWIDTH", "80")];
    for (page, _) in PAGES {
        let path = repo(page);
        let path = path.to_str().expect("UTF-8 path");
        let out = run("man", &["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path], &env, "man-db");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.is_empty(), "man --warnings on {page}: {}\n{stderr}", out.status);
        assert!(!out.stdout.is_empty(), "man produced no output for {page}");
    }
}

/// lexgrog (mandb's whatis parser) reads each page's NAME line.
#[test]
fn lexgrog_parses_every_name_section() {
    for (page, name) in PAGES {
        let path = repo(page);
        let out = run("lexgrog", &[path.to_str().expect("UTF-8 path")], &[], "man-db");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "lexgrog cannot parse {page}: {stdout}");
        assert!(stdout.contains(&format!(": \"{name} - ")), "lexgrog on {page}: {stdout}");
    }
}

/// Every page's header carries the crate's version.
#[test]
fn pages_carry_the_crate_version() {
    let version = format!("\"healthmon {}\"", env!("CARGO_PKG_VERSION"));
    for (page, _) in PAGES {
        let th = read(page).lines().find(|l| l.starts_with(".TH ")).map(str::to_owned);
        assert!(th.as_deref().is_some_and(|th| th.contains(&version)), "{page}: {th:?} lacks {version}");
    }
}

/// Each flag of `healthmon --help` (and of the contract) has an OPTIONS entry in healthmon(8).
#[test]
fn healthmon_page_documents_every_flag() {
    let mut flags = help_flags(&help_of(env!("CARGO_BIN_EXE_healthmon"), &["--help"]));
    assert!(flags.contains("--once"), "healthmon --help lists no --once: the parser is out of step with clap");
    flags.extend(HEALTHMON_FLAGS.map(str::to_owned));
    let page = read(HEALTHMON_8);
    let options = tags(section(&sections(&page), "OPTIONS"));
    for flag in flags {
        let documented = options.iter().any(|tag| tag.split([' ', ',']).any(|word| word == flag));
        assert!(documented, "healthmon(8) OPTIONS has no entry for {flag}");
    }
}

/// Each command of healthctl, and each of its options, has an entry in healthctl(1).
#[test]
fn healthctl_page_documents_every_command_and_option() {
    let binary = env!("CARGO_BIN_EXE_healthctl");
    let help = help_of(binary, &["--help"]);
    let mut commands: Vec<(String, BTreeSet<String>)> =
        HEALTHCTL_COMMANDS.iter().map(|(c, f)| (c.to_string(), f.iter().map(|f| f.to_string()).collect())).collect();
    for command in help_commands(&help) {
        if !commands.iter().any(|(c, _)| *c == command) {
            commands.push((command, BTreeSet::new()));
        }
    }
    let page = read(HEALTHCTL_1);
    let all = sections(&page);
    let entries = tags(section(&all, "COMMANDS"));
    for (command, flags) in &mut commands {
        flags.extend(help_flags(&help_of(binary, &[command, "--help"])));
        let entry = entries.iter().find(|tag| tag.split_whitespace().next() == Some(command.as_str()));
        let entry = entry.unwrap_or_else(|| panic!("healthctl(1) COMMANDS has no entry for {command}"));
        for flag in flags.iter().filter(|f| !HEALTHCTL_GLOBAL.contains(&f.as_str())) {
            assert!(entry.contains(flag.as_str()), "healthctl(1) entry {entry:?} lacks {flag}");
        }
    }
    let options = tags(section(&all, "OPTIONS"));
    let mut globals: BTreeSet<String> = help_flags(&help);
    globals.extend(HEALTHCTL_GLOBAL.map(str::to_owned));
    for flag in globals {
        let documented = options.iter().any(|tag| tag.split([' ', ',']).any(|word| word == flag));
        assert!(documented, "healthctl(1) OPTIONS has no entry for {flag}");
    }
}

/// Each D-Bus member (contract and shipped introspection XML) has an entry
/// with its signature in healthmon(8), and every Status/summary key is named.
#[test]
fn healthmon_page_documents_every_dbus_member() {
    let mut members: Vec<(String, String)> = DBUS_MEMBERS.iter().map(|(m, s)| (m.to_string(), s.to_string())).collect();
    let xml =
        std::fs::read_to_string(repo("dist/dbus/org.healthmon.Monitor1.xml")).expect("the shipped introspection XML");
    {
        for chunk in xml.split('<').skip(1) {
            let named =
                ["method name=\"", "signal name=\"", "property name=\""].iter().find_map(|p| chunk.strip_prefix(p));
            if let Some(name) = named.and_then(|rest| rest.split('"').next()) {
                if !members.iter().any(|(m, _)| m == name) {
                    members.push((name.to_owned(), String::new()));
                }
            }
        }
    }
    let page = read(HEALTHMON_8);
    let dbus = section(&sections(&page), "D-BUS INTERFACE").to_vec();
    let entries = tags(&dbus);
    for (member, signature) in &members {
        let entry = entries.iter().find(|tag| tag.split(['(', ' ']).next() == Some(member.as_str()));
        let entry = entry.unwrap_or_else(|| panic!("healthmon(8) D-BUS INTERFACE has no entry for {member}"));
        assert!(entry.contains(signature.as_str()), "healthmon(8) entry {entry:?} lacks {signature:?}");
    }
    let body = text(&dbus);
    for key in DBUS_KEYS {
        let named = body.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|word| word == key);
        assert!(named, "healthmon(8) D-BUS INTERFACE never names the key {key}");
    }
}

/// Each config key (contract, extensions and the shipped sample config) has
/// an entry in its table's section of healthmon.toml(5).
#[test]
fn toml_page_documents_every_config_key() {
    let mut keys: BTreeSet<(String, String)> =
        CONFIG_KEYS.iter().flat_map(|(t, ks)| ks.iter().map(move |k| (t.to_string(), k.to_string()))).collect();
    let sample = std::fs::read_to_string(repo("dist/config/healthmon.toml")).expect("the shipped sample config");
    {
        let found = sample_config_keys(&sample);
        assert!(found.contains(&("[monitor]".into(), "check_interval".into())), "cannot read the sample config");
        keys.extend(found);
    }
    let page = read(HEALTHMON_TOML_5);
    let all = sections(&page);
    for (table, key) in keys {
        let entries = tags(section(&all, &table));
        let documented = entries.iter().any(|tag| tag.split_whitespace().next() == Some(key.as_str()));
        assert!(documented, "healthmon.toml(5) {table} has no entry for {key}");
    }
}
