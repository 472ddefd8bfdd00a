//! Stuck tmux sessions: a session is stuck when the task database has a task
//! in progress for it and none of its windows has shown activity for
//! `stuck_after`. A stuck session gets its task marked (`on_stuck`) and
//! requeued (`requeue`) and Ctrl+C in its active pane, all inside one write
//! transaction of the task database that first reads the tasks again (see
//! `SessionsCheck::mark` for the order); the session itself is never killed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::checks::taskdb::{InProgress, Marked, TaskDb, TaskDbError, WriteTx};
use crate::checks::tmux::{tmux_session_name, Tmux, TmuxError, TmuxSession};
use crate::checks::{Check, CheckContext, CheckError};
use crate::config::SessionSettings;
use crate::human;
use crate::model::{ActionKind, Finding, Severity, Status};

const METRIC: &str = "stuck_session";
const DB_METRIC: &str = "task_database";
/// The check's name (its report section).
pub const NAME: &str = "sessions";
/// The alert kinds this check reports.
pub const KINDS: &[&str] = &[METRIC, DB_METRIC];

pub struct SessionsCheck {
    settings: SessionSettings,
    tmux: Tmux,
    memory: SessionsMemory,
}

/// What the check remembers between cycles; the engine hands it to the
/// check a reload builds, so a reload never interrupts a task twice.
#[derive(Clone, Default)]
pub struct SessionsMemory(Arc<Mutex<Memory>>);

#[derive(Default)]
struct Memory {
    /// (session name as the database has it, task id) pairs already
    /// interrupted; forgotten once the task leaves the in-progress set.
    handled: HashSet<(String, String)>,
}

/// One tmux session with the in-progress tasks that name it.
struct Assessed<'a> {
    session: &'a TmuxSession,
    idle: Duration,
    tasks: Vec<&'a InProgress>,
}

impl Assessed<'_> {
    fn component(&self) -> String {
        format!("tmux:{}", self.session.name)
    }

    fn details(&self) -> String {
        format!("id {}, idle {}, {}", self.session.id, human::duration(self.idle), in_progress(&self.tasks))
    }

    /// A WARNING on the session: the headline, then what became of it.
    fn problem(&self, status: Status, outcome: &str) -> Finding {
        let message = format!("{}; {outcome}", self.headline());
        Finding::problem(self.component(), METRIC, status, Severity::Warning, message, self.details())
    }

    /// "session X idle 45 min 12 s with task 77 in progress"
    fn headline(&self) -> String {
        format!(
            "session {} idle {} with {} in progress",
            self.session.name,
            human::duration(self.idle),
            task_list(&self.tasks)
        )
    }
}

impl SessionsCheck {
    pub fn new(settings: SessionSettings) -> SessionsCheck {
        SessionsCheck::remembering(settings, SessionsMemory::default())
    }

    /// A check that goes on from what an earlier one remembered.
    pub fn remembering(settings: SessionSettings, memory: SessionsMemory) -> SessionsCheck {
        let tmux = Tmux::new(settings.tmux_socket.clone());
        SessionsCheck { settings, tmux, memory }
    }

    fn db_component(&self) -> String {
        format!("sqlite:{}", self.settings.task_database.display())
    }

    fn db_error(&self, err: &TaskDbError) -> Finding {
        let message = format!("stuck-session check cannot use the task database: {err}");
        Finding::problem(self.db_component(), DB_METRIC, Status::Error, Severity::Warning, message, err.to_string())
    }

    /// Splits sessions into the ones to leave alone (with their findings)
    /// and the stuck ones that need clearing now.
    fn assess<'a>(
        &self,
        sessions: &'a [TmuxSession],
        tasks: &'a [InProgress],
        memory: &Memory,
    ) -> (Vec<Finding>, Vec<Assessed<'a>>) {
        let now = unix_now();
        let mut findings = Vec::new();
        let mut stuck = Vec::new();
        for (session, tasks) in sessions.iter().zip(group_by_session(sessions, tasks)) {
            let mut a = Assessed { session, idle: idle_since(session.last_activity, now), tasks };
            if a.tasks.is_empty() || a.idle < self.settings.stuck_after {
                findings.push(Finding::healthy(a.component(), METRIC, a.details()));
            } else if a.tasks.iter().all(|t| memory.handled.contains(&t.key())) {
                findings.push(still_stuck(&a));
            } else {
                // Only the tasks not handled yet are marked and requeued.
                a.tasks.retain(|t| !memory.handled.contains(&t.key()));
                stuck.push(a);
            }
        }
        (findings, stuck)
    }

    /// Decides again under the owner's write lock and clears what is still
    /// stuck. The first look (`first`) ran without that lock, so a task may
    /// have finished since; only the set read inside the transaction is
    /// acted on, and a second healthmon (a `--once` beside the daemon)
    /// waits for the lock and then finds the task no longer in progress.
    /// When the lock cannot be had, the first look's stuck sessions are
    /// reported as not interrupted and everything is retried next cycle.
    fn clear(
        &self,
        db: &mut TaskDb,
        sessions: &[TmuxSession],
        first: (Vec<Finding>, Vec<Assessed<'_>>),
        memory: &mut Memory,
    ) -> (Vec<Finding>, Option<TaskDbError>) {
        let begun = db.begin().and_then(|tx| tx.in_progress(&self.settings.in_progress_query).map(|t| (tx, t)));
        let (mut tx, tasks) = match begun {
            Ok(begun) => begun,
            Err(err) => {
                let (mut findings, stuck) = first;
                findings.extend(stuck.iter().map(|a| not_marked(a, &err)));
                return (findings, Some(err));
            }
        };
        forget_finished(memory, &tasks);
        let (mut findings, stuck) = self.assess(sessions, &tasks, memory);
        let outcomes: Vec<_> = stuck.iter().map(|a| self.mark(&mut tx, a)).collect();
        let committed = tx.commit();
        for (a, outcome) in stuck.iter().zip(outcomes) {
            findings.push(match (outcome, &committed) {
                (Ok(Marked::Applied(tasks)), Ok(())) => {
                    memory.handled.extend(tasks.iter().map(|t| t.key()));
                    self.cleared(a, &tasks)
                }
                (Ok(Marked::Applied(_)), Err(err)) => marks_lost(a, err),
                (Ok(Marked::NotInProgress), _) => not_in_progress(a),
                (Ok(Marked::NotSent(err)), _) => not_sent(a, &err),
                (Err(err), _) => not_marked(a, &err),
            });
        }
        (findings, committed.err())
    }

    /// Marks and requeues one stuck session's tasks, then sends Ctrl+C
    /// before the marks are committed. That order keeps both failures
    /// safe: a statement that fails or a guard that finds the task gone
    /// sends nothing, and a Ctrl+C that cannot be sent rolls the marks back
    /// (the task stays in progress, retried next cycle) instead of
    /// requeueing a task whose program may still be running. To the owner,
    /// the session is interrupted before its task is failed and requeued.
    fn mark<'a>(&self, tx: &mut WriteTx<'_>, a: &Assessed<'a>) -> Result<Marked<'a, TmuxError>, TaskDbError> {
        let (on_stuck, requeue) = (&self.settings.on_stuck, &self.settings.requeue);
        tx.mark(on_stuck, requeue, &a.tasks, &self.reason(a), || self.tmux.send_ctrl_c(&a.session.id))
    }

    /// The finding of a session interrupted with these tasks marked.
    fn cleared(&self, a: &Assessed<'_>, tasks: &[&InProgress]) -> Finding {
        let outcome = if self.settings.requeue.is_empty() { "interrupted" } else { "interrupted and requeued" };
        a.problem(Status::Recovered, outcome)
            .with_action(ActionKind::SessionCleared, format!("sent Ctrl+C; {}", self.marked(tasks)))
    }

    fn would_clear(&self, a: &Assessed<'_>) -> Finding {
        let taken = format!("would send Ctrl+C; {} would be {}", task_list(&a.tasks), self.outcome());
        Finding::problem(a.component(), METRIC, Status::Unhealthy, Severity::Warning, a.headline(), a.details())
            .with_action(ActionKind::Other, taken)
    }

    /// "task 77 marked failed and requeued"
    fn marked(&self, tasks: &[&InProgress]) -> String {
        format!("{} {}", task_list(tasks), self.outcome())
    }

    fn outcome(&self) -> &'static str {
        if self.settings.requeue.is_empty() {
            "marked failed"
        } else {
            "marked failed and requeued"
        }
    }

    /// The `:reason` bound into `on_stuck`.
    fn reason(&self, a: &Assessed<'_>) -> String {
        format!(
            "healthmon: tmux session {} showed no activity for {} (stuck_after {}); interrupted with Ctrl+C",
            a.session.name,
            human::duration(a.idle),
            human::duration(self.settings.stuck_after)
        )
    }
}

impl Check for SessionsCheck {
    fn name(&self) -> &'static str {
        NAME
    }

    fn run(&self, ctx: &CheckContext) -> Result<Vec<Finding>, CheckError> {
        let mut memory = self.memory.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // No server (socket missing or stale) means no sessions to check.
        let sessions = self.tmux.list_sessions()?.unwrap_or_default();
        // The first look takes no write lock: most cycles find nothing
        // stuck, and the owner's writers should not wait on healthmon then.
        let opened = TaskDb::open(&self.settings.task_database, !ctx.dry_run);
        let (mut db, tasks) =
            match opened.and_then(|db| db.in_progress(&self.settings.in_progress_query).map(|t| (db, t))) {
                Ok(found) => found,
                // Without the tasks no session can be judged: report only the
                // database (an error, so the engine resolves no session alert
                // by absence) and keep the memory as it is.
                Err(err) => return Ok(vec![self.db_error(&err)]),
            };
        forget_finished(&mut memory, &tasks);
        let (mut findings, stuck) = self.assess(&sessions, &tasks, &memory);
        let mut db_failure = None;
        if ctx.dry_run {
            findings.extend(stuck.iter().map(|a| self.would_clear(a)));
        } else if !stuck.is_empty() {
            (findings, db_failure) = self.clear(&mut db, &sessions, (findings, stuck), &mut memory);
        }
        drop(db);

        findings.push(match db_failure {
            Some(err) => self.db_error(&err),
            None => Finding::healthy(self.db_component(), DB_METRIC, format!("{} tasks in progress", tasks.len())),
        });
        Ok(findings)
    }
}

/// Forgets the handled tasks that left the in-progress set, so a task put
/// back in progress is handled again when it gets stuck again.
fn forget_finished(memory: &mut Memory, tasks: &[InProgress]) {
    let current: HashSet<_> = tasks.iter().map(InProgress::key).collect();
    memory.handled.retain(|key| current.contains(key));
}

/// A stuck session interrupted earlier for the same task(s): not touched
/// again; the alert stays open because `on_stuck` evidently did not take
/// the task out of `in_progress_query`.
fn still_stuck(a: &Assessed<'_>) -> Finding {
    a.problem(
        Status::Unhealthy,
        "already interrupted by healthmon, not interrupting again (on_stuck left the task in progress)",
    )
}

/// The bookkeeping failed, so the session was left alone; retried next cycle.
fn not_marked(a: &Assessed<'_>, err: &TaskDbError) -> Finding {
    a.problem(Status::Error, &format!("not interrupted because the task could not be marked: {err}"))
}

/// Ctrl+C could not be sent, so the marks were rolled back: the task stays
/// in progress and is retried next cycle.
fn not_sent(a: &Assessed<'_>, err: &TmuxError) -> Finding {
    let tasks = task_list(&a.tasks);
    a.problem(
        Status::Error,
        &format!("Ctrl+C could not be sent ({err}), so {tasks} left in progress and not requeued; retried next cycle"),
    )
}

/// Under the write lock the guard found no task of the session in progress
/// any more (`on_stuck` changed no row): nothing was changed or sent.
fn not_in_progress(a: &Assessed<'_>) -> Finding {
    a.problem(
        Status::Unhealthy,
        "left alone: the first on_stuck statement changed no row, so the task is no longer in progress",
    )
}

/// Ctrl+C went out but the marks could not be committed: the program was
/// interrupted and its task is still in progress; retried next cycle.
fn marks_lost(a: &Assessed<'_>, err: &TaskDbError) -> Finding {
    a.problem(Status::Error, &format!("sent Ctrl+C, but the task could not be marked: {err}"))
        .with_action(ActionKind::Other, format!("sent Ctrl+C; {} not marked", task_list(&a.tasks)))
}

/// The tasks of each session, in `sessions` order. A database name matches
/// a tmux name exactly, or else after tmux's own name sanitising (tmux
/// stores `a$b` as `a\$b`, `x.y` as `x_y`).
fn group_by_session<'a>(sessions: &[TmuxSession], tasks: &'a [InProgress]) -> Vec<Vec<&'a InProgress>> {
    let by_name: HashMap<&str, usize> = sessions.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let mut groups = vec![Vec::new(); sessions.len()];
    for task in tasks {
        let found = by_name
            .get(task.session_name.as_str())
            .or_else(|| by_name.get(tmux_session_name(&task.session_name).as_str()));
        if let Some(&i) = found {
            groups[i].push(task);
        }
    }
    groups
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// tmux reports activity in whole seconds; counting from the end of that
/// second means a session is never judged idler than it really is.
fn idle_since(last_activity: i64, now: f64) -> Duration {
    Duration::from_secs_f64((now - (last_activity as f64 + 1.0)).max(0.0))
}

/// "task 77" / "tasks 77, 78"
fn task_list(tasks: &[&InProgress]) -> String {
    let ids: Vec<String> = tasks.iter().map(|t| t.task_label()).collect();
    let noun = if ids.len() == 1 { "task" } else { "tasks" };
    format!("{noun} {}", ids.join(", "))
}

fn in_progress(tasks: &[&InProgress]) -> String {
    if tasks.is_empty() {
        "no task in progress".to_owned()
    } else {
        format!("{} in progress", task_list(tasks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Idle time starts at the end of the reported second and never goes negative.
    #[test]
    fn idle_is_conservative() {
        assert_eq!(idle_since(100, 103.5), Duration::from_secs_f64(2.5));
        assert_eq!(idle_since(100, 100.4), Duration::ZERO);
    }
}
