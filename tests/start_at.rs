//! `--start-at exact`: a long-GOP camera recorded the NVR's way, cut
//! between keyframes, from its files and through a VOD server. The export lasts the range asked for (not a
//! GOP more), its first picture is the source's frame at the requested
//! instant, audio starts with it, and both stream-copy writers agree; the
//! default stays the NVR's keyframe start.

mod common;

use std::path::Path;

use common::*;
use nvr_export::sample::nvr::{self, Session};
use nvr_export::sample::{AudioSpec, SampleStore, SegmentSpec};
use nvr_export::{CancelToken, ExportRequest, StartAt, WriterChoice, WriterKind};

const FPS: u32 = 15;

/// 320x180 15 fps, a keyframe every 10 s (a "smart codec" camera), 16 kHz AAC.
fn long_gop(dir: &Path) -> SampleStore {
    let spec = SegmentSpec {
        audio: Some(AudioSpec {
            sample_rate: 16_000,
            ..AudioSpec::default()
        }),
        fps: FPS,
        gop: 10 * FPS,
        ..SegmentSpec::small(45.0)
    };
    nvr::record_store(dir, "front_door", T0 + 0.37, &[Session::new(spec)]).unwrap()
}

#[test]
fn exact_start_is_the_requested_instant_with_both_writers() {
    let dir = tempfile::tempdir().unwrap();
    let s = long_gop(dir.path());
    // A frame instant between keyframes, in the second segment, and an end
    // 12.3 s later.
    let row = &s.recordings[1];
    let into = 37.0 / FPS as f64; // frame 37 of that segment: not a keyframe
    let start = row.start_s + into;
    let end = start + 12.3;
    let exact = ExportRequest {
        start_at: StartAt::Exact,
        chapters: nvr_export::ChapterMode::None,
        ..request(&s, start, end)
    };
    let source_md5 = first_picture_md5(&row.path, Some(into - 0.001));
    let mut files = Vec::new();
    for writer in [WriterChoice::Auto, WriterChoice::Libav] {
        let out = exporter(&s)
            .with_writer(writer)
            .export(&exact, &CancelToken::new(), |_| {})
            .unwrap();
        let kind = out.stats.writer;
        assert_eq!(kind == WriterKind::Fast, writer == WriterChoice::Auto);
        let p = probe(&out.video_path);
        let duration = f(&p["format"]["duration"]);
        assert!(
            (duration - 12.3).abs() <= 1.5 / FPS as f64,
            "{kind:?}: {duration}"
        );
        let (vstart, vdur) = stream_span(&out.video_path, "video").unwrap();
        let (astart, adur) = stream_span(&out.video_path, "audio").unwrap();
        assert!(vstart.abs() < 1e-6, "{kind:?}: video starts at {vstart}");
        // One AAC frame at 16 kHz is 64 ms.
        assert!(astart.abs() <= 0.064, "{kind:?}: audio starts at {astart}");
        assert!(
            (adur - vdur).abs() <= 0.07,
            "{kind:?}: audio {adur} vs video {vdur}"
        );
        assert_eq!(
            first_picture_md5(&out.video_path, None),
            source_md5,
            "{kind:?}: the first picture is not the source's at the start"
        );
        assert_eq!(decode_errors(&out.video_path), "", "{kind:?}");
        files.push(std::fs::read(&out.video_path).unwrap());
    }
    // The virtual file of the same request is the index-driven writer's.
    let v = exporter(&s)
        .virtual_mp4(&exact, &CancelToken::new())
        .unwrap();
    let mut bytes = vec![0u8; v.len() as usize];
    v.read_at(0, &mut bytes).unwrap();
    assert!(bytes == files[0]);

    // The default is the NVR's: from the keyframe before the start.
    let keyframe = exporter(&s)
        .export(
            &ExportRequest {
                chapters: nvr_export::ChapterMode::None,
                ..request(&s, start, end)
            },
            &CancelToken::new(),
            |_| {},
        )
        .unwrap();
    let d = f(&probe(&keyframe.video_path)["format"]["duration"]);
    assert!(d > 12.3 + into - 0.2, "keyframe start gives {d}");
}

#[test]
fn the_hls_writer_cuts_exactly_too() {
    // The same camera through a VOD server (one init per recording, the
    // `/vod/clip/` form): the export starts at the requested instant, not
    // at the keyframe the fragment starts with.
    let dir = tempfile::tempdir().unwrap();
    let s = long_gop(dir.path());
    let row = &s.recordings[1];
    let into = 37.0 / FPS as f64;
    let (start, end) = (row.start_s + into, row.start_s + into + 12.3);
    // The server answers the range with the recordings in it, as the NVR's does.
    let mut served = s.clone();
    served
        .recordings
        .retain(|r| r.end_s > start && r.start_s < end);
    let server = common::http::Server::start();
    let prefix = format!("/vod/front_door/start/{start}/end/{end}/");
    server.serve(
        &prefix,
        &nvr_export::sample::hls::vod_responses(&served, nvr_export::sample::hls::VodForm::VodClip)
            .unwrap(),
    );
    let hls = |start_at| ExportRequest {
        start_at,
        chapters: nvr_export::ChapterMode::None,
        source: nvr_export::Source::Hls(nvr_export::HlsSource {
            url: Some(server.url(&format!("{prefix}index.m3u8"))),
            ..Default::default()
        }),
        ..request(&s, start, end)
    };
    let out = exporter(&s)
        .export(&hls(StartAt::Exact), &CancelToken::new(), |_| {})
        .unwrap();
    assert_eq!(out.stats.writer, WriterKind::Hls);
    // Placed (no warning that it could not be), only no thumbnail: the
    // store has no previews.
    assert!(
        out.warnings.iter().all(|w| w.kind() == "no_thumbnail"),
        "{:?}",
        out.warnings
    );
    let duration = f(&probe(&out.video_path)["format"]["duration"]);
    assert!((duration - 12.3).abs() <= 1.5 / FPS as f64, "{duration}");
    let (vstart, vdur) = stream_span(&out.video_path, "video").unwrap();
    let (astart, adur) = stream_span(&out.video_path, "audio").unwrap();
    assert!(vstart.abs() < 1e-6, "video starts at {vstart}");
    assert!(astart.abs() <= 0.064, "audio starts at {astart}");
    assert!((adur - vdur).abs() <= 0.07, "audio {adur} vs video {vdur}");
    assert_eq!(
        first_picture_md5(&out.video_path, None),
        first_picture_md5(&row.path, Some(into - 0.001)),
        "the first picture is not the source's at the start"
    );
    assert_eq!(decode_errors(&out.video_path), "");
    // The NVR's way through the same server starts at the fragment's keyframe.
    let key = exporter(&s)
        .export(&hls(StartAt::Keyframe), &CancelToken::new(), |_| {})
        .unwrap();
    let d = f(&probe(&key.video_path)["format"]["duration"]);
    assert!(d > 12.3 + into - 0.2, "keyframe start gives {d}");
}

#[test]
fn chapters_lie_on_the_visible_timeline_of_an_exact_start() {
    // The demo store: review items at +7..+19 s and +40..+52 s, a 10 s
    // outage at +30 s, keyframes every second.
    let dir = tempfile::tempdir().unwrap();
    let s = nvr_export::sample::demo::demo_store(dir.path()).unwrap();
    let t0 = s.start_s();
    let (start, end) = (t0 + 10.5, t0 + 45.2);
    let ends = |start_at| {
        let req = ExportRequest {
            start_at,
            ..ExportRequest::new(&s.camera, start, end)
        };
        let out = exporter(&s)
            .export(&req, &CancelToken::new(), |_| {})
            .unwrap();
        let p = probe(&out.video_path);
        let chapters = chapters_of(&p);
        (f(&p["format"]["duration"]), chapters)
    };
    let (d_exact, exact) = ends(StartAt::Exact);
    let (d_key, key) = ends(StartAt::Keyframe);
    // 34.7 s asked, 10 of them an outage.
    assert!((d_exact - 24.7).abs() < 0.05, "{d_exact}");
    assert!(d_key > d_exact + 0.4, "{d_key}");
    // The first review item ends 8.5 s into the exact export (19 - 10.5),
    // 9 s into the one that starts at the keyframe (19 - 10); the second
    // reaches the end of both.
    assert!(exact[0].2.contains("person"), "{exact:?}");
    assert!(
        exact[0].0.abs() < 1e-3 && (exact[0].1 - 8.5).abs() < 0.05,
        "{exact:?}"
    );
    assert!((key[0].1 - 9.0).abs() < 0.05, "{key:?}");
    let last = exact.last().unwrap();
    assert!(
        last.2.contains("car") && (last.1 - d_exact).abs() < 0.05,
        "{exact:?}"
    );
}
