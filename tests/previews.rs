//! Preview-source exports (exact trims with an edit list, cached frames of
//! the current hour) and thumbnails, checked with ffprobe/ffmpeg.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use nvr_export::sample::previews::{add_cached_frame, add_preview, steady_times};
use nvr_export::sample::SampleStore;
use nvr_export::{
    CancelToken, EncodeArgs, ErrorKind, ExportOutcome, ExportRequest, Exporter, Layout, Progress,
    Source, Warning,
};

/// A store with one 2 s recording and two hourly-style previews of 120 s
/// each (1 fps, keyframe every 40 frames): [T0, T0+120], [T0+120, T0+240].
fn preview_store(dir: &Path) -> SampleStore {
    let s = back_to_back(&dir.join("store"), 2.0, 1);
    add_preview(&s, T0, T0 + 120.0, &steady_times(120.0, 1.0), 1).unwrap();
    add_preview(&s, T0 + 120.0, T0 + 240.0, &steady_times(120.0, 1.0), 2).unwrap();
    s
}

/// Catalogues `path` as the store's preview of its second hour (id `p2`).
fn second_hour_row(s: &SampleStore, path: &Path) {
    rusqlite::Connection::open(&s.db_path)
        .unwrap()
        .execute(
            "INSERT INTO previews (id, camera, path, start_time, end_time, duration) \
             VALUES ('p2', ?1, ?2, ?3, ?4, 120)",
            rusqlite::params![s.camera, path.to_str().unwrap(), T0 + 120.0, T0 + 240.0],
        )
        .unwrap();
}

fn cache_dir(s: &SampleStore) -> PathBuf {
    s.root.join("cache")
}

fn exporter_of(s: &SampleStore) -> Exporter {
    let mut layout = Layout::new(&s.db_path, &s.media_dir);
    layout.cache_dir = cache_dir(s);
    Exporter::new(layout)
}

fn preview_request(s: &SampleStore, start: f64, end: f64) -> ExportRequest {
    ExportRequest {
        source: Source::Preview,
        ..request(s, start, end)
    }
}

fn run(s: &SampleStore, req: &ExportRequest) -> nvr_export::Result<ExportOutcome> {
    exporter_of(s).export(req, &CancelToken::new(), |_p: Progress| {})
}

/// Presentation times of the decoded video frames (what players show).
fn frame_times(path: &Path) -> Vec<f64> {
    ffprobe_csv(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=best_effort_timestamp_time",
        ],
    )
    .iter()
    .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
    .collect()
}

/// MD5 of the first decoded picture of `path`, read from `seek_s` on.
fn first_picture_md5(path: &Path, seek_s: Option<f64>) -> String {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error"]);
    if let Some(t) = seek_s {
        cmd.args(["-ss", &format!("{t}")]);
    }
    let out = cmd
        .arg("-i")
        .arg(path)
        .args(["-frames:v", "1", "-f", "md5", "-"])
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn format_duration(path: &Path) -> f64 {
    f(&probe(path)["format"]["duration"])
}

/// (width, height) of an image as ffprobe reads it.
fn image_size(path: &Path) -> (u64, u64) {
    let p = probe(path);
    let v = streams_of(&p, "video")[0];
    (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap())
}

fn preview_path(s: &SampleStore, i: usize) -> PathBuf {
    let start = T0 + 120.0 * i as f64;
    nvr_export::sample::previews::preview_path(&s.media_dir, &s.camera, start, start + 120.0)
}

#[test]
fn a_trim_inside_one_preview_starts_and_ends_at_the_requested_instants() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    let o = run(&s, &preview_request(&s, T0 + 50.5, T0 + 100.0)).unwrap();
    let out = &o.video_path;
    assert_moov_first(out);
    assert_eq!(decode_errors(out), "");
    // The preview's keyframes are at 0, 40, 80 s: the copy starts at 40,
    // the edit list hides 40..50.5, the file reports the requested 49.5 s.
    let d = format_duration(out);
    assert!((d - 49.5).abs() < 0.01, "duration {d}");
    assert!((o.duration_s - 49.5).abs() < 0.01, "{}", o.duration_s);
    let times = frame_times(out);
    assert_eq!(times.len(), 50, "frames 50..99 presented: {times:?}");
    assert!(
        times[0].abs() < 1e-3,
        "first presented frame at {}",
        times[0]
    );
    assert!((times[1] - 0.5).abs() < 1e-3, "{}", times[1]);
    // The picture on screen at the in-point is the preview's frame at 50 s.
    assert_eq!(
        first_picture_md5(out, None),
        first_picture_md5(&preview_path(&s, 0), Some(50.0))
    );
    assert_ne!(
        first_picture_md5(out, None),
        first_picture_md5(&preview_path(&s, 0), Some(40.0)),
        "the keyframe before the in-point must not be shown"
    );
    // The NVR's Python exporter computes the out-point as
    // `int(preview.end - end)` = 20 s into the preview: before its
    // in-point (50 s), an empty or broken export. Ours is end - preview.start.
    let python_outpoint = ((T0 + 120.0) - (T0 + 100.0)).trunc();
    assert!(python_outpoint < 50.5);
    assert!((times.last().unwrap() + 1.0 - d).abs() < 0.51);
    let p = probe(out);
    let title = p["format"]["tags"]["title"].as_str().unwrap_or("");
    assert!(
        title.starts_with("Frigate Preview for front_door, "),
        "{title}"
    );
    // The thumbnail: the preview's frame at the start, 180 px high.
    assert!(!o.thumb_path.is_empty(), "{:?}", o.warnings);
    assert!(o
        .thumb_path
        .ends_with(&format!("clips/export/{}.webp", o.id)));
    assert_eq!(image_size(Path::new(&o.thumb_path)), (320, 180));
    assert_eq!(decode_errors(Path::new(&o.thumb_path)), "");
    assert_eq!(export_rows(&s), vec![(o.id.clone(), 0)]);
}

#[test]
fn a_range_over_two_previews_is_exact_at_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    for writer in [
        nvr_export::WriterChoice::Auto,
        nvr_export::WriterChoice::Libav,
    ] {
        let o = exporter_of(&s)
            .with_writer(writer)
            .export(
                &preview_request(&s, T0 + 100.25, T0 + 130.5),
                &CancelToken::new(),
                |_p: Progress| {},
            )
            .unwrap();
        let out = &o.video_path;
        let d = format_duration(out);
        assert!((d - 30.25).abs() < 0.01, "{writer:?}: duration {d}");
        let times = frame_times(out);
        // 100 (shown from the in-point) .. 119 of the first, 0 .. 10 of the second.
        assert_eq!(times.len(), 20 + 11, "{writer:?}: {times:?}");
        assert!(times[0].abs() < 1e-3, "{writer:?}: {}", times[0]);
        assert!(
            (times[20] - 19.75).abs() < 1e-3,
            "{writer:?}: {}",
            times[20]
        );
        assert_eq!(decode_errors(out), "", "{writer:?}");
        assert_eq!(
            first_picture_md5(out, None),
            first_picture_md5(&preview_path(&s, 0), Some(100.0))
        );
        std::fs::remove_file(out).unwrap();
    }
}

#[test]
fn cached_frames_cover_the_current_hour_each_for_0_12_s() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    // Frames of the hour after the last preview, every 0.5 s.
    for k in 0..10 {
        add_cached_frame(&cache_dir(&s), &s.camera, T0 + 240.0 + k as f64 * 0.5, k).unwrap();
    }
    // Another camera's frames are not taken.
    add_cached_frame(&cache_dir(&s), "back_yard", T0 + 241.0, 0).unwrap();

    // Preview part (230..240: 10 frames, 10 s) then 10 cached frames (1.2 s).
    let o = run(&s, &preview_request(&s, T0 + 230.0, T0 + 250.0)).unwrap();
    let out = &o.video_path;
    assert_eq!(decode_errors(out), "");
    assert_moov_first(out);
    let times = frame_times(out);
    assert_eq!(times.len(), 20, "{times:?}");
    for (i, t) in times[10..].iter().enumerate() {
        assert!(
            (t - (10.0 + 0.12 * i as f64)).abs() < 2e-3,
            "frame {i} at {t}"
        );
    }
    let d = format_duration(out);
    assert!((d - 11.2).abs() < 0.01, "duration {d}");
    assert_eq!(
        o.stats.writer.as_str(),
        "fast",
        "{:?}",
        o.stats.fast_declined
    );

    // Entirely in the current hour: the 7 frames at 241 .. 244.
    let o = run(&s, &preview_request(&s, T0 + 241.0, T0 + 244.0)).unwrap();
    let times = frame_times(&o.video_path);
    assert_eq!(times.len(), 7, "{times:?}");
    assert!((format_duration(&o.video_path) - 0.84).abs() < 0.01);
    assert_eq!(decode_errors(&o.video_path), "");
    // Its thumbnail: the first cached frame inside the range.
    assert_eq!(image_size(Path::new(&o.thumb_path)), (320, 180));
    // Nothing of the frames' temporary video is left.
    let names: Vec<String> = files_under(&s.media_dir.join("exports"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".mp4") && !n.starts_with('.')),
        "{names:?}"
    );
    assert_eq!(names.len(), 2);
}

#[test]
fn no_preview_and_no_frame_is_a_typed_error_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    let e = run(&s, &preview_request(&s, T0 + 500.0, T0 + 600.0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoPreviews, "{e}");
    assert!(e.to_string().contains("preview_frames"), "{e}");
    assert_nothing_left(&s);
}

#[test]
fn thumbnails_come_from_the_allowed_folders_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    // A user image under the media folder: decoded, 180 px high, as WebP.
    let review = s.media_dir.join("clips/review");
    std::fs::create_dir_all(&review).unwrap();
    let frame = add_cached_frame(&cache_dir(&s), "other", T0, 5).unwrap();
    let mine = review.join("thumb-x.webp");
    std::fs::copy(&frame, &mine).unwrap();
    let req = ExportRequest {
        thumbnail: Some(mine.clone()),
        ..request(&s, T0, T0 + 2.0)
    };
    let o = run(&s, &req).unwrap();
    assert_eq!(image_size(Path::new(&o.thumb_path)), (320, 180));

    // Outside the media and cache folders: refused, nothing written.
    let outside = dir.path().join("elsewhere.webp");
    std::fs::copy(&frame, &outside).unwrap();
    for bad in [outside, PathBuf::from("/etc/passwd")] {
        let req = ExportRequest {
            thumbnail: Some(bad.clone()),
            ..request(&s, T0, T0 + 2.0)
        };
        let e = run(&s, &req).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ForbiddenPath, "{bad:?}: {e}");
    }
    // A symlink inside the media folder to a file outside is outside.
    let link = review.join("link.webp");
    std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
    let req = ExportRequest {
        thumbnail: Some(link),
        ..request(&s, T0, T0 + 2.0)
    };
    assert_eq!(run(&s, &req).unwrap_err().kind(), ErrorKind::ForbiddenPath);
    // Still only the first export's files.
    assert_eq!(files_under(&s.media_dir.join("clips/export")).len(), 1);
    assert_eq!(export_rows(&s).len(), 1);

    // A user file inside the folders that is not an image: the export
    // succeeds without a thumbnail, and says why.
    let junk = review.join("notes.webp");
    std::fs::write(&junk, b"#EXTM3U\nhttp://example.com/x.ts\n").unwrap();
    let req = ExportRequest {
        thumbnail: Some(junk),
        ..request(&s, T0, T0 + 2.0)
    };
    let o = run(&s, &req).unwrap();
    assert_eq!(o.thumb_path, "");
    assert!(o
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::NoThumbnail { reason } if reason.contains("not an MP4"))));
}

#[test]
fn recordings_exports_get_a_preview_thumbnail_or_say_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    let o = run(&s, &request(&s, T0, T0 + 2.0)).unwrap();
    assert_eq!(image_size(Path::new(&o.thumb_path)), (320, 180));
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let stored: String = conn
        .query_row(
            "SELECT thumb_path FROM export WHERE id = ?1",
            [&o.id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, o.thumb_path);

    // No previews at all: no thumbnail, an empty thumb_path, a warning.
    let bare = back_to_back(&dir.path().join("bare"), 2.0, 1);
    let o = export(&bare, &request(&bare, T0, T0 + 2.0)).unwrap();
    assert_eq!(o.thumb_path, "");
    assert!(o
        .warnings
        .iter()
        .any(|w| matches!(w, Warning::NoThumbnail { .. })));
    assert!(files_under(&bare.media_dir.join("clips/export")).is_empty());

    // A cancelled export takes its thumbnail with it.
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let e = exporter_of(&s)
        .with_max_rate(50_000)
        .export(&request(&s, T0, T0 + 2.0), &cancel, move |p: Progress| {
            if p.step == nvr_export::Step::Copying {
                c2.cancel();
            }
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(files_under(&s.media_dir.join("clips/export")).len(), 1);
    assert_eq!(export_rows(&s).len(), 1);
}

#[test]
fn a_preview_timelapse_decodes_keyframes_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = preview_store(dir.path());
    let req = ExportRequest {
        encode: Some(EncodeArgs::timelapse()),
        ..preview_request(&s, T0, T0 + 240.0)
    };
    let o = run(&s, &req).unwrap();
    let out = &o.video_path;
    assert_eq!(decode_errors(out), "");
    assert!(streams_of(&probe(out), "audio").is_empty());
    // 6 keyframes (0, 40, 80 s of each preview), 240 s x 0.04 = 9.6 s.
    let d = format_duration(out);
    assert!((d - 9.6).abs() < 0.2, "duration {d}");
    assert_eq!(o.stats.writer.as_str(), "transcode");
    assert_eq!(o.stats.frames_decoded, 6, "keyframes only: {:?}", o.stats);

    // An exact in-point between keyframes (40 s and 80 s): the keyframe
    // before it is on screen from the start; the output does not start late.
    let req = ExportRequest {
        encode: Some(EncodeArgs::timelapse()),
        ..preview_request(&s, T0 + 50.5, T0 + 240.0)
    };
    let o = run(&s, &req).unwrap();
    let (start, dur) = stream_span(&o.video_path, "video").unwrap();
    assert!(start.abs() < 1e-3, "video starts at {start}");
    assert!((dur - 189.5 * 0.04).abs() < 0.1, "duration {dur}");
    assert_eq!(o.stats.frames_decoded, 5, "{:?}", o.stats);
    assert_eq!(decode_errors(&o.video_path), "");
}

#[test]
fn without_a_preview_the_thumbnail_is_the_last_cached_frame_before_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 2.0, 1);
    let frames = cache_dir(&s).join("preview_frames");
    // Only the frame at T0-40 decodes: the one before it and the one after
    // the range are garbage, so a thumbnail proves which was taken.
    add_cached_frame(&cache_dir(&s), &s.camera, T0 - 40.0, 1).unwrap();
    for ts in [T0 - 50.0, T0 + 10.0] {
        std::fs::write(
            frames.join(format!("preview_{}-{ts}.webp", s.camera)),
            b"RIFF",
        )
        .unwrap();
    }
    let o = run(&s, &request(&s, T0, T0 + 2.0)).unwrap();
    assert_eq!(
        image_size(Path::new(&o.thumb_path)),
        (320, 180),
        "{:?}",
        o.warnings
    );
    assert_eq!(decode_errors(Path::new(&o.thumb_path)), "");
}

#[test]
fn previews_of_two_picture_sizes_join_with_their_parameter_sets_in_band() {
    use nvr_export::sample::previews::write_preview;
    use nvr_export::sample::VideoCodec;
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 2.0, 1);
    add_preview(&s, T0, T0 + 120.0, &steady_times(120.0, 1.0), 1).unwrap();
    // The camera was reconfigured: the next hour's preview is smaller.
    let p2 =
        nvr_export::sample::previews::preview_path(&s.media_dir, &s.camera, T0 + 120.0, T0 + 240.0);
    write_preview(
        VideoCodec::H264,
        &p2,
        240,
        136,
        &steady_times(120.0, 1.0),
        1.0,
        2,
    )
    .unwrap();
    second_hour_row(&s, &p2);
    let o = run(&s, &preview_request(&s, T0 + 100.5, T0 + 130.0)).unwrap();
    assert_eq!(
        o.stats.writer.as_str(),
        "libav",
        "{:?}",
        o.stats.fast_declined
    );
    assert_eq!(decode_errors(&o.video_path), "");
    let frames: Vec<String> = ffprobe_csv(
        &o.video_path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=width,height",
        ],
    )
    .into_iter()
    .map(|l| l.trim_end_matches(',').to_string())
    .filter(|l| !l.is_empty())
    .collect();
    assert_eq!(frames.len(), 30, "{frames:?}");
    assert!(frames[..20].iter().all(|f| f == "320,180"), "{frames:?}");
    assert!(frames[20..].iter().all(|f| f == "240,136"), "{frames:?}");
    assert!((format_duration(&o.video_path) - 29.5).abs() < 0.01);
    assert!(frame_times(&o.video_path)[0].abs() < 1e-3);
}

#[test]
fn a_preview_in_a_codec_the_nvr_does_not_write_is_named_and_the_rest_exported() {
    use nvr_export::sample::previews::{preview_path, write_preview};
    use nvr_export::sample::VideoCodec;
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 2.0, 1);
    add_preview(&s, T0, T0 + 120.0, &steady_times(120.0, 1.0), 1).unwrap();
    let p2 = preview_path(&s.media_dir, &s.camera, T0 + 120.0, T0 + 240.0);
    write_preview(
        VideoCodec::Mpeg4,
        &p2,
        320,
        180,
        &steady_times(120.0, 1.0),
        1.0,
        2,
    )
    .unwrap();
    second_hour_row(&s, &p2);
    let o = run(&s, &preview_request(&s, T0 + 100.5, T0 + 130.0)).unwrap();
    let named: Vec<String> = o.skipped.iter().map(|k| k.to_string()).collect();
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(
        named[0].contains(p2.to_str().unwrap()) && named[0].contains("MPEG4"),
        "{named:?}"
    );
    assert!(
        !named[0].contains(".part"),
        "the staged file is not the fault: {named:?}"
    );
    assert_eq!(decode_errors(&o.video_path), "");
    // Only previews in that codec: the export fails naming them.
    let e = run(&s, &preview_request(&s, T0 + 125.0, T0 + 130.0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnreadableSegments, "{e}");
    assert!(e.to_string().contains(p2.to_str().unwrap()), "{e}");
}
