//! The HLS source: exports read from a VOD server (an in-process one on
//! 127.0.0.1 serving fixtures made the way the NVR's server makes them,
//! and the captured responses of the real server when `../shared` is
//! there), and the faults a network source meets.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::http::{Route, Server};
use common::*;
use nvr_export::sample::hls::{vod_responses, VodForm};
use nvr_export::sample::{SampleStore, SegmentSpec};
use nvr_export::{
    CancelToken, ErrorKind, ExportOutcome, ExportRequest, Exporter, HlsSource, Layout, Source,
    Warning, WriterChoice, WriterKind,
};

fn restart_store(dir: &Path) -> SampleStore {
    common::restart_store(dir, "test_cam")
}

fn hls_request(s: &SampleStore, url: String) -> ExportRequest {
    ExportRequest {
        source: Source::Hls(HlsSource {
            url: Some(url),
            ..Default::default()
        }),
        timezone: Some("UTC".into()),
        ..ExportRequest::new(&s.camera, s.start_s(), s.end_s())
    }
}

fn hls_export(
    s: &SampleStore,
    exporter: &Exporter,
    url: String,
) -> nvr_export::Result<ExportOutcome> {
    exporter.export(&hls_request(s, url), &CancelToken::new(), |_| {})
}

/// Serves `files` under `/vod/…/` and returns the playlist URL.
fn serve(server: &Server, name: &str, files: &BTreeMap<String, Vec<u8>>) -> String {
    let prefix = format!("/vod/{name}/");
    server.serve(&prefix, files);
    server.url(&format!("{prefix}index.m3u8"))
}

/// A path name that carries the store's range, as the NVR's routes do
/// (`<name>/start/<s>/end/<e>`): the export knows where the playlist lies.
fn ranged(s: &SampleStore, name: &str) -> String {
    format!("{name}/start/{}/end/{}", s.start_s(), s.end_s())
}

fn quick(s: &SampleStore) -> Exporter {
    exporter(s).with_http_limits(Duration::from_secs(2), Duration::from_secs(2), 2)
}

#[test]
fn vod_clip_form_exports_a_restart_cleanly_and_matches_the_file_source() {
    let dir = tempfile::tempdir().unwrap();
    let s = restart_store(dir.path());
    let server = Server::start();
    let files = vod_responses(&s, VodForm::VodClip).unwrap();
    let url = serve(&server, &ranged(&s, "clip"), &files);
    let o = hls_export(&s, &exporter(&s), url).unwrap();
    assert_eq!(o.stats.writer, WriterKind::Hls);
    assert!(
        warnings_besides_thumbnail(&o).is_empty(),
        "{:?}",
        o.warnings
    );
    assert_eq!(decode_errors(&o.video_path), "");
    assert_moov_first(&o.video_path);
    let p = probe(&o.video_path);
    assert_eq!(streams_of(&p, "audio").len(), 1);
    // The same frames as the file source's export of the whole range.
    let file = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(o.stats.video_packets, file.stats.video_packets);
    assert_eq!(
        video_packet_hashes(&o.video_path).len(),
        video_packet_hashes(&file.video_path).len()
    );
    let frame = 1.0 / 15.0;
    assert!(
        (o.stats.video_duration_s - file.stats.video_duration_s).abs() <= frame + 1e-6,
        "hls {} s, files {} s",
        o.stats.video_duration_s,
        file.stats.video_duration_s
    );
    // The restart's parameters travel in band: the 640x360 part decodes.
    assert_eq!(export_rows(&s).len(), 2);
}

#[test]
fn vod_form_with_one_init_warns_about_the_fragments_it_cannot_describe() {
    // Recordings without in-band parameter sets (as the capture's), the
    // camera restarting at another resolution after a gap: the server's
    // single init (the last recording's) cannot describe the first ones.
    let dir = tempfile::tempdir().unwrap();
    let at = |w, h, seed| SegmentSpec {
        width: w,
        height: h,
        ..small(4.0, seed)
    };
    let s = store(
        dir.path(),
        &[
            (at(320, 180, 1), 0.0),
            (at(320, 180, 2), 0.0),
            (at(640, 360, 3), 20.0),
        ],
    );
    let server = Server::start();
    let url = serve(
        &server,
        &ranged(&s, "one"),
        &vod_responses(&s, VodForm::Vod).unwrap(),
    );
    let o = hls_export(&s, &exporter(&s), url).unwrap();
    let mismatch = o
        .warnings
        .iter()
        .find_map(|w| match w {
            Warning::InitMismatch { fragments } => Some(fragments.clone()),
            _ => None,
        })
        .expect("a warning naming the fragments");
    assert_eq!(mismatch.len(), 2, "{mismatch:?}");
    assert!(mismatch[0].ends_with("seg-1-v1-a1.m4s") && mismatch[1].ends_with("seg-2-v1-a1.m4s"));
    // The /vod/clip/ form of the same recordings: an init each, no warning,
    // and the output decodes.
    let url = serve(
        &server,
        &ranged(&s, "clip"),
        &vod_responses(&s, VodForm::VodClip).unwrap(),
    );
    let o = hls_export(&s, &exporter(&s), url).unwrap();
    assert!(
        warnings_besides_thumbnail(&o).is_empty(),
        "{:?}",
        o.warnings
    );
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn one_init_with_parameter_sets_in_band_needs_no_warning() {
    // NVR cameras repeat SPS/PPS before every keyframe: decoders follow
    // them, so even the single-init form decodes across the restart.
    let dir = tempfile::tempdir().unwrap();
    let s = restart_store(dir.path());
    let server = Server::start();
    let url = serve(
        &server,
        &ranged(&s, "inband"),
        &vod_responses(&s, VodForm::Vod).unwrap(),
    );
    let o = hls_export(&s, &exporter(&s), url).unwrap();
    assert!(
        warnings_besides_thumbnail(&o).is_empty(),
        "{:?}",
        o.warnings
    );
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn captured_responses_of_the_real_server() {
    let capture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/nginx-vod-capture");
    if !capture.join("full/index.m3u8").exists() {
        eprintln!(
            "SKIPPED: no capture at {} (the in-process fixtures above cover the same properties)",
            capture.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1); // a catalogue for the rows
    let server = Server::start();
    let mut results = Vec::new();
    // Video durations: the frames' own (1050 at 15 fps = 70 s; 468 = 31.2 s):
    // the server's padding of each clip's last frame (to 70.071 s, what the
    // CLI's remux keeps) is collapsed like the file source collapses gaps;
    // `mid`'s first fragment holds two clips, and the padding between them
    // (11 ms) stays: it is inside one fragment's timeline.
    for (name, video_s, errors_expected) in [
        ("full", 70.0, true),
        ("clip_full", 70.0, false),
        ("mid", 31.211, false),
    ] {
        let mut files = BTreeMap::new();
        for e in std::fs::read_dir(capture.join(name)).unwrap().flatten() {
            if e.path().is_file() {
                files.insert(
                    e.file_name().into_string().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                );
            }
        }
        let url = serve(&server, name, &files);
        let o = hls_export(&s, &exporter(&s), url).unwrap();
        assert!(
            (o.stats.video_duration_s - video_s).abs() < 0.002,
            "{name}: {}",
            o.stats.video_duration_s
        );
        assert!(o.stats.audio_packets > 0);
        assert_moov_first(&o.video_path);
        let mismatch = o
            .warnings
            .iter()
            .any(|w| matches!(w, Warning::InitMismatch { .. }));
        assert_eq!(mismatch, errors_expected, "{name}: {:?}", o.warnings);
        if !errors_expected {
            assert_eq!(decode_errors(&o.video_path), "", "{name}");
        }
        results.push((name, o.stats.video_packets));
    }
    assert_eq!(
        results,
        vec![("full", 1050), ("clip_full", 1050), ("mid", 468)]
    );
}

#[test]
fn a_missing_playlist_or_a_malformed_one_is_a_named_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let server = Server::start();
    let e = hls_export(&s, &quick(&s), server.url("/vod/nope/index.m3u8")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Vod);
    let msg = e.to_string();
    assert!(
        msg.contains("404") && msg.contains("/vod/nope/index.m3u8"),
        "{msg}"
    );
    server.set("/bad.m3u8", Route::Body(b"<html>hello</html>".to_vec()));
    let e = hls_export(&s, &quick(&s), server.url("/bad.m3u8")).unwrap_err();
    assert!(e.to_string().contains("not an HLS playlist"), "{e}");
    assert_nothing_left(&s);
}

#[test]
fn fragment_faults_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 4);
    let server = Server::start();
    let files = vod_responses(&s, VodForm::VodClip).unwrap();
    let url = serve(&server, "faults", &files);
    // seg-2: 404; seg-3: slower than the request timeout; seg-4: cut short.
    server.set("/vod/faults/seg-2-v1-a1.m4s", Route::Status(404));
    server.set(
        "/vod/faults/seg-3-v1-a1.m4s",
        Route::Slow(Duration::from_secs(5), files["seg-3-v1-a1.m4s"].clone()),
    );
    server.set(
        "/vod/faults/seg-4-v1-a1.m4s",
        Route::Truncated(files["seg-4-v1-a1.m4s"].clone()),
    );
    let exporter =
        exporter(&s).with_http_limits(Duration::from_secs(2), Duration::from_millis(700), 2);
    let o = hls_export(&s, &exporter, url).unwrap();
    let why: Vec<String> = o.skipped.iter().map(|k| k.to_string()).collect();
    assert_eq!(why.len(), 3, "{why:?}");
    assert!(
        why[0].contains("seg-2") && why[0].contains("404"),
        "{why:?}"
    );
    assert!(why[1].contains("seg-3"), "{why:?}");
    assert!(why[2].contains("seg-4"), "{why:?}");
    // What remains is the first recording, whole and decodable.
    assert!((o.duration_s - 2.0).abs() < 0.1, "{}", o.duration_s);
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn a_redirect_outside_the_allowlist_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let server = Server::start();
    // Only 127.0.0.1 is allowed; the redirect points at 127.0.0.2 (loopback
    // too, so nothing ever leaves this machine), which must be refused.
    let port = server.base.rsplit(':').next().unwrap().to_string();
    server.set(
        "/vod/r/index.m3u8",
        Route::Redirect(format!("http://127.0.0.2:{port}/vod/r/index.m3u8")),
    );
    let exporter = quick(&s).with_only_hosts(vec!["127.0.0.1".parse().unwrap()]);
    let e = hls_export(&s, &exporter, server.url("/vod/r/index.m3u8")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Vod);
    assert!(e.to_string().contains("not allowed"), "{e}");
    assert_eq!(
        server.hits.lock().unwrap().len(),
        1,
        "the redirect was not followed"
    );
    assert_nothing_left(&s);
}

#[test]
fn cancel_while_blocked_on_a_fragment() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let server = Server::start();
    let files = vod_responses(&s, VodForm::VodClip).unwrap();
    let url = serve(&server, "slow", &files);
    server.set(
        "/vod/slow/seg-1-v1-a1.m4s",
        Route::Slow(Duration::from_secs(20), files["seg-1-v1-a1.m4s"].clone()),
    );
    let token = CancelToken::new();
    let t = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        t.cancel();
    });
    let started = Instant::now();
    let e = exporter(&s)
        .export(&hls_request(&s, url), &token, |_| {})
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_nothing_left(&s);
}

#[test]
fn cli_vod_base_asks_for_the_clip_form() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let server = Server::start();
    let files = vod_responses(&s, VodForm::VodClip).unwrap();
    let prefix = format!(
        "/vod/clip/{}/start/{}/end/{}/",
        s.camera,
        s.start_s() as i64,
        s.end_s() as i64
    );
    server.serve(&prefix, &files);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nvr-export"))
        .arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .args(["--camera", &s.camera, "--json", "--vod-base", &server.base])
        .args(["--start", &(s.start_s() as i64).to_string()])
        .args(["--end", &(s.end_s() as i64).to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["writer"], "hls");
    assert!(
        (last["duration_s"].as_f64().unwrap() - 4.0).abs() < 0.1,
        "{last}"
    );
    assert!(server.hits.lock().unwrap()[0].starts_with("/vod/clip/"));
    let _ = Layout::new("", "");
}

#[test]
fn chapters_from_the_catalogue_land_where_the_file_source_puts_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = restart_store(dir.path());
    let r = &s.recordings;
    // One review in the first session, one across the restart's start.
    nvr_export::sample::add_review(
        &s,
        "rev1",
        r[0].start_s + 3.0,
        Some(r[1].start_s + 2.0),
        "alert",
        r#"{"objects":["person"]}"#,
    )
    .unwrap();
    let last = r.len() - 1;
    nvr_export::sample::add_review(
        &s,
        "rev2",
        r[last].start_s + 1.0,
        Some(r[last].start_s + 5.0),
        "detection",
        r#"{"objects":["car"]}"#,
    )
    .unwrap();
    let server = Server::start();
    let url = serve(
        &server,
        "chapters",
        &vod_responses(&s, VodForm::VodClip).unwrap(),
    );
    for mode in [
        nvr_export::ChapterMode::ReviewItems,
        nvr_export::ChapterMode::RecordingSegments,
    ] {
        let req = ExportRequest {
            chapters: mode,
            ..hls_request(&s, url.clone())
        };
        let hls = exporter(&s)
            .export(&req, &CancelToken::new(), |_| {})
            .unwrap();
        let file = export(
            &s,
            &ExportRequest {
                source: Source::Recordings,
                ..req.clone()
            },
        )
        .unwrap();
        let (h, f) = (
            chapters_of(&probe(&hls.video_path)),
            chapters_of(&probe(&file.video_path)),
        );
        assert!(!h.is_empty(), "{mode:?}");
        assert_eq!(h.len(), f.len(), "{mode:?}: {h:?} vs {f:?}");
        for (a, b) in h.iter().zip(&f) {
            assert_eq!(a.2, b.2, "{mode:?}");
            assert!(
                (a.0 - b.0).abs() < 0.1 && (a.1 - b.1).abs() < 0.1,
                "{mode:?}: {h:?} vs {f:?}"
            );
        }
        assert_eq!(hls.chapters, h.len());
    }
}

#[test]
fn a_trickling_server_meets_the_request_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let server = Server::start();
    let files = vod_responses(&s, VodForm::VodClip).unwrap();
    // The playlist arrives a byte every 50 ms: each read is quick, the
    // whole answer would take over 10 s.
    let body = files["index.m3u8"].clone();
    assert!(body.len() > 200);
    let url = serve(&server, "trickle", &files);
    server.set(
        "/vod/trickle/index.m3u8",
        Route::Trickle(Duration::from_millis(50), body),
    );
    let exporter = exporter(&s).with_http_limits(Duration::from_secs(2), Duration::from_secs(1), 1);
    let started = Instant::now();
    let e = hls_export(&s, &exporter, url).unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Vod);
    assert!(e.to_string().contains("deadline"), "{e}");
    assert!(
        took < Duration::from_secs(8),
        "took {took:?}: the deadline did not hold"
    );
    assert_nothing_left(&s);
}

#[test]
fn a_redirect_to_a_file_or_data_url_says_where_it_pointed() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let server = Server::start();
    for (name, to) in [
        ("file", "file:///etc/passwd"),
        ("data", "data:text/plain,x"),
    ] {
        let path = format!("/vod/{name}/index.m3u8");
        server.set(&path, Route::Redirect(to.into()));
        let e = hls_export(&s, &quick(&s), server.url(&path)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Vod);
        let msg = e.to_string();
        assert!(msg.contains(to) && msg.contains("only http"), "{msg}");
    }
    assert_nothing_left(&s);
}

#[test]
fn footage_is_named_for_the_range_the_playlist_holds_or_refused_when_it_cannot_be_told() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 4.0, 3);
    let server = Server::start();
    let files = vod_responses(&s, VodForm::VodClip).unwrap();
    // The URL names the whole store's range; the request asks for 2 s of
    // it: the file and row are named for what the playlist holds.
    let url = serve(&server, &ranged(&s, "named"), &files);
    let req = ExportRequest {
        source: Source::Hls(HlsSource {
            url: Some(url),
            ..Default::default()
        }),
        timezone: Some("UTC".into()),
        ..ExportRequest::new(&s.camera, s.start_s() + 5.0, s.start_s() + 7.0)
    };
    let o = exporter(&s)
        .export(&req, &CancelToken::new(), |_| {})
        .unwrap();
    assert!(
        o.warnings.iter().any(
            |w| matches!(w, Warning::PlaylistRange { reason } if reason.contains("names the range"))
        ),
        "{:?}",
        o.warnings
    );
    let named = o
        .video_path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let start_name = chrono::DateTime::from_timestamp(s.start_s() as i64, 0)
        .unwrap()
        .format("%Y%m%d_%H%M%S")
        .to_string();
    assert!(
        named.contains(&start_name),
        "{named} is not named from {start_name}"
    );
    // A playlist that says nothing of its place in time and runs far longer
    // than the range asked for cannot be that range: refused, nothing left.
    let mut long = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n#EXT-X-MAP:URI=\"init.mp4\"\n");
    for i in 0..3000 {
        long.push_str(&format!(
            "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg-{i}.m4s\n"
        ));
    }
    long.push_str("#EXT-X-ENDLIST\n");
    server.set("/vod/long/index.m3u8", Route::Body(long.into_bytes()));
    let (files, rows) = (files_under(&s.media_dir), export_rows(&s));
    let e = hls_export(&s, &quick(&s), server.url("/vod/long/index.m3u8")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Vod);
    assert!(e.to_string().contains("cannot be trimmed"), "{e}");
    assert_eq!(
        files_under(&s.media_dir),
        files,
        "the refused export left a file"
    );
    assert_eq!(export_rows(&s), rows, "the refused export left a row");
}

/// The store of the issue found against the NVR's own VOD server: a camera
/// that sent its parameter sets in band, then restarted at another
/// resolution with them only in the file headers. On the `/vod/` form the
/// single init is the last clip's, so the decoder would keep the old
/// in-band sets past the restart; on `/vod/clip/` each clip's init holds
/// its own. Every form and writer must decode it whole.
#[test]
fn a_restart_whose_sets_stop_coming_in_band_decodes_in_every_form_and_writer() {
    let dir = tempfile::tempdir().unwrap();
    let s = common::restart_store_with(dir.path(), "test_cam", false);
    let frames: usize = s
        .recordings
        .iter()
        .map(|r| video_packets(&r.path).len())
        .sum();
    let server = Server::start();
    for (name, form) in [
        ("restart-vod", VodForm::Vod),
        ("restart-clip", VodForm::VodClip),
    ] {
        let url = serve(
            &server,
            &ranged(&s, name),
            &vod_responses(&s, form).unwrap(),
        );
        let o = hls_export(&s, &exporter(&s), url).unwrap();
        assert_eq!(decode_errors(&o.video_path), "", "{form:?}");
        assert_eq!(video_packets(&o.video_path).len(), frames, "{form:?}");
    }
    for writer in [WriterChoice::Auto, WriterChoice::Libav] {
        let o = exporter(&s)
            .with_writer(writer)
            .export(
                &request(&s, s.start_s(), s.end_s()),
                &CancelToken::new(),
                |_| {},
            )
            .unwrap();
        assert_eq!(decode_errors(&o.video_path), "", "{writer:?}");
        assert_eq!(video_packets(&o.video_path).len(), frames, "{writer:?}");
    }
}
