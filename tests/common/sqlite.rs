//! Reading a database the code under test wrote: every row of a query as
//! debug-formatted values (`Text("INFO")`, `Integer(1)`), opened read-only
//! so a running daemon is not disturbed.

use std::path::Path;

pub fn rows(db: &Path, query: &str) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap_or_else(|e| panic!("open {}: {e}", db.display()));
    let mut stmt = conn.prepare(query).unwrap_or_else(|e| panic!("prepare {query}: {e}"));
    let columns = stmt.column_count();
    stmt.query_map([], |row| {
        (0..columns).map(|i| row.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}"))).collect()
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}
