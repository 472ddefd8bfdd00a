//! Webhook and Alertmanager URLs carry secrets (a Slack hook's path is its
//! token; `user:password@` in the authority), so outside the config file
//! they appear only as `scheme://host:port`: in metric rows, alerts,
//! journal entries, logs and D-Bus replies.

/// `https://hooks.slack.com/services/T0/B0/xyz` → `https://hooks.slack.com:443`.
/// Userinfo, path, query and fragment go; a missing port is filled in from
/// the scheme, so the text says exactly where a delivery went.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return "<unparsable URL>".into() };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let has_port = host_port.rsplit_once(':').is_some_and(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        && !host_port.ends_with(']');
    let scheme = scheme.to_ascii_lowercase();
    match (has_port, scheme.as_str()) {
        (true, _) => format!("{scheme}://{host_port}"),
        (false, "https") => format!("{scheme}://{host_port}:443"),
        (false, _) => format!("{scheme}://{host_port}:80"),
    }
}

/// `text` (an error message from the HTTP client, say) with every secret
/// part of `url` replaced: the whole URL by its redacted form, then any
/// leftover path-and-query or userinfo by `…`.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    let rest = url.split_once("://").map_or("", |(_, rest)| rest);
    if let Some(at) = rest.find(['/', '?', '#']) {
        let secret = &rest[at..];
        if secret.len() > 1 {
            out = out.replace(secret, "/…");
        }
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out = out.replace(userinfo, "…");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Path, query, userinfo go; the port is always named.
    #[test]
    fn urls_keep_only_scheme_host_port() {
        let cases = [
            ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com:443"),
            ("http://127.0.0.1:9093", "http://127.0.0.1:9093"),
            ("http://user:pw@example.com/x?token=1", "http://example.com:80"),
            ("http://[::1]:8080/hook", "http://[::1]:8080"),
            ("http://[::1]/hook", "http://[::1]:80"),
            ("HTTPS://Example.com?t=secret", "https://Example.com:443"),
            ("not a url", "<unparsable URL>"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    /// An error text quoting the URL, or only its path, loses the secret.
    #[test]
    fn scrub_removes_every_secret_part() {
        let url = "http://u:pw@127.0.0.1:9/hook/SECRET?x=SECRET";
        let text = format!("error for {url}: GET /hook/SECRET?x=SECRET failed as u:pw");
        let out = scrub(&text, url);
        assert!(!out.contains("SECRET") && !out.contains("pw"), "{out}");
        assert!(out.contains("http://127.0.0.1:9"), "{out}");
    }
}
