//! The task database of the program whose tmux sessions are watched: read
//! its in-progress tasks and mark stuck ones. The database belongs to that
//! program, so: it is never created, every wait for its locks is bounded by
//! a busy timeout, values are only ever bound (the SQL text is the admin's,
//! never formatted), and the write lock is held only for the one write
//! transaction of a cycle.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags, Statement, TransactionBehavior};

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
pub struct Bindings<'a> {
    pub task: &'a InProgress,
    pub reason: &'a str,
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

    /// Runs `query`: first column task id, second session name. Rows with
    /// a NULL id or a session that is neither text nor integer are skipped.
    pub fn in_progress(&self, query: &str) -> Result<Vec<InProgress>, TaskDbError> {
        let query_err = |source| TaskDbError::Query { path: self.path.clone(), source };
        let mut stmt = self.conn.prepare(query).map_err(query_err)?;
        if !stmt.readonly() || stmt.column_count() < 2 || stmt.parameter_count() > 0 {
            return Err(TaskDbError::QueryShape { path: self.path.clone() });
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

    /// One write transaction for the cycle: each group (the tasks of one
    /// stuck session) runs every statement for each of its tasks inside its
    /// own savepoint, so one group's failure leaves the others' changes in.
    /// Returns one result per group; `Err` when the transaction itself
    /// could not start or commit (then nothing was changed).
    pub fn apply(
        &mut self,
        statements: &[&str],
        groups: &[Vec<Bindings<'_>>],
    ) -> Result<Vec<Result<(), TaskDbError>>, TaskDbError> {
        let path = self.path.clone();
        let tx_err = |source| TaskDbError::Transaction { path: path.clone(), source };
        let mut tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(tx_err)?;
        let mut results = Vec::with_capacity(groups.len());
        for group in groups {
            let savepoint = tx.savepoint().map_err(tx_err)?;
            let result =
                group.iter().try_for_each(|b| statements.iter().try_for_each(|sql| execute(&savepoint, &path, sql, b)));
            if result.is_ok() {
                savepoint.commit().map_err(tx_err)?;
            } // else: dropping the savepoint rolls this group back.
            results.push(result);
        }
        tx.commit().map_err(tx_err)?;
        Ok(results)
    }
}

fn execute(conn: &Connection, path: &Path, sql: &str, b: &Bindings<'_>) -> Result<(), TaskDbError> {
    let stmt_err = |source| TaskDbError::Statement { path: path.to_owned(), statement: sql.to_owned(), source };
    let mut stmt = conn.prepare(sql).map_err(stmt_err)?;
    bind(&mut stmt, b).map_err(|name| TaskDbError::UnknownParameter {
        path: path.to_owned(),
        statement: sql.to_owned(),
        name,
    })?;
    stmt.raw_execute().map_err(stmt_err)?;
    Ok(())
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
