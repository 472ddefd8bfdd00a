//! The task database of the program whose tmux sessions are watched: read
//! its in-progress tasks and mark stuck ones. The database belongs to that
//! program, so: it is never created, every wait for its locks is bounded by
//! a busy timeout, values are only ever bound (the SQL text is the admin's,
//! never formatted), and the write lock is taken only in a cycle that found
//! a session stuck, for the one write transaction that reads the tasks
//! again and marks them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Statement, Transaction, TransactionBehavior};

/// How long to wait for the owner's locks before giving up for this cycle.
/// The owner is expected to hold them for milliseconds; a longer wait means
/// something is wrong, and the next cycle retries anyway.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum TaskDbError {
    #[error("task database {} does not exist", path.display())]
    Missing { path: PathBuf },
    #[error("failed to open task database {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error("in_progress_query on task database {} failed: {source}", path.display())]
    Query { path: PathBuf, source: rusqlite::Error },
    #[error("in_progress_query on task database {} must be a read-only SELECT returning (task id, session name)", path.display())]
    QueryShape { path: PathBuf },
    #[error("write transaction on task database {} failed: {source}", path.display())]
    Transaction { path: PathBuf, source: rusqlite::Error },
    #[error("statement {statement:?} on task database {} failed: {source}", path.display())]
    Statement { path: PathBuf, statement: String, source: rusqlite::Error },
    #[error("statement {statement:?} on task database {} has parameter {name}; only :task_id, :session and :reason are bound", path.display())]
    UnknownParameter { path: PathBuf, statement: String, name: String },
}

/// One row of `in_progress_query`.
#[derive(Debug, Clone, PartialEq)]
pub struct InProgress {
    /// The first column exactly as stored (INTEGER or TEXT), bound back
    /// unchanged as `:task_id`.
    pub task_id: Value,
    /// The second column as stored, bound back unchanged as `:session`.
    pub session: Value,
    /// The second column as text, for matching tmux session names.
    pub session_name: String,
}

impl InProgress {
    /// A key that tells `77` from `'77'`, for remembering handled tasks.
    pub fn key(&self) -> (String, String) {
        (self.session_name.clone(), format!("{:?}", self.task_id))
    }

    /// The task id as a person reads it.
    pub fn task_label(&self) -> String {
        match &self.task_id {
            Value::Integer(i) => i.to_string(),
            Value::Text(t) => t.clone(),
            other => format!("{other:?}"),
        }
    }
}

/// What the `on_stuck` and `requeue` statements get for one task.
struct Bindings<'a> {
    task: &'a InProgress,
    reason: &'a str,
}

pub struct TaskDb {
    conn: Connection,
    path: PathBuf,
}

impl TaskDb {
    /// Opens an existing database, read-only when `writable` is false (dry
    /// run: SQLite itself then refuses any write).
    pub fn open(path: &Path, writable: bool) -> Result<TaskDb, TaskDbError> {
        if !path.exists() {
            return Err(TaskDbError::Missing { path: path.to_owned() });
        }
        let mode = if writable { OpenFlags::SQLITE_OPEN_READ_WRITE } else { OpenFlags::SQLITE_OPEN_READ_ONLY };
        let open_err = |source| TaskDbError::Open { path: path.to_owned(), source };
        let conn = Connection::open_with_flags(path, mode | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        Ok(TaskDb { conn, path: path.to_owned() })
    }

    /// A first look at the in-progress tasks, outside any write lock (and
    /// the only look a dry run gets). Acting on it would race the owner:
    /// what is acted on is read again inside [`TaskDb::begin`].
    pub fn in_progress(&self, query: &str) -> Result<Vec<InProgress>, TaskDbError> {
        in_progress(&self.conn, &self.path, query)
    }

    /// The cycle's write transaction (`BEGIN IMMEDIATE`): waits up to the
    /// busy timeout for the owner's write lock, then holds it until
    /// [`WriteTx::commit`] or drop (which rolls everything back).
    pub fn begin(&mut self) -> Result<WriteTx<'_>, TaskDbError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|source| TaskDbError::Transaction { path: self.path.clone(), source })?;
        Ok(WriteTx { tx, path: &self.path })
    }
}

/// The write transaction of one cycle. The in-progress set read through it
/// cannot change until it ends: no other writer, another healthmon
/// included, gets in between reading a task and marking it.
pub struct WriteTx<'c> {
    tx: Transaction<'c>,
    path: &'c Path,
}

/// What [`WriteTx::mark`] did with one stuck session's tasks.
#[derive(Debug)]
pub enum Marked<'a, E> {
    /// These tasks were marked (and requeued) and the interruption was
    /// sent; their changes are kept. Tasks the guard skipped are not listed.
    Applied(Vec<&'a InProgress>),
    /// The first `on_stuck` statement changed no row for any task: none is
    /// in progress any more, so nothing was changed or sent.
    NotInProgress,
    /// The interruption could not be sent: every change for the session
    /// was rolled back, so its task stays in progress.
    NotSent(E),
}

impl WriteTx<'_> {
    /// The in-progress tasks as they are under the write lock.
    pub fn in_progress(&self, query: &str) -> Result<Vec<InProgress>, TaskDbError> {
        in_progress(&self.tx, self.path, query)
    }

    /// Marks one stuck session's tasks (with `reason` bound as `:reason`)
    /// inside a savepoint: for each task
    /// the `on_stuck` statements, then `requeue`. The first `on_stuck`
    /// statement is the guard: when it changes no row, that task is no
    /// longer in progress and everything run for it is rolled back. Then
    /// `interrupt` runs (sends Ctrl+C) while the changes are still
    /// uncommitted: when it fails they are rolled back too, so no task is
    /// requeued while its program may still be running. `Err` (a statement
    /// failed) also leaves the session's changes out; other sessions'
    /// changes are unaffected.
    pub fn mark<'a, E>(
        &mut self,
        on_stuck: &[String],
        requeue: &[String],
        tasks: &[&'a InProgress],
        reason: &str,
        interrupt: impl FnOnce() -> Result<(), E>,
    ) -> Result<Marked<'a, E>, TaskDbError> {
        let path = self.path;
        let tx_err = |source| TaskDbError::Transaction { path: path.to_owned(), source };
        let mut session = self.tx.savepoint().map_err(tx_err)?;
        let mut marked = Vec::new();
        for &task in tasks {
            let savepoint = session.savepoint().map_err(tx_err)?;
            if mark_task(&savepoint, path, on_stuck, requeue, &Bindings { task, reason })? {
                savepoint.commit().map_err(tx_err)?;
                marked.push(task);
            } // else: dropping the savepoint rolls this task back.
        }
        if marked.is_empty() {
            return Ok(Marked::NotInProgress);
        }
        match interrupt() {
            Ok(()) => {
                session.commit().map_err(tx_err)?;
                Ok(Marked::Applied(marked))
            }
            Err(err) => Ok(Marked::NotSent(err)), // dropping `session` rolls it back
        }
    }

    /// Makes the marks visible to the owner and releases its write lock.
    pub fn commit(self) -> Result<(), TaskDbError> {
        let path = self.path;
        self.tx.commit().map_err(|source| TaskDbError::Transaction { path: path.to_owned(), source })
    }
}

/// Runs `query`: first column task id, second session name. Rows with a
/// NULL id or a session that is neither text nor integer are skipped.
fn in_progress(conn: &Connection, path: &Path, query: &str) -> Result<Vec<InProgress>, TaskDbError> {
    let query_err = |source| TaskDbError::Query { path: path.to_owned(), source };
    let mut stmt = conn.prepare(query).map_err(query_err)?;
    if !stmt.readonly() || stmt.column_count() < 2 || stmt.parameter_count() > 0 {
        return Err(TaskDbError::QueryShape { path: path.to_owned() });
    }
    let mut rows = stmt.query([]).map_err(query_err)?;
    let mut tasks = Vec::new();
    while let Some(row) = rows.next().map_err(query_err)? {
        let task_id: Value = row.get(0).map_err(query_err)?;
        let session: Value = row.get(1).map_err(query_err)?;
        let session_name = match &session {
            Value::Text(t) => t.clone(),
            Value::Integer(i) => i.to_string(),
            _ => continue,
        };
        if task_id != Value::Null {
            tasks.push(InProgress { task_id, session, session_name });
        }
    }
    Ok(tasks)
}

/// One task's statements; `false` when the guard (the first `on_stuck`
/// statement) changed no row, and then nothing after it ran.
fn mark_task(
    conn: &Connection,
    path: &Path,
    on_stuck: &[String],
    requeue: &[String],
    b: &Bindings<'_>,
) -> Result<bool, TaskDbError> {
    let mut statements = on_stuck.iter().chain(requeue);
    if let Some(guard) = statements.next() {
        if execute(conn, path, guard, b)? == 0 {
            return Ok(false);
        }
    }
    statements.try_for_each(|sql| execute(conn, path, sql, b).map(drop))?;
    Ok(true)
}

/// Runs one statement; returns the number of rows it changed.
fn execute(conn: &Connection, path: &Path, sql: &str, b: &Bindings<'_>) -> Result<usize, TaskDbError> {
    let stmt_err = |source| TaskDbError::Statement { path: path.to_owned(), statement: sql.to_owned(), source };
    let mut stmt = conn.prepare(sql).map_err(stmt_err)?;
    bind(&mut stmt, b).map_err(|name| TaskDbError::UnknownParameter {
        path: path.to_owned(),
        statement: sql.to_owned(),
        name,
    })?;
    stmt.raw_execute().map_err(stmt_err)
}

/// Binds only the parameters the statement has, by name (`:x`, `@x` or
/// `$x`). Any other parameter (positional `?` included) is refused rather
/// than silently left NULL. `Err` carries the parameter's name.
fn bind(stmt: &mut Statement<'_>, b: &Bindings<'_>) -> Result<(), String> {
    for index in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(index).unwrap_or("?").to_owned();
        let bound = match name.get(1..) {
            Some("task_id") => stmt.raw_bind_parameter(index, &b.task.task_id),
            Some("session") => stmt.raw_bind_parameter(index, &b.task.session),
            Some("reason") => stmt.raw_bind_parameter(index, b.reason),
            _ => return Err(name),
        };
        // Binding an in-range index with a plain value cannot fail; if it
        // ever did, refusing the statement is the safe answer.
        bound.map_err(|_| name)?;
    }
    Ok(())
}
