//! The index-driven writer and the libav writer agree packet for packet.

mod common;

use std::path::Path;

use common::*;
use nvr_export::sample::{SegmentSpec, VideoCodec};
use nvr_export::{CancelToken, ChapterMode, ExportRequest, WriterChoice, WriterKind};

fn chapters(path: &Path) -> Vec<String> {
    ffprobe_csv(
        path,
        &[
            "-show_entries",
            "chapter=start_time,end_time:chapter_tags=title",
        ],
    )
}

fn both(s: &nvr_export::sample::SampleStore, req: &ExportRequest, expect_fast: bool) {
    let run = |w| {
        exporter(s)
            .with_writer(w)
            .export(req, &CancelToken::new(), |_| {})
            .unwrap()
    };
    let fast = run(WriterChoice::Auto);
    let slow = run(WriterChoice::Libav);
    assert_eq!(
        fast.stats.writer,
        if expect_fast {
            WriterKind::Fast
        } else {
            WriterKind::Libav
        },
        "{:?}",
        fast.stats.fast_declined
    );
    assert_eq!(slow.stats.writer, WriterKind::Libav);
    let (a, b) = (packets(&fast.video_path), packets(&slow.video_path));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len(), "packet counts differ");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "packet {i} differs (fast vs libav)");
    }
    assert_eq!(chapters(&fast.video_path), chapters(&slow.video_path));
    assert_eq!(decode_errors(&fast.video_path), "");
    assert_moov_first(&fast.video_path);
    assert_eq!(fast.stats.video_packets, slow.stats.video_packets);
    assert_eq!(fast.stats.audio_packets, slow.stats.audio_packets);
    let p = probe(&fast.video_path);
    assert_eq!(
        p["format"]["tags"]["title"],
        probe(&slow.video_path)["format"]["tags"]["title"]
    );
    assert_eq!(p["format"]["tags"]["comment"], "Camera: front_door");
    assert_eq!(
        p["format"]["tags"]["creation_time"],
        probe(&slow.video_path)["format"]["tags"]["creation_time"]
    );
}

#[test]
fn gaps_audio_and_chapters() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(dir.path());
    nvr_export::sample::add_review(
        &s,
        "r",
        T0 + 2.0,
        Some(T0 + 36.0),
        "alert",
        r#"{"objects":["person"]}"#,
    )
    .unwrap();
    both(&s, &request(&s, s.start_s() - 1.0, s.end_s() + 1.0), true);
}

#[test]
fn mid_segment_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 5.0, 3);
    both(&s, &request(&s, T0 + 2.5, T0 + 12.3), true);
    both(&s, &request(&s, T0 + 0.7, T0 + 4.1), true);
}

#[test]
fn no_audio_and_frame_rate_change() {
    let dir = tempfile::tempdir().unwrap();
    let a = SegmentSpec {
        audio: None,
        ..small(3.0, 0)
    };
    let b = SegmentSpec {
        fps: 5,
        gop: 5,
        ..a
    };
    let s = store(
        dir.path(),
        &[(a, 0.0), (b, 0.0), (SegmentSpec { seed: 2, ..a }, 0.0)],
    );
    // A 5 fps encode has another SPS, not repeated in band in these ideal
    // segments: the fast writer declines, and says so.
    let req = request(&s, s.start_s(), s.end_s());
    let fast = exporter(&s)
        .export(&req, &CancelToken::new(), |_| {})
        .unwrap();
    assert_eq!(fast.stats.writer, WriterKind::Libav);
    assert!(fast
        .stats
        .fast_declined
        .as_deref()
        .unwrap_or("")
        .contains("parameter sets change"));
    // Without the change, no-audio exports go the fast way and match.
    let dir2 = tempfile::tempdir().unwrap();
    let s2 = store(
        dir2.path(),
        &[(a, 0.0), (SegmentSpec { seed: 1, ..a }, 0.0)],
    );
    both(&s2, &request(&s2, s2.start_s(), s2.end_s()), true);
}

#[test]
fn hevc_and_recording_segment_chapters() {
    let dir = tempfile::tempdir().unwrap();
    let h = SegmentSpec {
        codec: VideoCodec::Hevc,
        ..small(2.0, 0)
    };
    let s = store(dir.path(), &[(h, 0.0), (SegmentSpec { seed: 1, ..h }, 0.0)]);
    let req = ExportRequest {
        chapters: ChapterMode::RecordingSegments,
        ..request(&s, s.start_s(), s.end_s())
    };
    both(&s, &req, true);
    let o = export(&s, &req).unwrap();
    assert_eq!(
        probe(&o.video_path)["streams"][0]["codec_tag_string"],
        "hvc1"
    );
}

#[test]
fn fragmented_segments_with_b_frames_keep_their_presentation_order() {
    let dir = tempfile::tempdir().unwrap();
    let f = SegmentSpec {
        b_frames: 2,
        fragmented: true,
        audio: None,
        ..small(3.0, 0)
    };
    let s = store(dir.path(), &[(f, 0.0), (SegmentSpec { seed: 1, ..f }, 0.0)]);
    let req = request(&s, s.start_s(), s.end_s());
    for w in [WriterChoice::Auto, WriterChoice::Libav] {
        let o = exporter(&s)
            .with_writer(w)
            .export(&req, &CancelToken::new(), |_| {})
            .unwrap();
        let mut pts: Vec<i64> = ffprobe_csv(
            &o.video_path,
            &["-select_streams", "v:0", "-show_entries", "packet=pts"],
        )
        .iter()
        .map(|l| l.trim().parse().unwrap())
        .collect();
        let n = pts.len();
        assert_eq!(n, 90, "{:?}", o.stats.writer);
        pts.sort_unstable();
        pts.dedup();
        assert_eq!(
            pts.len(),
            n,
            "{:?}: duplicate presentation times",
            o.stats.writer
        );
        assert_eq!(decode_errors(&o.video_path), "");
    }
}

/// The unpaced index-driven writer copies the runs on a second thread
/// while it writes the head; under a rate limit it does both in order on
/// one. Both land every byte at the same place: the files are identical.
#[test]
fn head_written_alongside_the_copy_gives_the_same_file_as_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(dir.path());
    let req = request(&s, s.start_s() + 0.5, s.end_s() - 0.5);
    let run = |rate: Option<u64>| {
        let mut e = exporter(&s);
        if let Some(r) = rate {
            e = e.with_max_rate(r);
        }
        let out = e.export(&req, &CancelToken::new(), |_| {}).unwrap();
        assert_eq!(out.stats.writer, WriterKind::Fast);
        let bytes = std::fs::read(&out.video_path).unwrap();
        std::fs::remove_file(&out.video_path).unwrap();
        (bytes, out.stats.video_packets, out.stats.audio_packets)
    };
    let together = run(None);
    // Fast enough not to sleep long: a few hundred KB at 64 MB/s.
    let in_order = run(Some(64 << 20));
    assert!(together.1 > 0 && together.2 > 0);
    assert_eq!((together.1, together.2), (in_order.1, in_order.2));
    assert_eq!(together.0.len(), in_order.0.len(), "file sizes differ");
    assert!(together.0 == in_order.0, "the files differ");
}
