//! `healthctl`: talks to the running healthmon over D-Bus. Parsing and
//! completions live here; the calls and the output live in
//! [`healthmon::client`], shared with `healthmon --status/--stop`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use healthmon::client::{self, completions, Command, Lever, ViewFlags};
use healthmon::dbus::Bus;
use healthmon::silences;
use healthmon::store::MAX_LIMIT;

/// Control and query the healthmon daemon.
#[derive(Debug, Parser)]
#[command(name = "healthctl", version, long_about = None)]
struct Cli {
    /// Which bus the daemon serves on.
    #[arg(long, value_name = "BUS", env = "HEALTHMON_BUS", value_enum, default_value_t = Bus::System, global = true)]
    bus: Bus,
    /// Show every cell in full instead of cutting it to the terminal's width.
    #[arg(short = 'l', long, global = true)]
    full: bool,
    /// Show times in UTC instead of the local time zone.
    #[arg(long, global = true)]
    utc: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Plugin status line, then workers and alerts; exit 0-3 (OK..UNKNOWN).
    Status {
        /// One JSON document: every Status() key, plus `workers` and `alerts`.
        #[arg(long)]
        json: bool,
    },
    /// Run a check cycle now; print what it found and did (exit as status).
    RunOnce {
        /// One JSON document: the cycle summary's keys, plus `findings`.
        #[arg(long)]
        json: bool,
    },
    /// Unresolved alerts, newest first.
    Alerts {
        /// Resolved alerts too.
        #[arg(long)]
        all: bool,
        /// At most this many (0 = 100; more than 1000 = 1000).
        #[arg(long, value_name = "N", default_value_t = 0)]
        limit: u32,
        /// One JSON array: id, time, severity, component, message, resolved.
        #[arg(long)]
        json: bool,
    },
    /// Mark an alert resolved.
    Resolve {
        /// The alert's id (see `healthctl alerts`).
        id: i64,
    },
    /// Recent health_metrics rows, newest first.
    Metrics {
        /// Only this component (e.g. `disk:/`, a worker's name).
        #[arg(long, value_name = "C")]
        component: Option<String>,
        /// At most this many (0 = 100; more than 1000 = 1000).
        #[arg(long, value_name = "N", default_value_t = 0)]
        limit: u32,
        /// One JSON array: time, component, metric_type, status, action_taken, details.
        #[arg(long)]
        json: bool,
    },
    /// Each worker's state, pid and restarts.
    Workers {
        /// One JSON array: name, state, pid, restarts, detail.
        #[arg(long)]
        json: bool,
    },
    /// Re-read the configuration (as SIGHUP does).
    Reload,
    /// Start workers stopped by an administrator (or given up, with a fresh budget).
    Start {
        #[arg(value_name = "WORKER", required = true)]
        workers: Vec<String>,
    },
    /// Stop workers; they stay stopped across reloads, restarts and reboots
    /// until started. (To stop healthmon itself: `healthctl shutdown`.)
    Stop {
        #[arg(value_name = "WORKER")]
        workers: Vec<String>,
    },
    /// Restart workers (not counted against their restart budget).
    Restart {
        #[arg(value_name = "WORKER", required = true)]
        workers: Vec<String>,
    },
    /// Stop the daemon gracefully (what `stop` did in 0.1).
    Shutdown,
    /// One worker in detail: state and since when, desired state, pid, unit, last exit.
    Worker {
        #[arg(value_name = "WORKER")]
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// A worker's output from the journal (journalctl -t WORKER, or -u UNIT for unit workers).
    Logs {
        #[arg(value_name = "WORKER")]
        name: String,
        /// Keep printing new lines as they come.
        #[arg(short, long)]
        follow: bool,
        /// How many of the last lines to show.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
        lines: u32,
    },
    /// Hold back notifications of a component's alerts (exact name, or a prefix ending in `*`).
    Silence {
        /// The component (`assigner_worker`, `disk:/`) or a prefix such as `disk:*`.
        #[arg(value_name = "COMPONENT", required_unless_present = "all")]
        component: Option<String>,
        /// How long: `30m`, `2h`, `1d` (at most 30 days).
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why, shown by `healthctl silences`.
        #[arg(long, value_name = "TEXT", default_value = "")]
        reason: String,
        /// Silence every component (a bare `*` needs this).
        #[arg(long)]
        all: bool,
    },
    /// Silences in force.
    Silences {
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Unsilence {
        /// The silence's id (see `healthctl silences`).
        id: i64,
    },
    /// Print a shell completion script (packaging installs them).
    #[command(hide = true)]
    Completions { shell: Shell },
    /// Worker names, one a line, for the completion scripts.
    #[command(hide = true, name = "__workers")]
    WorkerNames,
}

/// Exit code of a usage error: UNKNOWN (3) for the monitoring-plugin
/// commands, as the plugin guidelines ask for bad arguments (clap's own 2
/// would read as CRITICAL); a plain error (1) for the others.
fn usage_error_code() -> u8 {
    let plugin = std::env::args().skip(1).any(|a| a == "status" || a == "run-once");
    if plugin {
        3
    } else {
        1
    }
}

/// A usage error of our own, in clap's words and with its exit code (1).
fn usage(message: &str) -> ExitCode {
    let err = Cli::command().error(clap::error::ErrorKind::InvalidValue, message);
    let _ = err.print();
    ExitCode::from(usage_error_code())
}

/// `silence`'s arguments checked here, so a mistake is a usage error
/// before anything reaches the daemon.
fn silence(component: Option<String>, duration: &str, reason: String, all: bool) -> Result<Command, String> {
    let component = match (component, all) {
        (None, true) => silences::EVERYTHING.to_string(),
        (Some(c), true) if c != silences::EVERYTHING => {
            return Err(format!("--all silences every component; give either --all or the component {c:?}, not both"))
        }
        (Some(c), _) => c,
        (None, false) => return Err("name the component to silence (or --all for every component)".into()),
    };
    let parsed = healthmon::config::duration::parse(duration).map_err(|err| format!("--for {duration:?}: {err}"))?;
    // Round a fraction of a second up: `--for 500ms` is one second, not none.
    let seconds = parsed.as_secs() + u64::from(parsed.subsec_nanos() > 0);
    silences::validate(&component, seconds, &reason, all).map_err(|err| err.to_string())?;
    Ok(Command::Silence { component, seconds, reason, all })
}

fn main() -> ExitCode {
    // `healthctl ... | head`: end quietly by SIGPIPE when the reader goes,
    // as other command-line tools do (Rust ignores it, and println! panics).
    // SAFETY: no other thread runs yet, and no handler is installed.
    let _ =
        unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { ExitCode::from(usage_error_code()) } else { ExitCode::SUCCESS };
        }
    };
    let command = match cli.command {
        Cmd::Status { json } => Command::Status { json },
        Cmd::RunOnce { json } => Command::RunOnce { json },
        Cmd::Alerts { all, limit, json } => Command::Alerts { all, limit: limit.min(MAX_LIMIT), json },
        Cmd::Resolve { id } => Command::Resolve { id },
        Cmd::Metrics { component, limit, json } => Command::Metrics { component, limit: limit.min(MAX_LIMIT), json },
        Cmd::Workers { json } => Command::Workers { json },
        Cmd::Reload => Command::Reload,
        Cmd::Start { workers } => Command::Lever { lever: Lever::Start, names: workers },
        Cmd::Stop { workers } if workers.is_empty() => {
            return usage(
                "`healthctl stop` needs one or more worker names; to stop healthmon itself, use `healthctl shutdown`",
            )
        }
        Cmd::Stop { workers } => Command::Lever { lever: Lever::Stop, names: workers },
        Cmd::Restart { workers } => Command::Lever { lever: Lever::Restart, names: workers },
        Cmd::Shutdown => Command::Shutdown,
        Cmd::Worker { name, json } => Command::Worker { name, json },
        Cmd::Logs { name, follow, lines } => Command::Logs { name, follow, lines },
        Cmd::Silence { component, duration, reason, all } => match silence(component, &duration, reason, all) {
            Ok(command) => command,
            Err(message) => return usage(&message),
        },
        Cmd::Silences { json } => Command::Silences { json },
        Cmd::Unsilence { id } => Command::Unsilence { id },
        Cmd::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "healthctl", &mut script);
            print!("{}", completions::with_worker_names(shell, &String::from_utf8_lossy(&script)));
            return ExitCode::SUCCESS;
        }
        Cmd::WorkerNames => Command::WorkerNames,
    };
    ExitCode::from(client::run(cli.bus, command, ViewFlags { full: cli.full, utc: cli.utc }))
}
