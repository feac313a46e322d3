//! A tiny HTTP/1.1 server on 127.0.0.1 for the HLS tests: fixed responses
//! per path, and the faults a VOD client must survive.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a path answers.
#[derive(Clone)]
pub enum Route {
    Body(Vec<u8>),
    Status(u16),
    /// Waits before sending the body.
    Slow(Duration, Vec<u8>),
    /// 302 to this absolute URL.
    Redirect(String),
    /// Claims `Content-Length` of the whole body, sends half, closes.
    Truncated(Vec<u8>),
    /// Sends the body a byte at a time, this long apart.
    Trickle(Duration, Vec<u8>),
}

pub struct Server {
    pub base: String,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    pub hits: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let hits: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (r, h) = (r.clone(), h.clone());
                std::thread::spawn(move || {
                    let _ = handle(conn, &r, &h);
                });
            }
        });
        Server { base, routes, hits }
    }

    pub fn set(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    /// Serves `files` (name -> body) under `prefix` (e.g. `/vod/x/`).
    pub fn serve(&self, prefix: &str, files: &std::collections::BTreeMap<String, Vec<u8>>) {
        for (name, body) in files {
            self.set(&format!("{prefix}{name}"), Route::Body(body.clone()));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

fn handle(
    conn: TcpStream,
    routes: &Mutex<HashMap<String, Route>>,
    hits: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
    }
    hits.lock().unwrap().push(path.clone());
    let route = routes.lock().unwrap().get(&path).cloned();
    let mut out = conn;
    let head = |status: &str, len: usize, extra: &str| {
        format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\nConnection: close\r\n{extra}\r\n")
    };
    match route {
        None => out.write_all(head("404 Not Found", 0, "").as_bytes())?,
        Some(Route::Status(code)) => {
            out.write_all(head(&format!("{code} Status"), 0, "").as_bytes())?
        }
        Some(Route::Body(b)) => {
            out.write_all(head("200 OK", b.len(), "Content-Type: video/mp4\r\n").as_bytes())?;
            out.write_all(&b)?;
        }
        Some(Route::Slow(d, b)) => {
            out.write_all(head("200 OK", b.len(), "").as_bytes())?;
            std::thread::sleep(d);
            out.write_all(&b)?;
        }
        Some(Route::Redirect(to)) => {
            out.write_all(head("302 Found", 0, &format!("Location: {to}\r\n")).as_bytes())?
        }
        Some(Route::Trickle(gap, b)) => {
            out.write_all(head("200 OK", b.len(), "").as_bytes())?;
            for byte in b {
                out.write_all(&[byte])?;
                out.flush()?;
                std::thread::sleep(gap);
            }
        }
        Some(Route::Truncated(b)) => {
            out.write_all(head("200 OK", b.len(), "").as_bytes())?;
            out.write_all(&b[..b.len() / 2])?;
        }
    }
    out.flush()
}
