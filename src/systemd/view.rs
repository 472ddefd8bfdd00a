//! A unit's properties as read once and then kept current by systemd's
//! signals ([`super::watch`]), so waiting for a unit to change costs no
//! further reads: systemd's GetAll of a service takes it 1–2 ms (it reads
//! the unit's control-group accounting), and 100 workers restarting at
//! once each waited through several.
//!
//! A signal older than the read is skipped: systemd numbers its replies
//! and signals in one sequence on its connection, so a signal with a lower
//! serial than the reply that carried an interface's properties was sent
//! before them.

use std::collections::HashMap;

use zbus::{OwnedObjectPath, OwnedVariant};

use super::manager::UnitState;
use super::watch::{Change, What};

pub(super) const UNIT: &str = "org.freedesktop.systemd1.Unit";
pub(super) const SERVICE: &str = "org.freedesktop.systemd1.Service";

/// One interface's properties, and the serial of the reply or signal that
/// brought them (0 = none read).
#[derive(Debug, Clone, Default)]
pub(super) struct Props {
    pub values: HashMap<String, OwnedVariant>,
    pub serial: u32,
}

/// The properties a [`UnitState`] is made of; the rest of a GetAll (a
/// service has about 250) is dropped at once: with 1,500 workers starting
/// together, whole views held across the wait took 25 MiB.
pub(super) const KEPT: [&str; 12] = [
    "LoadState",
    "ActiveState",
    "SubState",
    "Description",
    "ActiveEnterTimestamp",
    "Job",
    "MainPID",
    "NRestarts",
    "Result",
    "ExecMainCode",
    "ExecMainStatus",
    "StatusText",
];

impl Props {
    pub fn new(values: HashMap<String, OwnedVariant>, serial: u32) -> Props {
        Props { values, serial }
    }

    /// Only what a [`UnitState`] is made of.
    pub(super) fn trimmed(mut self) -> Props {
        self.values.retain(|name, _| KEPT.contains(&name.as_str()));
        self.values.shrink_to_fit();
        self
    }

    pub fn get<T: TryFrom<OwnedVariant>>(&self, name: &str) -> Option<T> {
        self.values.get(name).cloned().and_then(|v| T::try_from(v).ok())
    }

    pub fn string(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }

    /// Takes what a later signal announces.
    fn update(&mut self, serial: u32, changed: &HashMap<String, OwnedVariant>) {
        if serial > self.serial {
            let kept = changed.iter().filter(|(name, _)| KEPT.contains(&name.as_str()));
            self.values.extend(kept.map(|(k, v)| (k.clone(), v.clone())));
            self.serial = serial;
        }
    }
}

/// A unit as last known: `None` when it is not loaded.
#[derive(Debug, Clone, Default)]
pub struct UnitView {
    pub(super) loaded: Option<(Props, Props)>,
    /// A start was queued and systemd has not said how the unit is since.
    start_queued: bool,
}

impl UnitView {
    /// A view of what was read (trimmed: see [`Props::trimmed`]).
    pub(super) fn read(unit: Props, service: Props) -> UnitView {
        UnitView { loaded: Some((unit, service)), start_queued: false }
    }

    /// The unit's state; `None` when it is not loaded.
    pub fn state(&self) -> Option<UnitState> {
        let (unit, service) = self.loaded.as_ref()?;
        let code: Option<i32> = service.get("ExecMainCode");
        let status: Option<i32> = service.get("ExecMainStatus");
        Some(UnitState {
            load: unit.string("LoadState"),
            active: unit.string("ActiveState"),
            sub: unit.string("SubState"),
            description: unit.string("Description"),
            main_pid: service.get("MainPID").unwrap_or(0),
            n_restarts: service.get("NRestarts"),
            result: service.get("Result"),
            exec_main: code.zip(status),
            active_since_usec: unit.get("ActiveEnterTimestamp").unwrap_or(0),
            job_pending: self.start_queued || unit.get::<(u32, OwnedObjectPath)>("Job").is_some_and(|(id, _)| id != 0),
            status_text: service.string("StatusText"),
        })
    }

    /// A start job was queued on the unit by the call systemd answered
    /// with `serial`: what it signalled before is older than the start, and
    /// until it signals the unit's state after it, the unit is not down
    /// (its last run's end is not this run's).
    pub fn start_queued(&mut self, serial: u32) {
        if let Some((unit, service)) = self.loaded.as_mut() {
            unit.serial = unit.serial.max(serial);
            service.serial = service.serial.max(serial);
            self.start_queued = true;
        }
    }

    /// Applies a change systemd signalled; false when the unit must be
    /// read anew (it was loaded again, or changes were lost).
    pub fn apply(&mut self, change: &Change) -> bool {
        match (&change.what, self.loaded.as_mut()) {
            (What::Properties(interface, changed), Some((unit, service))) => {
                match interface.as_str() {
                    UNIT if change.serial > unit.serial => {
                        unit.update(change.serial, changed);
                        self.start_queued = false;
                    }
                    SERVICE => service.update(change.serial, changed),
                    _ => {}
                }
                true
            }
            // A unit not loaded when read announces nothing until UnitNew.
            (What::Properties(..), None) => true,
            (What::Removed, _) => {
                let read_after = self.loaded.as_ref().is_some_and(|(u, s)| u.serial.max(s.serial) > change.serial);
                if !read_after {
                    self.loaded = None;
                }
                true
            }
            (What::Loaded, _) => self.loaded.as_ref().is_some_and(|(u, _)| u.serial > change.serial),
            (What::Lost, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> HashMap<String, OwnedVariant> {
        pairs.iter().map(|(k, v)| (k.to_string(), OwnedVariant::from(zbus::Str::from(v.to_string())))).collect()
    }

    fn change(serial: u32, what: What) -> Change {
        Change { serial, what }
    }

    fn view(active: &str, serial: u32) -> UnitView {
        let unit = Props::new(values(&[("ActiveState", active), ("Description", "d")]), serial);
        UnitView { loaded: Some((unit, Props::new(HashMap::new(), serial))), start_queued: false }
    }

    /// A signal sent after the read updates the state; one sent before it
    /// (a lower serial) is older than what was read and changes nothing.
    #[test]
    fn only_signals_after_the_read_count() {
        let mut unit = view("active", 10);
        assert!(unit.apply(&change(9, What::Properties(UNIT.into(), values(&[("ActiveState", "activating")])))));
        assert_eq!(unit.state().unwrap().active, "active");
        assert!(unit.apply(&change(11, What::Properties(UNIT.into(), values(&[("ActiveState", "failed")])))));
        let state = unit.state().unwrap();
        assert_eq!((state.active.as_str(), state.description.as_str()), ("failed", "d"), "the rest is kept");
    }

    /// A unit started again is not down on the strength of its last run,
    /// nor of what systemd signalled before the start; the first word
    /// about the unit after the start counts.
    #[test]
    fn a_queued_start_hides_the_last_run() {
        let mut unit = view("failed", 10);
        assert!(unit.state().unwrap().is_down());
        unit.start_queued(20);
        assert!(!unit.state().unwrap().is_down(), "queued");
        unit.apply(&change(15, What::Properties(UNIT.into(), values(&[("ActiveState", "inactive")]))));
        assert!(!unit.state().unwrap().is_down(), "a reset signalled before the start");
        unit.apply(&change(21, What::Properties(UNIT.into(), values(&[("ActiveState", "failed")]))));
        assert!(unit.state().unwrap().is_down(), "failed after the start");
    }

    /// A trimmed read keeps only what a state is made of (a service's
    /// GetAll has about 250 properties).
    #[test]
    fn a_read_keeps_only_the_state() {
        let read = |pairs: &[(&str, &str)]| Props::new(values(pairs), 1).trimmed();
        let unit = UnitView::read(read(&[("ActiveState", "active"), ("Names", "x")]), read(&[("ExecStart", "y")]));
        let (unit_props, service_props) = unit.loaded.as_ref().unwrap();
        assert_eq!((unit_props.values.len(), service_props.values.len()), (1, 0));
        assert_eq!(unit.state().unwrap().active, "active");
    }

    /// UnitRemoved after the read: not loaded. UnitNew or lost changes: read anew.
    #[test]
    fn removal_and_loss() {
        let mut unit = view("inactive", 10);
        assert!(unit.apply(&change(5, What::Removed)));
        assert!(unit.state().is_some(), "removed before the read, loaded again since");
        assert!(unit.apply(&change(12, What::Removed)));
        assert!(unit.state().is_none());
        assert!(!unit.apply(&change(13, What::Loaded)));
        assert!(!view("active", 10).apply(&change(0, What::Lost)));
    }
}
