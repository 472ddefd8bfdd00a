//! Start order and "up": a [`Board`] where every command worker's task
//! posts whether it is up, so that a worker with `depends_on` is started
//! only once its dependencies are up, and a pool's rolling restart
//! ([`wait_up`]) moves to the next instance only once the previous one is.
//!
//! Only starting is ordered, like systemd's `After=` without `Requires=`:
//! a dependency that crashes or is restarted later leaves its dependents
//! running, and a crashed dependent is restarted without waiting.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use super::command::Phase;

/// Whether a worker is up, as far as the workers waiting on it care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Up {
    Yes,
    /// Not yet: starting, verifying, waiting to restart, waiting on its own dependencies.
    Not,
    /// Not until a person or a reload acts (given up, stopped by an administrator, removed).
    Never(String),
}

/// What counts as up: running and verified (still alive `verify_after`
/// after its start; adopted processes count as verified). This is the
/// one place to add readiness (e.g. `READY=1` for `notify_ready`).
pub fn up(phase: &Phase) -> Up {
    match phase {
        Phase::Up { verified: true, .. } => Up::Yes,
        Phase::GivenUp { .. } => Up::Never("it gave up restarting".into()),
        Phase::Held => Up::Never("it is stopped by an administrator".into()),
        Phase::Ambiguous { message } => Up::Never(message.clone()),
        Phase::Down { message } => Up::Never(format!("{message} (dry run)")),
        Phase::Stopped => Up::Never("it was removed, or healthmon is stopping".into()),
        Phase::Up { .. } | Phase::Starting | Phase::Waiting { .. } | Phase::Blocked { .. } => Up::Not,
    }
}

/// Each worker's task id and [`Up`].
pub type Posts = HashMap<String, (u64, Up)>;

/// Each worker's [`Up`], posted by its task. A reload's replacement task
/// takes the name over, so the old task, still stopping, cannot post over it.
#[derive(Clone)]
pub struct Board {
    posts: Arc<watch::Sender<Posts>>,
    next_id: Arc<AtomicU64>,
}

impl Default for Board {
    fn default() -> Self {
        Board { posts: Arc::new(watch::Sender::new(HashMap::new())), next_id: Arc::new(AtomicU64::new(1)) }
    }
}

impl Board {
    /// Makes a new task the poster for `name`; its id for [`Board::post`].
    pub fn claim(&self, name: &str) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.posts.send_modify(|posts| {
            posts.insert(name.to_string(), (id, Up::Not));
        });
        id
    }

    /// Posts `up` for `name`, if task `id` still owns the name.
    pub fn post(&self, name: &str, id: u64, up: Up) {
        self.posts.send_if_modified(|posts| match posts.get_mut(name) {
            Some(entry) if entry.0 == id && entry.1 != up => {
                entry.1 = up;
                true
            }
            _ => false,
        });
    }

    /// The names in `names` that are not up (an unknown name is not up).
    pub fn not_up(&self, names: &[String]) -> Vec<String> {
        let posts = self.posts.borrow();
        names.iter().filter(|n| !matches!(posts.get(*n), Some((_, Up::Yes)))).cloned().collect()
    }

    /// A receiver that wakes at the next post.
    pub fn changes(&self) -> watch::Receiver<Posts> {
        self.posts.subscribe()
    }
}

/// Waits until `instance` is up again after a restart (each step of a
/// rolling restart); the reason when it will not come up by itself.
pub async fn wait_up(board: &Board, instance: &str) -> Result<(), String> {
    let mut rx = board.posts.subscribe();
    loop {
        match rx.borrow_and_update().get(instance).map(|(_, up)| up.clone()) {
            Some(Up::Yes) => return Ok(()),
            Some(Up::Never(why)) => return Err(why),
            Some(Up::Not) => {}
            None => return Err("it is no longer configured".into()),
        }
        if rx.changed().await.is_err() {
            return Err("healthmon is stopping".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A replaced task (a reload) can no longer post for its name; the new one can.
    #[test]
    fn only_the_newest_task_posts_for_a_name() {
        let board = Board::default();
        let names = ["db".to_string()];
        let old = board.claim("db");
        let new = board.claim("db");
        board.post("db", old, Up::Yes);
        assert_eq!(board.not_up(&names), names, "the old task's post is ignored");
        board.post("db", new, Up::Yes);
        assert!(board.not_up(&names).is_empty());
    }

    /// wait_up ends with the reason when the worker will not come up by itself.
    #[tokio::test]
    async fn wait_up_ends_on_never() {
        let board = Board::default();
        let id = board.claim("api@1");
        let waiting = tokio::spawn({
            let board = board.clone();
            async move { wait_up(&board, "api@1").await }
        });
        board.post("api@1", id, up(&Phase::GivenUp { restarts: 5, last: "exit code 1".into() }));
        let result = tokio::time::timeout(std::time::Duration::from_secs(5), waiting).await.expect("bounded");
        assert_eq!(result.expect("joined"), Err("it gave up restarting".to_string()));
    }
}
