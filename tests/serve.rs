//! `nvr-export serve`: clips over HTTP by byte range, checked with a plain
//! HTTP/1.1 client and ffprobe reading the URL; the bytes are the export's.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::*;
use nvr_export::sample::SampleStore;
use nvr_export::{CancelToken, ExportRequest};

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(s: &SampleStore) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nvr-export"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Server { child, port }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on its own connection; reads to the end (or the length).
fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

fn clip_path(s: &SampleStore, start: f64, end: f64) -> String {
    format!("/clip/{}/start/{start}/end/{end}.mp4", s.camera)
}

/// The file `export` writes for the request the server plans.
fn exported(s: &SampleStore, start: f64, end: f64) -> Vec<u8> {
    let req = ExportRequest::new(&s.camera, start, end);
    let out = exporter(s)
        .export(&req, &CancelToken::new(), |_| {})
        .unwrap();
    std::fs::read(out.video_path).unwrap()
}

#[test]
fn ranges_conditionals_errors_and_ffprobe_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(dir.path());
    let (start, end) = (s.start_s(), s.end_s());
    let file = exported(&s, start, end);
    let srv = serve(&s);
    let path = clip_path(&s, start, end);

    let head = http(srv.port, "HEAD", &path, &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("Content-Length"),
        Some(file.len().to_string().as_str())
    );
    assert_eq!(head.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(head.header("Content-Type"), Some("video/mp4"));
    assert!(head.body.is_empty());
    let etag = head.header("ETag").unwrap().to_string();

    let whole = http(srv.port, "GET", &path, &[]);
    assert_eq!(whole.status, 200);
    assert!(whole.body == file, "served bytes differ from the export");

    let part = http(srv.port, "GET", &path, &[("Range", "bytes=1000-1999")]);
    assert_eq!(part.status, 206);
    assert_eq!(
        part.header("Content-Range"),
        Some(format!("bytes 1000-1999/{}", file.len()).as_str())
    );
    assert!(part.body == file[1000..2000]);
    let tail = http(srv.port, "GET", &path, &[("Range", "bytes=-500")]);
    assert_eq!(tail.status, 206);
    assert!(tail.body == file[file.len() - 500..]);

    let beyond = format!("bytes={}-", file.len());
    let r416 = http(srv.port, "GET", &path, &[("Range", &beyond)]);
    assert_eq!(r416.status, 416);
    assert_eq!(
        r416.header("Content-Range"),
        Some(format!("bytes */{}", file.len()).as_str())
    );

    let r304 = http(srv.port, "GET", &path, &[("If-None-Match", &etag)]);
    assert_eq!(r304.status, 304);
    assert!(r304.body.is_empty());
    let stale = http(
        srv.port,
        "GET",
        &path,
        &[("Range", "bytes=0-9"), ("If-Range", "\"another\"")],
    );
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body.len(), file.len());
    let fresh = http(
        srv.port,
        "GET",
        &path,
        &[("Range", "bytes=0-9"), ("If-Range", &etag)],
    );
    assert_eq!(fresh.status, 206);

    let unknown = http(
        srv.port,
        "GET",
        &format!("/clip/nope/start/{start}/end/{end}.mp4"),
        &[],
    );
    assert_eq!(unknown.status, 404);
    let json: serde_json::Value = serde_json::from_slice(&unknown.body).unwrap();
    assert_eq!(json["kind"], "unknown_camera");
    let none = http(
        srv.port,
        "GET",
        &clip_path(&s, start - 900.0, start - 600.0),
        &[],
    );
    assert_eq!(none.status, 404);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&none.body).unwrap()["kind"],
        "no_recordings"
    );
    assert_eq!(http(srv.port, "GET", "/elsewhere", &[]).status, 404);
    assert_eq!(http(srv.port, "POST", &path, &[]).status, 405);

    // An independent reader over HTTP: ffprobe sees the whole clip.
    let url = format!("http://127.0.0.1:{}{path}", srv.port);
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            &url,
        ])
        .output()
        .unwrap();
    let served: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let local = f(&probe_file(&dir.path().join("check.mp4"), &file)["format"]["duration"]);
    assert!((served - local).abs() < 1e-3, "{served} vs {local}");
    // Nothing was written by serving.
    assert_eq!(
        export_rows(&s).len(),
        1,
        "only the comparison export has a row"
    );
}

fn probe_file(at: &Path, bytes: &[u8]) -> serde_json::Value {
    std::fs::write(at, bytes).unwrap();
    probe(at)
}

#[test]
fn a_segment_replaced_mid_download_cuts_the_response_short() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 4.0, 3);
    let srv = serve(&s);
    let path = clip_path(&s, s.start_s(), s.end_s());
    let head = http(srv.port, "HEAD", &path, &[]);
    let len: usize = head.header("Content-Length").unwrap().parse().unwrap();
    // Planned (and kept) by the HEAD; now the last segment is replaced.
    let victim = &s.recordings[2].path;
    let copy = victim.with_extension("tmp");
    std::fs::copy(victim, &copy).unwrap();
    std::fs::rename(&copy, victim).unwrap();
    let r = http(srv.port, "GET", &path, &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.body.len() < len,
        "{} of {len} bytes: never other bytes",
        r.body.len()
    );
}
