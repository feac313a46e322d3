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
//! * Time: connect timeout, and a deadline per request (the whole answer,
//!   not each read: a server trickling a byte a second is cut off); bodies
//!   are read in pieces, checking the cancel token and the deadline between
//!   them.
//! * Retries: connection failures, timeouts and 5xx are retried twice with
//!   backoff, within a retry budget per client (one export); 4xx is final.
//!   A 404 names the URL and status.
//! * Names are resolved once per connection, by the client's own resolver,
//!   which checks every address against the allowlist: the connection goes
//!   where the check looked (no DNS rebinding past it).
//! * Sizes: a body over its cap is refused (a hostile server cannot make us
//!   allocate without bound).

use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
            self.allows(host, named, *ip)?;
        }
        Ok(())
    }

    /// Whether `host` (`named`: listed by name) may be reached at `ip`.
    fn allows(&self, host: &str, named: bool, ip: IpAddr) -> Result<(), String> {
        let ok = match &self.only {
            Some(only) => only.contains(&ip),
            None => {
                ip.is_loopback()
                    || named
                    || self
                        .extra
                        .iter()
                        .any(|h| h.parse::<IpAddr>().ok() == Some(ip))
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "host {host} ({ip}) is not allowed: only loopback unless added with --allow-host"
            ))
        }
    }
}

/// The client's only name resolution: each name is resolved once per
/// connection, and the connection goes to the addresses this check passed
/// (a name that answers differently the second time, DNS rebinding, cannot
/// slip past a check made on the first answer).
struct CheckedResolver {
    allow: Arc<HostAllowlist>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let named = allow.extra.iter().any(|h| h.eq_ignore_ascii_case(&host));
            let addrs: Vec<std::net::SocketAddr> = (host.as_str(), 0).to_socket_addrs()?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            for a in &addrs {
                allow.allows(&host, named, a.ip())?;
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Limits of one client.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub connect_timeout: Duration,
    /// Whole request, body included: a deadline, not a gap between reads
    /// (a server trickling a byte a second is cut off at it).
    pub request_timeout: Duration,
    /// Tries per URL (1 = no retry).
    pub attempts: u32,
    pub backoff: Duration,
    /// Time all the retries of one client (one export) may take together:
    /// past it, a failure is final at once.
    pub retry_budget: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            attempts: 3,
            backoff: Duration::from_millis(200),
            retry_budget: Duration::from_secs(120),
        }
    }
}

/// A blocking client bound to an allowlist (cheap to clone).
#[derive(Clone)]
pub struct HttpClient {
    client: reqwest::blocking::Client,
    allow: Arc<HostAllowlist>,
    limits: HttpLimits,
    /// When the retry budget of this client (its export) runs out.
    retries_until: Arc<std::sync::Mutex<Option<Instant>>>,
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
            .dns_resolver(Arc::new(CheckedResolver {
                allow: allow.clone(),
            }))
            .no_proxy()
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpClient {
            client,
            allow,
            limits,
            retries_until: Arc::new(std::sync::Mutex::new(None)),
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
        let mut last: Option<FetchError> = None;
        for attempt in 0..self.limits.attempts.max(1) {
            if cancel.is_cancelled() {
                return Err(fail("cancelled".into(), false));
            }
            if attempt > 0 {
                if !self.may_retry() {
                    let mut e = last.take().unwrap_or_else(|| fail(String::new(), true));
                    e.reason = format!(
                        "{} (no retry: this export's {} s for retries are spent)",
                        e.reason,
                        self.limits.retry_budget.as_secs()
                    );
                    return Err(e);
                }
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

    /// Whether another try fits in the client's retry budget (started at
    /// its first retry).
    fn may_retry(&self) -> bool {
        let mut until = self.retries_until.lock().unwrap_or_else(|e| e.into_inner());
        let until = *until.get_or_insert_with(|| Instant::now() + self.limits.retry_budget);
        Instant::now() < until
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
        let deadline = Instant::now() + self.limits.request_timeout;
        let resp = self.client.get(url.clone()).send().map_err(|e| {
            let redirect = e.is_redirect();
            fail(
                describe(&e),
                !redirect && (e.is_timeout() || e.is_connect()),
            )
        })?;
        let status = resp.status();
        if status.is_redirection() {
            // A redirect reqwest would not follow (to `file:`, `data:`...).
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .unwrap_or_default();
            let why = match Url::parse(&to).or_else(|_| url.join(&to)) {
                Ok(target) => match self.allow.check(&target) {
                    Err(why) => why,
                    Ok(()) => "not followed".into(),
                },
                Err(e) => format!("not a URL ({e})"),
            };
            return Err(fail(
                format!("HTTP {status}: a redirect to {to:?}, refused: {why}"),
                false,
            ));
        }
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
            if Instant::now() > deadline {
                return Err(fail(
                    format!(
                        "no complete answer within {:.0} s (the deadline of one request)",
                        self.limits.request_timeout.as_secs_f64()
                    ),
                    true,
                ));
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

    /// The resolver the connections use answers only with checked
    /// addresses: a name whose answer is not allowed fails to resolve, so
    /// no connection is made to it whatever the earlier check saw.
    #[test]
    fn the_connection_resolver_checks_every_address() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let resolve = |allow: HostAllowlist, host: &str| {
            let r = CheckedResolver {
                allow: Arc::new(allow),
            };
            let mut fut = r.resolve(reqwest::dns::Name::from_str(host).unwrap());
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match fut.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(r) => r.map(|a| a.map(|a| a.ip()).collect::<Vec<_>>()),
                std::task::Poll::Pending => panic!("the resolver waits on nothing"),
            }
        };
        let ips = resolve(HostAllowlist::default(), "localhost").unwrap();
        assert!(!ips.is_empty() && ips.iter().all(|ip| ip.is_loopback()));
        let narrow = HostAllowlist {
            only: Some(vec!["127.0.0.2".parse().unwrap()]),
            ..Default::default()
        };
        let e = resolve(narrow, "localhost").unwrap_err().to_string();
        assert!(e.contains("not allowed"), "{e}");
    }
}
