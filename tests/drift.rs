//! Audio/video sync over an hour of ten-second segments.

mod common;

use common::*;
use nvr_export::sample::SegmentSpec;
use nvr_export::ChapterMode;

#[test]
fn no_av_drift_after_360_ten_second_segments() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SegmentSpec {
        width: 160,
        height: 96,
        ..small(10.0, 0)
    };
    // Two distinct encodes, copied: 360 files of 10 s.
    let specs: Vec<_> = (0..360)
        .map(|i| {
            (
                SegmentSpec {
                    seed: i % 2,
                    ..spec
                },
                0.0,
            )
        })
        .collect();
    let s = store(dir.path(), &specs);
    let req = nvr_export::ExportRequest {
        chapters: ChapterMode::RecordingSegments,
        ..request(&s, s.start_s(), s.end_s())
    };
    let o = export(&s, &req).unwrap();
    let p = probe(&o.video_path);
    let v = f(&streams_of(&p, "video")[0]["duration"]);
    let a = f(&streams_of(&p, "audio")[0]["duration"]);
    eprintln!("video {v} s, audio {a} s");
    assert!((v - 3600.0).abs() < 0.05, "video {v}");
    assert!((a - v).abs() < 0.1, "audio {a} video {v}");
    assert_eq!(p["chapters"].as_array().unwrap().len(), 360);
    assert_moov_first(&o.video_path);

    // Sync at the end, not just in total: the last audio packet is within
    // one AAC frame of the last video frame.
    let last_audio: f64 = ffprobe_csv(
        &o.video_path,
        &[
            "-select_streams",
            "a:0",
            "-read_intervals",
            "3590%",
            "-show_entries",
            "packet=pts_time",
        ],
    )
    .iter()
    .filter_map(|l| l.trim().parse().ok())
    .fold(0.0, f64::max);
    assert!(
        (last_audio - (3600.0 - 1024.0 / 48000.0)).abs() < 0.05,
        "last audio packet at {last_audio}"
    );
}
