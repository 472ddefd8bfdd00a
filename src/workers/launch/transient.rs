//! systemd mode: each command worker is a transient service of its own,
//! `healthmon-<name>.service` in `healthmon-workers.slice`, made with
//! `StartTransientUnit` and outside healthmon's cgroup and sandbox, so it
//! outlives healthmon's restarts and is found again by name.
//!
//! The unit: `ExecStart` = the worker's argv (a bare program name is looked
//! up in systemd's default PATH), `User`, `WorkingDirectory` (default `/`),
//! `Environment` (systemd's clean environment plus the worker's, nothing
//! of healthmon's), output to the journal with `SyslogIdentifier=<name>`,
//! `Type=exec`, `KillMode=control-group` with `TimeoutStopUSec` =
//! `stop_timeout` (SIGTERM to every process, SIGKILL to what is left
//! after it), `CollectMode=inactive`: a unit that exits 0 is collected at
//! once, a failed one stays until `ResetFailedUnit`. A crashed worker's
//! unit is left failed (as `systemctl --failed` shows it) and started again
//! as it is with `StartUnit` (its start limit is off: healthmon's budget
//! decides); it is reset when the worker stops for good. Its
//! `Description` carries a fingerprint of the worker's command, so a
//! worker whose config changed while healthmon was away is restarted
//! instead of adopted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use zbus::Variant;

use crate::config::{CommandWorker, WorkerSettings};
use crate::systemd::manager::{Manager, ManagerError, UnitState};
use crate::systemd::view::UnitView;
use crate::systemd::watch::Changes;

use super::super::notify;
use super::super::output;
use super::super::proc::{ExitInfo, Proc};
use super::super::WorkerError;
use super::orphans::DESCRIBED;

/// The slice every worker unit is in (under `healthmon.slice`).
pub const SLICE: &str = "healthmon-workers.slice";
/// systemd's default PATH for system services: where a bare program name is looked up.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long a start may take until the main process runs (Type=exec: past exec).
const START_WAIT: Duration = Duration::from_secs(30);
/// How often a unit's state is read while waiting for it to start or end.
const POLL: Duration = Duration::from_millis(2);
/// The longest pause between two reads of a unit that is slow to change.
const POLL_MAX: Duration = Duration::from_millis(50);
/// The pause between two reads while systemd's signals wake the waiter:
/// only a safety net for a signal lost.
const SIGNALLED_POLL: Duration = Duration::from_secs(1);
/// How long an ended unit may take to be collected before its name is free again.
const COLLECT_WAIT: Duration = Duration::from_secs(5);
/// How long a crash alert waits before reading the worker's last output:
/// journald gets it through a stream of its own, and the read (a journalctl
/// run, 10 ms of CPU or more) waits until a burst of restarts is mostly
/// over. With 100 workers killed at once, reads 100 ms after each crash
/// competed with systemd's forks: until the last was back 1.52 x systemd's
/// own restarts, 1.29 x with 1.5 s (`bench/units.sh 20 3`). The restart
/// itself never waits for it.
const JOURNAL_SETTLE: Duration = Duration::from_millis(1500);
/// How long systemd gets beyond `stop_timeout` to finish off what it SIGKILLed.
pub(super) const KILL_WAIT: Duration = Duration::from_secs(5);

/// `healthmon-<name>.service`.
pub fn unit_name(worker: &str) -> String {
    format!("healthmon-{worker}.service")
}

/// The control group systemd gives the unit `unit` in the workers' slice,
/// as its `ControlGroup` property names it.
pub fn control_group(unit: &str) -> String {
    format!("/healthmon.slice/{SLICE}/{unit}")
}

/// A worker's unit, held while it runs.
#[derive(Debug, Clone)]
pub struct UnitRef {
    pub name: String,
    manager: Manager,
    /// The Description it was made with (the command's fingerprint).
    description: String,
    stop_timeout: Duration,
    /// systemd's verdicts that name a hang: `Result=timeout` of a
    /// `Type=notify` start, `Result=watchdog`.
    start_timeout: Option<Duration>,
    watchdog: Option<Duration>,
}

impl UnitRef {
    fn new(manager: &Manager, w: &WorkerSettings, spec: &CommandWorker) -> UnitRef {
        UnitRef {
            name: unit_name(&w.name),
            manager: manager.clone(),
            description: description(w, spec),
            stop_timeout: w.stop_timeout,
            start_timeout: w.notify_ready.then_some(w.start_timeout),
            watchdog: w.watchdog,
        }
    }

    /// The unit's state now; `None` once it is collected.
    pub async fn state(&self) -> Result<Option<UnitState>, ManagerError> {
        self.manager.loaded(&self.name).await
    }

    /// Asks systemd to stop the unit (its own stop: SIGTERM to the whole
    /// control group, `stop_timeout`, SIGKILL to what is left).
    pub async fn request_stop(&self) {
        if let Err(err) = self.manager.stop(&self.name).await {
            log::warn!("cannot stop {}: {err}", self.name);
        }
    }

    /// Waits until the unit has ended (inactive, failed or collected), then
    /// reads how its main process ended and resets a failed unit, which
    /// systemd then collects.
    pub async fn settle(&self) -> ExitInfo {
        self.wait_ended(true).await
    }

    /// As [`UnitRef::settle`] after a crash, but a failed unit stays
    /// failed, as `systemctl --failed` then shows it: the restart starts it
    /// again as it is (StartUnit). A reset unit is collected at once and
    /// must be made anew, which costs systemd several times more.
    /// [`release`] resets it if the worker is not started again.
    pub async fn crashed(&self) -> ExitInfo {
        self.wait_ended(false).await
    }

    async fn wait_ended(&self, reset: bool) -> ExitInfo {
        let deadline = Instant::now() + self.stop_timeout + KILL_WAIT;
        let changes = self.manager.changes(&self.name);
        let view = match follow(&self.manager, &self.name, deadline, UnitState::is_down, changes, None).await {
            Ok(view) => view,
            Err(err) => {
                log::warn!("cannot read how {} ended: {err}", self.name);
                return ExitInfo::Unknown;
            }
        };
        let state = view.state();
        if reset && state.as_ref().is_some_and(|s| s.active == "failed") {
            if let Err(err) = self.manager.reset_failed(&self.name).await {
                log::warn!("cannot reset the failed {}: {err}", self.name);
            }
        }
        if state.is_some() {
            self.manager.note_ended(&self.name, view);
        }
        self.hang(state.as_ref()).unwrap_or_else(|| exit_info(state.as_ref()))
    }

    /// How systemd's `Result` says the unit ended, when it names a hang.
    fn hang(&self, state: Option<&UnitState>) -> Option<ExitInfo> {
        match state?.result.as_deref()? {
            "timeout" => self.start_timeout.map(ExitInfo::NotReady),
            "watchdog" => self.watchdog.map(ExitInfo::NoWatchdog),
            _ => None,
        }
    }
}

/// How the main process of an ended unit ended; a unit already collected
/// ended well (a failed one stays loaded).
pub(super) fn exit_info(state: Option<&UnitState>) -> ExitInfo {
    match state.and_then(|s| s.exec_main) {
        None if state.is_none() => ExitInfo::Code(0),
        Some((1, code)) => ExitInfo::Code(code),
        Some((2 | 3, signal)) => Signal::try_from(signal).map(ExitInfo::Signal).unwrap_or(ExitInfo::Unknown),
        _ => ExitInfo::Unknown,
    }
}

/// Resets the worker's unit if it failed and is left so ([`UnitRef::crashed`]):
/// the worker stops for good, and systemd collects the unit.
pub async fn release(manager: &Manager, worker: &str) {
    let name = unit_name(worker);
    manager.forget_ended(&name);
    if let Ok(Some(state)) = manager.loaded(&name).await {
        if state.active == "failed" {
            if let Err(err) = manager.reset_failed(&name).await {
                log::warn!("cannot reset the failed {name}: {err}");
            }
        }
    }
}

/// Did the program itself run? systemd's own failures to set a process up
/// (no such program, user or directory, ...) end it with 200..=243.
pub(super) fn ran(exit: ExitInfo) -> bool {
    !matches!(exit, ExitInfo::Code(200..=243) | ExitInfo::Unknown)
}

/// Reads the unit until `done` holds for it, or it is not loaded (`None`),
/// or `deadline` passes (the last state known).
pub(super) async fn wait_for(
    manager: &Manager,
    name: &str,
    deadline: Instant,
    done: impl Fn(&UnitState) -> bool,
) -> Result<Option<UnitState>, ManagerError> {
    let changes = manager.changes(name);
    Ok(follow(manager, name, deadline, done, changes, None).await?.state())
}

/// Follows the unit from `view` (read now when `None`) until `done` holds
/// for it, or it is not loaded, or `deadline` passes: systemd's signals
/// about it (`changes`) keep the view current, with a slow poll as a
/// safety net; without them, it is read again after a growing pause.
async fn follow(
    manager: &Manager,
    name: &str,
    deadline: Instant,
    done: impl Fn(&UnitState) -> bool,
    mut changes: Option<Changes>,
    view: Option<UnitView>,
) -> Result<UnitView, ManagerError> {
    let mut view = match view {
        Some(view) => view,
        None => manager.view(name).await?,
    };
    let mut pause = POLL;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if view.state().as_ref().is_none_or(&done) || left.is_zero() {
            return Ok(view);
        }
        let current = match changes.as_mut() {
            Some(changes) => tokio::select! {
                change = changes.next() => view.apply(&change),
                () = tokio::time::sleep(SIGNALLED_POLL.min(left)) => false,
            },
            None => {
                tokio::time::sleep(pause.min(left)).await;
                pause = (pause * 2).min(POLL_MAX);
                false
            }
        };
        if !current {
            view = manager.view(name).await?;
        }
    }
}

/// Starts the worker's unit and takes hold of its main process.
pub async fn start(manager: &Manager, w: &WorkerSettings, spec: &CommandWorker) -> Result<Proc, WorkerError> {
    let name = unit_name(&w.name);
    let refused = |reason: String| WorkerError::Unit { unit: name.clone(), reason };
    let unit = UnitRef::new(manager, w, spec);
    let (changes, view) = match queue_start(manager, &unit, &properties(w, spec)?).await? {
        Queued::Running(pid) => return hold(pid, unit),
        Queued::Made => (manager.changes(&name), None),
        Queued::Again(changes, view) => (changes, Some(view)),
    };
    // A Type=notify unit stays "activating" until its READY=1, which the
    // worker's task awaits (notify::unit) without holding up anything.
    let running = |s: &UnitState| s.active == "active" || (w.notify_ready && s.active == "activating");
    let started = |s: &UnitState| (s.main_pid != 0 && running(s)) || has_run(s);
    let deadline = Instant::now() + START_WAIT;
    let view =
        follow(manager, &name, deadline, started, changes, view).await.map_err(|err| refused(err.to_string()))?;
    match view.state() {
        Some(s) if s.main_pid != 0 && !s.is_down() => hold(s.main_pid, unit),
        other => {
            let exit = unit.crashed().await;
            if ran(exit) {
                return Err(WorkerError::ExitedAtOnce { unit: name, exit });
            }
            let seen = other.map(|s| s.describe()).unwrap_or_else(|| "collected".into());
            Err(refused(format!("did not start ({exit}; {seen}; see journalctl -u {name})")))
        }
    }
}

/// How the start of a worker's unit was queued.
enum Queued {
    /// Made anew with StartTransientUnit.
    Made,
    /// Its unit had ended a moment ago (a crash) and was not collected
    /// yet: started again as it is. Followed from how it was seen to end,
    /// through the changes since just before the start.
    Again(Option<Changes>, UnitView),
    /// A unit of that name runs already: a healthmon stopping meanwhile
    /// started it, and it is the worker.
    Running(u32),
}

/// Queues the start of the worker's unit (see [`Queued`]).
async fn queue_start(
    manager: &Manager,
    unit: &UnitRef,
    properties: &[(&str, Variant<'_>)],
) -> Result<Queued, WorkerError> {
    let name = &unit.name;
    let refused = |reason: String| WorkerError::Unit { unit: name.clone(), reason };
    if let Some(mut ended) = manager.take_ended(name, &unit.description) {
        let changes = manager.changes(name);
        if let Ok(serial) = manager.start(name).await {
            ended.start_queued(serial);
            return Ok(Queued::Again(changes, ended));
        }
    }
    let Err(first) = manager.start_transient(name, properties).await else { return Ok(Queued::Made) };
    // The name is still taken: by this worker's unit that ended (started
    // again), by a failed or another unit until it is reset and
    // collected, or by a running one.
    match manager.loaded(name).await.map_err(|err| refused(err.to_string()))? {
        Some(s) if s.main_pid != 0 && !s.is_down() => return Ok(Queued::Running(s.main_pid)),
        Some(s) if s.is_down() && s.description == unit.description && manager.start(name).await.is_ok() => {
            return Ok(Queued::Made)
        }
        _ => {}
    }
    match free_name(manager, name).await.map_err(|err| refused(err.to_string()))? {
        Some(s) if s.main_pid != 0 && !s.is_down() => Ok(Queued::Running(s.main_pid)),
        Some(_) => Err(refused(first.to_string())),
        None => manager
            .start_transient(name, properties)
            .await
            .map(|()| Queued::Made)
            .map_err(|err| refused(err.to_string())),
    }
}

/// Resets the unit `name` if it failed and waits until systemd has
/// collected it, so that the name can be used again; `None` once it is
/// gone, else its state when it runs (or still holds the name after
/// `COLLECT_WAIT`).
pub(super) async fn free_name(manager: &Manager, name: &str) -> Result<Option<UnitState>, ManagerError> {
    manager.reset_failed(name).await?;
    wait_for(manager, name, Instant::now() + COLLECT_WAIT, |s| s.main_pid != 0 && !s.is_down()).await
}

/// Ended after its process ran (or systemd gave up on it): a unit whose
/// start job has not run yet is inactive too, with no exit status and no
/// result; systemd runs the job a moment after `StartTransientUnit`
/// answers, later under load.
pub(super) fn has_run(s: &UnitState) -> bool {
    s.is_down() && (s.exec_main.is_some_and(|(code, _)| code != 0) || s.result.as_deref() != Some("success"))
}

/// The worker's unit left running by an earlier healthmon, if it runs the
/// same command: same process, nothing restarted. A unit with another
/// command is stopped (it is started anew), a failed one reset.
pub async fn adopt(manager: &Manager, w: &WorkerSettings, spec: &CommandWorker) -> Result<Option<Proc>, WorkerError> {
    let name = unit_name(&w.name);
    let refused = |err: ManagerError| WorkerError::Unit { unit: name.clone(), reason: err.to_string() };
    let Some(state) = manager.loaded(&name).await.map_err(refused)? else { return Ok(None) };
    let unit = UnitRef::new(manager, w, spec);
    if state.description != unit.description && !state.is_down() {
        log::info!("{name} runs another command than the configuration says: stopping it to start it anew");
        unit.request_stop().await;
    }
    if state.description != unit.description || state.is_down() || state.main_pid == 0 {
        unit.settle().await;
        return Ok(None);
    }
    hold(state.main_pid, unit).map(Some)
}

fn hold(pid: u32, unit: UnitRef) -> Result<Proc, WorkerError> {
    Proc::unit(pid, unit).map_err(|source| WorkerError::Pidfd { pid, source })
}

/// `healthmon --stop-workers`, run by the shipped unit's `ExecStopPost=`:
/// when healthmon.service is being stopped (a `stop` job) every worker
/// unit is stopped (the slice, so all at once, each with its own
/// `stop_timeout`), which covers `systemctl stop` while healthmon is dead
/// or waiting to be restarted. Any other job (a restart, an upgrade) or
/// none leaves them running. Returns what was done, for the journal.
pub async fn stop_workers_if_stopping() -> Result<String, ManagerError> {
    let manager = Manager::connect().await?;
    match manager.job_of_unit_holding(std::process::id()).await? {
        Some(job) if job == "stop" => {
            manager.stop(SLICE).await?;
            // TimeoutStopSec= of healthmon.service bounds this wait.
            let deadline = Instant::now() + Duration::from_secs(24 * 3600);
            wait_for(&manager, SLICE, deadline, UnitState::is_down).await?;
            Ok(format!("healthmon is being stopped: stopped {SLICE}"))
        }
        Some(job) => Ok(format!("a {job} job: the workers keep running")),
        None => Ok("no job: the workers keep running".to_string()),
    }
}

/// The last lines the worker's unit wrote to the journal (bounded as in
/// fork mode); none when the journal cannot be read.
pub async fn last_lines(worker: &str) -> Vec<String> {
    // A journalctl run costs 10 ms of CPU or more: 100 workers
    // crashing at once read one after the other, not all beside the
    // restarts systemd is making, on the other core.
    static READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    tokio::time::sleep(JOURNAL_SETTLE).await;
    let Ok(_turn) = READS.acquire().await else { return Vec::new() };
    let unit = unit_name(worker);
    let run = tokio::process::Command::new("journalctl")
        .args(["--quiet", "--no-pager", "--output=cat", "--lines", &output::TAIL_LINES.to_string()])
        .arg(format!("_SYSTEMD_UNIT={unit}"))
        .arg(format!("SYSLOG_IDENTIFIER={worker}"))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(Duration::from_secs(5), run).await {
        Ok(Ok(out)) => output::bounded(String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect()),
        _ => Vec::new(),
    }
}

/// `healthmon worker NAME [fingerprint]`: what `adopt` compares.
fn description(w: &WorkerSettings, spec: &CommandWorker) -> String {
    format!("{DESCRIBED}{} [{:016x}]", w.name, fingerprint(spec))
}

/// FNV-1a over the command, directory, environment and user: stable across
/// builds (std's hasher is not), so an upgrade of healthmon keeps workers.
fn fingerprint(spec: &CommandWorker) -> u64 {
    let mut parts: Vec<&str> = spec.command.iter().map(String::as_str).collect();
    let dir = spec.working_dir.as_ref().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    parts.push(&dir);
    for (k, v) in &spec.environment {
        parts.push(k);
        parts.push(v);
    }
    parts.push(spec.user.as_deref().unwrap_or(""));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The unit's properties (see the module doc).
fn properties(w: &WorkerSettings, spec: &CommandWorker) -> Result<Vec<(&'static str, Variant<'static>)>, WorkerError> {
    let mut properties = exec_properties(&spec.command, w, spec)?;
    properties.extend([
        ("Description", Variant::from(description(w, spec))),
        ("Type", Variant::from(notify::unit::service_type(w))),
        ("KillMode", Variant::from("control-group")),
        ("TimeoutStopUSec", Variant::from(usec(w.stop_timeout))),
        ("CollectMode", Variant::from("inactive")),
        // healthmon's restart budget decides; systemd's start limit (5
        // starts in 10 s) would refuse a crash-looping unit started again.
        ("StartLimitIntervalUSec", Variant::from(0u64)),
    ]);
    properties.extend(notify::unit::properties(w));
    Ok(properties)
}

/// What a worker's unit and its probe's unit share: `argv` run in the
/// slice as the worker's user, in its directory, with its environment,
/// output to the journal as the worker.
pub(super) fn exec_properties(
    argv: &[String],
    w: &WorkerSettings,
    spec: &CommandWorker,
) -> Result<Vec<(&'static str, Variant<'static>)>, WorkerError> {
    let dir = spec.working_dir.clone().unwrap_or_else(|| PathBuf::from("/"));
    let program = program(&argv[0], &dir)?;
    let environment: Vec<String> = spec.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut properties = vec![
        ("ExecStart", Variant::from(vec![(program, literal_argv(argv), false)])),
        ("Slice", Variant::from(SLICE)),
        ("WorkingDirectory", Variant::from(dir.to_string_lossy().into_owned())),
        ("Environment", Variant::from(environment)),
        ("SyslogIdentifier", Variant::from(w.name.clone())),
        ("StandardOutput", Variant::from("journal")),
        ("StandardError", Variant::from("journal")),
    ];
    if let Some(user) = &spec.user {
        properties.push(("User", Variant::from(user.clone())));
    }
    Ok(properties)
}

/// A duration as systemd's µs properties take it.
pub(super) fn usec(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// systemd expands `$VAR` and turns `$$` into `$` in ExecStart's argv
/// (252 has no ExecStartEx flag to turn that off): doubling every `$`
/// hands the worker its argv exactly as configured.
fn literal_argv(argv: &[String]) -> Vec<String> {
    argv.iter().map(|arg| arg.replace('$', "$$")).collect()
}

/// The absolute path systemd needs: a bare name is looked up in systemd's
/// default PATH, a relative path is taken from the working directory.
fn program(command: &str, dir: &Path) -> Result<String, WorkerError> {
    if command.starts_with('/') {
        return Ok(command.to_string());
    }
    if command.contains('/') {
        return Ok(dir.join(command).to_string_lossy().into_owned());
    }
    std::env::split_paths(DEFAULT_PATH)
        .map(|d| d.join(command))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or_else(|| WorkerError::Spawn {
            program: command.to_string(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, format!("not found in {DEFAULT_PATH}")),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn spec(command: &[&str]) -> CommandWorker {
        CommandWorker {
            command: command.iter().map(|s| s.to_string()).collect(),
            working_dir: None,
            environment: BTreeMap::new(),
            user: None,
            match_cmdline: None,
        }
    }

    /// The fingerprint follows the command and its environment, and nothing else.
    #[test]
    fn fingerprint_follows_the_command() {
        let base = spec(&["/usr/bin/python3", "worker.py"]);
        assert_eq!(fingerprint(&base), fingerprint(&base.clone()));
        let mut other = base.clone();
        other.command[1] = "worker2.py".into();
        assert_ne!(fingerprint(&base), fingerprint(&other));
        let mut env = base.clone();
        env.environment.insert("A".into(), "1".into());
        assert_ne!(fingerprint(&base), fingerprint(&env));
        let mut matched = base.clone();
        matched.match_cmdline = Some("worker.py".into());
        assert_eq!(fingerprint(&base), fingerprint(&matched), "match only decides adoption");
        // Argument boundaries count: ["a b"] is not ["a", "b"].
        assert_ne!(fingerprint(&spec(&["a b"])), fingerprint(&spec(&["a", "b"])));
    }

    /// A bare program name is found in systemd's PATH; paths are kept or taken from the directory.
    #[test]
    fn programs_become_absolute() {
        assert_eq!(program("/bin/true", Path::new("/")).unwrap(), "/bin/true");
        assert!(program("sh", Path::new("/")).unwrap().ends_with("/sh"));
        assert_eq!(program("./run.sh", Path::new("/opt/app")).unwrap(), "/opt/app/./run.sh");
        assert!(program("no-such-program-healthmon", Path::new("/")).unwrap_err().to_string().contains("not found"));
    }

    /// Every `$` reaches the worker as written.
    #[test]
    fn dollars_are_kept_literal() {
        let argv = vec!["sh".to_string(), "-c".to_string(), "echo $$ $HOME".to_string()];
        assert_eq!(literal_argv(&argv), ["sh", "-c", "echo $$$$ $$HOME"]);
    }

    /// A collected unit ended well; a failed one says its code or signal.
    #[test]
    fn exit_of_an_ended_unit() {
        let failed = |code, status| unit_state("failed", Some((code, status)), false);
        assert_eq!(exit_info(None), ExitInfo::Code(0));
        assert_eq!(exit_info(Some(&failed(1, 4))), ExitInfo::Code(4));
        assert_eq!(exit_info(Some(&failed(2, 9))), ExitInfo::Signal(Signal::SIGKILL));
        assert!(ran(ExitInfo::Code(3)) && ran(ExitInfo::Code(0)) && ran(ExitInfo::Signal(Signal::SIGSEGV)));
        assert!(!ran(ExitInfo::Code(203)), "203/EXEC: the program never ran");
    }

    /// An inactive unit whose start job has not run yet has not ended.
    #[test]
    fn a_queued_start_is_not_an_end() {
        let queued = unit_state("inactive", None, true);
        assert!(!queued.is_down());
        assert!(UnitState { job_pending: false, ..queued }.is_down());
    }

    fn unit_state(active: &str, exec_main: Option<(i32, i32)>, job_pending: bool) -> UnitState {
        UnitState {
            load: "loaded".into(),
            active: active.into(),
            sub: if active == "failed" { "failed" } else { "dead" }.into(),
            description: String::new(),
            main_pid: 0,
            n_restarts: Some(0),
            result: Some(if active == "failed" { "exit-code" } else { "success" }.into()),
            exec_main,
            active_since_usec: 0,
            job_pending,
            status_text: String::new(),
        }
    }
}
