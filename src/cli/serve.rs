//! `serve`: clips over HTTP/1.1 from virtual MP4s, answered by byte range.
//!
//! `GET`/`HEAD /clip/<camera>/start/<s>/end/<e>.mp4` plans the clip
//! ([`Exporter::virtual_mp4`]: nothing is written) and answers with its
//! length, `Accept-Ranges: bytes`, a strong `ETag`, single `Range` requests
//! (206; 416 with `Content-Range: bytes */len` when unsatisfiable; several
//! ranges get the whole file, as RFC 9110 allows), `If-Range` and
//! `If-None-Match`. Errors are the engine's typed errors as JSON
//! (`{"kind", "message", "retryable"}`) with a status that fits them.
//!
//! A player asks for a clip many times (its head, then where it seeks), so
//! planned clips are kept a minute by URL; their segments are still
//! re-checked on every read. Clips overlap (the same hour again, a minute
//! of it, the next range), so the segment indexes are kept too
//! (`--index-cache-mib`, [`Exporter::with_index_cache`]): a clip over
//! footage asked for before reads no header, only a `stat` a segment; the
//! last hour's indexes are read ahead (`--index-ahead-hours`), so a clip of
//! an event that just happened is answered that way too. tiny_http (synchronous, a few worker threads)
//! is all this needs: every response body is a reader over the virtual
//! file, which reads the segments with `pread`.

use std::io::Read;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nvr_export::{CancelToken, Error, ErrorKind, ExportRequest, Exporter, VirtualMp4};
use tiny_http::{Header, Method, Request, Response, Server, StatusCode};

use super::args::LayoutArgs;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Address to listen on. Loopback unless an address is named here
    /// (port 0: any free port; the first line printed says which).
    #[arg(long, default_value = "127.0.0.1:5010")]
    pub listen: SocketAddr,
    /// Worker threads answering requests.
    #[arg(long, default_value_t = 4)]
    pub threads: usize,
    /// Segment indexes kept between clips, MiB (0: read every clip's
    /// segment headers again). A segment is read again when its file
    /// changes (inode, size, modification time).
    #[arg(long, default_value_t = 64)]
    pub index_cache_mib: u64,
    /// Read ahead, every 10 s, the segment indexes of every camera's last
    /// this many hours (newest first, up to half the cache), so that a
    /// clip of recent footage is answered as one asked for before (0: off).
    #[arg(long, default_value_t = 1.0)]
    pub index_ahead_hours: f64,
}

/// How often the recent footage's indexes are read ahead.
const AHEAD_EVERY: Duration = Duration::from_secs(10);

/// How long a planned clip is reused for requests of the same URL.
const KEEP: Duration = Duration::from_secs(60);
/// Planned clips kept at most.
const KEPT: usize = 16;

struct Clips {
    exporter: Exporter,
    kept: Mutex<Vec<(String, Instant, Arc<VirtualMp4>)>>,
}

impl Clips {
    fn get(&self, path: &str, req: &ExportRequest) -> Result<Arc<VirtualMp4>, Error> {
        if let Ok(mut kept) = self.kept.lock() {
            kept.retain(|(_, at, _)| at.elapsed() < KEEP);
            if let Some((_, _, v)) = kept.iter().find(|(p, _, _)| p == path) {
                return Ok(v.clone());
            }
        }
        let v = Arc::new(self.exporter.virtual_mp4(req, &CancelToken::new())?);
        if let Ok(mut kept) = self.kept.lock() {
            if kept.len() >= KEPT {
                kept.remove(0);
            }
            kept.push((path.to_string(), Instant::now(), v.clone()));
        }
        Ok(v)
    }
}

pub fn serve(args: ServeArgs) -> ExitCode {
    let server = match Server::http(args.listen) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let addr = server
        .server_addr()
        .to_ip()
        .map_or(args.listen.to_string(), |a| a.to_string());
    println!("listening on http://{addr}/clip/<camera>/start/<unix s>/end/<unix s>.mp4");
    let clips = Arc::new(Clips {
        exporter: Exporter::new(args.layout.layout())
            .with_index_cache(args.index_cache_mib.saturating_mul(1 << 20)),
        kept: Mutex::new(Vec::new()),
    });
    if args.index_ahead_hours > 0.0 && args.index_cache_mib > 0 {
        let (clips, hours) = (clips.clone(), args.index_ahead_hours);
        std::thread::spawn(move || loop {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            if let Err(e) =
                clips
                    .exporter
                    .index_ahead(now - hours * 3600.0, now + 60.0, &CancelToken::new())
            {
                tracing::warn!(error = %e, "reading recent indexes ahead");
            }
            std::thread::sleep(AHEAD_EVERY);
        });
    }
    let workers: Vec<_> = (0..args.threads.max(1))
        .map(|_| {
            let (server, clips) = (server.clone(), clips.clone());
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    answer(&clips, request);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    ExitCode::SUCCESS
}

/// The camera and range of `/clip/<camera>/start/<s>/end/<e>.mp4`.
fn route(path: &str) -> Option<(String, f64, f64)> {
    let path = path.split('?').next()?;
    let rest = path.strip_prefix("/clip/")?.strip_suffix(".mp4")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [camera, "start", s, "end", e] => {
            Some((camera.to_string(), s.parse().ok()?, e.parse().ok()?))
        }
        _ => None,
    }
}

/// `response` with the header `name: value` (names and values here are
/// ASCII the server makes; one that is not is left out).
trait WithHeader: Sized {
    fn with(self, name: &str, value: &str) -> Self;
}

impl<R: Read> WithHeader for Response<R> {
    fn with(self, name: &str, value: &str) -> Self {
        match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            Ok(h) => self.with_header(h),
            Err(()) => self,
        }
    }
}

fn request_header<'r>(request: &'r Request, name: &str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

fn json_error(
    status: u16,
    kind: &str,
    message: &str,
    retryable: bool,
) -> Response<std::io::Cursor<Vec<u8>>> {
    let body = serde_json::json!({"kind": kind, "message": message, "retryable": retryable});
    Response::from_data(body.to_string().into_bytes())
        .with_status_code(StatusCode(status))
        .with("Content-Type", "application/json")
}

/// The status an engine error is answered with.
fn status_of(e: &Error) -> u16 {
    match e.kind() {
        ErrorKind::UnknownCamera | ErrorKind::NoRecordings => 404,
        ErrorKind::InvalidRange | ErrorKind::InvalidName | ErrorKind::ForbiddenArgument => 400,
        ErrorKind::ForbiddenPath => 403,
        ErrorKind::NotServable | ErrorKind::RangeTooLong => 422,
        ErrorKind::Database if e.retryable() => 503,
        _ => 500,
    }
}

/// A single byte range of `len` bytes: `Ok(None)` for none (or several:
/// the whole file is sent), `Err(())` when unsatisfiable.
fn byte_range(spec: &str, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if set.contains(',') {
        return Ok(None);
    }
    let (a, b) = set.trim().split_once('-').ok_or(())?;
    let (first, last) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        (a, "") => (a.parse().map_err(|_| ())?, len.saturating_sub(1)),
        (a, b) => {
            let (a, b): (u64, u64) = (a.parse().map_err(|_| ())?, b.parse().map_err(|_| ())?);
            if b < a {
                return Err(());
            }
            (a, b.min(len.saturating_sub(1)))
        }
    };
    if len == 0 || first >= len {
        return Err(());
    }
    Ok(Some((first, last)))
}

/// The body of a response: `[pos, end)` of a virtual file. A failed read
/// (a segment replaced meanwhile) ends the response early; the client sees
/// a body shorter than its Content-Length.
struct Body {
    clip: Arc<VirtualMp4>,
    pos: u64,
    end: u64,
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = (buf.len() as u64).min(self.end - self.pos) as usize;
        if want == 0 {
            return Ok(0);
        }
        // What of the head exists goes out at once (it is still being
        // written behind the layout for a clip just planned).
        let n = self
            .clip
            .read_available_at(self.pos, &mut buf[..want])
            .map_err(|e| {
                tracing::warn!(error = %e, "clip read failed mid-response");
                std::io::Error::other(e.to_string())
            })?;
        self.pos += n as u64;
        Ok(n)
    }
}

fn answer(clips: &Clips, request: Request) {
    let result = respond(clips, &request);
    let sent = match result {
        Ok(response) => request.respond(response),
        Err(response) => request.respond(response),
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "client went away");
    }
}

type Answer = Result<Response<Body>, Response<std::io::Cursor<Vec<u8>>>>;

fn respond(clips: &Clips, request: &Request) -> Answer {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return Err(
            json_error(405, "method_not_allowed", "only GET and HEAD", false)
                .with("Allow", "GET, HEAD"),
        );
    }
    let url = request.url().to_string();
    let Some((camera, start_s, end_s)) = route(&url) else {
        return Err(json_error(
            404,
            "not_found",
            "no such resource: clips are at /clip/<camera>/start/<unix s>/end/<unix s>.mp4",
            false,
        ));
    };
    let req = ExportRequest::new(camera, start_s, end_s);
    let clip = clips
        .get(url.split('?').next().unwrap_or(&url), &req)
        .map_err(|e| {
            json_error(
                status_of(&e),
                e.kind().as_str(),
                &e.to_string(),
                e.retryable(),
            )
        })?;
    let len = clip.len();
    let etag = clip.etag().to_string();
    let common = |r: Response<Body>| {
        r.with("Content-Type", clip.content_type())
            .with("Accept-Ranges", "bytes")
            .with("ETag", &etag)
    };
    if let Some(tags) = request_header(request, "If-None-Match") {
        if tags.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
            let body = Body {
                clip: clip.clone(),
                pos: 0,
                end: 0,
            };
            return Ok(common(Response::new(
                StatusCode(304),
                vec![],
                body,
                Some(0),
                None,
            )));
        }
    }
    // If-Range with another validator: the whole file, not the range.
    let range_applies = request_header(request, "If-Range").is_none_or(|t| t.trim() == etag);
    let range = match request_header(request, "Range").filter(|_| range_applies) {
        None => None,
        Some(spec) => match byte_range(spec, len) {
            Ok(r) => r,
            Err(()) => {
                return Err(json_error(
                    416,
                    "range_not_satisfiable",
                    &format!("the clip has {len} bytes"),
                    false,
                )
                .with("Content-Range", &format!("bytes */{len}")));
            }
        },
    };
    let (status, first, end) = match range {
        Some((a, b)) => (206, a, b + 1),
        None => (200, 0, len),
    };
    let body = Body {
        clip: clip.clone(),
        pos: first,
        end,
    };
    // Content-Length always (tiny_http would chunk large bodies): players
    // need the length to seek.
    let mut response = common(Response::new(
        StatusCode(status),
        vec![],
        body,
        Some((end - first) as usize),
        None,
    ))
    .with_chunked_threshold(usize::MAX);
    if status == 206 {
        response = response.with("Content-Range", &format!("bytes {first}-{}/{len}", end - 1));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_ranges() {
        assert_eq!(
            route("/clip/front_door/start/1700000000/end/1700000600.5.mp4"),
            Some(("front_door".into(), 1_700_000_000.0, 1_700_000_600.5))
        );
        assert_eq!(route("/clip/a/start/x/end/2.mp4"), None);
        assert_eq!(route("/vod/a/start/1/end/2.mp4"), None);
        assert_eq!(byte_range("bytes=0-99", 1000), Ok(Some((0, 99))));
        assert_eq!(byte_range("bytes=990-2000", 1000), Ok(Some((990, 999))));
        assert_eq!(byte_range("bytes=500-", 1000), Ok(Some((500, 999))));
        assert_eq!(byte_range("bytes=-100", 1000), Ok(Some((900, 999))));
        assert_eq!(byte_range("bytes=-5000", 1000), Ok(Some((0, 999))));
        assert_eq!(byte_range("bytes=1000-", 1000), Err(()));
        assert_eq!(byte_range("bytes=5-1", 1000), Err(()));
        assert_eq!(byte_range("bytes=-0", 1000), Err(()));
        assert_eq!(byte_range("bytes=0-1,5-6", 1000), Ok(None));
        assert_eq!(byte_range("items=0-1", 1000), Ok(None));
    }
}
