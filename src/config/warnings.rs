//! What `--check-config` warns about in a valid configuration: things
//! that exist only at run time and are missing now (a worker's program,
//! a disk path, a cleanup directory, the tmux socket). Warnings, not
//! errors: a path may be mounted or a package installed after the check.

use std::path::Path;

use super::settings::{Settings, WorkerKind};

/// One line per missing thing, naming the key.
pub fn missing(settings: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    for w in &settings.workers {
        if let WorkerKind::Command(c) = &w.kind {
            if let Some(problem) = c.command.first().and_then(|program| program_problem(program)) {
                out.push(format!("workers.{}.command: {problem}", w.name));
            }
        }
    }
    for path in &settings.disk.paths {
        if !path.exists() {
            out.push(format!("disk.paths: {} does not exist", path.display()));
        }
    }
    for rule in &settings.disk.cleanup {
        if !rule.dir.is_dir() {
            out.push(format!("disk.cleanup.dir: {} is not a directory", rule.dir.display()));
        }
    }
    if let Some(socket) = settings.sessions.as_ref().and_then(|s| s.tmux_socket.as_ref()) {
        if !socket.exists() {
            out.push(format!(
                "sessions.tmux_socket: {} does not exist (is the tmux server running?)",
                socket.display()
            ));
        }
    }
    out
}

/// Why `program` cannot be run: missing, or a bare name not in PATH.
fn program_problem(program: &str) -> Option<String> {
    if program.contains('/') {
        return (!Path::new(program).is_file()).then(|| format!("program {program} does not exist"));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).any(|dir| dir.join(program).is_file());
    (!found).then(|| format!("program {program} is not in PATH"))
}
