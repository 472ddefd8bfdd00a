//! `health_http`: a GET that must answer 2xx within `health_timeout`.
//! Redirects are not followed (a 3xx is a failure: the health endpoint
//! moved, or a login page answers), no proxy is used (probes are local),
//! and at most [`BODY_LIMIT`] bytes of the body are read.

use std::io::Read;
use std::time::Duration;

use crate::config::HttpTarget;

use super::{timeout_text, Outcome};

/// How much of an answer's body is read (and thrown away): enough for a
/// health endpoint, bounded against one that streams forever.
const BODY_LIMIT: u64 = 64 * 1024;

/// Sends one GET; the outcome's text names the status code or the error.
pub async fn run(target: &HttpTarget, timeout: Duration) -> Outcome {
    let url = target.url.clone();
    // ureq blocks; its global timeout bounds the whole exchange, so the
    // blocking thread is never held longer than `timeout`.
    let answer = tokio::task::spawn_blocking(move || get(&url, timeout)).await;
    let shown = &target.shown;
    match answer {
        Ok(Ok(status)) if (200..300).contains(&status) => Outcome::Pass,
        Ok(Ok(status)) => Outcome::Fail(format!("GET {shown}: status {status}")),
        Ok(Err(ureq::Error::Timeout(_))) => {
            Outcome::Fail(format!("GET {shown}: no answer within {}", timeout_text(timeout)))
        }
        Ok(Err(err)) => Outcome::Fail(format!("GET {shown}: {err}")),
        Err(err) => Outcome::Fail(format!("GET {shown}: {err}")),
    }
}

/// The status code of a GET of `url`, its body read up to [`BODY_LIMIT`].
fn get(url: &str, timeout: Duration) -> Result<u16, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .proxy(None)
        .build()
        .into();
    let mut response = agent.get(url).call()?;
    let status = response.status().as_u16();
    let mut sink = Vec::new();
    response.body_mut().as_reader().take(BODY_LIMIT).read_to_end(&mut sink).map_err(ureq::Error::Io)?;
    Ok(status)
}
