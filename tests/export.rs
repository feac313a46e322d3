//! End-to-end stream-copy exports checked with ffprobe/ffmpeg as the oracle.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use nvr_export::sample::{SegmentSpec, VideoCodec};
use nvr_export::{
    CancelToken, ChapterMode, ErrorKind, ExportRequest, Progress, Step, Warning, WriterChoice,
    WriterKind,
};

#[test]
fn whole_range_with_gap_collapses_and_is_well_formed() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(dir.path());
    let req = ExportRequest {
        chapters: ChapterMode::None,
        ..request(&s, s.start_s() - 5.0, s.end_s() + 5.0)
    };
    let o = export(&s, &req).unwrap();

    // Name and layout of the NVR.
    let name = o
        .video_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let suffix = o.id.rsplit('_').next().unwrap();
    assert_eq!(
        name,
        format!("front_door_20240610_061315-20240610_061407_{suffix}.mp4")
    );
    assert_eq!(o.video_path.parent().unwrap(), s.media_dir.join("exports"));
    assert!(o.id.starts_with("front_door_") && suffix.len() == 6);
    assert_eq!(
        files_under(&s.media_dir.join("exports")),
        vec![o.video_path.clone()]
    );

    let p = probe(&o.video_path);
    let v = streams_of(&p, "video");
    let a = streams_of(&p, "audio");
    assert_eq!((v.len(), a.len()), (1, 1));
    assert_eq!(v[0]["codec_name"], "h264");
    assert_eq!(a[0]["codec_name"], "aac");
    // 12 s recorded; the 30 s gap is gone.
    let vd = f(&v[0]["duration"]);
    assert!((vd - 12.0).abs() < 0.02, "video duration {vd}");
    assert!((f(&a[0]["duration"]) - vd).abs() < 0.05);
    assert!((o.duration_s - 12.0).abs() < 0.02);
    assert_eq!(v[0]["nb_frames"], "180");

    let tags = &p["format"]["tags"];
    assert_eq!(
        tags["title"],
        "Frigate Recording for front_door, 2024-06-10 06:13:15 - 2024-06-10 06:14:07"
    );
    assert_eq!(tags["comment"], "Camera: front_door");
    assert_eq!(tags["creation_time"], "2024-06-10T06:13:15.000000Z");
    assert_moov_first(&o.video_path);
    assert_eq!(decode_errors(&o.video_path), "");

    // Row finished.
    assert_eq!(export_rows(&s), vec![(o.id.clone(), 0)]);
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let (name, video_path, date): (String, String, f64) = conn
        .query_row(
            "SELECT name, video_path, date FROM export WHERE id = ?1",
            [&o.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(name, "front door 2024-06-10 06:13:15 2024-06-10 06:14:07");
    assert_eq!(video_path, o.video_path.to_string_lossy());
    assert_eq!(date, s.start_s() - 5.0);
}

#[test]
fn mid_segment_start_snaps_to_keyframe_and_end_cuts_after_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    // 15 fps, keyframe every 15 frames (1 s).
    let s = back_to_back(dir.path(), 5.0, 3);
    let start = T0 + 2.5; // snaps back to the keyframe at 2.0
    let end = T0 + 12.3; // last frame at or before: 12 + 4/15 s, which ends at 12 + 5/15
    let o = export(&s, &request(&s, start, end)).unwrap();
    let expected = (12.0 + 5.0 / 15.0) - 2.0;
    let p = probe(&o.video_path);
    let v = streams_of(&p, "video");
    assert!(
        (f(&v[0]["duration"]) - expected).abs() < 0.01,
        "{} vs {expected}",
        v[0]["duration"]
    );
    assert!((o.duration_s - expected).abs() < 0.001);
    let a = streams_of(&p, "audio");
    assert!((f(&a[0]["duration"]) - expected).abs() < 0.05);
    let pk = video_packets(&o.video_path);
    assert_eq!(pk.len(), 155);
    assert!(pk[0].1.starts_with('K'), "first packet is a keyframe");
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn store_without_audio_exports_video_only() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SegmentSpec {
        audio: None,
        ..small(3.0, 0)
    };
    let s = store(
        dir.path(),
        &[(spec, 0.0), (SegmentSpec { seed: 1, ..spec }, 0.0)],
    );
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let p = probe(&o.video_path);
    assert_eq!(streams_of(&p, "audio").len(), 0);
    assert_eq!(streams_of(&p, "video").len(), 1);
    assert!(
        warnings_besides_thumbnail(&o).is_empty(),
        "{:?}",
        o.warnings
    );
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn mixed_audio_is_dropped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let silent = SegmentSpec {
        audio: None,
        ..small(3.0, 1)
    };
    let s = store(dir.path(), &[(small(3.0, 0), 0.0), (silent, 0.0)]);
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(streams_of(&probe(&o.video_path), "audio").len(), 0);
    assert!(
        o.warnings
            .iter()
            .any(|w| matches!(w, Warning::AudioDropped { .. })
                && w.to_string().contains("audio dropped")),
        "{:?}",
        o.warnings
    );
}

#[test]
fn frame_rate_change_keeps_playback_speed() {
    let dir = tempfile::tempdir().unwrap();
    let slow = SegmentSpec {
        fps: 5,
        gop: 5,
        ..small(5.0, 1)
    };
    let s = store(
        dir.path(),
        &[(small(5.0, 0), 0.0), (slow, 0.0), (small(5.0, 2), 0.0)],
    );
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let pk = video_packets(&o.video_path);
    assert_eq!(pk.len(), 75 + 25 + 75);
    // The 5 fps run starts at 5 s and its frames are 0.2 s apart.
    assert!((pk[75].0 - 5.0).abs() < 0.001, "{}", pk[75].0);
    assert!((pk[76].0 - 5.2).abs() < 0.001, "{}", pk[76].0);
    assert!((pk[100].0 - 10.0).abs() < 0.001, "{}", pk[100].0);
    let p = probe(&o.video_path);
    assert!((f(&streams_of(&p, "video")[0]["duration"]) - 15.0).abs() < 0.01);
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn resolution_change_still_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let big = SegmentSpec {
        width: 640,
        height: 360,
        ..small(3.0, 1)
    };
    let s = store(
        dir.path(),
        &[(small(3.0, 0), 0.0), (big, 0.0), (small(3.0, 2), 0.0)],
    );
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(decode_errors(&o.video_path), "");
    assert_eq!(video_packets(&o.video_path).len(), 135);
    // Every frame decodes: count decoded frames with the CLI.
    let decoded = ffprobe_csv(
        &o.video_path,
        &[
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
        ],
    );
    assert_eq!(decoded, vec!["135".to_string()]);
}

#[test]
fn hevc_is_tagged_hvc1() {
    let dir = tempfile::tempdir().unwrap();
    let h = SegmentSpec {
        codec: VideoCodec::Hevc,
        ..small(2.0, 0)
    };
    let s = store(dir.path(), &[(h, 0.0), (SegmentSpec { seed: 1, ..h }, 0.0)]);
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let p = probe(&o.video_path);
    let v = streams_of(&p, "video");
    assert_eq!(v[0]["codec_name"], "hevc");
    assert_eq!(v[0]["codec_tag_string"], "hvc1");
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn codec_change_skips_the_odd_segment() {
    let dir = tempfile::tempdir().unwrap();
    let h = SegmentSpec {
        codec: VideoCodec::Hevc,
        ..small(2.0, 1)
    };
    let s = store(
        dir.path(),
        &[(small(2.0, 0), 0.0), (h, 0.0), (small(2.0, 2), 0.0)],
    );
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(o.skipped.len(), 1);
    assert_eq!(o.skipped[0].path, s.recordings[1].path);
    assert!(
        o.skipped[0].reason.contains("codec"),
        "{}",
        o.skipped[0].reason
    );
    assert!((o.duration_s - 4.0).abs() < 0.01);
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn unreadable_segments_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 5);
    // missing, truncated, garbage
    std::fs::remove_file(&s.recordings[1].path).unwrap();
    let p2 = &s.recordings[2].path;
    let len = std::fs::metadata(p2).unwrap().len();
    let f2 = std::fs::OpenOptions::new().write(true).open(p2).unwrap();
    f2.set_len(len / 2).unwrap();
    std::fs::write(&s.recordings[3].path, b"this is not an mp4 file at all").unwrap();

    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let mut reasons: Vec<(usize, String)> = o
        .skipped
        .iter()
        .map(|k| {
            (
                s.recordings.iter().position(|r| r.path == k.path).unwrap(),
                k.reason.clone(),
            )
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert_eq!(reasons[0], (1, "missing".to_string()));
    assert!(
        reasons[1].0 == 2 && reasons[1].1.starts_with("truncated"),
        "{reasons:?}"
    );
    assert!(
        reasons[2].0 == 3 && reasons[2].1.starts_with("cannot open"),
        "{reasons:?}"
    );
    assert!((o.duration_s - 4.0).abs() < 0.01);
    assert!(o.warnings.iter().any(
        |w| matches!(w, Warning::SegmentsSkipped { skipped } if skipped.len() == 3)
            && w.to_string().contains("3 recording(s) skipped")
    ));
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn nothing_readable_fails_naming_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    for r in &s.recordings {
        std::fs::remove_file(&r.path).unwrap();
    }
    let e = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnreadableSegments);
    let msg = e.to_string();
    for r in &s.recordings {
        assert!(msg.contains(&r.path.display().to_string()), "{msg}");
    }
    assert!(msg.contains("missing"));
    assert_nothing_left(&s);
}

#[test]
fn bad_inputs_get_typed_errors_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path(), &[(small(2.0, 0), 0.0), (small(2.0, 1), 20.0)]);
    let run = |req: ExportRequest| export(&s, &req).unwrap_err();

    let e = run(request(&s, T0 + 5.0, T0 + 5.0));
    assert_eq!(e.kind(), ErrorKind::InvalidRange);

    let e = run(ExportRequest::new("back_yard", T0, T0 + 10.0));
    assert_eq!(e.kind(), ErrorKind::UnknownCamera);
    assert!(e.to_string().contains("front_door"), "{e}");

    // Inside the 20 s gap: says what was searched and what is nearby.
    let e = run(request(&s, T0 + 5.0, T0 + 15.0));
    assert_eq!(e.kind(), ErrorKind::NoRecordings);
    let msg = e.to_string();
    assert!(
        msg.contains("2024-06-10 06:13:25 UTC .. 2024-06-10 06:13:35 UTC"),
        "{msg}"
    );
    assert!(msg.contains("before") && msg.contains("after"), "{msg}");

    let e = run(ExportRequest::new("../etc", T0, T0 + 10.0));
    assert_eq!(e.kind(), ErrorKind::InvalidName);
    let e = run(ExportRequest {
        name: Some("../../x".into()),
        ..request(&s, T0, T0 + 10.0)
    });
    assert_eq!(e.kind(), ErrorKind::InvalidName);
    let e = run(ExportRequest {
        id: Some("a/b".into()),
        ..request(&s, T0, T0 + 10.0)
    });
    assert_eq!(e.kind(), ErrorKind::InvalidName);
    assert_nothing_left(&s);

    // Missing and unreadable database.
    let missing = nvr_export::Exporter::new(nvr_export::Layout::new(
        dir.path().join("nope.db"),
        &s.media_dir,
    ));
    let e = missing
        .export(&request(&s, T0, T0 + 10.0), &CancelToken::new(), |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Database);
    assert!(e.to_string().contains("nope.db"));
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![7u8; 4096]).unwrap();
    let e = nvr_export::Exporter::new(nvr_export::Layout::new(&junk, &s.media_dir))
        .export(&request(&s, T0, T0 + 10.0), &CancelToken::new(), |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Database);
}

#[test]
fn unwritable_export_folder() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    // The export folder's path is taken by a file.
    std::fs::write(s.media_dir.join("exports"), b"x").unwrap();
    let e = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnwritableExportDir, "{e}");
    assert_eq!(export_rows(&s), vec![]);
}

#[test]
fn disk_full_is_reported_and_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 4.0, 6);
    // Pre-check: more space needed than the filesystem has.
    let mut ex = exporter(&s);
    ex.min_free_bytes = u64::MAX / 4;
    let e = ex
        .export(
            &request(&s, s.start_s(), s.end_s()),
            &CancelToken::new(),
            |_| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DiskFull);
    assert_nothing_left(&s);

    // A real ENOSPC while writing: a tiny tmpfs as the export folder (root only).
    let exports = s.media_dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&exports)
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    if !mounted {
        skipped(
            "disk_full ENOSPC half (a real write into a full tmpfs)",
            "cannot mount tmpfs: needs root",
        );
        return;
    }
    // Skip the pre-check's margin so the write itself hits ENOSPC.
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(exports.clone());
    let e = exporter(&s).export(
        &request(&s, s.start_s(), s.end_s()),
        &CancelToken::new(),
        |_| {},
    );
    let e = e.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DiskFull, "{e}");
    assert_eq!(files_under(&exports), Vec::<std::path::PathBuf>::new());
    assert_eq!(export_rows(&s), vec![]);
}

#[test]
fn row_lifecycle_progress_and_completion() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 3.0, 8);
    let db = s.db_path.clone();
    let mut events: Vec<Progress> = Vec::new();
    let mut rows_seen: Vec<Vec<(String, i64)>> = Vec::new();
    let ex = exporter(&s).with_throttle(nvr_export::ProgressThrottle {
        interval: Duration::ZERO,
    });
    let req = ExportRequest {
        id: Some("front_door_abc123".into()),
        ..request(&s, s.start_s(), s.end_s())
    };
    let o = ex
        .export(&req, &CancelToken::new(), |p| {
            if p.step == Step::Copying && rows_seen.is_empty() {
                let conn = rusqlite::Connection::open(&db).unwrap();
                let rows = conn
                    .prepare("SELECT id, in_progress FROM export")
                    .unwrap()
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                    .unwrap()
                    .map(|r| r.unwrap())
                    .collect();
                rows_seen.push(rows);
            }
            events.push(p);
        })
        .unwrap();
    assert_eq!(o.id, "front_door_abc123");
    assert!(o.video_path.to_string_lossy().ends_with("_abc123.mp4"));
    // While copying, the row existed and was in progress.
    assert_eq!(rows_seen, vec![vec![("front_door_abc123".to_string(), 1)]]);
    assert_eq!(export_rows(&s), vec![("front_door_abc123".to_string(), 0)]);

    // Steps in order, percent monotonic within a step, in [0, 100], ending at 100.
    let steps: Vec<Step> = events.iter().map(|p| p.step).fold(Vec::new(), |mut v, s| {
        if v.last() != Some(&s) {
            v.push(s)
        }
        v
    });
    assert_eq!(
        steps,
        vec![Step::Preparing, Step::Copying, Step::Finalizing]
    );
    for w in events.windows(2) {
        if w[0].step == w[1].step {
            assert!(w[1].percent >= w[0].percent, "{:?}", w);
        }
    }
    assert!(events.iter().all(|p| (0.0..=100.0).contains(&p.percent)));
    let copying: Vec<f64> = events
        .iter()
        .filter(|p| p.step == Step::Copying)
        .map(|p| p.percent)
        .collect();
    // At least one update per clip (8 clips), whichever writer runs.
    assert!(
        copying.len() > 8,
        "copying reported {} times",
        copying.len()
    );
    assert!(
        copying.iter().any(|&p| p > 40.0 && p < 60.0),
        "no mid-way update: {copying:?}"
    );
    assert_eq!(*copying.last().unwrap(), 100.0);
    assert_eq!(
        events.last().unwrap(),
        &Progress {
            step: Step::Finalizing,
            percent: 100.0
        }
    );

    // The same id again is refused and the first export is untouched.
    let e = export(&s, &req).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidName);
    assert!(o.video_path.exists());
}

/// Cancels from another thread once copying is under way, and measures
/// the time from `cancel()` to the export's return. The progress callback
/// waits for the cancel to be issued, so the cancel always lands mid-export.
fn cancel_mid_export(writer: WriterChoice) {
    let dir = tempfile::tempdir().unwrap();
    // 120 segments of 2 s: identical specs are encoded once and copied.
    let specs: Vec<_> = (0..120).map(|i| (small(2.0, i % 2), 0.0)).collect();
    let s = store(dir.path(), &specs);
    let token = CancelToken::new();
    let (tx, rx) = mpsc::channel::<()>();
    let (ack_tx, ack_rx) = mpsc::channel::<Instant>();
    let t2 = token.clone();
    let canceller = std::thread::spawn(move || {
        rx.recv().unwrap();
        t2.cancel();
        let at = Instant::now();
        ack_tx.send(at).unwrap();
        at
    });
    let ex = exporter(&s)
        .with_writer(writer)
        .with_throttle(nvr_export::ProgressThrottle {
            interval: Duration::ZERO,
        });
    let mut signalled = false;
    let mut last_percent = 0.0;
    let r = ex.export(&request(&s, s.start_s(), s.end_s()), &token, |p| {
        if p.step == Step::Copying && p.percent > 1.0 && !signalled {
            signalled = true;
            tx.send(()).unwrap();
            ack_rx.recv().unwrap();
        }
        last_percent = p.percent;
    });
    let returned = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert!(
        last_percent < 100.0,
        "export finished before the cancel landed"
    );
    let lag = returned.duration_since(cancelled_at);
    // A user calls a cancel that takes seconds a hang; the real latency is
    // measured by the benchmark, not bounded here on a shared CI machine.
    assert!(lag < Duration::from_secs(5), "cancel took {lag:?}");
    assert_nothing_left(&s);
}

#[test]
fn cancellation_is_prompt_and_clean_fast_writer() {
    cancel_mid_export(WriterChoice::Auto);
}

#[test]
fn cancellation_is_prompt_and_clean_libav_writer() {
    cancel_mid_export(WriterChoice::Libav);
}

#[test]
fn cancel_before_start_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let token = CancelToken::new();
    token.cancel();
    let e = exporter(&s)
        .export(&request(&s, s.start_s(), s.end_s()), &token, |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_nothing_left(&s);
}

#[test]
fn two_exports_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 6);
    let (a, b) = std::thread::scope(|sc| {
        let h1 = sc.spawn(|| export(&s, &request(&s, s.start_s(), s.end_s())));
        let h2 = sc.spawn(|| export(&s, &request(&s, s.start_s() + 4.0, s.end_s())));
        (h1.join().unwrap().unwrap(), h2.join().unwrap().unwrap())
    });
    assert!((a.duration_s - 12.0).abs() < 0.01);
    assert!((b.duration_s - 8.0).abs() < 0.01);
    assert_eq!(export_rows(&s).len(), 2);
}

#[test]
fn hevc_resolution_change_still_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let h = SegmentSpec {
        codec: VideoCodec::Hevc,
        ..small(2.0, 0)
    };
    let big = SegmentSpec {
        width: 640,
        height: 360,
        seed: 1,
        ..h
    };
    let s = store(
        dir.path(),
        &[(h, 0.0), (big, 0.0), (SegmentSpec { seed: 2, ..h }, 0.0)],
    );
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(o.stats.writer, WriterKind::Libav);
    assert_eq!(decode_errors(&o.video_path), "");
    assert_eq!(video_packets(&o.video_path).len(), 90);
}

#[test]
fn audio_sample_rate_change_drops_audio_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let a44 = SegmentSpec {
        audio: Some(nvr_export::sample::AudioSpec {
            sample_rate: 44_100,
            ..Default::default()
        }),
        ..small(2.0, 1)
    };
    let s = store(dir.path(), &[(small(2.0, 0), 0.0), (a44, 0.0)]);
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(streams_of(&probe(&o.video_path), "audio").len(), 0);
    let w: Vec<String> = o.warnings.iter().map(|w| w.to_string()).collect();
    let w = w.join("\n");
    assert!(w.contains("44100 Hz") && w.contains("48000 Hz"), "{w}");
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn export_folder_on_another_filesystem() {
    // Segments on disk, exports on a tmpfs: copy_file_range may refuse to
    // cross filesystems (EXDEV) and the writer falls back to read/write.
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 3.0, 2);
    let exports = s.media_dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
        .arg(&exports)
        .status()
        .map(|st| st.success())
        .unwrap_or(false);
    if !mounted {
        skipped(
            "export folder on another filesystem (copy fallback)",
            "cannot mount tmpfs: needs root",
        );
        return;
    }
    let result = export(&s, &request(&s, s.start_s(), s.end_s()));
    let checks = result.as_ref().map(|o| {
        (
            o.stats.writer,
            decode_errors(&o.video_path),
            f(&streams_of(&probe(&o.video_path), "video")[0]["duration"]),
        )
    });
    let _ = std::process::Command::new("umount").arg(&exports).status();
    let (writer, errors, duration) = checks.unwrap();
    assert_eq!(writer, WriterKind::Fast);
    assert_eq!(errors, "");
    assert!((duration - 6.0).abs() < 0.01);
}

#[test]
fn a_range_over_the_sample_bound_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    // 3 segments of 30 video + ~94 audio samples: a bound of 100 is passed
    // by the first batch.
    let e = exporter(&s)
        .with_max_samples(100)
        .export(
            &request(&s, s.start_s(), s.end_s()),
            &CancelToken::new(),
            |_| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RangeTooLong, "{e}");
    assert!(e.to_string().contains("export it in parts"), "{e}");
    assert_nothing_left(&s);
    // The default bound takes it.
    export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
}

#[test]
fn two_exports_racing_for_one_name_never_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let req = |id: &str| ExportRequest {
        id: Some(id.into()),
        ..request(&s, s.start_s(), s.end_s())
    };
    // Export A passes the "already exists" check; while it copies, export B
    // (same camera, range and id suffix: the same file name) runs to the end.
    let mut b_done = None;
    let a = exporter(&s).export(&req("front_door_same1"), &CancelToken::new(), |p| {
        if p.step == Step::Copying && b_done.is_none() {
            b_done = Some(export(&s, &req("back_door_same1")).unwrap());
        }
    });
    let b = b_done.expect("B ran inside A");
    let e = a.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidName, "{e}");
    assert!(e.to_string().contains("nothing was replaced"), "{e}");
    // B's file and row are intact; nothing of A is left.
    assert_eq!(export_rows(&s), vec![(b.id.clone(), 0)]);
    assert_eq!(
        files_under(&s.media_dir.join("exports")),
        vec![b.video_path.clone()]
    );
    assert_eq!(decode_errors(&b.video_path), "");
}

#[test]
fn a_segment_replaced_after_probing_fails_the_export_clearly() {
    for writer in [WriterChoice::Auto, WriterChoice::Libav] {
        let dir = tempfile::tempdir().unwrap();
        let s = back_to_back(dir.path(), 2.0, 3);
        let victim = s.recordings[1].path.clone();
        let other = std::fs::read(&s.recordings[2].path).unwrap();
        let mut replaced = false;
        let e = exporter(&s)
            .with_writer(writer)
            .export(
                &request(&s, s.start_s(), s.end_s()),
                &CancelToken::new(),
                |p| {
                    if p.step == Step::Copying && !replaced {
                        // Same size, other bytes, through a new file renamed over it.
                        let mut bytes = other.clone();
                        bytes.resize(std::fs::metadata(&victim).unwrap().len() as usize, 0);
                        let tmp = victim.with_extension("tmp");
                        std::fs::write(&tmp, bytes).unwrap();
                        std::fs::rename(&tmp, &victim).unwrap();
                        replaced = true;
                    }
                },
            )
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnreadableSegment, "{writer:?}: {e}");
        assert!(e.to_string().contains("since it was probed"), "{e}");
        assert!(e.retryable());
        assert_nothing_left(&s);
    }
}

#[test]
fn hostile_ranges_names_and_zones_are_refused_with_their_reason() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let check = |req: ExportRequest, kind: ErrorKind, says: &str| {
        let e = export(&s, &req).unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(e.to_string().contains(says), "{e}");
    };
    let r = |a: f64, b: f64| request(&s, a, b);
    check(r(0.0, 1e300), ErrorKind::InvalidRange, "outside 2000-01-01");
    check(
        r(f64::NAN, T0),
        ErrorKind::InvalidRange,
        "numbers of seconds",
    );
    check(
        r(T0 + 5.0, T0),
        ErrorKind::InvalidRange,
        "start must be before",
    );
    let named = |name: &str| ExportRequest {
        name: Some(name.into()),
        ..r(s.start_s(), s.end_s())
    };
    check(named(" padded"), ErrorKind::InvalidName, "spaces");
    check(
        named("clip\u{202e}4pm.exe"),
        ErrorKind::InvalidName,
        "bidirectional",
    );
    let id = ExportRequest {
        id: Some("x".repeat(31)),
        ..r(s.start_s(), s.end_s())
    };
    check(id, ErrorKind::InvalidName, "30 characters");
    let zone = ExportRequest {
        timezone: Some("Mars/Olympus".into()),
        ..r(s.start_s(), s.end_s())
    };
    check(zone, ErrorKind::InvalidName, "IANA");
    assert_nothing_left(&s);
}

#[test]
fn catalogue_paths_outside_the_media_folder_and_non_mp4_segments_are_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    // Row 1 points outside the media folder (a real MP4 there), row 2 is an
    // HLS playlist that lists an outside file.
    let outside = dir.path().join("elsewhere.mp4");
    std::fs::copy(&s.recordings[1].path, &outside).unwrap();
    let playlist = s.recordings[2].path.clone();
    std::fs::write(
        &playlist,
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n{}\n#EXT-X-ENDLIST\n",
            outside.display()
        ),
    )
    .unwrap();
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    conn.execute(
        "UPDATE recordings SET path = ?1 WHERE id = ?2",
        rusqlite::params![outside.to_str().unwrap(), s.recordings[1].id],
    )
    .unwrap();
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert!((o.duration_s - 2.0).abs() < 0.01, "{}", o.duration_s);
    let reasons: Vec<&str> = o.skipped.iter().map(|k| k.reason.as_str()).collect();
    assert_eq!(o.skipped.len(), 2, "{reasons:?}");
    assert!(
        reasons[0].contains("outside the media folder"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("cannot open as media"), "{reasons:?}");
    // A configured root lets the outside file in.
    let mut ex = exporter(&s);
    ex = nvr_export::Exporter::new(nvr_export::Layout {
        recording_roots: vec![dir.path().to_path_buf()],
        ..ex.layout().clone()
    });
    let o = ex
        .export(
            &request(&s, s.start_s(), s.end_s()),
            &CancelToken::new(),
            |_| {},
        )
        .unwrap();
    assert!((o.duration_s - 4.0).abs() < 0.01, "{}", o.duration_s);
}

#[test]
fn unclear_messages_now_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let req = request(&s, s.start_s(), s.end_s());
    // The export folder is a regular file, or a dangling symlink.
    let exports = s.media_dir.join("exports");
    std::fs::write(&exports, b"x").unwrap();
    let e = export(&s, &req).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnwritableExportDir);
    assert!(e.to_string().contains("not a folder"), "{e}");
    std::fs::remove_file(&exports).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &exports).unwrap();
    let e = export(&s, &req).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    std::fs::remove_file(&exports).unwrap();
    // --db pointing at a folder.
    let e = nvr_export::Exporter::new(nvr_export::Layout::new(dir.path(), &s.media_dir))
        .export(&req, &CancelToken::new(), |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Database);
    assert!(e.to_string().contains("is a directory"), "{e}");
    // A row whose start disagrees with its file (100 s earlier, end kept):
    // the footage is whole and the disagreement is named.
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    conn.execute(
        "UPDATE recordings SET start_time = start_time - 100 WHERE id = ?1",
        [&s.recordings[1].id],
    )
    .unwrap();
    let o = export(&s, &request(&s, s.start_s() - 200.0, s.end_s())).unwrap();
    assert!((o.duration_s - 4.0).abs() < 0.01, "{}", o.duration_s);
    assert!(
        o.warnings
            .iter()
            .any(|w| matches!(w, Warning::CatalogueMismatch { .. })),
        "{:?}",
        o.warnings
    );
}

#[test]
fn unreadable_catalogue_rows_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 4);
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let id = |i: usize| s.recordings[i].id.clone();
    conn.execute(
        "UPDATE recordings SET duration = 'long' WHERE id = ?1",
        [id(1)],
    )
    .unwrap();
    conn.execute(
        "UPDATE recordings SET path = X'2f6574' WHERE id = ?1",
        [id(2)],
    )
    .unwrap();
    // A non-UTF-8 path (as bytes of text): kept losslessly, so it is simply missing.
    conn.execute(
        "UPDATE recordings SET path = CAST(X'2f746d702f66ff2e6d7034' AS TEXT) WHERE id = ?1",
        [id(3)],
    )
    .unwrap();
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert!((o.duration_s - 2.0).abs() < 0.01, "{}", o.duration_s);
    let reasons: Vec<String> = o.skipped.iter().map(|k| k.to_string()).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("duration is not a number")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("path is not text")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("missing")), "{reasons:?}");
}

#[test]
fn export_folder_renamed_mid_export_leaves_nothing_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    let exports = s.media_dir.join("exports");
    let moved = s.media_dir.join("moved-away");
    let mut renamed = false;
    let e = exporter(&s)
        .export(
            &request(&s, s.start_s(), s.end_s()),
            &CancelToken::new(),
            |p| {
                if p.step == Step::Copying && !renamed {
                    std::fs::rename(&exports, &moved).unwrap();
                    renamed = true;
                }
            },
        )
        .unwrap_err();
    assert!(renamed);
    assert!(!e.to_string().is_empty());
    assert_eq!(files_under(&moved), Vec::<std::path::PathBuf>::new());
    assert_eq!(files_under(&exports), Vec::<std::path::PathBuf>::new());
    assert_eq!(export_rows(&s), vec![]);
}

#[test]
fn one_file_listed_twice_is_exported_once_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let r = &s.recordings[1];
    // The schema keeps paths unique; the same file under another spelling.
    let same_file = r
        .path
        .to_str()
        .unwrap()
        .replacen("/recordings/", "/./recordings/", 1);
    conn.execute(
        "INSERT INTO recordings (id, camera, path, start_time, end_time, duration, objects, motion, segment_size, dBFS, regions) \
         VALUES ('dup', 'front_door', ?1, ?2, ?3, 2.0, 0, 0, 0, 0, 0)",
        rusqlite::params![same_file, r.start_s + 0.5, r.end_s + 0.5],
    )
    .unwrap();
    let o = export(&s, &request(&s, s.start_s(), s.end_s() + 1.0)).unwrap();
    assert!((o.duration_s - 4.0).abs() < 0.01, "{}", o.duration_s);
    assert!(
        o.warnings
            .iter()
            .any(|w| matches!(w, Warning::DuplicateFootage { id, .. } if id == "dup")),
        "{:?}",
        o.warnings
    );
}

#[test]
fn a_row_that_ends_before_it_starts_is_exported_whole_as_the_warning_says() {
    for which in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let s = back_to_back(dir.path(), 5.0, 3);
        // One row ends 3 s before it starts (an NVR clock step).
        let bad = &s.recordings[which];
        let db = rusqlite::Connection::open(&s.db_path).unwrap();
        db.execute(
            "UPDATE recordings SET end_time = start_time - 3 WHERE id = ?1",
            [&bad.id],
        )
        .unwrap();
        // The range as a user reads it off the catalogue.
        let (first, last): (f64, f64) = db
            .query_row(
                "SELECT min(start_time), max(end_time) FROM recordings",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        drop(db);
        let src: Vec<String> = s
            .recordings
            .iter()
            .flat_map(|r| video_packet_hashes(&r.path))
            .collect();
        for (start, end) in [(s.start_s() - 1.0, s.end_s() + 1.0), (first, last)] {
            let o = export(&s, &request(&s, start, end)).unwrap();
            let warning = o
                .warnings
                .iter()
                .find(|w| matches!(w, Warning::CatalogueMismatch { id, .. } if id == &bad.id))
                .unwrap_or_else(|| panic!("row {which}: {:?}", o.warnings))
                .to_string();
            let out = video_packet_hashes(&o.video_path);
            // What the warning says is what the file holds.
            if out.len() == src.len() {
                assert!(warning.contains("exported whole"), "row {which}: {warning}");
            } else {
                assert!(
                    warning.contains("of its footage is exported") && !warning.contains("whole"),
                    "row {which}, {} of {} frames: {warning}",
                    out.len(),
                    src.len()
                );
            }
            if end > s.end_s() {
                assert_eq!(out.len(), src.len(), "row {which}: footage missing");
            }
        }
    }
}
