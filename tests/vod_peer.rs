//! Against the NVR's own VOD server (nginx + nginx-vod-module, built from
//! `../shared/peers/nginx-vod`), serving a store recorded with the NVR's
//! own record arguments (`make_teststore.py`). Run by `make test-vod`, which
//! sets `NVR_VOD_PEER` (the server's address) and `NVR_VOD_STORE`; in a
//! plain `make test` this says SKIPPED and why.
//!
//! For the whole range and a clipped one, the HLS export (the `/vod/clip/`
//! form) is compared with the file source's export of the same range: same
//! duration within one frame, the same video packets (the server re-times
//! but does not re-encode), zero decode errors.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use nvr_export::{CancelToken, ExportRequest, Exporter, HlsSource, Layout, Source};

#[test]
fn live_peer_exports_match_the_file_source() {
    let (Ok(base), Ok(store)) = (
        std::env::var("NVR_VOD_PEER"),
        std::env::var("NVR_VOD_STORE"),
    ) else {
        eprintln!("SKIPPED: NVR_VOD_PEER / NVR_VOD_STORE not set (run `make test-vod` to test against the NVR's VOD server)");
        return;
    };
    let store = PathBuf::from(store);
    let work = tempfile::tempdir().unwrap();
    // Our rows go to a copy of the catalogue; the recordings stay where they are.
    let db = work.path().join("frigate.db");
    std::fs::copy(store.join("frigate.db"), &db).unwrap();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (camera, first, last): (String, f64, f64) = conn
        .query_row(
            "SELECT camera, min(start_time), max(end_time) FROM recordings GROUP BY camera LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    drop(conn);
    let mut layout = Layout::new(&db, work.path().join("media"));
    layout.recording_roots = vec![store.clone()];
    let exporter =
        Exporter::new(layout).with_http_limits(Duration::from_secs(5), Duration::from_secs(30), 2);
    let ranges = [
        ("whole", first.floor(), last.ceil()),
        // (Mid-frame at this store's 15 fps: the exact start below picks the
        // same picture by either source.)
        ("clipped", first + 15.527, first + 45.2),
    ];
    for (what, start, end) in ranges {
        let file_req = ExportRequest {
            timezone: Some("UTC".into()),
            chapters: nvr_export::ChapterMode::None,
            ..ExportRequest::new(&camera, start, end)
        };
        let hls_req = ExportRequest {
            source: Source::Hls(HlsSource {
                base: Some(base.clone()),
                ..Default::default()
            }),
            ..file_req.clone()
        };
        let file = exporter
            .export(&file_req, &CancelToken::new(), |_| {})
            .unwrap();
        let hls = exporter
            .export(&hls_req, &CancelToken::new(), |_| {})
            .unwrap();
        eprintln!(
            "{what}: hls {:.3} s video / {} packets ({:?}); files {:.3} s / {} packets",
            hls.stats.video_duration_s,
            hls.stats.video_packets,
            hls.warnings,
            file.stats.video_duration_s,
            file.stats.video_packets
        );
        assert_eq!(decode_errors(&hls.video_path), "", "{what}");
        assert_moov_first(&hls.video_path);
        let frame = 1.0 / 15.0;
        assert!(
            (hls.stats.video_duration_s - file.stats.video_duration_s).abs() <= frame + 1e-3,
            "{what}: hls {} s, files {} s",
            hls.stats.video_duration_s,
            file.stats.video_duration_s
        );
        assert_eq!(
            video_packet_hashes(&hls.video_path),
            video_packet_hashes(&file.video_path),
            "{what}: the video packets differ"
        );
        if what == "whole" {
            continue;
        }
        // An exact start through the NVR's server (which cuts the first
        // clip itself): the same length and the same first picture as the
        // file source's exact export.
        let exact = |r: &ExportRequest| ExportRequest {
            start_at: nvr_export::StartAt::Exact,
            ..r.clone()
        };
        let file = exporter
            .export(&exact(&file_req), &CancelToken::new(), |_| {})
            .unwrap();
        let hls = exporter
            .export(&exact(&hls_req), &CancelToken::new(), |_| {})
            .unwrap();
        let d = |p: &std::path::Path| f(&probe(p)["format"]["duration"]);
        let (dh, df) = (d(&hls.video_path), d(&file.video_path));
        eprintln!(
            "{what}, exact: hls {dh:.3} s, files {df:.3} s, asked {:.3} s",
            end - start
        );
        assert!(
            (dh - df).abs() <= frame + 1e-3,
            "exact: hls {dh} s, files {df} s"
        );
        // Both place the requested instant within a frame of each other
        // (the server re-times its clips; the HLS writer places them by the
        // catalogue rows): the pre-roll they hide differs by less than that.
        let first_pts = |p: &std::path::Path| video_packets(p)[0].0;
        let apart = (first_pts(&hls.video_path) - first_pts(&file.video_path)).abs();
        assert!(apart < frame, "exact: in-points {apart} s apart");
        assert_eq!(
            first_picture_md5(&hls.video_path, None),
            first_picture_md5(&file.video_path, None),
            "exact: the first pictures differ"
        );
        assert_eq!(decode_errors(&hls.video_path), "", "exact");
    }
}
