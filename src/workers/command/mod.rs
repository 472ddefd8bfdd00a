//! One command worker's life, run as its own task: adopt or start it, wait
//! for its exit on the pidfd, restart it through the budget, verify each
//! restart, stop it on request. The task owns the process; the supervisor
//! talks to it with [`Control`] messages and reads a [`Snapshot`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{CommandWorker, WorkerSettings};
use crate::model::Status;
use crate::store::{SavedBudget, StoreHandle};

use super::budget::{RestartBudget, Verdict};
use super::findings::{self as f, human};
use super::launch::{Launcher, Started};
use super::notify::{self, NotifySocket, Watch};
use super::order::{self, Board};
use super::output::{Output, Reader};
use super::proc::{ExitInfo, Proc};
use super::{EventSender, WorkerError};

/// Waiting for `depends_on` before a start.
mod blocked;
/// The worker's notify socket and what arrives on it.
mod notified;
/// Finding the worker already running, and its saved budget.
mod takeover;

/// Pids held by some worker, so two `match` patterns never adopt the same
/// process.
pub type Claimed = Arc<Mutex<HashSet<i32>>>;

pub enum Control {
    /// Stop the process (SIGTERM, grace, SIGKILL) and end the task.
    Stop,
    /// End the task and leave the process running (its unit outlives
    /// healthmon; the next healthmon adopts it).
    Leave,
    /// Stop and restart it (the probe failed too often), for this reason.
    Restart(String),
    /// A fresh budget; a given-up worker starts again.
    Reset,
    /// New settings for the same command and the dry-run flag (reload): a
    /// fresh budget too.
    Update(Box<WorkerSettings>, bool),
    /// An administrator's request ([`super::control`]); the task answers
    /// whether it changed anything once it is done.
    Admin(Admin, Ack),
}

/// What an administrator asked of a command worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admin {
    /// Stop it gracefully and keep it stopped (`Phase::Held`).
    Hold,
    /// Run it: from held or given-up with a fresh budget, at once when
    /// waiting to restart; nothing when it runs.
    Release,
    /// Stop and start it, not counted against the budget (or start it).
    Bounce,
}

/// The answer to an [`Admin`] request: true when something changed, false
/// when the worker already was in the asked-for state.
pub type Ack = oneshot::Sender<bool>;

/// What the supervisor sees of the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Before the first start or adoption.
    Starting,
    /// Running; `restart` holds the cause while a restart awaits verification.
    Up {
        pid: u32,
        unit: Option<String>,
        since: Instant,
        adopted: bool,
        verified: bool,
        restart: Option<String>,
    },
    /// Waiting `restart_delay` before the next start; `error`: the last start failed.
    Waiting {
        until: Instant,
        message: String,
        error: bool,
    },
    GivenUp {
        restarts: u32,
        last: String,
    },
    /// Several processes match `match`; none adopted, none started.
    Ambiguous {
        message: String,
    },
    /// Dry run and not running.
    Down {
        message: String,
    },
    /// Stopped by an administrator; stays so until started.
    Held,
    /// Not started yet: these dependencies (`depends_on`) are not up.
    Blocked {
        on: Vec<String>,
    },
    /// The task ended (healthmon is stopping, or the worker was removed).
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub phase: Phase,
    /// Restarts done since healthmon started.
    pub restarts: u64,
    /// Restarts counted in the current window, for "2 of 5 in 10m".
    pub used: u32,
    pub last_exit: Option<String>,
    /// When the current phase began (a new pid or verification counts as new).
    pub since: SystemTime,
    /// The worker's last `STATUS=` text (sd_notify), `""` when none.
    pub status: String,
}

/// The supervisor's end of one worker task.
pub struct Handle {
    pub settings: WorkerSettings,
    view: Arc<Mutex<Snapshot>>,
    tx: mpsc::UnboundedSender<Control>,
    task: JoinHandle<()>,
}

impl Handle {
    /// Starts the task; `held`: the worker was stopped by an administrator
    /// and is neither started nor adopted.
    #[allow(clippy::too_many_arguments)]
    pub fn spawn(
        settings: WorkerSettings,
        spec: CommandWorker,
        dry_run: bool,
        events: EventSender,
        claimed: Claimed,
        launcher: Launcher,
        store: Option<StoreHandle>,
        held: bool,
        board: Board,
    ) -> Handle {
        let view = Arc::new(Mutex::new(Snapshot {
            phase: Phase::Starting,
            restarts: 0,
            used: 0,
            last_exit: None,
            since: SystemTime::now(),
            status: String::new(),
        }));
        let (tx, rx) = mpsc::unbounded_channel();
        let budget = RestartBudget::new(settings.max_restarts, settings.restart_window, settings.restart_delay);
        let output = Output::new(&settings.name);
        let task = Task {
            w: settings.clone(),
            spec,
            dry_run,
            events,
            view: view.clone(),
            rx,
            budget,
            claimed,
            restarts: 0,
            last_exit: None,
            output,
            reader: None,
            launcher,
            store,
            saved: None,
            held,
            notify: None,
            board_id: board.claim(&settings.name),
            board,
        };
        Handle { settings, view, tx, task: tokio::spawn(task.run()) }
    }

    pub fn snapshot(&self) -> Snapshot {
        lock(&self.view).clone()
    }

    /// What another task needs (the probe timer, a pool's rolling restart,
    /// which outlives the supervisor's borrow): the snapshot and a sender.
    pub fn peer(&self) -> Peer {
        Peer { view: self.view.clone(), tx: self.tx.clone() }
    }

    pub fn send(&self, control: Control) {
        // A send fails only when the task ended, i.e. after shutdown.
        let _ = self.tx.send(control);
    }

    /// Asks the task to stop the worker and hands back the task, which
    /// ends once the process is gone and reaped: the caller need not wait.
    pub fn retire(self) -> JoinHandle<()> {
        self.send(Control::Stop);
        self.task
    }

    /// Ends the task with `how` (Stop or Leave) and waits for it.
    pub async fn end(self, how: Control) {
        self.send(how);
        let _ = self.task.await;
    }
}

/// Another task's view of a worker task: it reads the snapshot and sends
/// control messages, as the supervisor does.
#[derive(Clone)]
pub struct Peer {
    view: Arc<Mutex<Snapshot>>,
    tx: mpsc::UnboundedSender<Control>,
}

impl Peer {
    pub fn snapshot(&self) -> Snapshot {
        lock(&self.view).clone()
    }

    pub fn send(&self, control: Control) {
        // Fails only once the task ended; there is nothing left to ask then.
        let _ = self.tx.send(control);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the task loop does next.
enum State {
    Up(Proc, Run),
    Waiting {
        until: Instant,
        cause: String,
        nth: u32,
        message: String,
        error: bool,
    },
    /// Several processes match `match`: wait, then look again.
    Ambiguous {
        until: Instant,
        message: String,
    },
    Idle(Phase),
    /// Waiting for its dependencies before its first start.
    Blocked,
    Quit,
}

/// About the running process.
struct Run {
    adopted: bool,
    verified: bool,
    /// What it said over sd_notify, and when it is overdue.
    watch: Watch,
    /// Cause and number of the restart that started it, if one did.
    restart: Option<(String, u32)>,
}

/// The worker's last output, which ends a crash alert (`last output: ...`).
enum LastWords {
    /// At hand (fork mode's pipe), or none to add.
    Now(Option<String>),
    /// Being read from the journal.
    Later(tokio::task::JoinHandle<Option<String>>),
}

impl LastWords {
    /// The words, once read.
    async fn settled(self) -> Option<String> {
        match self {
            LastWords::Now(words) => words,
            LastWords::Later(read) => read.await.ok().flatten(),
        }
    }
}

struct Task {
    w: WorkerSettings,
    spec: CommandWorker,
    dry_run: bool,
    events: EventSender,
    view: Arc<Mutex<Snapshot>>,
    rx: mpsc::UnboundedReceiver<Control>,
    budget: RestartBudget,
    claimed: Claimed,
    restarts: u64,
    last_exit: Option<String>,
    /// Start held (stopped by an administrator) instead of running.
    held: bool,
    output: Output,
    /// The pipe of the process started last (none for an adopted one).
    reader: Option<Arc<Reader>>,
    launcher: Launcher,
    /// Where the budget is kept across restarts of healthmon (none in tests).
    store: Option<StoreHandle>,
    /// The budget as last saved.
    saved: Option<SavedBudget>,
    /// healthmon's own notify socket for the worker (fork mode, sd_notify keys), bound at its first start.
    notify: Option<NotifySocket>,
    /// Where it posts whether it is up, for workers that depend on it.
    board: Board,
    board_id: u64,
}

impl Task {
    /// The steady states wait in small futures: every call that starts,
    /// stops or restarts a process is boxed, since a task's future is as
    /// large as its largest await and every worker keeps one (7.9 KiB each
    /// unboxed: 12 MiB with 1,500 workers).
    async fn run(mut self) {
        Box::pin(self.restore_budget()).await;
        let mut state = if self.held { State::Idle(Phase::Held) } else { Box::pin(self.initial()).await };
        loop {
            self.publish(&state);
            state = match state {
                State::Up(proc, run) => self.on_up(proc, run).await,
                State::Waiting { until, cause, nth, .. } => Box::pin(self.on_waiting(until, cause, nth)).await,
                State::Ambiguous { until, .. } => Box::pin(self.on_ambiguous(until)).await,
                State::Idle(phase) => Box::pin(self.on_idle(phase)).await,
                State::Blocked => Box::pin(self.on_blocked()).await,
                State::Quit => break,
            };
        }
        lock(&self.view).phase = Phase::Stopped;
        self.board.post(&self.w.name, self.board_id, order::up(&Phase::Stopped));
    }

    fn emit(&self, findings: Vec<crate::model::Finding>) {
        // The receiver is gone only while the daemon shuts down.
        let _ = self.events.send(findings);
    }

    fn publish(&mut self, state: &State) {
        self.save_budget();
        let phase = match state {
            State::Up(proc, run) => Phase::Up {
                pid: proc.pid(),
                unit: proc.unit_name().map(String::from),
                since: proc.started(),
                adopted: run.adopted,
                verified: run.verified,
                restart: run.restart.as_ref().map(|(cause, _)| cause.clone()),
            },
            State::Waiting { until, message, error, .. } => {
                Phase::Waiting { until: *until, message: message.clone(), error: *error }
            }
            State::Ambiguous { message, .. } => Phase::Ambiguous { message: message.clone() },
            State::Idle(phase) => phase.clone(),
            State::Blocked => Phase::Blocked { on: self.board.not_up(&self.w.depends_on) },
            State::Quit => Phase::Stopped,
        };
        self.board.post(&self.w.name, self.board_id, order::up(&phase));
        let mut view = lock(&self.view);
        let since = if same_phase(&view.phase, &phase) { view.since } else { SystemTime::now() };
        let status = std::mem::take(&mut view.status);
        *view = Snapshot {
            phase,
            restarts: self.restarts,
            used: self.budget.used(Instant::now()),
            last_exit: self.last_exit.clone(),
            since,
            status,
        };
    }

    async fn initial(&mut self) -> State {
        if let Some(state) = self.find_left_running().await {
            return state;
        }
        if let Some(pattern) = self.spec.match_cmdline.clone() {
            if let Some(state) = self.adopt(&pattern).await {
                return state;
            }
        }
        if self.budget.is_given_up() {
            // Given up before healthmon restarted: it stays down until a person acts.
            let (restarts, last) =
                (self.budget.used(Instant::now()), "given up before healthmon restarted".to_string());
            self.emit(vec![f::given_up(&self.w, restarts, &last)]);
            return State::Idle(Phase::GivenUp { restarts, last });
        }
        if self.dry_run {
            let message = "not running".to_string();
            self.emit(vec![f::would(f::problem(&self.w, Status::Unhealthy, &message, "dry run"), "would start")]);
            return State::Idle(Phase::Down { message });
        }
        if !self.board.not_up(&self.w.depends_on).is_empty() {
            return State::Blocked;
        }
        Box::pin(self.launch(None)).await
    }

    /// Starts the command; `restart` = (cause, nth) when it replaces a dead one.
    async fn launch(&mut self, restart: Option<(String, u32)>) -> State {
        if let Err(err) = self.bind_notify().await {
            return self.start_failed(err).await;
        }
        lock(&self.view).status.clear();
        match self.launcher.start(&self.w, &self.spec, &self.output, self.notify.as_ref()).await {
            Ok(Started { proc, reader }) => {
                if let Some(socket) = &self.notify {
                    socket.expect(proc.pid());
                }
                self.reader = reader;
                lock(&self.claimed).insert(proc.pid() as i32);
                if restart.is_some() {
                    self.restarts += 1;
                } else {
                    let started = f::healthy(&self.w, format!("started pid {}", proc.pid()));
                    self.emit(vec![
                        started.with_action(crate::model::ActionKind::Other, format!("started (pid {})", proc.pid()))
                    ]);
                }
                State::Up(proc, Run { adopted: false, verified: false, watch: Watch::started(&self.w), restart })
            }
            Err(WorkerError::ExitedAtOnce { exit, .. }) => {
                // It ran and ended before healthmon saw its pid: a crash like any other.
                if restart.is_some() {
                    self.restarts += 1;
                }
                let run = Run { adopted: false, verified: false, watch: Watch::started(&self.w), restart };
                self.on_exit(0, exit, run, None).await
            }
            Err(err) => self.start_failed(err).await,
        }
    }

    /// The start itself failed (no process ran): an error, counted as a quick exit.
    async fn start_failed(&mut self, err: WorkerError) -> State {
        let message = format!("cannot start: {err}");
        self.last_exit = Some(message.clone());
        let finding = f::problem(&self.w, Status::Error, &message, self.spec.command.join(" "));
        self.decide(Instant::now(), true, message, finding, true, LastWords::Now(None)).await
    }

    async fn on_up(&mut self, proc: Proc, mut run: Run) -> State {
        let verify_at = proc.started() + self.w.verify_after;
        // Only healthmon's own socket is timed here (under systemd the unit
        // is), and only for a process healthmon started and gave it to.
        let timed = self.notify.is_some() && !run.adopted;
        let overdue = if timed { run.watch.overdue(&self.w, proc.started()) } else { None };
        tokio::select! {
            biased;
            _ = proc.exited() => {
                let pid = proc.pid();
                let exit = Box::pin(proc.finish(self.w.stop_timeout)).await;
                Box::pin(self.on_exit(pid, exit, run, None)).await
            }
            control = self.rx.recv() => match control {
                None | Some(Control::Stop) => {
                    let pid = proc.pid();
                    Box::pin(proc.stop(self.w.stop_timeout)).await;
                    lock(&self.claimed).remove(&(pid as i32));
                    State::Quit
                }
                Some(Control::Leave) => State::Quit,
                Some(Control::Restart(reason)) => {
                    let pid = proc.pid();
                    let exit = Box::pin(proc.stop(self.w.stop_timeout)).await;
                    Box::pin(self.on_exit(pid, exit, run, Some(reason))).await
                }
                Some(Control::Reset) => {
                    self.budget.reset();
                    State::Up(proc, run)
                }
                Some(Control::Update(settings, dry_run)) => {
                    self.update(*settings, dry_run);
                    State::Up(proc, run)
                }
                Some(Control::Admin(Admin::Release, ack)) => {
                    let _ = ack.send(false);
                    State::Up(proc, run)
                }
                Some(Control::Admin(admin, ack)) => {
                    let pid = proc.pid();
                    let exit = Box::pin(proc.stop(self.w.stop_timeout)).await;
                    lock(&self.claimed).remove(&(pid as i32));
                    self.last_exit = Some(format!("{exit} (stopped by an administrator)"));
                    Box::pin(self.admin_done(admin, ack, Some(pid))).await
                }
            },
            notice = notify::next(self.notify.as_ref(), &proc, &self.w, run.watch.is_ready()) => {
                self.on_notice(notice, &mut run);
                State::Up(proc, run)
            }
            hang = notify::come_due(overdue) => {
                let pid = proc.pid();
                Box::pin(proc.stop(self.w.stop_timeout)).await;
                Box::pin(self.on_exit(pid, hang, run, None)).await
            }
            // With notify_ready, the start is verified only once READY=1 came.
            _ = tokio::time::sleep_until(verify_at.into()), if !run.verified && run.watch.is_ready() => {
                Box::pin(self.verify(&proc, &mut run)).await;
                State::Up(proc, run)
            }
        }
    }

    /// Still alive `verify_after` after the start: the start (or restart)
    /// is verified. Probes judge health on their own timer (`probe::timer`).
    async fn verify(&mut self, proc: &Proc, run: &mut Run) {
        if proc.has_exited() {
            return; // the exit branch reports it as a crash before verification
        }
        run.verified = true;
        self.budget.on_verified();
        let Some((cause, nth)) = &run.restart else { return };
        let taken = f::restart_text(&self.w, cause, *nth);
        let details =
            format!("pid {}, alive after {}, restarts {}", proc.pid(), human(self.w.verify_after), self.restarts);
        self.emit(vec![f::restart(&self.w, true, taken, details.clone()), f::healthy(&self.w, details)]);
    }

    /// The process is gone (crashed, or stopped for `requested`): report it
    /// and let the budget decide.
    async fn on_exit(&mut self, pid: u32, exit: ExitInfo, run: Run, requested: Option<String>) -> State {
        lock(&self.claimed).remove(&(pid as i32));
        let now = Instant::now();
        let crashed = requested.is_none();
        let cause = requested.unwrap_or_else(|| exit.to_string());
        let details = format!("pid {pid}, {exit}, restarts {}", self.restarts);
        self.last_exit = Some(cause.clone());
        if let (Some((restart_cause, nth)), false) = (&run.restart, run.verified) {
            let taken = f::restart_text(&self.w, restart_cause, *nth);
            let note = format!("{details}; died within verify_after ({})", human(self.w.verify_after));
            self.emit(vec![f::restart(&self.w, false, taken, note)]);
        }
        let message = match exit {
            // A hang is why healthmon (or systemd) stopped it, not how it exited.
            ExitInfo::NotReady(_) | ExitInfo::NoWatchdog(_) => cause.clone(),
            _ => format!("exited ({cause})"),
        };
        if self.dry_run {
            self.emit(vec![f::would(f::problem(&self.w, Status::Unhealthy, &message, details), "would restart")]);
            return State::Idle(Phase::Down { message });
        }
        let finding = f::problem(&self.w, Status::Unhealthy, &message, details);
        let last_words = if crashed { self.last_output() } else { LastWords::Now(None) };
        self.decide(now, !run.verified, cause, finding, false, last_words).await
    }

    /// `last output: a | b`: in fork mode from the pipe of the process that
    /// just exited, read to its end first so its very last line is there;
    /// under systemd from the journal, which takes a `journalctl` run (tens
    /// of milliseconds): that read goes on beside the restart.
    fn last_output(&self) -> LastWords {
        let words = |lines: Vec<String>| (!lines.is_empty()).then(|| format!("last output: {}", lines.join(" | ")));
        match &self.reader {
            Some(reader) => {
                reader.drain();
                LastWords::Now(words(self.output.last()))
            }
            None => {
                let (launcher, name) = (self.launcher.clone(), self.w.name.clone());
                LastWords::Later(tokio::spawn(async move { words(launcher.last_lines(&name).await) }))
            }
        }
    }

    /// Asks the budget about an exit (or failed start) and reports the verdict
    /// with `finding`, whose message gets the plan appended, and then
    /// `last_words` (the worker's last output, which ends a crash alert).
    /// Only a restart that starts now goes on without waiting for words
    /// still being read: the message a waiting or given-up worker shows
    /// (and the cycle repeats) ends with them.
    async fn decide(
        &mut self,
        now: Instant,
        quick: bool,
        cause: String,
        mut finding: crate::model::Finding,
        error: bool,
        last_words: LastWords,
    ) -> State {
        match self.budget.on_exit(now, quick) {
            Verdict::Restart { delay, nth } => {
                let when = if delay.is_zero() { "now".to_string() } else { format!("in {}", human(delay)) };
                let plan = format!(
                    "restarting {when} (restart {nth} of {} in {})",
                    self.w.max_restarts,
                    human(self.w.restart_window)
                );
                let last_words = if delay.is_zero() { last_words } else { LastWords::Now(last_words.settled().await) };
                let mut message = match finding.problem.as_mut() {
                    Some(problem) => {
                        problem.message = format!("{}; {plan}", problem.message);
                        problem.message.clone()
                    }
                    None => plan,
                };
                if let LastWords::Now(Some(words)) = &last_words {
                    message = format!("{message}; {words}");
                }
                self.emit_ending(finding, last_words);
                State::Waiting { until: now + delay, cause, nth, message, error }
            }
            Verdict::GiveUp { restarts } => {
                let last_words = LastWords::Now(last_words.settled().await);
                self.emit_ending(f::given_up(&self.w, restarts, &cause), last_words);
                State::Idle(Phase::GivenUp { restarts, last: cause })
            }
        }
    }

    /// Emits `finding` with `last_words` at the end of its message; words
    /// still being read from the journal are waited for in a task of their
    /// own, so the restart does not wait for the alert.
    fn emit_ending(&self, mut finding: crate::model::Finding, last_words: LastWords) {
        fn end(finding: &mut crate::model::Finding, words: Option<String>) {
            if let (Some(problem), Some(words)) = (finding.problem.as_mut(), words) {
                problem.message = format!("{}; {words}", problem.message);
            }
        }
        match last_words {
            LastWords::Now(words) => {
                end(&mut finding, words);
                self.emit(vec![finding]);
            }
            LastWords::Later(read) => {
                let events = self.events.clone();
                tokio::spawn(async move {
                    end(&mut finding, LastWords::Later(read).settled().await);
                    // The receiver is gone only while the daemon shuts down.
                    let _ = events.send(vec![finding]);
                });
            }
        }
    }

    async fn on_waiting(&mut self, until: Instant, cause: String, nth: u32) -> State {
        if until > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {}
                control = self.rx.recv() => match control {
                    None | Some(Control::Stop) => {
                        self.launcher.release(&self.w.name).await;
                        return State::Quit;
                    }
                    Some(Control::Leave) => return State::Quit,
                    Some(Control::Reset) => self.budget.reset(),
                    Some(Control::Restart(_)) => {}
                    Some(Control::Update(settings, dry_run)) => self.update(*settings, dry_run),
                    // Waiting to restart: a start or restart starts it now,
                    // not counted; a stop keeps it stopped.
                    Some(Control::Admin(admin, ack)) => return Box::pin(self.admin_done(admin, ack, None)).await,
                },
            }
        }
        Box::pin(self.launch(Some((cause, nth)))).await
    }

    /// After an administrator's stop (of `stopped`, when a process ran) or
    /// while nothing runs: records the action and moves on, held or
    /// started afresh without counting against the budget.
    async fn admin_done(&mut self, admin: Admin, ack: Ack, stopped: Option<u32>) -> State {
        let what = match (admin, stopped) {
            (Admin::Hold, Some(pid)) => format!("stopped by an administrator (pid {pid})"),
            (Admin::Hold, None) => "stopped by an administrator".to_string(),
            (_, Some(pid)) => format!("restarted by an administrator (was pid {pid})"),
            (_, None) => "started by an administrator".to_string(),
        };
        self.emit(vec![f::admin(&self.w, &what)]);
        if admin != Admin::Hold {
            // Not up from here until the new start is: a rolling restart
            // waits on this after the answer.
            self.publish(&State::Idle(Phase::Starting));
        }
        let _ = ack.send(true);
        if admin == Admin::Hold {
            return State::Idle(Phase::Held);
        }
        self.budget.reset();
        Box::pin(self.initial()).await
    }

    /// Given up or (dry run) down: only a person or a reload moves it on,
    /// to adoption or a fresh start as at startup.
    async fn on_idle(&mut self, phase: Phase) -> State {
        match self.rx.recv().await {
            None | Some(Control::Stop) => {
                self.launcher.release(&self.w.name).await;
                return State::Quit;
            }
            Some(Control::Leave) => return State::Quit,
            Some(Control::Admin(Admin::Hold, ack)) if phase == Phase::Held => {
                let _ = ack.send(false);
                return State::Idle(phase);
            }
            Some(Control::Admin(admin, ack)) => return Box::pin(self.admin_done(admin, ack, None)).await,
            // Held stays held through resets and reloads, until started.
            Some(Control::Update(settings, dry_run)) if phase == Phase::Held => {
                self.update(*settings, dry_run);
                return State::Idle(phase);
            }
            Some(Control::Reset) | Some(Control::Restart(_)) if phase == Phase::Held => return State::Idle(phase),
            Some(Control::Reset) | Some(Control::Restart(_)) if self.dry_run => return State::Idle(phase),
            Some(Control::Reset) | Some(Control::Restart(_)) => self.budget.reset(),
            Some(Control::Update(settings, dry_run)) => self.update(*settings, dry_run),
        }
        Box::pin(self.initial()).await
    }

    /// Same command, new settings: a reload, so the budget starts afresh.
    fn update(&mut self, settings: WorkerSettings, dry_run: bool) {
        self.budget = RestartBudget::new(settings.max_restarts, settings.restart_window, settings.restart_delay);
        self.w = settings;
        self.dry_run = dry_run;
    }
}

/// The same state as far as `since` goes: same kind, pid and verification.
fn same_phase(a: &Phase, b: &Phase) -> bool {
    let key = |p: &Phase| match p {
        Phase::Up { pid, verified, .. } => (std::mem::discriminant(p), *pid, *verified),
        other => (std::mem::discriminant(other), 0, false),
    };
    key(a) == key(b)
}

/// Time left until `until`, for "restarting in 3s".
pub fn remaining(until: Instant) -> Duration {
    until.saturating_duration_since(Instant::now())
}
