//! `healthctl`: talks to the running healthmon over D-Bus. Parsing and
//! completions live here; the calls and the output live in
//! [`healthmon::client`], shared with `healthmon --status/--stop`.

use std::io;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use healthmon::client::{self, Command, ViewFlags};
use healthmon::dbus::Bus;

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
        /// At most this many (0 = 100).
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
        /// At most this many (0 = 100).
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
    /// Stop the daemon gracefully.
    Stop,
    /// Print a shell completion script (packaging installs them).
    #[command(hide = true)]
    Completions { shell: Shell },
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

fn main() -> ExitCode {
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
        Cmd::Alerts { all, limit, json } => Command::Alerts { all, limit, json },
        Cmd::Resolve { id } => Command::Resolve { id },
        Cmd::Metrics { component, limit, json } => Command::Metrics { component, limit, json },
        Cmd::Workers { json } => Command::Workers { json },
        Cmd::Reload => Command::Reload,
        Cmd::Stop => Command::Stop,
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "healthctl", &mut io::stdout());
            return ExitCode::SUCCESS;
        }
    };
    ExitCode::from(client::run(cli.bus, command, ViewFlags { full: cli.full, utc: cli.utc }))
}
