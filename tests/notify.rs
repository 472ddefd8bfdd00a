//! sd_notify against a real datagram socket: each message's exact bytes,
//! RELOADING with a plausible MONOTONIC_USEC in one datagram, a vanished
//! socket tolerated, NOTIFY_SOCKET read from the environment (path and
//! abstract), and the watchdog interval.

#[path = "common/sockets.rs"]
mod sockets;

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use healthmon::systemd::{watchdog_interval_from, Notifier};
use nix::time::{clock_gettime, ClockId};
use sockets::{in_child, recv_from, run_child, Receiver};

fn text(datagram: Vec<u8>) -> String {
    String::from_utf8(datagram).expect("notify message is UTF-8")
}

fn monotonic_usec() -> i64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("clock_gettime");
    now.tv_sec() * 1_000_000 + now.tv_nsec() / 1_000
}

/// ready() sends exactly `READY=1`.
#[test]
fn ready_sends_ready() {
    let receiver = Receiver::bind();
    Notifier::to_socket(&receiver.path).ready();
    assert_eq!(text(receiver.recv()), "READY=1\n");
}

/// status() sends one STATUS line, its newlines turned into spaces.
#[test]
fn status_sends_one_line() {
    let receiver = Receiver::bind();
    Notifier::to_socket(&receiver.path).status("3/3 workers healthy,\n0 alerts\n");
    assert_eq!(text(receiver.recv()), "STATUS=3/3 workers healthy, 0 alerts\n");
}

/// watchdog() sends exactly `WATCHDOG=1`.
#[test]
fn watchdog_sends_watchdog() {
    let receiver = Receiver::bind();
    Notifier::to_socket(&receiver.path).watchdog();
    assert_eq!(text(receiver.recv()), "WATCHDOG=1\n");
}

/// stopping() sends exactly `STOPPING=1`.
#[test]
fn stopping_sends_stopping() {
    let receiver = Receiver::bind();
    Notifier::to_socket(&receiver.path).stopping();
    assert_eq!(text(receiver.recv()), "STOPPING=1\n");
}

/// reloading() sends RELOADING=1 and MONOTONIC_USEC (between two clock reads) in one datagram.
#[test]
fn reloading_carries_monotonic_usec() {
    let receiver = Receiver::bind();
    let before = monotonic_usec();
    Notifier::to_socket(&receiver.path).reloading();
    let after = monotonic_usec();
    let message = text(receiver.recv());
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 2, "{message:?}");
    assert_eq!(lines[0], "RELOADING=1");
    let usec: i64 = lines[1]
        .strip_prefix("MONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("second line {:?}", lines[1]))
        .parse()
        .expect("MONOTONIC_USEC is a number");
    assert!((before..=after).contains(&usec), "{before} <= {usec} <= {after}");
}

/// With the socket gone every method returns normally, and a socket bound again at the path receives.
#[test]
fn vanished_socket_is_tolerated() {
    let (path, _dir) = Receiver::bind().vanish();
    let notifier = Notifier::to_socket(&path);
    notifier.ready();
    notifier.status("still here");
    notifier.watchdog();
    notifier.reloading();
    notifier.stopping();
    let socket = UnixDatagram::bind(&path).expect("bind again");
    socket.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    notifier.watchdog();
    assert_eq!(text(recv_from(&socket, "the re-bound socket")), "WATCHDOG=1\n");
}

/// Child body of the `from_env_*` tests.
#[test]
#[ignore = "child process body, run by its parent test"]
fn child_ready_from_env() {
    if in_child() {
        Notifier::from_env().ready();
    }
}

/// from_env sends to the path in NOTIFY_SOCKET.
#[test]
fn from_env_uses_notify_socket_path() {
    let receiver = Receiver::bind();
    run_child("child_ready_from_env", &[("NOTIFY_SOCKET", receiver.path.as_os_str())], &[]);
    assert_eq!(text(receiver.recv()), "READY=1\n");
}

/// from_env sends to an abstract `@name` NOTIFY_SOCKET too.
#[test]
fn from_env_uses_abstract_notify_socket() {
    let name = format!("healthmon-test-{}", std::process::id());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract address");
    let socket = UnixDatagram::bind_addr(&addr).expect("bind abstract socket");
    socket.set_read_timeout(Some(Duration::from_secs(5))).expect("read timeout");
    run_child("child_ready_from_env", &[("NOTIFY_SOCKET", OsStr::new(&format!("@{name}")))], &[]);
    assert_eq!(text(recv_from(&socket, &format!("@{name}"))), "READY=1\n");
}

/// Without NOTIFY_SOCKET the notifier does nothing and the process exits cleanly.
#[test]
fn from_env_without_socket_is_silent() {
    let out = run_child("child_ready_from_env", &[], &["NOTIFY_SOCKET"]);
    assert!(out.stderr.is_empty(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

/// The ping interval is half of WATCHDOG_USEC.
#[test]
fn watchdog_interval_is_half_the_timeout() {
    assert_eq!(watchdog_interval_from(Some("30000000"), None, 1), Some(Duration::from_secs(15)));
}

/// WATCHDOG_PID naming us enables the watchdog; another pid or junk disables it.
#[test]
fn watchdog_interval_respects_watchdog_pid() {
    assert_eq!(watchdog_interval_from(Some("4000000"), Some("77"), 77), Some(Duration::from_secs(2)));
    assert_eq!(watchdog_interval_from(Some("4000000"), Some("78"), 77), None);
    assert_eq!(watchdog_interval_from(Some("4000000"), Some("pid"), 77), None);
}

/// Unset, zero or unparsable WATCHDOG_USEC means no watchdog.
#[test]
fn watchdog_interval_off_without_usable_usec() {
    assert_eq!(watchdog_interval_from(None, None, 1), None);
    assert_eq!(watchdog_interval_from(Some("0"), None, 1), None);
    assert_eq!(watchdog_interval_from(Some("30s"), None, 1), None);
}
