//! A FUSE filesystem that never answers, for checks hung in the kernel:
//! tests/helpers/hung_fuse.py (Debian's python3-fusepy) mounted on a temp
//! dir. `release` kills the server, which aborts the connection so blocked
//! callers return; drop always unmounts (`fusermount3 -u -z`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The system interpreter: python3-fusepy lives in its dist-packages.
const PYTHON: &str = "/usr/bin/python3";
const MOUNT_TIMEOUT: Duration = Duration::from_secs(15);

pub struct HungFuse {
    server: Option<Child>,
    dir: tempfile::TempDir,
}

impl HungFuse {
    /// Mounts the filesystem and waits until the kernel lists the mount.
    pub fn mount() -> HungFuse {
        assert!(Path::new("/dev/fuse").exists(), "/dev/fuse is missing: this test needs FUSE (modprobe fuse)");
        assert!(Path::new("/usr/bin/fusermount3").exists(), "fusermount3 is missing (Debian: apt-get install fuse3)");
        let probe = Command::new(PYTHON).args(["-c", "import fusepy"]).output().expect("run /usr/bin/python3");
        assert!(probe.status.success(), "python3-fusepy is missing (Debian: apt-get install python3-fusepy)");
        let dir = tempfile::Builder::new().prefix("healthmon-hung").tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/hung_fuse.py");
        let server = Command::new(PYTHON)
            .arg(script)
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the FUSE server");
        let fuse = HungFuse { server: Some(server), dir };
        let deadline = Instant::now() + MOUNT_TIMEOUT;
        while !fuse.mounted() {
            assert!(Instant::now() < deadline, "the FUSE filesystem did not mount within {MOUNT_TIMEOUT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        fuse
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Reads /proc/self/mountinfo (touching the mount itself would hang).
    fn mounted(&self) -> bool {
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.path().display().to_string();
        info.lines().any(|l| l.split(' ').nth(4) == Some(dir.as_str()))
    }

    /// Kills the server: the connection aborts and every blocked request
    /// fails with ENOTCONN.
    pub fn release(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Whether process `pid` has exited (its main thread is gone: a zombie or
/// reaped). A thread stuck in a FUSE request the server already read
/// cannot die, even of SIGKILL, until the server answers or goes: the
/// process then stays a zombie until the test releases the filesystem.
pub fn has_exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

impl Drop for HungFuse {
    fn drop(&mut self) {
        self.release();
        let _ = Command::new("fusermount3").arg("-u").arg("-z").arg(self.dir.path()).status();
    }
}
