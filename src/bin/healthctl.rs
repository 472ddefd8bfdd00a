//! `healthctl`: talks to the running healthmon over D-Bus. Parsing and
//! completions live here; the calls and the output live in
//! [`healthmon::client`], shared with `healthmon --status/--stop`.

use std::io;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

use healthmon::client::{self, Command};
use healthmon::dbus::Bus;
use healthmon::store::MAX_LIMIT;

/// Control and query the healthmon daemon.
#[derive(Debug, Parser)]
#[command(name = "healthctl", version, long_about = None)]
struct Cli {
    /// Which bus the daemon serves on.
    #[arg(long, value_name = "BUS", env = "HEALTHMON_BUS", value_enum, default_value_t = Bus::System, global = true)]
    bus: Bus,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Summary, workers and unresolved alerts; exit 0/1/2 healthy/warning/critical, 3 unknown.
    Status {
        /// One JSON document: every Status() key, plus `workers` and `alerts`.
        #[arg(long)]
        json: bool,
    },
    /// Run a check cycle now and print what it found and did (exit codes as status).
    RunOnce {
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
        #[arg(long)]
        json: bool,
    },
    /// Each worker's state, pid and restarts.
    Workers {
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
        Cmd::Alerts { all, limit, json } => Command::Alerts { all, limit: limit.min(MAX_LIMIT), json },
        Cmd::Resolve { id } => Command::Resolve { id },
        Cmd::Metrics { component, limit, json } => Command::Metrics { component, limit: limit.min(MAX_LIMIT), json },
        Cmd::Workers { json } => Command::Workers { json },
        Cmd::Reload => Command::Reload,
        Cmd::Stop => Command::Stop,
        Cmd::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "healthctl", &mut io::stdout());
            return ExitCode::SUCCESS;
        }
    };
    ExitCode::from(client::run(cli.bus, command))
}
