//! Building a worker's (or its probe's) process: argv, working directory,
//! environment, its own session, and the drop to `user`.
//!
//! Admin-visible rules: the process inherits healthmon's environment minus
//! what is healthmon's own (`NOTIFY_SOCKET`, `WATCHDOG_*`, `HEALTHMON_*`:
//! a worker pinging healthmon's watchdog or reading its settings would be a
//! bug), plus `environment` (which wins); with `user`, HOME, USER and LOGNAME are set
//! for that user and it runs with the user's uid, primary gid and
//! supplementary groups (as initgroups would set them). The working
//! directory is `working_dir`, else `/`. stdin is /dev/null; stdout and
//! stderr are the caller's to set (healthmon's own for probes). The soft
//! open-file limit is the one healthmon started with (see
//! [`crate::process::limits`]). Every worker runs in
//! its own session (setsid), so its whole group can be signalled and a
//! Ctrl+C or a crash of healthmon does not hit it. A bare command name (no
//! '/') is looked up in PATH.

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::libc;
use nix::unistd::{getgrouplist, User};

use crate::config::CommandWorker;
use crate::process::limits;

use super::WorkerError;

/// Who the process runs as, resolved before the fork (NSS lookups are not
/// safe between fork and exec).
#[derive(Debug, Clone)]
pub struct Identity {
    name: String,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
    home: PathBuf,
}

impl Identity {
    /// (uid, primary gid).
    pub fn ids(&self) -> (u32, u32) {
        (self.uid, self.gid)
    }
}

/// Resolves `user` (name or numeric uid) with its supplementary groups.
/// Blocking: NSS may read files or ask a network service.
pub fn resolve_user(user: &str) -> Result<Identity, WorkerError> {
    let found = match user.parse::<u32>() {
        Ok(uid) => User::from_uid(uid.into()),
        Err(_) => User::from_name(user),
    };
    let entry = found
        .map_err(|err| WorkerError::User { user: user.to_string(), reason: err.to_string() })?
        .ok_or_else(|| WorkerError::User { user: user.to_string(), reason: "no such user".into() })?;
    let cname = CString::new(entry.name.clone())
        .map_err(|_| WorkerError::User { user: user.to_string(), reason: "name contains a NUL byte".into() })?;
    let groups = getgrouplist(&cname, entry.gid).map_err(|err| WorkerError::User {
        user: user.to_string(),
        reason: format!("cannot list its groups: {err}"),
    })?;
    Ok(Identity {
        name: entry.name,
        uid: entry.uid.as_raw(),
        gid: entry.gid.as_raw(),
        groups: groups.into_iter().map(|g| g.as_raw()).collect(),
        home: entry.dir,
    })
}

/// The identity `spec.user` names, resolved off the runtime threads.
pub async fn identity(spec: &CommandWorker) -> Result<Option<Identity>, WorkerError> {
    let Some(user) = spec.user.clone() else { return Ok(None) };
    let name = user.clone();
    tokio::task::spawn_blocking(move || resolve_user(&name))
        .await
        .map_err(|err| WorkerError::User { user, reason: err.to_string() })?
        .map(Some)
}

/// The process for `argv` with the worker's directory, environment and
/// identity, in a new session. Spawning it is the caller's.
pub fn build(argv: &[String], spec: &CommandWorker, identity: Option<&Identity>) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(spec.working_dir.clone().unwrap_or_else(|| PathBuf::from("/")))
        .stdin(Stdio::null());
    if let Some(id) = identity {
        cmd.env("HOME", &id.home).env("USER", &id.name).env("LOGNAME", &id.name);
    }
    for (key, _) in std::env::vars_os() {
        if is_healthmons_own(&key.to_string_lossy()) {
            cmd.env_remove(key);
        }
    }
    cmd.envs(&spec.environment);
    let identity = identity.cloned();
    let nofile = limits::child_nofile();
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe syscalls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(soft) = nofile {
                limits::set_soft_nofile(soft)?;
            }
            if let Some(id) = &identity {
                drop_privileges(id)?;
            }
            Ok(())
        });
    }
    cmd
}

/// Variables that speak to healthmon, not to the programs it starts.
fn is_healthmons_own(key: &str) -> bool {
    key == "NOTIFY_SOCKET" || key.starts_with("WATCHDOG_") || key.starts_with("HEALTHMON_")
}

/// setgroups, setgid, setuid — in that order, since each needs the
/// privilege the next one gives up. Runs in the forked child.
fn drop_privileges(id: &Identity) -> std::io::Result<()> {
    // SAFETY: plain syscalls; `groups` outlives the call.
    let failed = unsafe {
        libc::setgroups(id.groups.len(), id.groups.as_ptr()) < 0 || libc::setgid(id.gid) < 0 || libc::setuid(id.uid) < 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user that does not exist is an error naming the user, not a panic.
    #[test]
    fn unknown_user_is_an_error() {
        let err = resolve_user("no-such-user-healthmon").unwrap_err();
        assert!(err.to_string().contains("no-such-user-healthmon"), "{err}");
    }

    /// healthmon's own variables are recognised, the worker's are not.
    #[test]
    fn own_variables() {
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "HEALTHMON_BUS"] {
            assert!(is_healthmons_own(key), "{key}");
        }
        for key in ["PATH", "HOME", "MY_NOTIFY_SOCKET", "PYTHONUNBUFFERED"] {
            assert!(!is_healthmons_own(key), "{key}");
        }
    }

    /// root resolves to uid 0 with its home directory.
    #[test]
    fn root_resolves() {
        let id = resolve_user("root").unwrap();
        assert_eq!((id.uid, id.gid), (0, 0));
        assert!(id.groups.contains(&0));
    }
}
