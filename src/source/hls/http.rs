//! The HTTP side of the HLS source: a blocking reqwest client that only
//! talks to allowed hosts, gives up in bounded time, retries a little, caps
//! what it reads, and stops when the export is cancelled.
//!
//! * Schemes: `http` (and `https` only if the crate was built with TLS;
//!   the NVR's VOD server is plain HTTP on loopback).
//! * Hosts: every URL (the playlist's, each fragment's, every redirect's
//!   target) must resolve only to allowed addresses: loopback by default,
//!   plus `--allow-host` entries (a name or an IP). Checked after
//!   resolution, so `localhost.evil` pointing elsewhere is refused too.
//! * Time: connect timeout, and a per-request timeout; bodies are read in
//!   pieces, checking the cancel token between them.
//! * Retries: connection failures, timeouts and 5xx are retried twice with
//!   backoff; 4xx is final. A 404 names the URL and status.
//! * Sizes: a body over its cap is refused (a hostile server cannot make us
//!   allocate without bound).

use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use crate::progress::CancelToken;

/// Why a fetch failed, for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    pub url: String,
    pub reason: String,
    /// A retry of the whole export may work (timeouts, 5xx, connection).
    pub transient: bool,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.url, self.reason)
    }
}

/// Which hosts may be contacted.
#[derive(Debug, Clone, Default)]
pub struct HostAllowlist {
    /// Extra hosts (names or IPs) beyond loopback.
    pub extra: Vec<String>,
    /// When set, only these exact addresses (tests narrow loopback to
    /// 127.0.0.1 with it).
    pub only: Option<Vec<IpAddr>>,
}

impl HostAllowlist {
    /// Why `url` may not be fetched, if it may not.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "http" => {}
            "https" => {
                return Err(
                    "https is not supported by this build (the NVR serves plain HTTP)".into(),
                )
            }
            s => return Err(format!("scheme {s:?} refused: only http")),
        }
        let host = url.host_str().ok_or("no host")?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(80);
        let named = self.extra.iter().any(|h| h.eq_ignore_ascii_case(host));
        let addrs: Vec<IpAddr> = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .map(|a| a.ip())
            .collect();
        if addrs.is_empty() {
            return Err(format!("{host} resolves to no address"));
        }
        for ip in &addrs {
            let ok = match &self.only {
                Some(only) => only.contains(ip),
                None => {
                    ip.is_loopback()
                        || named
                        || self
                            .extra
                            .iter()
                            .any(|h| h.parse::<IpAddr>().ok() == Some(*ip))
                }
            };
            if !ok {
                return Err(format!(
                    "host {host} ({ip}) is not allowed: only loopback unless added with --allow-host"
                ));
            }
        }
        Ok(())
    }
}

/// Limits of one client.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub connect_timeout: Duration,
    /// Whole request, body included.
    pub request_timeout: Duration,
    /// Tries per URL (1 = no retry).
    pub attempts: u32,
    pub backoff: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            attempts: 3,
            backoff: Duration::from_millis(200),
        }
    }
}

/// A blocking client bound to an allowlist (cheap to clone).
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::blocking::Client,
    allow: Arc<HostAllowlist>,
    limits: HttpLimits,
}

impl HttpClient {
    pub fn new(allow: HostAllowlist, limits: HttpLimits) -> Result<HttpClient, String> {
        let allow = Arc::new(allow);
        let policy_allow = allow.clone();
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 5 {
                    return attempt.error("more than 5 redirects");
                }
                match policy_allow.check(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(format!("redirect refused: {why}")),
                }
            }))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpClient {
            client,
            allow,
            limits,
        })
    }

    /// GETs `url` into memory, at most `cap` bytes, retrying transient
    /// failures; `Err` names the URL and why.
    pub fn get(&self, url: &Url, cap: u64, cancel: &CancelToken) -> Result<Vec<u8>, FetchError> {
        self.get_into(url, cap, cancel, Vec::new())
    }

    /// [`HttpClient::get`] into `buf` (cleared first), reusing its
    /// allocation: a writer that recycles its fragment buffers keeps the
    /// allocator from growing the heap with every fragment.
    pub fn get_into(
        &self,
        url: &Url,
        cap: u64,
        cancel: &CancelToken,
        buf: Vec<u8>,
    ) -> Result<Vec<u8>, FetchError> {
        let mut buf = Some(buf);
        let fail = |reason: String, transient: bool| FetchError {
            url: url.to_string(),
            reason,
            transient,
        };
        self.allow.check(url).map_err(|r| fail(r, false))?;
        let mut last = None;
        for attempt in 0..self.limits.attempts.max(1) {
            if cancel.is_cancelled() {
                return Err(fail("cancelled".into(), false));
            }
            if attempt > 0 {
                sleep_cancellable(self.limits.backoff * (1 << (attempt - 1)), cancel);
            }
            match self.get_once(url, cap, cancel, buf.take().unwrap_or_default()) {
                Ok(body) => return Ok(body),
                Err(e) if e.transient => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| fail("no attempt made".into(), false)))
    }

    fn get_once(
        &self,
        url: &Url,
        cap: u64,
        cancel: &CancelToken,
        mut body: Vec<u8>,
    ) -> Result<Vec<u8>, FetchError> {
        let fail = |reason: String, transient: bool| FetchError {
            url: url.to_string(),
            reason,
            transient,
        };
        let resp = self.client.get(url.clone()).send().map_err(|e| {
            let redirect = e.is_redirect();
            fail(
                describe(&e),
                !redirect && (e.is_timeout() || e.is_connect()),
            )
        })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(fail(format!("HTTP {status}"), status.is_server_error()));
        }
        if resp.content_length().is_some_and(|n| n > cap) {
            return Err(fail(format!("larger than the {cap}-byte limit"), false));
        }
        body.clear();
        body.reserve(resp.content_length().unwrap_or(0).min(cap) as usize);
        let mut reader = resp.take(cap + 1);
        let mut piece = [0u8; 64 << 10];
        loop {
            if cancel.is_cancelled() {
                return Err(fail("cancelled".into(), false));
            }
            match reader.read(&mut piece) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&piece[..n]),
                // A body cut short or stalled (read timeout): worth a retry.
                Err(e) => return Err(fail(format!("reading the body: {e}"), true)),
            }
            if body.len() as u64 > cap {
                return Err(fail(format!("larger than the {cap}-byte limit"), false));
            }
        }
        Ok(body)
    }
}

/// reqwest's error with its causes (the top level alone says little).
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

fn sleep_cancellable(d: Duration, cancel: &CancelToken) {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until && !cancel.is_cancelled() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_and_named_hosts_over_http() {
        let a = HostAllowlist::default();
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(a.check(&u("http://127.0.0.1:5000/vod/x")).is_ok());
        assert!(a.check(&u("http://[::1]:5000/x")).is_ok());
        assert!(a
            .check(&u("file:///etc/passwd"))
            .unwrap_err()
            .contains("only http"));
        assert!(a
            .check(&u("http://10.0.0.1/x"))
            .unwrap_err()
            .contains("not allowed"));
        let narrow = HostAllowlist {
            only: Some(vec!["127.0.0.1".parse().unwrap()]),
            ..Default::default()
        };
        assert!(narrow
            .check(&u("http://127.0.0.2/x"))
            .unwrap_err()
            .contains("not allowed"));
        let extra = HostAllowlist {
            extra: vec!["10.0.0.1".into()],
            ..Default::default()
        };
        assert!(extra.check(&u("http://10.0.0.1/x")).is_ok());
    }
}
