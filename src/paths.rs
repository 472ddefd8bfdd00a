//! Where healthmon keeps its state when the config does not say: the
//! system path as root, `$XDG_STATE_HOME/healthmon` for anyone else, so
//! `healthmon --once` works for an unprivileged user with no config.

use std::path::PathBuf;

/// The contract's system database path.
pub const SYSTEM_DATABASE: &str = "/var/lib/healthmon/health.db";
/// The contract's main config file.
pub const SYSTEM_CONFIG: &str = "/etc/healthmon/healthmon.toml";

/// The default database path for the user running healthmon.
pub fn default_database() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from(SYSTEM_DATABASE);
    }
    state_home().join("healthmon").join("health.db")
}

fn state_home() -> PathBuf {
    match std::env::var_os("XDG_STATE_HOME") {
        Some(dir) if PathBuf::from(&dir).is_absolute() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"));
            home.join(".local").join("state")
        }
    }
}
