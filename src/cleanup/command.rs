//! `archive_command`: run once per aged file before it is removed; the
//! file goes only when the command exits 0 within its timeout.
//!
//! The command runs in the file's own directory, entered through the
//! directory descriptor the walk opened without following symlinks
//! (`fchdir` in the child), and `{}` is replaced by `./NAME`: resolving it
//! crosses no directory that could have been swapped for a symlink since
//! the walk checked it. The full path is in `HEALTHMON_ARCHIVE_FILE` and
//! the path below the rule directory in `HEALTHMON_ARCHIVE_RELATIVE`, for
//! naming the copy.

use std::ffi::{CStr, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::FILE_PLACEHOLDER;
use crate::process::pidfd::PidFd;

/// Runs `argv` for the file `name` in `dir`; `Err` says why the file must stay.
pub fn run(
    argv: &[String],
    timeout: Duration,
    dir: &OwnedFd,
    name: &CStr,
    full: &Path,
    rel: &Path,
) -> Result<(), String> {
    let (program, args) = argv.split_first().ok_or("archive_command is empty")?;
    let mut local = OsString::from("./");
    local.push(OsStr::from_bytes(name.to_bytes()));
    let mut command = Command::new(program);
    command
        .args(args.iter().map(|arg| substitute(arg, &local)))
        .env("HEALTHMON_ARCHIVE_FILE", full)
        .env("HEALTHMON_ARCHIVE_RELATIVE", rel)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let raw_dir = dir.as_raw_fd();
    // SAFETY: fchdir is async-signal-safe, and `dir` outlives the spawn.
    unsafe {
        command.pre_exec(move || match nix::libc::fchdir(raw_dir) {
            0 => Ok(()),
            _ => Err(std::io::Error::last_os_error()),
        });
    }
    let mut child = command.spawn().map_err(|e| format!("archive_command {program:?} could not start: {e}"))?;
    let exited = PidFd::open(child.id() as i32).and_then(|pidfd| pidfd.exited_within(timeout));
    if !matches!(exited, Ok(true)) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("archive_command did not finish within {}s; killed", timeout.as_secs_f64()));
    }
    match child.wait() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("archive_command {status}")),
        Err(e) => Err(format!("archive_command could not be waited for: {e}")),
    }
}

/// `arg` with every `{}` replaced by `file`.
fn substitute(arg: &str, file: &OsStr) -> OsString {
    let mut out = OsString::new();
    let mut parts = arg.split(FILE_PLACEHOLDER);
    out.push(parts.next().unwrap_or_default());
    for part in parts {
        out.push(file);
        out.push(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `{}` in an argument becomes the file; other text stays.
    #[test]
    fn placeholders_are_replaced() {
        let file = OsStr::new("./app.log.1");
        assert_eq!(substitute("{}", file), "./app.log.1");
        assert_eq!(substitute("s3://bucket/{}.gz", file), "s3://bucket/./app.log.1.gz");
        assert_eq!(substitute("--from={}:{}", file), "--from=./app.log.1:./app.log.1");
        assert_eq!(substitute("--verbose", file), "--verbose");
    }
}
