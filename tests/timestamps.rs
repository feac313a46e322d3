//! `--timestamps`: a `tx3g` subtitle track with the wall-clock time of every
//! second of the output. A camera recorded the NVR's way across the end of
//! summer time in Europe/Berlin (2026-10-25 03:00 CEST -> 02:00 CET), then
//! offline for 20 s (a gap the export collapses), then back. The track is
//! read with ffmpeg's own subtitle decoder (the independent oracle), and
//! every cue must show the wall-clock second that the catalogue's rows and
//! the source files' own durations put at that instant of the output, for
//! both stream-copy writers, the HLS writer and the timelapse encoder.

mod common;

use std::path::Path;
use std::process::Command;

use common::http::Server;
use common::*;
use nvr_export::sample::hls::{vod_responses, VodForm};
use nvr_export::sample::nvr::{self, Session};
use nvr_export::sample::{SampleStore, SegmentSpec};
use nvr_export::{
    CancelToken, EncodeArgs, ExportRequest, HlsSource, Source, WriterChoice, WriterKind,
};

/// 2026-10-25 01:00:00 UTC: Europe/Berlin goes from CEST (+2) to CET (+1).
const DST_END: f64 = 1_792_890_000.0;

/// 22 s of recording from 14.3 s before the change, 20 s offline, 12 s more.
fn store(dir: &Path) -> SampleStore {
    let spec = |secs: f64, seed| SegmentSpec {
        fps: 10,
        gop: 20,
        seed,
        ..SegmentSpec::small(secs)
    };
    let back = Session {
        gap_before_s: 20.0,
        ..Session::new(spec(12.0, 2))
    };
    nvr::record_store(
        dir,
        "front_door",
        DST_END - 14.3,
        &[Session::new(spec(22.0, 1)), back],
    )
    .unwrap()
}

/// One subtitle cue as ffmpeg decodes it: start, end (output seconds), text.
#[derive(Debug)]
struct Cue {
    start: f64,
    end: f64,
    text: String,
}

/// The first subtitle track of `path`, decoded by ffmpeg to SubRip.
fn cues(path: &Path) -> Vec<Cue> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:s:0", "-f", "srt", "-"])
        .output()
        .unwrap();
    let out = succeeded(out);
    let srt = String::from_utf8(out.stdout).unwrap();
    let t = |s: &str| {
        let (hms, ms) = s.trim().split_once(',').unwrap();
        let v: Vec<f64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
        v[0] * 3600.0 + v[1] * 60.0 + v[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    let tags = regex::Regex::new("<[^>]*>").unwrap();
    srt.replace("\r\n", "\n")
        .split("\n\n")
        .filter(|b| b.contains("-->"))
        .map(|block| {
            let mut lines = block.lines().skip(1);
            let (a, b) = lines.next().unwrap().split_once("-->").unwrap();
            let text: String = lines.collect::<Vec<_>>().join(" ");
            Cue {
                start: t(a),
                end: t(b),
                text: tags.replace_all(&text, "").trim().to_string(),
            }
        })
        .collect()
}

/// `2026-10-25 02:59:59 CEST` as unix seconds (the abbreviation says which
/// of the two 02:xx hours it is).
fn unix(text: &str) -> i64 {
    let (local, zone) = text.rsplit_once(' ').unwrap();
    let offset_h = match zone {
        "CEST" => 2,
        "CET" => 1,
        other => panic!("unexpected zone {other:?} in {text:?}"),
    };
    let dt = chrono::NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S").unwrap();
    dt.and_utc().timestamp() - offset_h * 3600
}

/// How long a source segment's video is presented: from its first frame
/// to the end of its last (ffprobe's packets; the stream's own duration
/// leaves out the last frame's).
fn video_seconds(path: &Path) -> f64 {
    let rows = ffprobe_csv(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,duration_time",
        ],
    );
    let spans: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| {
            let (p, d) = r.split_once(',')?;
            Some((p.parse().ok()?, d.parse().ok()?))
        })
        .collect();
    let first = spans.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let end = spans
        .iter()
        .map(|s| s.0 + s.1)
        .fold(f64::NEG_INFINITY, f64::max);
    end - first
}

/// Checks every cue of `path` against the store: the rows' starts and the
/// files' durations place each wall-clock second on the output.
fn check_against_catalogue(s: &SampleStore, path: &Path, scale: f64) {
    let p = probe(path);
    let subs = streams_of(&p, "subtitle");
    assert_eq!(subs.len(), 1, "one subtitle track");
    assert_eq!(subs[0]["codec_name"], "mov_text");
    assert_eq!(subs[0]["tags"]["handler_name"], "Wall clock");
    let cues = cues(path);
    // Where each recording lands: gaps collapse, so one after the other.
    let mut clips = Vec::new();
    let mut offset = 0.0;
    for r in &s.recordings {
        let d = video_seconds(&r.path);
        clips.push((offset, offset + d, r.start_s));
        offset += d;
    }
    let total = offset * scale;
    assert!(
        cues.len() as f64 >= offset - 2.0,
        "{} cues for {offset:.1} s",
        cues.len()
    );
    for w in cues.windows(2) {
        assert!(
            (w[0].end - w[1].start).abs() <= 0.002,
            "{:?} then {:?}",
            w[0],
            w[1]
        );
    }
    assert!(cues[0].start.abs() <= 0.002);
    assert!(
        (cues.last().unwrap().end - total).abs() <= 0.15 * scale.max(0.1),
        "last cue ends at {:.3}, the output lasts {total:.3}",
        cues.last().unwrap().end
    );
    let mut zones = std::collections::BTreeSet::new();
    for c in &cues {
        let mid = (c.start + c.end) / 2.0 / scale;
        let shown = unix(&c.text);
        // The second the catalogue puts at `t` of the output; near a clip
        // boundary (within a frame) either clip's is right.
        let expected_at = |t: f64| {
            let &(at, _, wall) = clips.iter().rev().find(|(a, _, _)| *a <= t + 1e-6).unwrap();
            (wall + (t - at)).floor() as i64
        };
        let fits = [mid, mid - 0.1, mid + 0.1]
            .iter()
            .any(|&t| (shown - expected_at(t)).abs() <= 1);
        assert!(
            fits && c.end - c.start <= 1.001 * scale,
            "{}: cue {:?} shows {shown}, the catalogue puts {} there",
            path.display(),
            c,
            expected_at(mid)
        );
        zones.insert(c.text.rsplit(' ').next().unwrap().to_string());
    }
    assert_eq!(zones.into_iter().collect::<Vec<_>>(), ["CEST", "CET"]);
    // The collapsed gap shows: two consecutive cues 20 s apart in wall time.
    let jumps = cues
        .windows(2)
        .filter(|w| unix(&w[1].text) - unix(&w[0].text) >= 15)
        .count();
    assert_eq!(jumps, 1, "one collapsed gap");
}

fn request(s: &SampleStore) -> ExportRequest {
    ExportRequest {
        timestamps: true,
        timezone: Some("Europe/Berlin".into()),
        ..ExportRequest::new(&s.camera, s.start_s(), s.end_s())
    }
}

#[test]
fn every_writer_shows_the_wall_clock_across_a_gap_and_a_dst_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    assert!(s.recordings.len() >= 4);
    for writer in [WriterChoice::Auto, WriterChoice::Libav] {
        let out = exporter(&s)
            .with_writer(writer)
            .export(&request(&s), &CancelToken::new(), |_| {})
            .unwrap();
        assert_eq!(
            out.stats.writer == WriterKind::Fast,
            writer == WriterChoice::Auto
        );
        check_against_catalogue(&s, &out.video_path, 1.0);
        assert!(decode_errors(&out.video_path).is_empty());
    }
    // Without the flag, no subtitle track.
    let plain = export(
        &s,
        &ExportRequest {
            timestamps: false,
            ..request(&s)
        },
    )
    .unwrap();
    assert!(streams_of(&probe(&plain.video_path), "subtitle").is_empty());
}

#[test]
fn the_hls_writer_places_the_clock_by_the_catalogue_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let server = Server::start();
    let prefix = format!("/vod/front_door/start/{}/end/{}/", s.start_s(), s.end_s());
    server.serve(&prefix, &vod_responses(&s, VodForm::VodClip).unwrap());
    let req = ExportRequest {
        source: Source::Hls(HlsSource {
            url: Some(server.url(&format!("{prefix}index.m3u8"))),
            ..Default::default()
        }),
        chapters: nvr_export::ChapterMode::None,
        ..request(&s)
    };
    let out = export(&s, &req).unwrap();
    assert_eq!(out.stats.writer, WriterKind::Hls);
    check_against_catalogue(&s, &out.video_path, 1.0);
}

#[test]
fn a_timelapse_carries_the_clock_at_its_speed() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let req = ExportRequest {
        encode: Some(EncodeArgs::timelapse()),
        ..request(&s)
    };
    let out = export(&s, &req).unwrap();
    assert_eq!(out.stats.writer, WriterKind::Transcode);
    // The NVR's timelapse: 25x (setpts=0.04*PTS).
    check_against_catalogue(&s, &out.video_path, 0.04);
}
