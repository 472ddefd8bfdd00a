//! The vocabulary shared by checks, the engine, the store and the D-Bus API.

use std::fmt;

/// The details of the finding that resolves the alert of a component no
/// longer reported (the engine adds it; flap damping lets it through).
pub const ENDED: &str = "no longer watched: ended or removed from the configuration";

/// The `status` column of `health_metrics` (fixed by the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Healthy,
    Unhealthy,
    Error,
    Recovered,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Unhealthy => "unhealthy",
            Status::Error => "error",
            Status::Recovered => "recovered",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `severity` column of `health_alerts`; ordered so that
/// `Critical > Warning > Info` (used by `min_severity` filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::Warning => "WARNING",
            Severity::Info => "INFO",
        }
    }

    /// Parses the contract's spelling (`CRITICAL`, `WARNING`, `INFO`).
    pub fn parse(s: &str) -> Option<Severity> {
        match s {
            "CRITICAL" => Some(Severity::Critical),
            "WARNING" => Some(Severity::Warning),
            "INFO" => Some(Severity::Info),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The overall state of the host as the D-Bus `State` property reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostState {
    Healthy,
    Degraded,
    Critical,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Healthy => "healthy",
            HostState::Degraded => "degraded",
            HostState::Critical => "critical",
        }
    }

    /// The monitoring-plugin exit code: 0 healthy, 1 warning, 2 critical.
    pub fn exit_code(self) -> u8 {
        match self {
            HostState::Healthy => 0,
            HostState::Degraded => 1,
            HostState::Critical => 2,
        }
    }

    pub fn parse(s: &str) -> Option<HostState> {
        match s {
            "healthy" => Some(HostState::Healthy),
            "degraded" => Some(HostState::Degraded),
            "critical" => Some(HostState::Critical),
            _ => None,
        }
    }

    /// The state implied by the worst unresolved alert.
    pub fn from_worst(worst: Option<Severity>) -> HostState {
        match worst {
            Some(Severity::Critical) => HostState::Critical,
            Some(Severity::Warning) => HostState::Degraded,
            Some(Severity::Info) | None => HostState::Healthy,
        }
    }
}

/// Which Status counter a recovery action increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    WorkerRestarted,
    SessionCleared,
    LockCleared,
    DiskCleanup,
    /// An action that feeds no counter (e.g. a WAL checkpoint, a Ctrl+C
    /// that was recorded elsewhere).
    Other,
}

/// A recovery action a check took (or, in dry-run, would have taken).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    /// The `action_taken` column: short, e.g. `restarted`, `deleted 12 files (3.1 MiB)`.
    pub taken: String,
}

/// An ongoing problem. While a check keeps reporting it for the same
/// component and metric type, one alert stays open and is updated; when a
/// finding for that pair comes without a problem, the alert resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    /// The alert message a person reads.
    pub message: String,
}

/// One result of one check for one component: becomes one metric row, at
/// most one journal entry, and raises/updates/resolves at most one alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `disk:/`, `tmux:SESSION`, `sqlite:PATH` or a worker's name.
    pub component: String,
    /// What was measured, e.g. `disk_usage`, `stuck_session`, `db_lock`.
    /// Together with `component` it is the alert's identity.
    pub metric_type: String,
    pub status: Status,
    /// Free text for the `details` column (numbers, exit codes, pids).
    pub details: String,
    pub action: Option<Action>,
    /// `Some` keeps an alert open for (component, metric_type); `None`
    /// resolves one if it is open.
    pub problem: Option<Problem>,
    /// The number behind the metric for the `value` column (e.g. used
    /// bytes of a disk, bytes of a WAL), so trends need no parsing.
    pub value: Option<i64>,
}

impl Finding {
    /// A plain healthy result that resolves any open alert for the pair.
    pub fn healthy(
        component: impl Into<String>,
        metric_type: impl Into<String>,
        details: impl Into<String>,
    ) -> Finding {
        Finding {
            component: component.into(),
            metric_type: metric_type.into(),
            status: Status::Healthy,
            details: details.into(),
            action: None,
            problem: None,
            value: None,
        }
    }

    /// A result with a problem that keeps an alert open.
    pub fn problem(
        component: impl Into<String>,
        metric_type: impl Into<String>,
        status: Status,
        severity: Severity,
        message: impl Into<String>,
        details: impl Into<String>,
    ) -> Finding {
        Finding {
            component: component.into(),
            metric_type: metric_type.into(),
            status,
            details: details.into(),
            action: None,
            problem: Some(Problem { severity, message: message.into() }),
            value: None,
        }
    }

    pub fn with_value(mut self, value: i64) -> Finding {
        self.value = Some(value);
        self
    }

    pub fn with_action(mut self, kind: ActionKind, taken: impl Into<String>) -> Finding {
        self.action = Some(Action { kind, taken: taken.into() });
        self
    }
}
