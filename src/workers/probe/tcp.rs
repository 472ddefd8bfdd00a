//! `health_tcp`: a TCP connect to `host:port` that must succeed within
//! `health_timeout`. The connection is closed at once; nothing is sent.

use std::time::Duration;

use crate::config::TcpTarget;

use super::{timeout_text, Outcome};

/// Connects once; what failed (refused, unreachable, timeout) is the outcome's text.
pub async fn run(target: &TcpTarget, timeout: Duration) -> Outcome {
    let connect = tokio::net::TcpStream::connect((target.host.as_str(), target.port));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(_stream)) => Outcome::Pass,
        Ok(Err(err)) => Outcome::Fail(format!("tcp {target}: connect failed: {err}")),
        Err(_) => Outcome::Fail(format!("tcp {target}: no connection within {}", timeout_text(timeout))),
    }
}
