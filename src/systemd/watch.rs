//! Wakes whoever waits on a unit the moment systemd says it changed.
//!
//! One match rule (every signal systemd sends) and systemd's `Subscribe()`,
//! not one PropertiesChanged match per unit: the system bus allows a
//! connection 512 match rules, and 1,500 workers each waiting would hit
//! that. A signal goes only to the waiters of its unit, as a [`Change`]
//! they apply to the state they read ([`super::view::UnitView`]): a
//! PropertiesChanged carries every property of its interface that
//! systemd announces, so no read follows it. Where systemd cannot be
//! subscribed to, [`Watch::live`] is false and waiters poll.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_core::Stream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use zbus::message::Type;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath, OwnedVariant};

use super::view::KEPT;

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
/// Where systemd serves its units' objects.
const UNIT_PATHS: &str = "/org/freedesktop/systemd1/unit/";
/// Signals queued before the dispatcher takes them. When full, zbus stops
/// reading the connection until the dispatcher (which never waits) has
/// taken some; 1,500 units starting at once send tens of thousands of
/// signals, and a short queue bounds how many wait in memory.
const QUEUED: usize = 256;

/// Changes queued for one waiter; one that falls further behind reads the
/// unit anew.
const BACKLOG: usize = 16;

/// The waiters, by unit object path.
type Waiters = Arc<Mutex<HashMap<String, Vec<Waiter>>>>;

/// One waiter's queue, and whether a change did not fit in it.
/// A queue per waiter, not a broadcast channel per unit: a broadcast
/// channel keeps its last BACKLOG changes after everyone has read them,
/// about 20 KiB per running worker (30 MiB with 1,500 workers).
#[derive(Debug)]
struct Waiter {
    queue: mpsc::Sender<Arc<Change>>,
    lost: Arc<AtomicBool>,
}

/// What systemd said about a unit, in the order it said it: `serial` is
/// systemd's serial number of the signal, which orders it against its
/// replies to our reads.
#[derive(Debug)]
pub struct Change {
    pub serial: u32,
    pub what: What,
}

#[derive(Debug)]
pub enum What {
    /// PropertiesChanged: the interface and its announced properties.
    Properties(String, HashMap<String, OwnedVariant>),
    /// UnitNew: loaded (again).
    Loaded,
    /// UnitRemoved: collected.
    Removed,
    /// Changes were lost (this waiter fell behind): read the unit anew.
    Lost,
}

/// The dispatcher of systemd's signals (see the module doc); cheap to share.
#[derive(Debug)]
pub struct Watch {
    waiters: Waiters,
    live: bool,
    task: Option<AbortHandle>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Watch {
    /// Subscribes to systemd's signals on `conn`; a watch that is not
    /// live when systemd or the bus refuses (waiters then poll).
    pub async fn start(conn: &Connection) -> Watch {
        let waiters = Waiters::default();
        match subscribe(conn).await {
            Ok(stream) => {
                let task = tokio::spawn(dispatch(stream, waiters.clone())).abort_handle();
                Watch { waiters, live: true, task: Some(task) }
            }
            Err(err) => {
                log::info!("cannot follow systemd's signals ({err}): unit states are polled");
                Watch { waiters, live: false, task: None }
            }
        }
    }

    /// Signals wake waiters, so a wait needs no short poll.
    pub fn live(&self) -> bool {
        self.live
    }

    /// Starts listening for changes of the unit `name`: what happens after
    /// this call wakes [`Changes::next`], so read the state after it.
    pub fn changes(&self, name: &str) -> Changes {
        let path = unit_path(name);
        let (queue, receiver) = mpsc::channel(BACKLOG);
        let lost = Arc::new(AtomicBool::new(false));
        let waiter = Waiter { queue, lost: lost.clone() };
        self.waiters.lock().expect("never poisoned").entry(path.clone()).or_default().push(waiter);
        Changes { receiver, lost, path, waiters: self.waiters.clone() }
    }
}

/// A listener for one unit's changes; stops listening when dropped.
pub struct Changes {
    receiver: mpsc::Receiver<Arc<Change>>,
    /// Set by the dispatcher when a change did not fit in the queue.
    lost: Arc<AtomicBool>,
    path: String,
    waiters: Waiters,
}

impl Changes {
    /// The next change of the unit since the last call (or since
    /// [`Watch::changes`]); [`What::Lost`] once after some did not fit.
    pub async fn next(&mut self) -> Arc<Change> {
        // Lost before what is still queued: the waiter reads the unit anew,
        // and the queued changes older than that read are then skipped.
        if self.lost.swap(false, Ordering::Relaxed) {
            return Arc::new(Change { serial: 0, what: What::Lost });
        }
        match self.receiver.recv().await {
            Some(change) => change,
            // The sender is only dropped with the watch: nothing will come.
            None => std::future::pending().await,
        }
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        let mut waiters = self.waiters.lock().expect("never poisoned");
        if let Some(of_unit) = waiters.get_mut(&self.path) {
            of_unit.retain(|waiter| !Arc::ptr_eq(&waiter.lost, &self.lost));
            if of_unit.is_empty() {
                waiters.remove(&self.path);
            }
        }
    }
}

/// Adds the match rule, then asks systemd to send its signals.
async fn subscribe(conn: &Connection) -> zbus::Result<MessageStream> {
    let rule = MatchRule::builder().msg_type(Type::Signal).sender(SYSTEMD).build()?;
    let stream = MessageStream::for_match_rule(rule, conn, NonZeroUsize::new(QUEUED)).await?;
    conn.call_method(Some(SYSTEMD), MANAGER_PATH, Some(MANAGER), "Subscribe", &()).await?;
    Ok(stream)
}

/// Hands every signal about a unit to that unit's waiters, for as long as
/// the connection lives.
async fn dispatch(mut stream: MessageStream, waiters: Waiters) {
    while let Some(message) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await {
        let Ok(message) = message else { continue };
        let Some(path) = unit_of(&message) else { continue };
        if !waiters.lock().expect("never poisoned").contains_key(&path) {
            continue;
        }
        // Decoded outside the lock, which new and ending waiters take too.
        if let Some(change) = change_of(&message) {
            deliver(&waiters, &path, Arc::new(change));
        }
    }
}

/// Queues `change` for every waiter of the unit at `path`; one whose
/// queue is full is told it lost changes instead. Never waits.
fn deliver(waiters: &Waiters, path: &str, change: Arc<Change>) {
    let by_unit = waiters.lock().expect("never poisoned");
    for waiter in by_unit.get(path).into_iter().flatten() {
        if let Err(mpsc::error::TrySendError::Full(_)) = waiter.queue.try_send(change.clone()) {
            waiter.lost.store(true, Ordering::Relaxed);
        }
    }
}

/// The unit object a signal is about: its path for PropertiesChanged, the
/// path argument of UnitNew and UnitRemoved (sent from the manager's path).
fn unit_of(message: &Message) -> Option<String> {
    let header = message.header();
    let path = header.path()?.as_str();
    if path.starts_with(UNIT_PATHS) {
        return Some(path.to_string());
    }
    match header.member()?.as_str() {
        "UnitNew" | "UnitRemoved" => {
            let (_, unit): (String, OwnedObjectPath) = message.body().deserialize().ok()?;
            Some(unit.as_str().to_string())
        }
        _ => None,
    }
}

/// The change a signal announces; `None` for signals that change nothing
/// a waiter reads (a job's own PropertiesChanged, ...).
fn change_of(message: &Message) -> Option<Change> {
    let header = message.header();
    let serial = header.primary().serial_num().get();
    let what = match header.member()?.as_str() {
        "PropertiesChanged" => {
            let (interface, mut changed, _): (String, HashMap<String, OwnedVariant>, Vec<String>) =
                message.body().deserialize().ok()?;
            // Queued for waiters that may be slow to take it: only what a view keeps.
            changed.retain(|name, _| KEPT.contains(&name.as_str()));
            What::Properties(interface, changed)
        }
        "UnitNew" => What::Loaded,
        "UnitRemoved" => What::Removed,
        _ => return None,
    };
    Some(Change { serial, what })
}

/// The object path systemd serves a unit at: every byte but an ASCII
/// letter (or a digit past the first) as `_xx`, as systemd's
/// `bus_label_escape` does.
pub fn unit_path(name: &str) -> String {
    let mut path = String::from(UNIT_PATHS);
    if name.is_empty() {
        path.push('_');
    }
    for (i, byte) in name.bytes().enumerate() {
        if byte.is_ascii_alphabetic() || (i > 0 && byte.is_ascii_digit()) {
            path.push(char::from(byte));
        } else {
            path.push_str(&format!("_{byte:02x}"));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The paths systemd 252 answers GetUnit with.
    #[test]
    fn unit_paths_are_escaped_as_systemd_does() {
        assert_eq!(unit_path("dbus.service"), "/org/freedesktop/systemd1/unit/dbus_2eservice");
        assert_eq!(
            unit_path("healthmon-api@2.service"),
            "/org/freedesktop/systemd1/unit/healthmon_2dapi_402_2eservice"
        );
        assert_eq!(unit_path("1a.service"), "/org/freedesktop/systemd1/unit/_31a_2eservice");
        assert_eq!(unit_path(""), "/org/freedesktop/systemd1/unit/_");
    }

    fn loaded(serial: u32) -> Arc<Change> {
        Arc::new(Change { serial, what: What::Loaded })
    }

    async fn serial_of(changes: &mut Changes) -> u32 {
        let change = changes.next().await;
        match change.what {
            What::Lost => 0,
            _ => change.serial,
        }
    }

    /// Each waiter of a unit gets its changes in order; one that falls more
    /// than BACKLOG behind is told once that it lost some, before what is
    /// still queued; a dropped waiter leaves nothing behind.
    #[tokio::test]
    async fn waiters_get_their_changes_or_learn_they_lost_some() {
        let watch = Watch { waiters: Waiters::default(), live: true, task: None };
        let mut first = watch.changes("a.service");
        let mut second = watch.changes("a.service");
        let other = watch.changes("b.service");
        let path = unit_path("a.service");
        deliver(&watch.waiters, &path, loaded(1));
        assert_eq!(serial_of(&mut first).await, 1);
        for serial in 2..=(BACKLOG as u32 + 2) {
            deliver(&watch.waiters, &path, loaded(serial));
        }
        assert_eq!(serial_of(&mut first).await, 0, "lost comes first");
        assert_eq!(serial_of(&mut first).await, 2);
        assert_eq!(serial_of(&mut second).await, 0);
        assert_eq!(serial_of(&mut second).await, 1);
        assert!(other.receiver.is_empty(), "another unit's waiter got nothing");

        drop(first);
        assert_eq!(watch.waiters.lock().unwrap()[&path].len(), 1);
        drop(second);
        drop(other);
        assert!(watch.waiters.lock().unwrap().is_empty());
    }
}
