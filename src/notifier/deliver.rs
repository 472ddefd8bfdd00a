//! Sending one event to the webhook and the command, with bounded retries.
//! Both run on the blocking pool / as child processes, never on the loop.

use std::time::Duration;

use tokio::process::Command;

use super::payload::Event;
use super::Retry;
use crate::config::NotifySettings;

/// How long the notification command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Delivers to every configured channel; returns one message per channel
/// that finally failed.
pub async fn send(settings: &NotifySettings, event: &Event, retry: Retry) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(url) = &settings.webhook {
        if let Err(err) = webhook_with_retry(url, event, retry).await {
            failures.push(format!("webhook {url} failed for alert {}: {err}", event.alert.id));
        }
    }
    if let Some(command) = &settings.command {
        if let Err(err) = run_command(command, event).await {
            failures.push(format!("notify command {} failed for alert {}: {err}", command[0], event.alert.id));
        }
    }
    failures
}

async fn webhook_with_retry(url: &str, event: &Event, retry: Retry) -> Result<(), String> {
    let body = event.json().to_string();
    let mut backoff = retry.first_backoff;
    let mut last_error = String::new();
    for attempt in 1..=retry.attempts {
        let (url, body) = (url.to_string(), body.clone());
        let result = tokio::task::spawn_blocking(move || post(&url, &body, retry.timeout))
            .await
            .unwrap_or_else(|join| Err(format!("delivery task failed: {join}")));
        match result {
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

fn post(url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(true)
        .build()
        .into();
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map(|_| ())
        .map_err(|err| err.to_string())
}

async fn run_command(command: &[String], event: &Event) -> Result<(), String> {
    let mut child = Command::new(&command[0])
        .args(&command[1..])
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
