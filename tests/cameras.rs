//! Several cameras in one file on one clock (`plan::cameras`), recorded the
//! NVR's way (`sample::nvr`): cameras that start at different times, one
//! with a gap and at another resolution, one with B-frames. Every frame of
//! every camera is in its track, each track's frames sit at the
//! catalogue's wall-clock offsets, and stretches no camera recorded are
//! skipped for all of them with a chapter saying so.

mod common;

use std::path::Path;

use common::*;
use nvr_export::sample::nvr::{self, Session};
use nvr_export::sample::{self, AudioSpec, SampleStore, SegmentSpec};
use nvr_export::{ExportRequest, Layout};

/// One frame at 15 fps, plus rounding.
const FRAME_S: f64 = 1.0 / 15.0 + 0.002;

fn camera(w: u32, h: u32, seconds: f64, seed: u32) -> SegmentSpec {
    SegmentSpec {
        width: w,
        height: h,
        gop: 30,
        seed,
        audio: None,
        ..SegmentSpec::small(seconds)
    }
}

fn session(spec: SegmentSpec, gap_before_s: f64) -> Session {
    Session {
        gap_before_s,
        ..Session::new(spec)
    }
}

/// Presentation times of the packets of video stream `n` (those an edit
/// list does not discard), sorted.
fn video_pts(path: &Path, n: usize) -> Vec<f64> {
    let mut v: Vec<f64> = ffprobe_csv(
        path,
        &[
            "-select_streams",
            &format!("v:{n}"),
            "-show_entries",
            "packet=pts_time,flags",
        ],
    )
    .iter()
    .filter(|l| !l.contains('D'))
    .filter_map(|l| l.split(',').next()?.parse().ok())
    .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The frame hashes of every recording of `s` against those of video
/// stream `n` of `path`: nothing missing, nothing extra.
fn same_frames(s: &SampleStore, path: &Path, n: usize) {
    let source: Vec<String> = s
        .recordings
        .iter()
        .flat_map(|r| video_packet_hashes(&r.path))
        .collect();
    let exported = packet_hashes(path, &format!("0:v:{n}"));
    if std::env::var_os("KEEP_CAMERAS").is_some() {
        let _ = std::fs::copy(path, format!("/tmp/ct/{}.mp4", s.camera));
        for r in &s.recordings {
            let _ = std::fs::copy(&r.path, format!("/tmp/ct/{}-{}.mp4", s.camera, r.start_s));
        }
    }
    assert_eq!(
        multiset_difference(&source, &exported),
        (0, 0),
        "camera {}: (missing, extra) frames",
        s.camera
    );
}

fn exporter_of(s: &SampleStore) -> nvr_export::Exporter {
    nvr_export::Exporter::new(Layout::new(&s.db_path, &s.media_dir))
}

#[test]
fn three_cameras_one_clock_every_frame_at_its_wall_clock_place() {
    let dir = tempfile::tempdir().unwrap();
    let front = [Session {
        spec: SegmentSpec {
            audio: Some(AudioSpec {
                sample_rate: 16_000,
                ..AudioSpec::default()
            }),
            ..camera(320, 180, 40.0, 1)
        },
        ..Session::new(camera(320, 180, 40.0, 1))
    }];
    // Later, at another resolution, with a 14 s gap (camera offline).
    let yard = [
        session(camera(640, 360, 12.0, 2), 0.0),
        session(camera(640, 360, 12.0, 3), 14.0),
    ];
    let drive = [session(
        SegmentSpec {
            b_frames: 2,
            ..camera(320, 180, 26.0, 4)
        },
        0.0,
    )];
    let stores = nvr::record_cameras(
        dir.path(),
        &[
            ("front_door", T0 + 0.37, &front),
            ("back_yard", T0 + 6.2, &yard),
            ("driveway", T0 + 3.1, &drive),
        ],
    )
    .expect("record");
    let [front, yard, drive] = [&stores[0], &stores[1], &stores[2]];
    sample::add_review(
        yard,
        "r1",
        yard.recordings[2].start_s + 1.0,
        Some(yard.recordings[2].start_s + 6.0),
        "alert",
        r#"{"objects": ["person"]}"#,
    )
    .unwrap();

    let mut req = ExportRequest::cameras(["front_door", "back_yard", "driveway"], T0, T0 + 80.0);
    req.timezone = Some("UTC".into());
    let out = export(front, &req).expect("export");
    let path = &out.video_path;
    assert_eq!(out.stats.writer, nvr_export::WriterKind::Fast);

    let p = probe(path);
    let video = streams_of(&p, "video");
    assert_eq!(video.len(), 3, "a video track a camera");
    assert_eq!(streams_of(&p, "audio").len(), 1, "the front door's audio");
    for (v, (name, w)) in
        video
            .iter()
            .zip([("front_door", 320), ("back_yard", 640), ("driveway", 320)])
    {
        assert_eq!(v["tags"]["handler_name"], name);
        assert_eq!(v["width"], w);
        let default = v["disposition"]["default"].as_i64();
        assert_eq!(default, Some((name == "front_door") as i64), "{name}");
    }
    assert_moov_first(path);
    let errors = decode_errors(path);
    assert!(errors.trim().is_empty(), "decode errors: {errors}");

    // Every frame of every camera, once.
    for (n, s) in [front, yard, drive].into_iter().enumerate() {
        same_frames(s, path, n);
    }
    // Each track's first frame at its first row's offset from the earliest.
    let origin = [front, yard, drive]
        .iter()
        .map(|s| s.recordings[0].start_s)
        .fold(f64::INFINITY, f64::min);
    for (n, s) in [front, yard, drive].into_iter().enumerate() {
        let pts = video_pts(path, n);
        let want = s.recordings[0].start_s - origin;
        assert!(
            (pts[0] - want).abs() <= FRAME_S,
            "{}: first frame at {} s, the catalogue says {want} s",
            s.camera,
            pts[0]
        );
    }
    // The yard's first frame after its gap at the row's offset.
    let yard_pts = video_pts(path, 1);
    let (before, after) = yard_pts
        .windows(2)
        .find(|w| w[1] - w[0] > 5.0)
        .map(|w| (w[0], w[1]))
        .expect("a gap in the yard's track");
    let back = yard
        .recordings
        .iter()
        .find(|r| r.start_s - origin > after - 2.0)
        .expect("the row after the gap");
    assert!(
        (after - (back.start_s - origin)).abs() <= FRAME_S,
        "frame after the gap at {after} s, its row at {} s",
        back.start_s - origin
    );
    // The file lasts until the last camera's last frame; that is where the
    // rows end, but for the NVR's late first row of a session (its probe
    // delay: a stretch is placed by its first row, so it may end up to 2 s
    // after its last row says).
    let last_frame = (0..3)
        .map(|n| video_pts(path, n).last().copied().unwrap() + 1.0 / 15.0)
        .fold(0.0, f64::max);
    let dur = f(&p["format"]["duration"]);
    assert!(
        (dur - last_frame).abs() < 0.1,
        "{dur} s, last frame ends at {last_frame}"
    );
    let end = [front, yard, drive]
        .iter()
        .map(|s| s.recordings.last().unwrap().end_s)
        .fold(0.0, f64::max);
    assert!(
        (0.0..2.0).contains(&(dur - (end - origin))),
        "{dur} s, rows end at {}",
        end - origin
    );

    // The yard's review as a chapter titled with the camera, at its place.
    let chapters = chapters_of(&p);
    let c = chapters
        .iter()
        .find(|c| c.2 == "back_yard: Alert: person")
        .unwrap_or_else(|| panic!("no yard chapter in {chapters:?}"));
    let want = yard.recordings[2].start_s + 1.0 - origin;
    assert!(
        (c.0 - want).abs() < 0.01,
        "chapter at {} s, review at {want} s",
        c.0
    );

    // One row, the first camera's, named for all.
    let conn = rusqlite::Connection::open(&front.db_path).unwrap();
    let (camera, name): (String, String) = conn
        .query_row("SELECT camera, name FROM export", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(camera, "front_door");
    assert!(
        name.starts_with("front door + back yard + driveway "),
        "{name}"
    );

    // The same cameras tiled: one picture, the yard's cell black with its
    // name while it has no footage, its picture when it has.
    let mut tiled = req.clone();
    tiled.mosaic = true;
    tiled.chapters = nvr_export::ChapterMode::None;
    let m = export(front, &tiled).expect("mosaic");
    let mp = probe(&m.video_path);
    let v = streams_of(&mp, "video");
    assert_eq!(v.len(), 1);
    assert!(streams_of(&mp, "audio").is_empty());
    // Two columns of 640x360 cells (the largest camera), two rows.
    assert_eq!(
        (v[0]["width"].as_i64(), v[0]["height"].as_i64()),
        (Some(1280), Some(720))
    );
    let mdur = f(&mp["format"]["duration"]);
    assert!((mdur - dur).abs() < 0.2, "mosaic {mdur} s, tracks {dur} s");
    let errors = decode_errors(&m.video_path);
    assert!(errors.trim().is_empty(), "mosaic decode errors: {errors}");
    let in_gap = (before + after) / 2.0;
    let yard_cell = cell_luma(&m.video_path, in_gap, (640, 0));
    assert!(
        yard_cell.0 < 30.0,
        "yard's cell in its gap: mean luma {}",
        yard_cell.0
    );
    assert!(
        (0.001..0.05).contains(&yard_cell.1),
        "the yard's name: {} of the cell lit",
        yard_cell.1
    );
    let front_cell = cell_luma(&m.video_path, in_gap, (0, 0));
    assert!(
        front_cell.0 > 60.0,
        "front door's cell: mean luma {}",
        front_cell.0
    );
    let yard_back = cell_luma(&m.video_path, after + 2.0, (640, 0));
    assert!(
        yard_back.0 > 60.0,
        "yard's cell after its gap: mean luma {}",
        yard_back.0
    );
}

/// Mean luma and the fraction of bright (label) pixels of the 640x360 cell
/// at `at` of a 1280x720 picture at `t` seconds.
fn cell_luma(path: &Path, t: f64, at: (usize, usize)) -> (f64, f64) {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-ss", &format!("{t:.3}"), "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("run ffmpeg");
    assert_eq!(
        out.stdout.len(),
        1280 * 720,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut sum, mut lit) = (0u64, 0u64);
    for y in at.1..at.1 + 360 {
        for x in at.0..at.0 + 640 {
            let p = out.stdout[y * 1280 + x];
            sum += p as u64;
            lit += (p > 200) as u64;
        }
    }
    let n = (640 * 360) as f64;
    (sum as f64 / n, lit as f64 / n)
}

#[test]
fn time_no_camera_recorded_is_skipped_for_every_track_and_named_by_a_chapter() {
    let dir = tempfile::tempdir().unwrap();
    let a = [
        session(camera(320, 180, 10.0, 1), 0.0),
        session(camera(320, 180, 10.0, 2), 40.0),
    ];
    let b = [
        session(camera(256, 144, 8.0, 3), 0.0),
        session(camera(256, 144, 8.0, 4), 43.0),
    ];
    let stores = nvr::record_cameras(dir.path(), &[("a", T0 + 0.2, &a), ("b", T0 + 2.5, &b)])
        .expect("record");
    let [sa, sb] = [&stores[0], &stores[1]];
    let mut req = ExportRequest::cameras(["a", "b"], T0, T0 + 100.0);
    req.timezone = Some("UTC".into());
    let out = export(sa, &req).expect("export");
    let path = &out.video_path;
    for (n, s) in [sa, sb].into_iter().enumerate() {
        same_frames(s, path, n);
    }
    // Rows: each session's rows are its content (15 fps, whole frames).
    let second = |s: &SampleStore| {
        let r = &s.recordings;
        let i = (1..r.len())
            .find(|&i| r[i].start_s - r[i - 1].end_s > 10.0)
            .unwrap();
        (r[i - 1].end_s, r[i].start_s)
    };
    let (a_end, a_back) = second(sa);
    let (b_end, b_back) = second(sb);
    let origin = sa.recordings[0].start_s.min(sb.recordings[0].start_s);
    let (hole_from, hole_to) = (a_end.max(b_end), a_back.min(b_back));
    let hole = hole_to - hole_from;
    assert!(hole > 20.0, "the fixture has a stretch with no camera");
    for (n, back) in [a_back, b_back].into_iter().enumerate() {
        let pts = video_pts(path, n);
        let after = pts.windows(2).find(|w| w[1] - w[0] > 0.5).map(|w| w[1]);
        let want = back - origin - hole;
        let got = after.expect("frames after the skipped stretch");
        assert!(
            (got - want).abs() <= FRAME_S + 0.01,
            "track {n}: back at {got} s, want {want} s (skipped {hole} s)"
        );
    }
    let p = probe(path);
    let chapters = chapters_of(&p);
    let skip = chapters
        .iter()
        .find(|c| c.2.contains("no camera recorded"))
        .unwrap_or_else(|| panic!("no chapter names the skipped time: {chapters:?}"));
    let at = hole_from - origin;
    assert!(
        (skip.0 - at).abs() < 0.1,
        "skip chapter at {} s, hole at {at} s",
        skip.0
    );
    let dur = f(&p["format"]["duration"]);
    let last_end = sa.end_s().max(sb.end_s());
    assert!(
        (dur - (last_end - origin - hole)).abs() < 0.2,
        "{dur} s: the skipped {hole} s is not in the file"
    );
}

#[test]
fn bad_camera_lists_are_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 4.0, 2);
    let ex = exporter_of(&s);
    let run = |req: &ExportRequest| ex.export(req, &nvr_export::CancelToken::new(), |_| {});
    let twice = ExportRequest::cameras(["front_door", "front_door"], T0, T0 + 8.0);
    let e = run(&twice).unwrap_err();
    assert_eq!(e.kind(), nvr_export::ErrorKind::ForbiddenArgument, "{e}");
    assert!(e.to_string().contains("named twice"), "{e}");
    let many: Vec<String> = (0..17).map(|i| format!("c{i}")).collect();
    let e = run(&ExportRequest::cameras(many, T0, T0 + 8.0)).unwrap_err();
    assert!(e.to_string().contains("2 to 16"), "{e}");
    let mut hls = ExportRequest::cameras(["front_door", "x"], T0, T0 + 8.0);
    hls.source = nvr_export::Source::Preview;
    assert!(run(&hls)
        .unwrap_err()
        .to_string()
        .contains("recordings only"));
    // An unknown camera fails; a known one without footage is left out.
    let e = run(&ExportRequest::cameras(
        ["front_door", "nope"],
        T0,
        T0 + 8.0,
    ))
    .unwrap_err();
    assert_eq!(e.kind(), nvr_export::ErrorKind::UnknownCamera, "{e}");
    assert_nothing_left(&s);
}

/// `--start-at exact`, `--timestamps` and `--manifest` with several cameras:
/// the file starts at the instant asked for, its wall-clock cues are the
/// shared timeline's (across a skipped stretch too), and the manifest names
/// every camera's segments.
#[test]
fn exact_start_wall_clock_cues_and_a_manifest_cover_every_camera() {
    let dir = tempfile::tempdir().unwrap();
    let a = [
        session(camera(320, 180, 12.0, 1), 0.0),
        session(camera(320, 180, 10.0, 2), 30.0),
    ];
    let b = [session(camera(256, 144, 14.0, 3), 0.0)];
    let stores = nvr::record_cameras(dir.path(), &[("a", T0 + 0.2, &a), ("b", T0 + 1.4, &b)])
        .expect("record");
    let [sa, sb] = [&stores[0], &stores[1]];
    let start = sa.recordings[0].start_s + 3.5;
    let mut req = ExportRequest::cameras(["a", "b"], start, T0 + 100.0);
    req.timezone = Some("UTC".into());
    req.start_at = nvr_export::StartAt::Exact;
    req.timestamps = true;
    req.manifest = true;
    req.chapters = nvr_export::ChapterMode::None;
    let out = export(sa, &req).expect("export");
    let path = &out.video_path;
    // Both cameras hold footage at the start: both tracks start at 0.
    for n in 0..2 {
        let pts = video_pts(path, n);
        assert!(pts[0].abs() < 0.01, "track {n} starts at {}", pts[0]);
    }
    // The cues: each second of the shared timeline names its wall-clock
    // time; after the skipped stretch they jump with it.
    let srt = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:s:0", "-f", "srt", "-"])
        .output()
        .unwrap();
    let srt = String::from_utf8(succeeded(srt).stdout).unwrap();
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").unwrap();
    let texts: Vec<chrono::NaiveDateTime> = stamp
        .find_iter(&srt)
        .filter_map(|m| chrono::NaiveDateTime::parse_from_str(m.as_str(), "%Y-%m-%d %H:%M:%S").ok())
        .collect();
    assert!(texts.len() > 20, "{srt}");
    let first = texts[0].and_utc().timestamp() as f64;
    assert!(
        (first - start).abs() < 1.0,
        "first cue {first}, start {start}"
    );
    let jump = texts
        .windows(2)
        .map(|w| (w[1] - w[0]).num_seconds())
        .max()
        .unwrap();
    assert!(
        jump > 10,
        "the skipped stretch shows in the cues (largest step {jump} s)"
    );
    // The manifest: every segment of both cameras in range, and it verifies.
    let v = nvr_export::verify(path, None).expect("verify");
    assert_eq!(v.exit_code(), 0, "{:?}", v.problems);
    let names: Vec<String> = v
        .sources
        .iter()
        .map(|s| s.path.display().to_string())
        .collect();
    for s in [sa, sb] {
        let from = s
            .recordings
            .iter()
            .filter(|r| names.contains(&r.path.display().to_string()));
        assert!(
            from.count() >= 2,
            "{} segments of {}: {names:?}",
            s.camera,
            s.camera
        );
    }
}
