//! The typed-probe and resource-limit keys of a worker (0.2):
//! `health_http`, `health_tcp`, `heartbeat_file` + `heartbeat_max_age`,
//! `health_interval`, `start_timeout`, `max_memory`, `max_cpu_percent`,
//! `over_for`. Their settings types live here too, so the rules of each
//! key read in one place.

use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::defaults::{HEALTH_INTERVAL, MIN_HEALTH_INTERVAL, NOTIFY_READY, OVER_FOR, START_TIMEOUT};
use super::duration;
use super::file::{Val, WorkerFile};
use super::storage::optional_size;
use super::validate::plain;
use super::values::{Checker, Zero};

/// The probes of one worker besides `health_command`; each runs on the
/// worker's `health_interval` timer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probes {
    /// `health_http`: a GET whose answer must be 2xx within `health_timeout`.
    pub http: Option<HttpTarget>,
    /// `health_tcp`: a connect that must succeed within `health_timeout`.
    pub tcp: Option<TcpTarget>,
    /// `heartbeat_file`: its mtime must be younger than `max_age`.
    pub heartbeat: Option<Heartbeat>,
}

impl Probes {
    /// True when no typed probe is configured.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.tcp.is_none() && self.heartbeat.is_none()
    }
}

/// An `http://` URL, checked: host and port parsed out for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// As configured (what the request is sent to).
    pub url: String,
    /// `http://host:port/path`, without query or user info: what messages show.
    pub shown: String,
}

/// `host:port`; the host is a name or an address (`[::1]` for IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpTarget {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for TcpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub path: PathBuf,
    pub max_age: Duration,
}

/// Resource limits: held above one of them for `over_for` = a graceful restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Bytes of resident memory (all the worker's processes, or its unit's MemoryCurrent).
    pub max_memory: Option<u64>,
    /// Percent of one core (may exceed 100 for a multi-threaded worker).
    pub max_cpu_percent: Option<f64>,
    pub over_for: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_memory: None, max_cpu_percent: None, over_for: OVER_FOR }
    }
}

impl Limits {
    pub fn is_empty(&self) -> bool {
        self.max_memory.is_none() && self.max_cpu_percent.is_none()
    }
}

/// The probe keys of worker `name`.
pub fn probes(name: &str, w: &WorkerFile, c: &mut Checker) -> Probes {
    let key = |k: &str| format!("workers.{name}.{k}");
    let heartbeat = w.heartbeat_file.as_ref().map(|file| Heartbeat {
        path: c.path(&key("heartbeat_file"), file),
        max_age: heartbeat_max_age(name, w, file, c),
    });
    if let (Some(age), None) = (&w.heartbeat_max_age, &w.heartbeat_file) {
        c.error(&age.span(), format!("{} needs {}", key("heartbeat_max_age"), key("heartbeat_file")));
    }
    Probes {
        http: w.health_http.as_ref().map(|url| http_target(&key("health_http"), url, c)),
        tcp: w.health_tcp.as_ref().map(|addr| tcp_target(&key("health_tcp"), addr, c)),
        heartbeat,
    }
}

/// `heartbeat_max_age`, required with `heartbeat_file`.
fn heartbeat_max_age(name: &str, w: &WorkerFile, file: &Spanned<String>, c: &mut Checker) -> Duration {
    let key = format!("workers.{name}.heartbeat_max_age");
    if w.heartbeat_max_age.is_none() {
        c.error(&file.span(), format!("workers.{name}.heartbeat_file needs {key} (how old the file may get)"));
    }
    c.duration(&key, &w.heartbeat_max_age, Duration::from_secs(60), Zero::Forbidden)
}

/// `health_interval`: at least 1 s, so a probe timer cannot busy the machine.
pub fn health_interval(name: &str, value: &Val<String>, c: &mut Checker) -> Duration {
    let key = format!("workers.{name}.health_interval");
    let interval = c.duration(&key, value, HEALTH_INTERVAL, Zero::Forbidden);
    match value {
        Some(at) if interval < MIN_HEALTH_INTERVAL => {
            let least = duration::format(MIN_HEALTH_INTERVAL);
            c.error(&at.span(), format!("{key} must be at least {least}, not {:?}", at.get_ref()));
            HEALTH_INTERVAL
        }
        _ => interval,
    }
}

/// `start_timeout`: the startup window (zero: none).
/// `start_timeout`: 0 means no startup window for the probes, but with
/// `notify_ready` it would fail every start, so it is refused there.
pub fn start_timeout(name: &str, w: &WorkerFile, c: &mut Checker) -> Duration {
    let key = format!("workers.{name}.start_timeout");
    let timeout = c.duration(&key, &w.start_timeout, START_TIMEOUT, Zero::Allowed);
    if let (Some(at), true, true) = (&w.start_timeout, timeout.is_zero(), plain(&w.notify_ready, NOTIFY_READY)) {
        c.error(&at.span(), format!("{key} must be longer than 0s when notify_ready is set"));
    }
    timeout
}

/// `max_memory`, `max_cpu_percent`, `over_for`.
pub fn limits(name: &str, w: &WorkerFile, c: &mut Checker) -> Limits {
    let key = |k: &str| format!("workers.{name}.{k}");
    let max_cpu_percent = w.max_cpu_percent.as_ref().and_then(|v| {
        let percent = *v.get_ref();
        if percent.is_finite() && percent > 0.0 {
            return Some(percent);
        }
        c.error(&v.span(), format!("{} must be above 0 (100 = one whole core), not {percent}", key("max_cpu_percent")));
        None
    });
    let limits = Limits {
        max_memory: optional_size(&key("max_memory"), &w.max_memory, c),
        max_cpu_percent,
        over_for: c.duration(&key("over_for"), &w.over_for, OVER_FOR, Zero::Allowed),
    };
    if let (Some(at), true) = (&w.over_for, w.max_memory.is_none() && w.max_cpu_percent.is_none()) {
        c.error(&at.span(), format!("{} needs max_memory or max_cpu_percent", key("over_for")));
    }
    limits
}

/// An `http://host[:port][/path]` URL; https is refused (probes are local,
/// and a certificate problem is not the worker's health).
fn http_target(key: &str, url: &Spanned<String>, c: &mut Checker) -> HttpTarget {
    let text = url.get_ref();
    match parse_http(text) {
        Ok(shown) => HttpTarget { url: text.clone(), shown },
        Err(why) => {
            c.error(&url.span(), format!("{key} {text:?} {why} (e.g. \"http://127.0.0.1:8080/healthz\")"));
            HttpTarget { url: text.clone(), shown: text.clone() }
        }
    }
}

/// The URL as messages show it, or why it is not a usable http:// URL.
fn parse_http(url: &str) -> Result<String, &'static str> {
    let rest = url.strip_prefix("http://").ok_or("is not an http:// URL")?;
    if url.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
        return Err("must not contain spaces or control characters");
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() {
        return Err("has no host");
    }
    if host_port.contains(':') && !host_port.ends_with(']') {
        split_host_port(host_port).ok_or("has an invalid port")?;
    }
    let path = tail.split(['?', '#']).next().unwrap_or_default();
    Ok(format!("http://{host_port}{path}"))
}

fn tcp_target(key: &str, addr: &Spanned<String>, c: &mut Checker) -> TcpTarget {
    split_host_port(addr.get_ref()).unwrap_or_else(|| {
        let text = addr.get_ref();
        c.error(&addr.span(), format!("{key} {text:?} is not host:port (e.g. \"127.0.0.1:5432\" or \"[::1]:5432\")"));
        TcpTarget { host: String::new(), port: 0 }
    })
}

/// `host:port` or `[v6]:port`, port 1..=65535, a host of name characters.
fn split_host_port(text: &str) -> Option<TcpTarget> {
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.strip_suffix(']').filter(|h| h.parse::<std::net::Ipv6Addr>().is_ok())?,
        None if host.contains(':') => return None,
        None => host,
    };
    let name_chars = host.chars().all(|ch| ch.is_ascii_alphanumeric() || ".-_:".contains(ch));
    (!host.is_empty() && name_chars).then(|| TcpTarget { host: host.to_string(), port })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// host:port forms that parse, and the ones that do not.
    #[test]
    fn host_port_forms() {
        let ok = |text: &str| split_host_port(text).map(|t| t.to_string());
        assert_eq!(ok("127.0.0.1:5432").as_deref(), Some("127.0.0.1:5432"));
        assert_eq!(ok("db.local:80").as_deref(), Some("db.local:80"));
        assert_eq!(ok("[::1]:8080").as_deref(), Some("[::1]:8080"));
        for bad in ["", "5432", "host", ":5432", "host:", "host:0", "host:65536", "::1:80", "[nope]:80", "a b:1"] {
            assert_eq!(split_host_port(bad), None, "{bad:?}");
        }
    }

    /// Only http:// with a host; messages drop the query and user info.
    #[test]
    fn http_urls() {
        assert_eq!(parse_http("http://127.0.0.1:8080/healthz?token=x"), Ok("http://127.0.0.1:8080/healthz".into()));
        assert_eq!(parse_http("http://u:p@localhost/x"), Ok("http://localhost/x".into()));
        assert_eq!(parse_http("https://127.0.0.1/"), Err("is not an http:// URL"));
        assert_eq!(parse_http("127.0.0.1:80"), Err("is not an http:// URL"));
        assert_eq!(parse_http("http:///x"), Err("has no host"));
        assert_eq!(parse_http("http://h:99999/"), Err("has an invalid port"));
    }
}
