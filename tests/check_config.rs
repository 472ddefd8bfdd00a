//! `healthmon --check-config` warnings: a valid config whose program,
//! disk path, cleanup directory or tmux socket is missing, or whose unit
//! worker sets keys it does not use, exits 0 and says so on stderr, one
//! line each; a config where all of them exist gets no warning.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_healthmon");

fn check(dir: &Path, text: &str) -> Output {
    let config = dir.join("healthmon.toml");
    std::fs::write(&config, text).unwrap();
    Command::new(BIN).args(["--check-config", "--config"]).arg(&config).output().expect("run healthmon")
}

/// The config of one kind of thing, `existing` or not.
fn config(dir: &Path, what: &str, existing: bool) -> String {
    let missing = dir.join("missing");
    let there = dir.join("there");
    std::fs::create_dir_all(&there).unwrap();
    let path = if existing { there.clone() } else { missing };
    match what {
        "program" => {
            let program = if existing { "/bin/sleep".into() } else { path.join("worker").display().to_string() };
            format!("[workers.w]\ncommand = [\"{program}\", \"100\"]\n")
        }
        "bare program" => {
            let program = if existing { "sleep" } else { "healthmon-no-such-program" };
            format!("[workers.w]\ncommand = [\"{program}\", \"100\"]\n")
        }
        "disk path" => format!("[disk]\npaths = [\"{}\"]\n", path.display()),
        "cleanup dir" => {
            format!("[[disk.cleanup]]\ndir = \"{}\"\npattern = \"*.log\"\nolder_than = \"7d\"\n", path.display())
        }
        "tmux socket" => {
            let socket = if existing {
                let socket = dir.join("tmux.sock");
                let _ = std::os::unix::net::UnixListener::bind(&socket).unwrap();
                socket
            } else {
                path.join("tmux.sock")
            };
            format!("[sessions]\ntmux_socket = \"{}\"\ntask_database = \"/tmp/tasks.db\"\n", socket.display())
        }
        "unit key" => {
            let extra = if existing { "" } else { "restart_delay = \"5s\"\nhealth_command = [\"/bin/true\"]\n" };
            format!("[workers.u]\nunit = \"u.service\"\n{extra}")
        }
        _ => unreachable!(),
    }
}

const EXPECTED: [(&str, &[&str]); 6] = [
    ("program", &["workers.w.command: program ", "/missing/worker does not exist"]),
    ("bare program", &["workers.w.command: program healthmon-no-such-program is not in PATH"]),
    ("disk path", &["disk.paths: ", "/missing does not exist"]),
    ("cleanup dir", &["disk.cleanup.dir: ", "/missing is not a directory"]),
    ("tmux socket", &["sessions.tmux_socket: ", "/missing/tmux.sock does not exist"]),
    ("unit key", &["workers.u.restart_delay does nothing for a unit worker", "workers.u.health_command does nothing"]),
];

/// Each missing thing is one warning on stderr; the check still passes
/// and prints the effective config on stdout.
#[test]
fn each_missing_thing_is_a_warning() {
    for (what, fragments) in EXPECTED {
        let dir = tempfile::tempdir().unwrap();
        let out = check(dir.path(), &config(dir.path(), what, false));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
        assert!(!out.stdout.is_empty(), "{what}: the effective config is printed");
        for fragment in fragments {
            assert!(stderr.contains(fragment), "{what}: {fragment:?} not in {stderr}");
        }
        assert!(stderr.lines().all(|l| l.starts_with("healthmon: warning: ")), "{what}: {stderr}");
        let lines = if what == "unit key" { 2 } else { 1 };
        assert_eq!(stderr.lines().count(), lines, "{what}: one line per warning: {stderr}");
    }
}

/// The same configs with everything in place warn about nothing.
#[test]
fn nothing_missing_no_warning() {
    for (what, _) in EXPECTED {
        let dir = tempfile::tempdir().unwrap();
        let out = check(dir.path(), &config(dir.path(), what, true));
        assert_eq!(out.status.code(), Some(0), "{what}");
        assert!(out.stderr.is_empty(), "{what}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// The unit-key warning names the file, line and column of the key.
#[test]
fn unit_key_warning_has_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &config(dir.path(), "unit key", false));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let config = dir.path().join("healthmon.toml");
    assert!(stderr.contains(&format!("{}:3:17: workers.u.restart_delay", config.display())), "{stderr}");
}
