//! healthmon: a systemd-native, self-healing health monitor.
//!
//! # Layout
//! A check cycle is: every [`checks::Check`] produces [`model::Finding`]s;
//! the [`engine`] turns them into metric rows and alerts (through [`store`]
//! and [`alerts`]), journal entries ([`journal`]) and counters. The daemon
//! loop ([`daemon`]) runs cycles on a timer, keeps the [`workers`]
//! supervised between cycles, serves D-Bus ([`dbus`], called by [`client`]
//! for `healthctl`), pings systemd ([`systemd`]), and after each cycle
//! tells people ([`notifier`]) and Prometheus ([`prometheus`]).
//! `healthmon --once` runs one cycle with no bus at all.

// One line per module for the reader of this file; each module's own
// documentation is its inner `//!` comment.
// Typed, validated settings built from the TOML files.
pub mod config;
// Shared vocabulary: statuses, severities, findings, actions.
pub mod model;
// One module per kind of check (disk, sessions, locks).
pub mod checks;
// Safe deletion (and archiving first) of aged files for disk cleanup rules (fd-relative, no symlinks followed).
pub mod cleanup;
// SQLite state: schema, migrations, metrics, alerts, retention.
pub mod store;
// Decides when an ongoing problem raises, updates or resolves an alert.
pub mod alerts;
// Maintenance silences: which alerts are held back from people and State.
pub mod silences;
// Flap damping: holds an alert that keeps changing state open as one.
pub mod flap;
// One check cycle: run checks under timeouts, record, alert, count.
pub mod engine;
// At most one run of each check in flight; late runs reported back.
pub mod inflight;
// journald entries with HEALTHMON_* fields; stderr lines elsewhere.
pub mod journal;
// sd_notify for Type=notify: ready, status, watchdog, reloading, stopping.
pub mod systemd;
// Where state lives by default (root vs. unprivileged user).
pub mod paths;
// One way to write durations, sizes, counts and times for people.
pub mod human;
// Views for people: the width, --full, the clock, and tables fitted to them.
pub mod table;
// Text and JSON renderings of a cycle (`--once`, `healthctl run-once`).
pub mod report;
// Worker supervision (command workers and systemd units).
pub mod workers;
// Alert notifications to people: webhook and command.
pub mod notifier;
// node_exporter textfile export.
pub mod prometheus;
// Processes: pidfd pinning, the signal guards, safe stopping (SIGTERM, grace, SIGKILL).
pub mod process;
// The D-Bus interface `org.healthmon.Monitor1`, its wire types and errors.
pub mod dbus;
// The monitor's own health: a broken state database never stops supervision.
pub mod selfcheck;
// The service: one loop owning engine, supervisor and settings.
pub mod daemon;
// The client side shared by `healthctl` and `healthmon --status/--stop`.
pub mod client;
