//! The read side for D-Bus callers: `ListAlerts` and `ListMetrics` run on
//! a read-only connection of their own, so a caller never waits on, nor
//! holds, the lock the check loop writes through. WAL lets this reader and
//! the loop's writer work at the same time. One read runs at a time (an
//! async lock, taken before a blocking thread is), so a flood of calls
//! queues as tasks and cannot fill the blocking pool the loop needs.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use super::{queries, AlertRow, MetricRow, StoreError, BUSY_TIMEOUT};

#[derive(Clone)]
pub struct Reader {
    path: PathBuf,
    conn: Arc<tokio::sync::Mutex<Option<Connection>>>,
}

impl Reader {
    pub fn new(path: PathBuf) -> Reader {
        Reader { path, conn: Arc::new(tokio::sync::Mutex::new(None)) }
    }

    /// Alerts newest first; `limit` as [`queries::effective_limit`] says.
    pub async fn list_alerts(&self, unresolved_only: bool, limit: u32) -> Result<Vec<AlertRow>, StoreError> {
        self.read(move |conn| queries::list_alerts(conn, unresolved_only, queries::effective_limit(limit))).await
    }

    /// Metric rows newest first; `component` `""` = all.
    pub async fn list_metrics(&self, component: String, limit: u32) -> Result<Vec<MetricRow>, StoreError> {
        self.read(move |conn| {
            let filter = (!component.is_empty()).then_some(component.as_str());
            queries::list_metrics(conn, filter, queries::effective_limit(limit))
        })
        .await
    }

    /// Runs `f` on the connection, opening it first if needed. A failed
    /// read drops the connection, so the next one reopens the path (the
    /// file may have been replaced).
    async fn read<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let mut slot = Arc::clone(&self.conn).lock_owned().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let open_error = |source| StoreError::Open { path: path.clone(), source };
            if slot.is_none() {
                let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(&path, flags).map_err(open_error)?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
                *slot = Some(conn);
            }
            let result = f(slot.as_ref().expect("opened above"));
            if result.is_err() {
                *slot = None;
            }
            Ok(result?)
        })
        .await
        .expect("store read panicked")
    }
}
