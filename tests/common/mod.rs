//! Test helpers: synthetic stores and the ffprobe/ffmpeg CLI as an
//! independent oracle of what the library wrote.
#![allow(dead_code)]

pub mod http;

use std::path::{Path, PathBuf};
use std::process::Command;

use nvr_export::sample::{self, SampleStore, SegmentPlan, SegmentSpec};
use nvr_export::{CancelToken, ExportOutcome, ExportRequest, Exporter, Layout, Progress, Result};
use serde_json::Value;

pub const T0: f64 = 1_718_000_000.0; // 2024-06-10 06:13:20 UTC

/// An ideal store of camera `front_door` from T0: each segment encoded from
/// its spec, after its wall-clock gap (exact, contiguous rows otherwise).
pub fn store(dir: &Path, specs: &[(SegmentSpec, f64)]) -> SampleStore {
    let plans: Vec<SegmentPlan> = specs
        .iter()
        .map(|(spec, gap)| SegmentPlan {
            spec: *spec,
            gap_before_s: *gap,
        })
        .collect();
    sample::build_store(dir, "front_door", T0, &plans).expect("build store")
}

/// `n` back-to-back small segments of `secs` seconds, seeds 0..n.
pub fn back_to_back(dir: &Path, secs: f64, n: u32) -> SampleStore {
    let specs: Vec<_> = (0..n).map(|i| (small(secs, i), 0.0)).collect();
    store(dir, &specs)
}

/// Three 4 s segments, a 30 s gap before the third.
pub fn two_then_gap_then_one(dir: &Path) -> SampleStore {
    store(
        dir,
        &[
            (small(4.0, 0), 0.0),
            (small(4.0, 1), 0.0),
            (small(4.0, 2), 30.0),
        ],
    )
}

pub fn small(secs: f64, seed: u32) -> SegmentSpec {
    SegmentSpec {
        seed,
        ..SegmentSpec::small(secs)
    }
}

pub fn exporter(s: &SampleStore) -> Exporter {
    Exporter::new(Layout::new(&s.db_path, &s.media_dir))
}

pub fn export(s: &SampleStore, req: &ExportRequest) -> Result<ExportOutcome> {
    exporter(s).export(req, &CancelToken::new(), |_p: Progress| {})
}

pub fn request(s: &SampleStore, start: f64, end: f64) -> ExportRequest {
    ExportRequest {
        timezone: Some("UTC".into()),
        ..ExportRequest::new(&s.camera, start, end)
    }
}

/// Runs `ffprobe -v error ARGS PATH` and returns its stdout; fails the test on error.
fn ffprobe(path: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .arg(path)
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `ffprobe -show_format -show_streams -show_chapters` as JSON.
pub fn probe(path: &Path) -> Value {
    let out = ffprobe(
        path,
        &[
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-show_chapters",
        ],
    );
    serde_json::from_slice(&out).expect("ffprobe json")
}

pub fn streams_of<'a>(p: &'a Value, kind: &str) -> Vec<&'a Value> {
    p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["codec_type"] == kind)
        .collect()
}

pub fn f(v: &Value) -> f64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_f64())
        .unwrap_or(f64::NAN)
}

/// `ffprobe -v error ARGS -of csv=p=0 PATH`, one output line each.
pub fn ffprobe_csv(path: &Path, args: &[&str]) -> Vec<String> {
    let args: Vec<&str> = args.iter().copied().chain(["-of", "csv=p=0"]).collect();
    String::from_utf8_lossy(&ffprobe(path, &args))
        .lines()
        .map(str::to_string)
        .collect()
}

/// Video packets' (pts_time, flags) via ffprobe.
pub fn video_packets(path: &Path) -> Vec<(f64, String)> {
    ffprobe_csv(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,flags",
        ],
    )
    .iter()
    .filter_map(|l| {
        let mut it = l.split(',');
        let t = it.next()?.parse().ok()?;
        Some((t, it.next().unwrap_or("").to_string()))
    })
    .collect()
}

/// Decodes every stream with the ffmpeg CLI; returns its error output.
pub fn decode_errors(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut s = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        s.push_str(&format!("\nexit status {}", out.status));
    }
    s
}

/// Top-level MP4 box types in file order.
pub fn top_level_boxes(path: &Path) -> Vec<String> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut p = 0usize;
    while p + 8 <= data.len() {
        let mut size = u32::from_be_bytes(data[p..p + 4].try_into().unwrap()) as u64;
        let kind = String::from_utf8_lossy(&data[p + 4..p + 8]).into_owned();
        if size == 1 {
            size = u64::from_be_bytes(data[p + 8..p + 16].try_into().unwrap());
        } else if size == 0 {
            size = (data.len() - p) as u64;
        }
        out.push(kind);
        if size < 8 {
            break;
        }
        p += size as usize;
    }
    out
}

pub fn assert_moov_first(path: &Path) {
    let boxes = top_level_boxes(path);
    let moov = boxes.iter().position(|b| b == "moov").expect("moov box");
    let mdat = boxes.iter().position(|b| b == "mdat").expect("mdat box");
    assert!(moov < mdat, "moov after mdat: {boxes:?}");
}

/// The chapters ffprobe reads back from a probe (`probe(path)`): (start s,
/// end s, title).
pub fn chapters_of(p: &Value) -> Vec<(f64, f64, String)> {
    p["chapters"]
        .as_array()
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|c| {
            (
                f(&c["start_time"]),
                f(&c["end_time"]),
                c["tags"]["title"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Every file under `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

pub fn export_rows(s: &SampleStore) -> Vec<(String, i64)> {
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let mut st = conn.prepare("SELECT id, in_progress FROM export").unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

pub fn assert_nothing_left(s: &SampleStore) {
    let exports = s.media_dir.join("exports");
    assert_eq!(
        files_under(&exports),
        Vec::<PathBuf>::new(),
        "files left in the export folder"
    );
    assert_eq!(
        files_under(&s.media_dir.join("clips/export")),
        Vec::<PathBuf>::new()
    );
    assert_eq!(export_rows(s), vec![], "export rows left");
}

/// Per-packet MD5 of the first video stream (`ffmpeg -f framemd5`, stream copy).
pub fn video_packet_hashes(path: &Path) -> Vec<String> {
    packet_hashes(path, "0:v:0")
}

/// Per-packet MD5 of the first audio stream (none without one).
pub fn audio_packet_hashes(path: &Path) -> Vec<String> {
    packet_hashes(path, "0:a:0?")
}

/// Per-packet MD5 of the stream `map` selects: the sixth field of each
/// framemd5 line (side data, when a packet has some, follows it).
pub fn packet_hashes(path: &Path, map: &str) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", map, "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg framemd5 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(',').nth(5).map(|h| h.trim().to_string()))
        .collect()
}

/// Packets of `source` missing from `export` and packets of `export` not in
/// `source`, counted as multisets (the same packet may occur many times).
pub fn multiset_difference(source: &[String], export: &[String]) -> (u64, u64) {
    let mut count: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    for h in source {
        *count.entry(h).or_default() += 1;
    }
    for h in export {
        *count.entry(h).or_default() -= 1;
    }
    let missing = count.values().filter(|v| **v > 0).map(|v| *v as u64).sum();
    let extra = count
        .values()
        .filter(|v| **v < 0)
        .map(|v| (-*v) as u64)
        .sum();
    (missing, extra)
}

/// (start_time, duration) of the first stream of `kind`, from ffprobe.
pub fn stream_span(path: &Path, kind: &str) -> Option<(f64, f64)> {
    let p = probe(path);
    let s = streams_of(&p, kind).into_iter().next()?;
    Some((f(&s["start_time"]), f(&s["duration"])))
}

/// `codec_type,pts,dts,duration,size,flags` of every video packet, then of
/// every audio packet (each stream in file order; how the two are
/// interleaved in the file is left out: the writers may differ there).
pub fn packets(path: &Path) -> Vec<String> {
    let all = ffprobe_csv(
        path,
        &[
            "-show_entries",
            "packet=codec_type,pts,dts,duration,size,flags",
        ],
    );
    let of = |kind: &str| {
        all.iter()
            .filter(|l| l.starts_with(kind))
            .cloned()
            .collect::<Vec<_>>()
    };
    let mut out = of("video");
    out.extend(of("audio"));
    out
}

/// Says, visibly, that part of a test did not run. Written straight to the
/// process's stderr: the test harness captures `eprintln!`, so a skip
/// printed that way would be invisible and the test would look like a pass.
pub fn skipped(what: &str, why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what}: {why}");
}

/// An outcome's warnings other than "no thumbnail" (stores without
/// previews have none to make one from).
pub fn warnings_besides_thumbnail(o: &ExportOutcome) -> Vec<&nvr_export::Warning> {
    o.warnings
        .iter()
        .filter(|w| !matches!(w, nvr_export::Warning::NoThumbnail { .. }))
        .collect()
}

/// Runs `nvr-export SUBCOMMAND --db .. --media-dir .. --json` on a store;
/// it must succeed and print one JSON object, which is returned.
pub fn store_command_json(s: &SampleStore, subcommand: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_nvr-export"))
        .arg(subcommand)
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .arg("--json")
        .output()
        .unwrap();
    let out = succeeded(out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A camera recorded the NVR's way: 25 s at 320x180, then, after a 20 s
/// outage, a restart at 640x360 (new SPS in band) for 12 s.
pub fn restart_store(dir: &Path, camera: &str) -> SampleStore {
    restart_store_with(dir, camera, true)
}

/// [`restart_store`]; `inband_after`: whether the restarted camera still
/// sends its parameter sets in band (false: only in the file headers).
pub fn restart_store_with(dir: &Path, camera: &str, inband_after: bool) -> SampleStore {
    nvr_export::sample::nvr::restart_store(dir, camera, T0 + 0.37, inband_after).unwrap()
}

/// MD5 of the first decoded picture of `path` from `at` seconds (ffmpeg,
/// the independent oracle).
pub fn first_picture_md5(path: &Path, at: Option<f64>) -> String {
    let mut c = Command::new("ffmpeg");
    c.args(["-v", "error"]);
    if let Some(at) = at {
        c.args(["-ss", &format!("{at:.4}")]);
    }
    let out = c
        .arg("-i")
        .arg(path)
        .args([
            "-map",
            "0:v",
            "-frames:v",
            "1",
            "-pix_fmt",
            "yuv420p",
            "-f",
            "md5",
            "-",
        ])
        .output()
        .unwrap();
    let out = succeeded(out);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `out` of a command that must have succeeded (its stderr shown if not).
pub fn succeeded(out: std::process::Output) -> std::process::Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
