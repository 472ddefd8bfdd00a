//! The disk forecast end to end: a real tmpfs filled at a steady rate by a
//! writer thread, real check cycles recording used bytes in a real state
//! database, and the `disk_forecast` WARNING raised from that history and
//! resolved once the disk stops growing. Needs root (mount).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthmon::config::{embedded_defaults, Settings};
use healthmon::engine::{CycleSummary, Engine};
use healthmon::journal::Journal;
use healthmon::store::{Store, StoreHandle};

mod common {
    pub mod fs;
}

use common::fs::Tmpfs;

/// Every wait in this file ends by then.
const DEADLINE: Duration = Duration::from_secs(60);

fn settings(disk: &Path, state: &Path) -> Settings {
    let mut settings = embedded_defaults();
    settings.monitor.database = state.join("health.db");
    settings.disk.paths = vec![disk.to_path_buf()];
    settings.disk.warning_percent = 99.0;
    settings.disk.critical_percent = 100.0;
    settings.disk.predict_window = Duration::from_secs(4);
    settings.disk.predict_horizon = Duration::from_secs(3600);
    settings
}

/// Appends 256 KiB every 50 ms (5 MiB/s) to `file` until told to stop or the disk is full.
fn fill_steadily(file: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut out = OpenOptions::new().create(true).append(true).open(&file).expect("open filler file");
        let chunk = vec![b'f'; 256 * 1024];
        while !stop.load(Ordering::SeqCst) && out.write_all(&chunk).and_then(|()| out.sync_data()).is_ok() {
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

fn used_bytes(path: &Path) -> u64 {
    let st = nix::sys::statvfs::statvfs(path).expect("statvfs");
    (st.blocks() - st.blocks_free()) * st.fragment_size()
}

/// Runs cycles, each once the disk's usage has moved on from the last
/// (or `pause` has passed, when it is not expected to move), until `done`.
async fn cycles_until(
    engine: &mut Engine,
    disk: &Path,
    moving: bool,
    done: impl Fn(&CycleSummary) -> bool,
) -> CycleSummary {
    let start = Instant::now();
    loop {
        let before = used_bytes(disk);
        let summary = engine.run_cycle(Vec::new()).await;
        if done(&summary) {
            return summary;
        }
        assert!(start.elapsed() < DEADLINE, "condition never met; last cycle: {:#?}", summary.sections);
        let step = Instant::now();
        while moving && used_bytes(disk) == before && step.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Samples are kept per second: let the clock move on between cycles.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A tmpfs filling at 5 MiB/s raises one "full in about N s (growing ...)" WARNING, which resolves once it stops growing.
#[tokio::test]
async fn steady_fill_raises_a_forecast_that_resolves_when_growth_stops() {
    let disk = Tmpfs::mount("64m");
    let state = tempfile::tempdir().unwrap();
    let settings = settings(disk.path(), state.path());
    let store = StoreHandle::new(Store::open(&settings.monitor.database).unwrap());
    let mut engine = Engine::new(&settings, store, Arc::new(Journal::stderr()), false);
    let stop = Arc::new(AtomicBool::new(false));
    let filler = fill_steadily(disk.path().join("growing.dat"), stop.clone());

    let raised =
        cycles_until(&mut engine, disk.path(), true, |s| s.raised.iter().any(|a| a.kind == "disk_forecast")).await;

    let alert = raised.raised.iter().find(|a| a.kind == "disk_forecast").unwrap();
    assert_eq!(alert.component, format!("disk:{}", disk.path().display()));
    assert_eq!(alert.severity.as_str(), "WARNING");
    let prefix = format!("{} full in about ", disk.path().display());
    assert!(alert.message.starts_with(&prefix) && alert.message.contains("(growing "), "{}", alert.message);
    assert!(alert.message.ends_with(" MiB/h)") || alert.message.ends_with(" GiB/h)"), "{}", alert.message);

    stop.store(true, Ordering::SeqCst);
    filler.join().unwrap();
    let resolved = cycles_until(&mut engine, disk.path(), false, |s| s.resolved.iter().any(|a| a.id == alert.id)).await;
    assert!(resolved.raised.iter().all(|a| a.kind != "disk_forecast"), "no new forecast once growth stopped");
}
