//! Chapters read back with `ffprobe -show_chapters`.

mod common;

use common::*;
use nvr_export::sample::{self, SegmentPlan};
use nvr_export::{ChapterMode, ExportRequest};

fn assert_chapters(got: &[(f64, f64, String)], want: &[(f64, f64, &str)]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g.0 - w.0).abs() < 0.01 && (g.1 - w.1).abs() < 0.01 && g.2 == w.2,
            "got {g:?}, want {w:?}\nall: {got:?}"
        );
    }
}

#[test]
fn review_chapters_with_gaps_overlaps_in_progress_and_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    // A 0-10, B 10-20, gap 20-40, C 40-50 (seconds after T0).
    let s = store(
        dir.path(),
        &[
            (small(10.0, 0), 0.0),
            (small(10.0, 1), 0.0),
            (small(10.0, 2), 20.0),
        ],
    );
    sample::add_review(
        &s,
        "r1",
        T0 + 2.0,
        Some(T0 + 8.0),
        "alert",
        r#"{"objects":["person","car-verified","person"]}"#,
    )
    .unwrap();
    sample::add_review(
        &s,
        "r2",
        T0 + 6.0,
        Some(T0 + 14.0),
        "detection",
        r#"{"objects":["dog"]}"#,
    )
    .unwrap();
    sample::add_review(
        &s,
        "r3",
        T0 + 22.0,
        Some(T0 + 38.0),
        "alert",
        r#"{"objects":["ghost"]}"#,
    )
    .unwrap();
    sample::add_review(&s, "r4", T0 + 15.0, Some(T0 + 45.0), "alert", "{oops").unwrap();
    sample::add_review(&s, "r5", T0 + 47.0, None, "detection", r#"{"objects":[]}"#).unwrap();
    // Another camera's review must not show up.
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    conn.execute(
        "INSERT INTO reviewsegment (id, camera, start_time, end_time, severity, thumb_path, data) VALUES ('x', 'other', ?1, ?2, 'alert', '', '{}')",
        [T0 + 1.0, T0 + 9.0],
    )
    .unwrap();

    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let p = probe(&o.video_path);
    assert_chapters(
        &chapters_of(&p),
        &[
            (0.0, 2.0, "2024-06-10T06:13:20+00:00"),
            (2.0, 6.0, "Alert: person, car"),
            (6.0, 14.0, "Detection: dog"),
            (14.0, 15.0, "2024-06-10T06:13:34+00:00"),
            (15.0, 25.0, "Alert"),
            (25.0, 27.0, "2024-06-10T06:14:05+00:00"),
            (27.0, 30.0, "Detection"),
        ],
    );
    assert_eq!(o.chapters, 7);
    // The video is exactly as long as the chapters say.
    assert!((f(&streams_of(&p, "video")[0]["duration"]) - 30.0).abs() < 0.01);
}

#[test]
fn chapter_lands_on_the_keyframe_snapped_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 10.0, 1);
    sample::add_review(
        &s,
        "r1",
        T0 + 5.0,
        Some(T0 + 8.0),
        "alert",
        r#"{"objects":["person"]}"#,
    )
    .unwrap();
    // Start at 3.5 s: snaps back to the keyframe at 3 s, so the review's
    // start (5 s) is 2 s into the output, not 1.5 s.
    let o = export(&s, &request(&s, T0 + 3.5, T0 + 9.0)).unwrap();
    let ch = chapters_of(&probe(&o.video_path));
    assert_eq!(ch[1].2, "Alert: person");
    assert!(
        (ch[1].0 - 2.0).abs() < 0.01 && (ch[1].1 - 5.0).abs() < 0.01,
        "{ch:?}"
    );
}

#[test]
fn recording_segment_chapters_across_dst_and_none_mode() {
    let dir = tempfile::tempdir().unwrap();
    // 2024-03-10 06:59:50 UTC: New York goes from EST to EDT at 07:00 UTC.
    let start = 1_710_053_990.0;
    let plans: Vec<SegmentPlan> = (0..3)
        .map(|i| SegmentPlan {
            spec: small(10.0, i),
            gap_before_s: if i == 2 { 5.0 } else { 0.0 },
        })
        .collect();
    let s = sample::build_store(dir.path(), "front_door", start, &plans).unwrap();
    sample::add_review(&s, "r1", start + 1.0, Some(start + 9.0), "alert", "{}").unwrap();
    let req = ExportRequest {
        chapters: ChapterMode::RecordingSegments,
        timezone: Some("America/New_York".into()),
        ..ExportRequest::new("front_door", start + 2.4, start + 40.0)
    };
    let o = export(&s, &req).unwrap();
    assert_chapters(
        &chapters_of(&probe(&o.video_path)),
        &[
            (0.0, 8.0, "2024-03-10T01:59:52-05:00"),
            (8.0, 18.0, "2024-03-10T03:00:00-04:00"),
            (18.0, 28.0, "2024-03-10T03:00:15-04:00"),
        ],
    );

    // No zone: UTC titles. An unknown zone is refused, not guessed.
    let req = ExportRequest {
        chapters: ChapterMode::RecordingSegments,
        timezone: None,
        ..ExportRequest::new("front_door", start, start + 10.0)
    };
    let o = export(&s, &req).unwrap();
    assert_eq!(
        chapters_of(&probe(&o.video_path))[0].2,
        "2024-03-10T06:59:50Z"
    );
    let req = ExportRequest {
        timezone: Some("Mars/Olympus".into()),
        ..req
    };
    assert_eq!(
        export(&s, &req).unwrap_err().kind(),
        nvr_export::ErrorKind::InvalidName
    );

    let req = ExportRequest {
        chapters: ChapterMode::None,
        ..ExportRequest::new("front_door", start, start + 30.0)
    };
    let o = export(&s, &req).unwrap();
    assert_eq!(chapters_of(&probe(&o.video_path)).len(), 0);
    assert_eq!(o.chapters, 0);
}
