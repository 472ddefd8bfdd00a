//! The `healthmon` daemon binary: arguments → logging → settings → mode →
//! exit code. Everything else lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use healthmon::client::{self, Command, ViewFlags};
use healthmon::config::{self, ConfigError, Settings};
use healthmon::daemon::{self, DaemonError};
use healthmon::dbus::AlertEntry;
use healthmon::dbus::Bus;
use healthmon::engine::{CycleSummary, Engine, Section};
use healthmon::journal::Journal;
use healthmon::model::Status;
use healthmon::notifier::Dispatch;
use healthmon::prometheus;
use healthmon::report;
use healthmon::selfcheck;
use healthmon::store::{Store, StoreHandle};
use healthmon::table::View;
use healthmon::workers;

/// Exit code for an invalid configuration (sysexits EX_CONFIG).
const EX_CONFIG: u8 = 78;

/// How long `--once` waits for its notifications before exiting.
const NOTIFY_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Self-healing health monitor: workers, tmux sessions, SQLite locks, disk.
#[derive(Debug, Parser)]
#[command(name = "healthmon", version, about, long_about = None)]
struct Args {
    /// Run one full check cycle without D-Bus, print the report, exit 0/1/2.
    #[arg(long, conflicts_with_all = ["check_config", "daemon", "status", "stop"])]
    once: bool,
    /// Validate the config (file + drop-ins), print the effective config, exit.
    #[arg(long, conflicts_with_all = ["daemon", "status", "stop"])]
    check_config: bool,
    /// Main config file (its drop-in dir is PATH's dir + conf.d/).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Which bus to serve on.
    #[arg(long, value_name = "BUS", env = "HEALTHMON_BUS", value_enum, default_value_t = Bus::System)]
    bus: Bus,
    /// Override the SQLite database path.
    #[arg(long, value_name = "PATH")]
    database: Option<PathBuf>,
    /// Detect and report everything, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --once: print the report as one JSON document.
    #[arg(long, requires = "once")]
    json: bool,
    /// With --once: also write each event line to stderr (outside journald).
    #[arg(short, long, requires = "once")]
    verbose: bool,
    /// Compatibility: run in the foreground as a service (the default).
    #[arg(long)]
    daemon: bool,
    /// Compatibility: what `healthctl status` does.
    #[arg(long, conflicts_with = "stop")]
    status: bool,
    /// Compatibility: what `healthctl shutdown` does.
    #[arg(long)]
    stop: bool,
    /// For the unit's ExecStopPost=: stop every worker unit when
    /// healthmon.service is being stopped (a stop job), else nothing.
    #[arg(long, conflicts_with_all = ["once", "check_config", "daemon", "status", "stop"])]
    stop_workers: bool,
}

/// Why the program stopped, mapped to an exit code in one place.
#[derive(Debug, thiserror::Error)]
enum Fatal {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] healthmon::store::StoreError),
    #[error("{0}")]
    Daemon(DaemonError),
    #[error("{0}")]
    Other(String),
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let args = Args::parse();
    healthmon::journal::init_logging();
    match run(args) {
        Ok(code) => ExitCode::from(code),
        Err(Fatal::Config(err)) => {
            eprintln!("healthmon: invalid configuration:\n{err}");
            ExitCode::from(EX_CONFIG)
        }
        Err(err) => {
            eprintln!("healthmon: {err}");
            ExitCode::from(1)
        }
    }
}

/// glibc gives every thread that allocates its own arena (64 MiB of
/// address space, a few hundred KiB resident each); a monitor whose blocking
/// pool comes and goes needs two. Set in-process rather than through
/// MALLOC_ARENA_MAX in the unit, so the workers healthmon starts do not
/// inherit the limit.
fn limit_malloc_arenas() {
    // SAFETY: mallopt only tunes the allocator; called before any thread exists.
    unsafe {
        nix::libc::mallopt(nix::libc::M_ARENA_MAX, 2);
    }
}

fn run(args: Args) -> Result<u8, Fatal> {
    if args.check_config {
        return check_config(&args);
    }
    if args.status {
        return Ok(client::run(args.bus, Command::Status { json: false }, ViewFlags::default()));
    }
    if args.stop {
        return Ok(client::run(args.bus, Command::Shutdown, ViewFlags::default()));
    }
    if args.stop_workers {
        return stop_workers();
    }
    if args.once {
        let settings = load_settings(&args)?;
        return once(&args, settings);
    }
    serve(args)
}

/// `--stop-workers` (see [`workers::launch::transient::stop_workers_if_stopping`]).
fn stop_workers() -> Result<u8, Fatal> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Fatal::Other(format!("cannot start the async runtime: {err}")))?;
    let done = runtime
        .block_on(workers::launch::transient::stop_workers_if_stopping())
        .map_err(|err| Fatal::Other(format!("cannot stop the workers: {err}")))?;
    eprintln!("healthmon: {done}");
    Ok(0)
}

/// The service (no mode flag, or `--daemon`): runs until stopped.
fn serve(args: Args) -> Result<u8, Fatal> {
    // Fork mode holds a pidfd and a pipe per worker; 1024 is the unit's soft limit.
    if let Err(err) = healthmon::process::limits::raise_nofile() {
        log::warn!("cannot raise the open-file limit to its hard limit: {err}");
    }
    let opts = daemon::Options { config: args.config, database: args.database, bus: args.bus, dry_run: args.dry_run };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Fatal::Other(format!("cannot start the async runtime: {err}")))?;
    let result = runtime.block_on(daemon::run(opts, std::future::pending()));
    // A check hung in the kernel holds a blocking thread for ever: never
    // wait for it on the way out.
    runtime.shutdown_background();
    match result {
        Ok(()) => Ok(0),
        Err(DaemonError::Config(err)) => Err(Fatal::Config(err)),
        Err(err) => Err(Fatal::Daemon(err)),
    }
}

/// One cycle plus what follows it outside dry run: the Prometheus export
/// and the notifications for alerts it raised or resolved.
async fn once_cycle(settings: &Settings, engine: &mut Engine) -> CycleSummary {
    let extra = if settings.workers.is_empty() {
        Vec::new()
    } else {
        let findings = workers::once(&settings.workers, engine.dry_run()).await;
        vec![Section { check: workers::SECTION.into(), findings }]
    };
    let summary = engine.run_cycle(extra).await;
    if engine.dry_run() {
        return summary;
    }
    // --once supervises nothing, so it has no worker states to show.
    if let Some(export) =
        prometheus::export(settings, engine, summary.state, worker_counts(settings, &summary), Vec::new())
    {
        if tokio::time::timeout(settings.monitor.check_timeout, export).await.is_err() {
            log::warn!(
                "prometheus export still stuck after {}s; not waiting for it",
                settings.monitor.check_timeout.as_secs()
            );
        }
    }
    let (failures_tx, mut failures) = tokio::sync::mpsc::unbounded_channel();
    let notifications = Dispatch::new(settings.notify.as_ref(), failures_tx);
    let (raised, resolved) = summary.to_notify();
    notifications.alerts(&raised, &resolved);
    notifications.finish(NOTIFY_WAIT).await;
    while let Ok(findings) = failures.try_recv() {
        engine.record_event("notify", findings).await;
    }
    summary
}

/// Healthy and total workers as this cycle's `worker_status` findings say
/// (`--once` supervises nothing, so none has given up).
fn worker_counts(settings: &Settings, summary: &CycleSummary) -> prometheus::WorkerCounts {
    let healthy = summary
        .sections
        .iter()
        .flat_map(|s| &s.findings)
        .filter(|f| f.metric_type == workers::STATUS_METRIC && f.status == Status::Healthy)
        .count();
    prometheus::WorkerCounts {
        healthy: healthy as u32,
        total: settings.workers.len() as u32,
        given_up: 0,
        usage: Vec::new(),
    }
}

fn load_settings(args: &Args) -> Result<Settings, Fatal> {
    let mut settings = config::load(args.config.as_deref())?;
    if let Some(db) = &args.database {
        settings.monitor.database = db.clone();
    }
    Ok(settings)
}

/// Validates and prints the effective config; what is valid but cannot
/// work (or does nothing) is warned about on stderr, still exit 0.
fn check_config(args: &Args) -> Result<u8, Fatal> {
    let (mut settings, warnings) = config::load_checked(args.config.as_deref())?;
    if let Some(db) = &args.database {
        settings.monitor.database = db.clone();
    }
    for warning in &warnings {
        eprintln!("healthmon: warning: {warning}");
    }
    print!("{}", config::render(&settings));
    Ok(0)
}

/// `--once`: one cycle with no bus; exit 0/1/2 for healthy/warning/critical.
fn once(args: &Args, settings: Settings) -> Result<u8, Fatal> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| Fatal::Other(format!("cannot start the async runtime: {err}")))?;
    // Never moved aside here: --once may run beside a daemon using the file.
    let store = Store::open(&settings.monitor.database)
        .and_then(Store::verify)
        .map_err(|err| Fatal::Other(selfcheck::once_hint(&err)))?;
    // Outside journald the events would repeat the report on stderr.
    let journal = Arc::new(if args.verbose { Journal::detect() } else { Journal::detect().quiet_on_stderr() });
    let mut engine =
        Engine::new(&settings, StoreHandle::new(store), journal, args.dry_run).resolving_only_what_it_sees();
    let summary = runtime.block_on(once_cycle(&settings, &mut engine));
    let open = runtime.block_on(engine.store().call(|s| s.unresolved()));
    // A check abandoned at its timeout may still hold a blocking thread.
    runtime.shutdown_background();
    let dry_run = engine.dry_run();
    if args.json {
        let doc = report::render_json(&summary, engine.counters(), dry_run);
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let open: Vec<AlertEntry> = match open {
            Ok(rows) => rows.into_iter().map(AlertEntry::from).collect(),
            Err(err) => {
                eprintln!("healthmon: cannot read the open alerts: {err}");
                Vec::new()
            }
        };
        let view = View::detect(false, false);
        print!("{}", report::render_text(&summary, engine.counters(), 1, dry_run, &open, &view));
    }
    Ok(summary.state.exit_code())
}
