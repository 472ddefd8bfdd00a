//! Sending one event to the webhook or the command, each attempt bounded
//! in time. HTTP runs on the blocking pool, the command as a child
//! process; neither ever runs on the loop.

use std::time::Duration;

use tokio::process::Command;

use super::payload::Event;
use super::redact::scrub;
use super::Retry;

/// How long the notification command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// The variables of healthmon's own environment a notification command
/// still gets; everything else (NOTIFY_SOCKET, WATCHDOG_*, credentials,
/// whatever the unit or a shell exported) stays with healthmon.
const PASSED_ENV: [&str; 4] = ["PATH", "LANG", "LC_ALL", "TZ"];

/// Where the command is looked up when healthmon has no PATH.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// POSTs the event as JSON, retrying with a doubling backoff. The error
/// names the attempt and never the URL's secret parts.
pub async fn webhook_with_retry(url: &str, event: &Event, retry: Retry) -> Result<(), String> {
    let body = event.json().to_string();
    let mut backoff = retry.first_backoff;
    let mut last_error = String::new();
    for attempt in 1..=retry.attempts {
        match post_json(url, body.clone(), retry.timeout).await {
            Ok(()) => return Ok(()),
            Err(err) => last_error = format!("{err} (attempt {attempt} of {})", retry.attempts),
        }
        if attempt < retry.attempts {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(last_error)
}

/// One POST of a JSON body, bounded by `timeout` twice over: the client's
/// own timeout, and one around the blocking task in case the client
/// misses it (the thread is then left to finish alone; the channel moves on).
pub async fn post_json(url: &str, body: String, timeout: Duration) -> Result<(), String> {
    let target = url.to_string();
    let task = tokio::task::spawn_blocking(move || post(&target, &body, timeout));
    let result = match tokio::time::timeout(timeout + Duration::from_secs(1), task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(format!("delivery task failed: {join}")),
        Err(_) => Err(format!("no answer within {}s", timeout.as_secs_f64())),
    };
    result.map_err(|err| scrub(&err, url))
}

fn post(url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(timeout)).http_status_as_error(true).build().into();
    agent.post(url).header("Content-Type", "application/json").send(body).map(|_| ()).map_err(|err| err.to_string())
}

/// Runs the command with the alert in `HEALTHMON_*` variables and only
/// [`PASSED_ENV`] of healthmon's environment.
pub async fn run_command(command: &[String], event: &Event) -> Result<(), String> {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).env_clear().env("PATH", DEFAULT_PATH);
    for name in PASSED_ENV {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    let mut child = cmd
        .envs(event.env())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot start: {err}"))?;
    match tokio::time::timeout(COMMAND_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("exited with {status}")),
        Ok(Err(err)) => Err(format!("cannot wait for it: {err}")),
        Err(_) => Err(format!("still running after {}s; killed", COMMAND_TIMEOUT.as_secs())),
    }
}
