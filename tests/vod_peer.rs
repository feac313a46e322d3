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
        ("clipped", first + 15.5, first + 45.2),
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
    }
}
