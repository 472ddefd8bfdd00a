//! The service end to end: the real `healthmon` on a private dbus-daemon,
//! called through `healthctl`, `busctl` and the generated zbus proxy, with
//! a real NOTIFY_SOCKET and the shipped system-bus policy.

#[path = "common/dbus.rs"]
mod common;

use std::collections::BTreeMap;
use std::pin::Pin;
use std::time::Duration;

use common::{as_nobody, json, ok_stdout, require_root, TestBus, TestDaemon, TIMEOUT};
use futures_core::Stream;
use healthmon::dbus::MonitorProxy;
use nix::sys::signal::Signal;
use serde_json::Value;

/// The `busctl --json=short` type letter of every key of an `a{sv}` reply.
fn dict_types(reply: &Value) -> BTreeMap<String, String> {
    assert_eq!(reply["type"], "a{sv}", "not an a{{sv}}: {reply}");
    reply["data"][0]
        .as_object()
        .expect("dict")
        .iter()
        .map(|(k, v)| (k.clone(), v["type"].as_str().expect("type").to_string()))
        .collect()
}

fn assert_keys(types: &BTreeMap<String, String>, expected: &[(&str, &str)]) {
    for (key, ty) in expected {
        assert_eq!(types.get(*key).map(String::as_str), Some(*ty), "key {key} should be {ty}: {types:?}");
    }
}

const STATUS_KEYS: &[(&str, &str)] = &[
    ("version", "s"),
    ("state", "s"),
    ("uptime_sec", "t"),
    ("checks_run", "t"),
    ("last_check", "x"),
    ("workers_total", "u"),
    ("workers_healthy", "u"),
    ("workers_restarted", "t"),
    ("sessions_cleared", "t"),
    ("locks_cleared", "t"),
    ("disk_cleanups", "t"),
    ("alerts_sent", "t"),
    ("unresolved_alerts", "u"),
];

const CYCLE_KEYS: &[(&str, &str)] = &[
    ("state", "s"),
    ("duration_ms", "t"),
    ("workers_restarted", "t"),
    ("sessions_cleared", "t"),
    ("locks_cleared", "t"),
    ("disk_cleanups", "t"),
    ("alerts_raised", "t"),
    ("alerts_resolved", "t"),
    ("actions", "as"),
];

/// Strips comments and collapses whitespace, for comparing XML.
fn normalise_xml(xml: &str) -> String {
    let mut out = String::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("-->").expect("closed comment") + start + 3;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out.split_whitespace().collect::<Vec<_>>().join(" ").replace("> <", "><")
}

/// Only the `org.healthmon.Monitor1` interface element.
fn our_interface(xml: &str) -> String {
    let start = xml.find(r#"<interface name="org.healthmon.Monitor1">"#).expect("our interface is present");
    let end = xml[start..].find("</interface>").expect("closed") + start + "</interface>".len();
    xml[start..end].to_string()
}

/// The shipped introspection XML is exactly what the daemon serves.
#[test]
fn shipped_introspection_xml_matches_the_live_interface() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let live =
        ok_stdout(&bus.busctl(&["introspect", "--xml-interface", "org.healthmon.Monitor1", "/org/healthmon/Monitor1"]));
    let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/dbus/org.healthmon.Monitor1.xml"))
        .expect("dist XML");
    assert_eq!(normalise_xml(&our_interface(&live)), normalise_xml(&our_interface(&shipped)));
}

/// Through busctl, every method and property has the contract's signature.
#[test]
fn busctl_sees_the_contract_signatures() {
    let bus = TestBus::session();
    let mut daemon = TestDaemon::start(&bus);

    assert_keys(&dict_types(&json(&bus.call("Status", &[]))), STATUS_KEYS);
    assert_keys(&dict_types(&json(&bus.call("RunOnce", &[]))), CYCLE_KEYS);

    let alerts = json(&bus.call("ListAlerts", &["bu", "false", "0"]));
    assert_eq!(alerts["type"], "a(xxsssb)");
    assert!(!alerts["data"][0].as_array().expect("rows").is_empty(), "the first cycles raised an alert");
    assert_eq!(json(&bus.call("ListMetrics", &["su", "", "5"]))["type"], "a(xsssss)");
    assert_eq!(json(&bus.call("ListWorkers", &[]))["type"], "a(ssuts)");
    let resolved = json(&bus.call("ResolveAlert", &["x", "999999"]));
    assert_eq!(resolved["type"], "b");
    assert_eq!(resolved["data"][0], false, "an unknown id is false, not an error");
    ok_stdout(&bus.call("Reload", &[]));

    let props =
        ["--json=short", "get-property", "org.healthmon.Monitor1", "/org/healthmon/Monitor1", "org.healthmon.Monitor1"];
    let version = json(&bus.busctl(&[&props[..], &["Version"]].concat()));
    assert_eq!(version, serde_json::json!({"type": "s", "data": env!("CARGO_PKG_VERSION")}));
    let state = json(&bus.busctl(&[&props[..], &["State"]].concat()));
    assert_eq!(state["type"], "s");
    assert_eq!(state["data"], "degraded");

    let stop = bus.call("Stop", &[]);
    assert!(stop.status.success(), "Stop replies before stopping: {}", String::from_utf8_lossy(&stop.stderr));
    assert!(daemon.wait_exit().success(), "a stop is a clean exit");
}

/// A bad argument is a named org.healthmon.Monitor1.Error, not a generic one.
#[test]
fn errors_are_named_in_our_namespace() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let out = bus.call("ResolveAlert", &["x", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("alert ids start at 1"), "{stderr}");
    let gdbus = gdbus_call(&bus, "ResolveAlert", &["0"]);
    assert!(!gdbus.status.success());
    let stderr = String::from_utf8_lossy(&gdbus.stderr);
    assert!(stderr.contains("org.healthmon.Monitor1.Error.InvalidArgument"), "{stderr}");
}

fn gdbus_call(bus: &TestBus, method: &str, args: &[&str]) -> std::process::Output {
    common::require_tool("gdbus");
    bus.command("gdbus")
        .args(["call", "--address", &bus.address, "--dest", "org.healthmon.Monitor1"])
        .args(["--object-path", "/org/healthmon/Monitor1", "--method"])
        .arg(format!("org.healthmon.Monitor1.{method}"))
        .args(args)
        .output()
        .expect("run gdbus")
}

/// gdbus (GLib's strict parser) reads Status and ListWorkers replies.
#[test]
fn gdbus_reads_status_and_workers() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let status = ok_stdout(&gdbus_call(&bus, "Status", &[]));
    assert!(status.contains("'uptime_sec': <uint64 ") && status.contains("'last_check': <int64 "), "{status}");
    assert_eq!(ok_stdout(&gdbus_call(&bus, "ListWorkers", &[])).trim(), "(@a(ssuts) [],)");
}

/// Every healthctl command works against the daemon and prints what it says.
#[test]
fn healthctl_runs_every_command() {
    let bus = TestBus::session();
    let mut daemon = TestDaemon::start(&bus);

    let status = bus.healthctl(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("Session Stats:") && text.contains("Unresolved alerts: 1"), "{text}");

    let doc: Value = serde_json::from_slice(&bus.healthctl(&["status", "--json"]).stdout).expect("status JSON");
    for (key, _) in STATUS_KEYS {
        assert!(doc.get(*key).is_some(), "status --json lacks {key}: {doc}");
    }
    assert!(doc["workers"].is_array() && doc["alerts"].is_array(), "{doc}");
    let id = doc["alerts"][0]["id"].as_i64().expect("an unresolved alert");

    let cycle: Value = serde_json::from_slice(&bus.healthctl(&["run-once", "--json"]).stdout).expect("run-once JSON");
    assert_eq!(cycle["state"], "degraded");
    assert!(cycle["actions"].is_array());

    let alerts = ok_stdout(&bus.healthctl(&["alerts", "--all", "--limit", "5"]));
    assert!(alerts.starts_with("ID  SEVERITY  "), "{alerts}");
    assert!(alerts.lines().any(|l| l.starts_with(&format!("{id}  "))), "{alerts}");
    let metrics: Value =
        serde_json::from_slice(&bus.healthctl(&["metrics", "--limit", "2", "--json"]).stdout).expect("metrics");
    assert_eq!(metrics.as_array().map(Vec::len), Some(2), "{metrics}");
    let none: Value = serde_json::from_slice(&bus.healthctl(&["metrics", "--component", "no-such", "--json"]).stdout)
        .expect("metrics");
    assert_eq!(none, serde_json::json!([]));
    assert_eq!(ok_stdout(&bus.healthctl(&["workers"])), "No workers configured\n");

    assert_eq!(ok_stdout(&bus.healthctl(&["resolve", &id.to_string()])), format!("alert {id} resolved\n"));
    let again = bus.healthctl(&["resolve", &id.to_string()]);
    assert_eq!(again.status.code(), Some(1), "resolving twice is an error");
    let open: Value = serde_json::from_slice(&bus.healthctl(&["alerts", "--json"]).stdout).expect("alerts");
    assert!(open.as_array().expect("array").iter().all(|a| a["id"] != id), "{open}");

    assert_eq!(ok_stdout(&bus.healthctl(&["reload"])), "configuration reloaded\n");
    assert_eq!(ok_stdout(&bus.healthctl(&["shutdown"])), "healthmon is stopping\n");
    assert!(daemon.wait_exit().success());
}

/// status/run-once exit 0/1/2 for healthy/degraded/critical.
#[test]
fn status_exit_codes_follow_the_plugin_convention() {
    let bus = TestBus::session();
    let daemon = TestDaemon::start(&bus);
    // The first cycle leaves a WARNING alert.
    assert_eq!(bus.healthctl(&["run-once"]).status.code(), Some(1));
    assert_eq!(bus.healthctl(&["status"]).status.code(), Some(1));

    let open: Value = serde_json::from_slice(&bus.healthctl(&["alerts", "--json"]).stdout).expect("alerts");
    for alert in open.as_array().expect("array") {
        ok_stdout(&bus.healthctl(&["resolve", &alert["id"].to_string()]));
    }
    assert_eq!(bus.healthctl(&["status"]).status.code(), Some(0), "no open alert is healthy");

    // A CRITICAL alert written straight into the contract's table, as another
    // writer of the database would; the next cycle reads it.
    let conn = rusqlite::Connection::open(&daemon.db).expect("open db");
    conn.execute(
        "INSERT INTO health_alerts (timestamp, severity, component, message, resolved) \
         VALUES (datetime('now'), 'CRITICAL', 'assigner_worker', 'worker down', 0)",
        [],
    )
    .expect("insert alert");
    assert_eq!(bus.healthctl(&["run-once"]).status.code(), Some(2));
    assert_eq!(bus.healthctl(&["status"]).status.code(), Some(2));
}

/// With no daemon on the bus, or no bus at all, status and run-once
/// print the plugin UNKNOWN line on stdout (or the JSON document) and
/// exit 3; the other commands say so on stderr and exit 3.
#[test]
fn healthctl_without_a_daemon_exits_3() {
    let bus = TestBus::session();
    for args in [&["status"][..], &["run-once"]] {
        let out = bus.healthctl(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "HEALTHMON UNKNOWN - not running on the session bus\n");
    }
    for args in [&["workers"][..], &["shutdown"]] {
        let out = bus.healthctl(args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "healthmon is not running on the session bus");
    }
    let json = bus.healthctl(&["status", "--json"]);
    assert_eq!(json.status.code(), Some(3));
    let doc: Value = serde_json::from_slice(&json.stdout).expect("one JSON document on stdout");
    assert_eq!(doc, serde_json::json!({"state": "unknown", "error": "not running on the session bus"}));
    let out = bus
        .healthctl_cmd(&["status"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .expect("healthctl");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HEALTHMON UNKNOWN - not running on the session bus\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to the bus"), "the detail goes to stderr");
    let compat =
        bus.command(env!("CARGO_BIN_EXE_healthmon")).args(["--bus", "session", "--status"]).output().expect("run");
    assert_eq!(compat.status.code(), Some(3), "healthmon --status shares healthctl's client");
}

/// On the system bus the UNKNOWN line names where to look next.
#[test]
fn unreachable_system_bus_names_systemctl_status() {
    let bus = TestBus::system();
    let out = bus.healthctl(&["status"]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HEALTHMON UNKNOWN - not running on the system bus (systemctl status healthmon)\n"
    );
}

/// The daemon-backed views, at 80 columns with NO_COLOR: the plugin line
/// leads `status`, the tables have their headers, and no line but the
/// plugin line is wider than 80.
#[test]
fn daemon_views_fit_80_columns() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    for args in [&["status"][..], &["workers"], &["alerts", "--all"], &["metrics"], &["run-once"]] {
        let out = bus.healthctl_cmd(args).env("COLUMNS", "80").output().expect("healthctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains('\x1b'), "{args:?}: no colour with NO_COLOR");
        for line in text.lines().filter(|l| !l.starts_with("HEALTHMON ")) {
            assert!(line.chars().count() <= 80, "{args:?}: {line:?}");
        }
        let first = text.lines().next().unwrap_or("");
        match args[0] {
            "status" | "run-once" => assert!(first.starts_with("HEALTHMON WARNING - "), "{text}"),
            "workers" => assert_eq!(first, "No workers configured"),
            "alerts" => assert!(first.starts_with("ID  SEVERITY  COMPONENT  AGE"), "{text}"),
            _ => assert!(first.starts_with("TIME  ") || first.starts_with("TIME "), "{text}"),
        }
    }
    let status = String::from_utf8_lossy(&bus.healthctl(&["status"]).stdout).into_owned();
    let first = status.lines().next().unwrap();
    assert!(first.contains("| workers=0;;;0 ") && first.contains(" 'disk:/'="), "perfdata: {first}");
    let run = String::from_utf8_lossy(&bus.healthctl(&["run-once"]).stdout).into_owned();
    assert!(run.lines().any(|l| l.contains("WARN") && l.contains("disk:/")), "findings name the component: {run}");
    assert!(run.contains("Open alerts (they make the state degraded): 1"), "{run}");
}

/// healthmon --status and --stop do what healthctl status/stop do.
#[test]
fn compatibility_flags_status_and_stop() {
    let bus = TestBus::session();
    let mut daemon = TestDaemon::start(&bus);
    let status =
        bus.command(env!("CARGO_BIN_EXE_healthmon")).args(["--bus", "session", "--status"]).output().expect("run");
    assert_eq!(status.status.code(), Some(1), "degraded after the first cycle");
    assert!(String::from_utf8_lossy(&status.stdout).contains("Session Stats:"));
    let stop = bus.command(env!("CARGO_BIN_EXE_healthmon")).args(["--bus", "session", "--stop"]).output().expect("run");
    assert_eq!(ok_stdout(&stop), "healthmon is stopping\n");
    assert!(daemon.wait_exit().success());
}

/// A second healthmon on the same bus refuses to start instead of
/// stealing the name (or starting workers twice).
#[test]
fn second_daemon_refuses_an_owned_name() {
    let bus = TestBus::session();
    let _first = TestDaemon::start(&bus);
    let mut second = TestDaemon::spawn(&bus, &[]);
    assert_eq!(second.wait_exit().code(), Some(1));
    assert!(second.stderr().contains("already owned on the session bus"), "{}", second.stderr());
}

/// sd_notify: READY, STATUS and WATCHDOG, then RELOADING+MONOTONIC_USEC
/// (one datagram) and READY on SIGHUP, then STOPPING on SIGTERM.
#[test]
fn notify_reports_ready_watchdog_status_reload_and_stop() {
    let bus = TestBus::session();
    let mut daemon = TestDaemon::start_with(&bus, &[("WATCHDOG_USEC", "200000")]);
    let status = daemon.notify.seen.iter().find(|m| m.starts_with("STATUS=") && m.contains("last check"));
    let status = status.expect("a STATUS= line after the first cycle");
    assert!(status.contains("workers healthy,") && status.contains("alert"), "{status}");
    assert!(daemon.notify.wait_for(TIMEOUT, |m| m == "WATCHDOG=1\n").is_some(), "watchdog pings");

    daemon.signal(Signal::SIGHUP);
    let reloading = daemon.notify.wait_for(TIMEOUT, |m| m.contains("RELOADING=1")).expect("RELOADING=1");
    let lines: Vec<&str> = reloading.lines().collect();
    assert_eq!(lines[0], "RELOADING=1");
    let usec: u64 =
        lines[1].strip_prefix("MONOTONIC_USEC=").expect("MONOTONIC_USEC in the same message").parse().expect("number");
    assert!(usec > 0);
    assert!(daemon.notify.wait_for(TIMEOUT, |m| m == "READY=1\n").is_some(), "READY=1 ends the reload");

    daemon.signal(Signal::SIGTERM);
    assert!(daemon.notify.wait_for(TIMEOUT, |m| m == "STOPPING=1\n").is_some(), "STOPPING=1 on SIGTERM");
    assert!(daemon.wait_exit().success());

    let first = |what: &str| daemon.notify.seen.iter().position(|m| m.starts_with(what)).expect(what);
    assert!(first("READY=1") < first("WATCHDOG=1"));
    assert!(first("WATCHDOG=1") < first("RELOADING=1"));
    assert!(first("RELOADING=1") < first("STOPPING=1"));
}

/// A wedged loop stops the watchdog pings, though D-Bus still answers:
/// the pings prove the loop, not just the process, is alive.
#[test]
fn watchdog_pings_stop_when_the_loop_is_wedged() {
    let bus = TestBus::session();
    let mut daemon = TestDaemon::start_with(&bus, &[("WATCHDOG_USEC", "200000"), ("HEALTHMON_TEST_HOOKS", "1")]);
    // Pings keep coming (three in a row, however slow the machine is) ...
    for n in 1..=3 {
        assert!(daemon.notify.wait_for(TIMEOUT, |m| m == "WATCHDOG=1\n").is_some(), "ping {n} of 3");
    }

    daemon.signal(Signal::SIGUSR1);
    // Let a ping already on its way arrive, then watch a full second.
    let _ = daemon.notify.collect(Duration::from_millis(300));
    let after = daemon.notify.collect(Duration::from_secs(1));
    assert!(!after.iter().any(|m| m == "WATCHDOG=1\n"), "no ping from a wedged loop: {after:?}");
    assert!(bus.healthctl(&["status"]).status.code().is_some_and(|c| c < 3), "Status is still served");
    assert!(daemon.running());
}

/// Under the shipped system-bus policy an unprivileged caller may read but
/// gets AccessDenied on RunOnce and Stop.
#[test]
fn system_policy_denies_unprivileged_callers_the_root_only_methods() {
    require_root();
    let bus = TestBus::system();
    let mut daemon = TestDaemon::start(&bus);

    let status = as_nobody(&bus.healthctl_cmd(&["status", "--json"])).output().expect("healthctl");
    let doc: Value = serde_json::from_slice(&status.stdout).expect("nobody may call Status");
    assert_eq!(doc["state"], "degraded");

    for (cmd, method, code) in [("run-once", "RunOnce", 3), ("shutdown", "Stop", 1)] {
        let out = as_nobody(&bus.healthctl_cmd(&[cmd])).output().expect("healthctl");
        assert_eq!(out.status.code(), Some(code), "{cmd}: a refused run-once is UNKNOWN, not WARNING");
        let denied = format!(
            "permission denied: {method} needs root (see /usr/share/dbus-1/system.d/org.healthmon.Monitor1.conf)"
        );
        let said = if cmd == "run-once" {
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        } else {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        };
        let expected = if cmd == "run-once" { format!("HEALTHMON UNKNOWN - {denied}") } else { denied };
        assert_eq!(said, expected);
        let mut raw = bus.command("busctl");
        raw.arg(format!("--address={}", bus.address));
        raw.args(["call", "org.healthmon.Monitor1", "/org/healthmon/Monitor1", "org.healthmon.Monitor1", method]);
        let raw = as_nobody(&raw).output().expect("busctl");
        assert!(!raw.status.success());
        let err = String::from_utf8_lossy(&raw.stderr);
        assert!(err.contains("Access denied") || err.contains("AccessDenied"), "{method}: {err}");
    }
    let workers = as_nobody(&bus.healthctl_cmd(&["workers"])).output().expect("healthctl");
    assert_eq!(workers.status.code(), Some(0), "nobody may list workers");
    assert!(daemon.running(), "the denied Stop did nothing");

    assert_eq!(bus.healthctl(&["run-once"]).status.code(), Some(1), "root may run a cycle (degraded)");
    ok_stdout(&bus.healthctl(&["shutdown"]));
    assert!(daemon.wait_exit().success());
}

/// Next item of a stream, failing the test after `TIMEOUT`.
async fn next<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    let item = std::future::poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx));
    tokio::time::timeout(TIMEOUT, item).await.expect("signal within the timeout").expect("stream open")
}

async fn connect(bus: &TestBus) -> zbus::Connection {
    zbus::connection::Builder::address(bus.address.as_str()).build().await.expect("connect")
}

/// AlertRaised (four arguments), AlertResolved, CheckCompleted and
/// PropertiesChanged on State reach a subscriber.
#[tokio::test]
async fn signals_reach_a_subscriber() {
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let conn = connect(&bus).await;
    let proxy = MonitorProxy::new(&conn).await.expect("proxy");
    let props = zbus::fdo::PropertiesProxy::builder(&conn)
        .destination("org.healthmon.Monitor1")
        .path("/org/healthmon/Monitor1")
        .build()
        .await
        .expect("properties proxy");
    let mut raised = proxy.receive_alert_raised().await.expect("subscribe");
    let mut resolved = proxy.receive_alert_resolved().await.expect("subscribe");
    let mut completed = proxy.receive_check_completed().await.expect("subscribe");
    let mut changed = props.receive_properties_changed().await.expect("subscribe");

    let open = proxy.list_alerts(true, 0).await.expect("alerts");
    let id = open[0].id;
    assert!(proxy.resolve_alert(id).await.expect("resolve"));
    assert_eq!(next(&mut resolved).await.args().expect("args").id, id);
    let state = next(&mut changed).await;
    let args = state.args().expect("args");
    assert_eq!(args.interface_name.as_str(), "org.healthmon.Monitor1");
    assert_eq!(args.changed_properties.get("State").map(|v| v.to_string()), Some("\"healthy\"".into()));

    let summary = proxy.run_once().await.expect("run once");
    assert_eq!(summary.state, "degraded");
    let alert = next(&mut raised).await;
    let body = alert.message().body();
    let (new_id, severity, component, message): (i64, String, String, String) =
        body.deserialize().expect("four arguments");
    assert!(new_id > id);
    assert_eq!(severity, "WARNING");
    assert!(component.starts_with("disk"), "{component}");
    assert!(!message.is_empty());
    let done = next(&mut completed).await;
    assert_eq!(done.args().expect("args").summary, summary);
    let state = next(&mut changed).await;
    assert_eq!(
        state.args().expect("args").changed_properties.get("State").map(|v| v.to_string()),
        Some("\"degraded\"".into())
    );
}

/// Status answers at once while a cycle is stuck waiting for the database
/// (another process holds its write lock); RunOnce waits for the cycle.
#[tokio::test]
async fn status_answers_while_a_cycle_waits_for_the_database() {
    let bus = TestBus::session();
    let daemon = TestDaemon::start(&bus);
    let conn = connect(&bus).await;
    let proxy = MonitorProxy::new(&conn).await.expect("proxy");
    let lock = rusqlite::Connection::open(&daemon.db).expect("open db");
    lock.execute_batch("BEGIN EXCLUSIVE").expect("take the write lock");

    let cycle_proxy = proxy.clone();
    let cycle = tokio::spawn(async move { cycle_proxy.run_once().await });
    // Time for the loop to take the request and reach the database. Not an
    // assertion: the check below shows the cycle was in flight throughout.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::time::timeout(TIMEOUT, proxy.status()).await.expect("Status answers").expect("status");
    assert!(!cycle.is_finished(), "Status answered while the cycle was still blocked on the database");
    assert_eq!(status.checks_run, 1, "the blocked cycle has not counted yet");

    lock.execute_batch("COMMIT").expect("release");
    let summary = tokio::time::timeout(TIMEOUT, cycle).await.expect("cycle ends").expect("task").expect("run once");
    assert!(!summary.state.is_empty());
    assert_eq!(proxy.status().await.expect("status").checks_run, 2);
}

/// An invalid config on reload keeps the old one, raises a WARNING alert
/// naming file:line:column, and a later valid reload resolves it.
#[test]

fn invalid_reload_keeps_the_config_and_raises_a_warning() {
    let bus = TestBus::session();
    let daemon = TestDaemon::start(&bus);
    std::fs::write(&daemon.config, "[monitor]\ncheck_interval = \"soon\"\n").expect("break config");
    let out = bus.healthctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:2:", daemon.config.display())), "{err}");
    let alerts: Value = serde_json::from_slice(&bus.healthctl(&["alerts", "--json"]).stdout).expect("alerts");
    let alert = alerts.as_array().expect("array").iter().find(|a| a["component"] == "config").expect("config alert");
    assert_eq!(alert["severity"], "WARNING");
    assert!(alert["message"].as_str().expect("text").contains(":2:"));

    std::fs::write(&daemon.config, common::TEST_CONFIG).expect("fix config");
    ok_stdout(&bus.healthctl(&["reload"]));
    let alerts: Value = serde_json::from_slice(&bus.healthctl(&["alerts", "--json"]).stdout).expect("alerts");
    assert!(alerts.as_array().expect("array").iter().all(|a| a["component"] != "config"), "{alerts}");
}

/// Shell completions for bash, zsh and fish come from the clap definition.
#[test]
fn completions_are_generated_for_bash_zsh_and_fish() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef healthctl"), ("fish", "complete -c healthctl")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_healthctl"))
            .args(["completions", shell])
            .output()
            .expect("run");
        let script = ok_stdout(&out);
        assert!(script.contains(marker) && script.contains("run-once"), "{shell}: {script}");
    }
}

/// `healthctl status | head -1`: when the reader has gone, healthctl ends
/// by SIGPIPE as `ls | head` does, without a panic message.
#[test]
fn healthctl_into_a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let bus = TestBus::session();
    let _daemon = TestDaemon::start(&bus);
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = bus.healthctl_cmd(&["status"]).stdout(writer).output().expect("run healthctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.signal(), Some(Signal::SIGPIPE as i32), "{:?}: {stderr}", out.status);
}
