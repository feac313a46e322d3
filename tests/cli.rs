//! The CLI contract other tools drive: arguments, JSON lines, exit codes.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nvr-export"))
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// The JSON lines of a run that must have succeeded (stderr shown if not).
fn succeeded_json(out: &std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out.stdout)
}

fn export_cmd(s: &nvr_export::sample::SampleStore, start: f64, end: f64) -> Command {
    export_cmd_raw(s, &start.to_string(), &end.to_string())
}

/// `export` with the range as typed (values that are not numbers too).
fn export_cmd_raw(s: &nvr_export::sample::SampleStore, start: &str, end: &str) -> Command {
    let mut c = bin();
    c.arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .args(["--camera", &s.camera, "--start", start, "--end", end]);
    c
}

#[test]
fn json_success_stream() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 3.0, 2);
    std::fs::remove_file(&s.recordings[1].path).unwrap();
    // Three clocks: the file is named in the machine's local time (TZ), the
    // name and title in --timezone, creation_time in UTC.
    let out = export_cmd(&s, s.start_s(), s.end_s())
        .env("TZ", "Asia/Kolkata")
        .args([
            "--json",
            "--name",
            "Porch",
            "--id",
            "front_door_x1y2z3",
            "--timezone",
            "Europe/Berlin",
            "--chapters",
            "recording-segments",
        ])
        .output()
        .unwrap();
    let ev = succeeded_json(&out);
    assert!(ev.len() >= 3);
    assert_eq!(ev[0]["event"], "progress");
    assert_eq!(ev[0]["step"], "preparing");
    assert!(ev.iter().any(|e| e["step"] == "copying"));
    let done = ev.last().unwrap();
    assert_eq!(done["event"], "done");
    assert_eq!(done["id"], "front_door_x1y2z3");
    assert_eq!(done["thumb_path"], "");
    assert!((done["duration_s"].as_f64().unwrap() - 3.0).abs() < 0.01);
    let video = done["video_path"].as_str().unwrap();
    assert!(
        video.ends_with("front_door_20240610_114320-20240610_114326_x1y2z3.mp4"),
        "{video}"
    );
    assert!(std::path::Path::new(video).exists());
    let skipped = done["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["reason"], "missing");
    assert!(!done["warnings"].as_array().unwrap().is_empty());
    let progress: Vec<&Value> = ev.iter().filter(|e| e["event"] == "progress").collect();
    assert_eq!(progress.last().unwrap()["percent"], 100.0);
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let name: String = conn
        .query_row("SELECT name FROM export", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "Porch");
}

#[test]
fn json_errors_have_kinds_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let cases: Vec<(Command, &str)> = vec![
        (export_cmd(&s, s.end_s(), s.start_s()), "invalid_range"),
        (
            export_cmd(&s, s.start_s() - 100.0, s.start_s() - 50.0),
            "no_recordings",
        ),
        (
            {
                let mut c = bin();
                c.args([
                    "export",
                    "--db",
                    "/nonexistent/frigate.db",
                    "--media-dir",
                    "/tmp",
                    "--camera",
                    "a",
                    "--start",
                    "1718000000",
                    "--end",
                    "1718000060",
                ]);
                c
            },
            "database",
        ),
        (
            {
                let mut c = export_cmd(&s, s.start_s(), s.end_s());
                c.args(["--name", "../escape"]);
                c
            },
            "invalid_name",
        ),
    ];
    for (mut cmd, kind) in cases {
        let out = cmd.arg("--json").output().unwrap();
        assert!(!out.status.success(), "{kind}: exit 0");
        let ev = json_lines(&out.stdout);
        let last = ev.last().unwrap();
        assert_eq!(last["event"], "error", "{kind}");
        assert_eq!(last["kind"], kind, "{last}");
        assert!(!last["message"].as_str().unwrap().is_empty());
    }
    let out = bin()
        .args([
            "export",
            "--db",
            s.db_path.to_str().unwrap(),
            "--media-dir",
            s.media_dir.to_str().unwrap(),
            "--camera",
            "nobody",
            "--start",
            "1718000000",
            "--end",
            "1718000060",
            "--json",
        ])
        .output()
        .unwrap();
    let ev = json_lines(&out.stdout);
    assert_eq!(ev.last().unwrap()["kind"], "unknown_camera");
    assert_nothing_left(&s);
}

#[test]
fn relative_media_dir_still_stores_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let out = bin()
        .current_dir(dir.path())
        .args([
            "export",
            "--db",
            "frigate.db",
            "--media-dir",
            "media",
            "--camera",
            "front_door",
            "--json",
        ])
        .args([
            "--start",
            &s.start_s().to_string(),
            "--end",
            &s.end_s().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let done = json_lines(&out.stdout).pop().unwrap();
    let video = done["video_path"].as_str().unwrap();
    assert!(video.starts_with('/'), "{video}");
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    let row: String = conn
        .query_row("SELECT video_path FROM export", [], |r| r.get(0))
        .unwrap();
    assert_eq!(row, video);
    assert!(std::path::Path::new(&row).exists());
}

#[test]
fn human_output_and_bad_chapter_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let out = export_cmd(&s, s.start_s(), s.end_s()).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported "));
    let out = export_cmd(&s, s.start_s(), s.end_s())
        .args(["--chapters", "sometimes"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown chapter mode"));
}

#[test]
fn demo_builds_a_store_and_exports_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("demo");
    // A relative --dir, as `make demo` passes it.
    let out = bin()
        .current_dir(dir.path())
        .args(["demo", "--dir", "demo"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("exported") && text.contains("x the copy"),
        "{text}"
    );
    let exports = files_under(&d.join("media/exports"));
    assert_eq!(exports.len(), 1);
    let p = probe(&exports[0]);
    assert!((f(&p["format"]["duration"]) - 60.0).abs() < 0.1);
    assert_eq!(p["chapters"].as_array().unwrap().len(), 5);
    // Running it again reuses the store and adds a second export.
    let out = bin().arg("demo").arg("--dir").arg(&d).output().unwrap();
    assert!(out.status.success());
    assert_eq!(files_under(&d.join("media/exports")).len(), 2);
}

#[test]
fn logs_go_to_stderr_and_the_done_event_says_why_a_writer_was_declined() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    // -vv: debug logs (the export's stages, libav's own lines) on stderr;
    // stdout stays pure JSON lines.
    let out = export_cmd(&s, s.start_s(), s.end_s())
        .args(["--json", "-vv", "--writer", "libav"])
        .output()
        .unwrap();
    let ev = succeeded_json(&out);
    let done = ev.last().unwrap();
    assert_eq!(done["writer"], "libav");
    assert_eq!(done["fast_declined"], "libav writer requested");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("probe"),
        "no stage logs on stderr: {stderr}"
    );
    // Without -v nothing but warnings: a clean export prints nothing there.
    let out = export_cmd(&s, s.start_s(), s.end_s())
        .args(["--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let done = json_lines(&out.stdout).pop().unwrap();
    assert_eq!(done["writer"], "fast");
    assert!(done["fast_declined"].is_null());
}

#[test]
fn a_gone_stdout_does_not_panic_and_the_exit_code_says_the_export_is_done() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    // `info` into a full device (as `info | head -1` closes its pipe).
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = bin().arg("info").stdout(full).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Human mode into a full device.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = export_cmd(&s, s.start_s(), s.end_s())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    // JSON mode into a closed pipe.
    let mut child = export_cmd(&s, s.start_s(), s.end_s())
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert_eq!(export_rows(&s).len(), 2);
    // `-inf` is a value, refused for what it is.
    let out = bin()
        .arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .args([
            "--camera",
            &s.camera,
            "--start",
            "-inf",
            "--end",
            "1718000060",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let ev = json_lines(&out.stdout);
    assert_eq!(ev.last().unwrap()["kind"], "invalid_range");
}

#[test]
fn batch_runs_requests_through_the_queue_with_events_tagged_by_job() {
    /// `nvr-export batch FILE` on the store.
    fn batch(s: &nvr_export::sample::SampleStore, file: &std::path::Path) -> std::process::Command {
        let mut c = bin();
        c.arg("batch")
            .arg(file)
            .arg("--db")
            .arg(&s.db_path)
            .arg("--media-dir")
            .arg(&s.media_dir);
        c
    }
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    let file = dir.path().join("batch.json");
    let (a, b) = (s.start_s(), s.end_s());
    std::fs::write(
        &file,
        serde_json::json!([
            {"camera": "front_door", "start": a, "end": b, "id": "front_door_b1"},
            {"camera": "front_door", "start": a + 1.0, "end": b, "id": "front_door_b2",
             "chapters": "recording-segments"},
            {"camera": "front_door", "start": a, "end": b - 1.0, "id": "front_door_b3"},
            {"camera": "nope", "start": a, "end": b, "id": "nope_b4"}
        ])
        .to_string(),
    )
    .unwrap();
    let out = batch(&s, &file)
        .args(["--max-concurrent", "2", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one request fails");
    let ev = json_lines(&out.stdout);
    let of = |job: &str, event: &str| {
        ev.iter()
            .filter(|e| e["job"] == job && e["event"] == event)
            .count()
    };
    for id in ["front_door_b1", "front_door_b2", "front_door_b3"] {
        assert_eq!(of(id, "queued"), 1, "{id}");
        assert_eq!(of(id, "success"), 1, "{id}");
    }
    assert_eq!(of("nope_b4", "failed"), 1);
    let failed = ev.iter().find(|e| e["event"] == "failed").unwrap();
    assert_eq!(failed["error"]["kind"], "unknown_camera");
    // Never more than two running at once, measured from the events.
    let (mut running, mut peak) = (0, 0);
    for e in &ev {
        match e["event"].as_str().unwrap() {
            "running" => running += 1,
            "success" | "failed" | "cancelled" => running -= 1,
            _ => {}
        }
        peak = peak.max(running);
    }
    assert!((1..=2).contains(&peak), "{peak}");
    let b2 = ev
        .iter()
        .find(|e| e["job"] == "front_door_b2" && e["event"] == "success")
        .unwrap();
    assert_eq!(b2["result"]["chapters"], 3);
    let mut rows = export_rows(&s);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("front_door_b1".to_string(), 0),
            ("front_door_b2".to_string(), 0),
            ("front_door_b3".to_string(), 0)
        ]
    );
    // A file that is not a list of requests: exit 2, a clear message.
    std::fs::write(&file, "{\"camera\": 1}").unwrap();
    let out = batch(&s, &file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a batch of export requests"));
    // A job that widens the HLS allowlist itself: refused, nothing run.
    std::fs::write(
        &file,
        format!(
            r#"[{{"camera": "{}", "start": {}, "end": {}, "id": "front_door_h1",
                 "source": {{"kind": "hls", "url": "http://10.1.2.3/x.m3u8", "allow_hosts": ["10.1.2.3"]}}}}]"#,
            s.camera,
            s.start_s(),
            s.end_s()
        ),
    )
    .unwrap();
    let out = batch(&s, &file).arg("--json").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("invalid_batch") && stdout.contains("only the operator's --allow-host"),
        "{stdout}"
    );
    assert!(!export_rows(&s).iter().any(|(id, _)| id == "front_door_h1"));
}

#[test]
fn a_wal_catalogue_in_a_read_only_folder_is_named_as_such() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    // Root ignores folder permissions: run the binary as `nobody` then (a
    // copy, so that the build folder's permissions do not matter).
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let exe = dir.path().join("nvr-export");
    std::fs::copy(env!("CARGO_BIN_EXE_nvr-export"), &exe).unwrap();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    mode(dir.path(), 0o755);
    mode(&exe, 0o755);
    mode(&s.db_path, 0o666);
    let db_dir = s.db_path.parent().unwrap().to_path_buf();
    mode(&db_dir, 0o555);
    let mut cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let out = cmd
        .arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(dir.path().join("elsewhere"))
        .args(["--camera", &s.camera, "--json"])
        .args([
            "--start",
            &s.start_s().to_string(),
            "--end",
            &s.end_s().to_string(),
        ])
        .output()
        .unwrap();
    mode(&db_dir, 0o755);
    let ev = json_lines(&out.stdout);
    let last = ev.last().expect("an error event");
    assert_eq!(last["kind"], "database", "{last}");
    let msg = last["message"].as_str().unwrap();
    assert!(
        msg.contains("cannot be written") && msg.contains("folder writable"),
        "{msg}"
    );
    assert!(!msg.contains("not an NVR catalogue"), "{msg}");
}

#[test]
fn validate_args_says_ok_or_names_the_refused_token() {
    let run = |args: &[&str]| {
        let out = bin().arg("validate-args").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
        )
    };
    assert_eq!(
        run(&["-vf setpts=0.04*PTS -r 30"]),
        (Some(0), "ok".to_string())
    );
    assert_eq!(
        run(&["-c:v", "libx264", "-crf", "23"]),
        (Some(0), "ok".to_string())
    );
    let (code, text) = run(&["-i", "/etc/passwd"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("\"-i\""), "{text}");
    let (code, text) = run(&["-vf movie=/etc/passwd"]);
    assert_eq!(code, Some(1));
    assert!(text.contains("movie="), "{text}");
    // One verdict with the export: what it would refuse or fail on is
    // refused here, naming why.
    for (codec, why) in [
        ("copy", "copy is not an encode"),
        // (a libav without the PNG encoder: "no such encoder")
        ("png", "an MP4 export is H.264|no such encoder"),
        ("nosuchenc", "no such encoder"),
        ("aac", "not a video encoder"),
    ] {
        let (code, text) = run(&["-c:v", codec]);
        assert_eq!(code, Some(1), "{codec}: {text}");
        assert!(why.split('|').any(|w| text.contains(w)), "{codec}: {text}");
    }
}

#[test]
fn migrate_gives_bare_files_a_row_once_and_skips_what_is_not_video() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    // One export of our own: it has a row and must not be added again.
    let mine = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let exports = s.media_dir.join("exports");
    let seg = &s.recordings[0].path;
    let named = exports.join("front_door_20240101_120000-20240101_120100_abc123.mp4");
    std::fs::copy(seg, &named).unwrap();
    let other = exports.join("garage clip.mp4");
    std::fs::copy(&s.recordings[1].path, &other).unwrap();
    std::fs::copy(&s.recordings[1].path, exports.join("porch clip.mp4")).unwrap();
    // A camera with no recordings left (retention), known from its previews.
    rusqlite::Connection::open(&s.db_path)
        .unwrap()
        .execute(
            "INSERT INTO previews (id, camera, path, start_time, end_time, duration) \
             VALUES ('p1', 'garage', '/nowhere.mp4', 0, 1, 1)",
            [],
        )
        .unwrap();
    std::fs::write(exports.join("broken.mp4"), vec![0x42u8; 5000]).unwrap();
    let head = std::fs::read(seg).unwrap();
    std::fs::write(exports.join("truncated.mp4"), &head[..head.len() / 3]).unwrap();
    std::fs::write(exports.join(".partial.mp4"), &head).unwrap();
    std::fs::write(exports.join("notes.txt"), b"x").unwrap();

    let migrate = || store_command_json(&s, "migrate");
    let first = migrate();
    assert_eq!(first["event"], "migrated");
    let added = first["added"].as_array().unwrap();
    let by_name = |n: &str| {
        added
            .iter()
            .find(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("{n} not added: {first}"))
    };
    assert_eq!(added.len(), 3, "{first}");
    let a = by_name("front_door_20240101_120000-20240101_120100_abc123");
    assert_eq!(a["camera"], "front_door");
    assert!(a["id"].as_str().unwrap().starts_with("front_door_"));
    assert_eq!(by_name("garage clip")["camera"], "garage");
    assert_eq!(by_name("porch clip")["camera"], "unknown");
    let skipped: Vec<String> = first["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        skipped.iter().any(|p| p.ends_with("broken.mp4")),
        "{skipped:?}"
    );
    assert!(
        skipped.iter().any(|p| p.ends_with("truncated.mp4")),
        "{skipped:?}"
    );
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    // Rows: done, named after the file, dated by its ctime, with a JPEG
    // thumbnail 180 px high.
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    for a in added {
        let (video, thumb, date, in_progress): (String, String, f64, i64) = conn
            .query_row(
                "SELECT video_path, thumb_path, date, in_progress FROM export WHERE id = ?1",
                [a["id"].as_str().unwrap()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(in_progress, 0);
        assert_eq!(video, a["video_path"].as_str().unwrap());
        use std::os::unix::fs::MetadataExt;
        let ctime = std::fs::metadata(&video).unwrap().ctime() as f64;
        assert!((date - ctime).abs() < 1.0, "{date} vs {ctime}");
        assert!(thumb.ends_with(&format!("{}.jpg", a["id"].as_str().unwrap())));
        let p = probe(std::path::Path::new(&thumb));
        let v = streams_of(&p, "video")[0];
        assert_eq!(v["codec_name"], "mjpeg");
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(320), Some(180))
        );
        assert_eq!(decode_errors(std::path::Path::new(&thumb)), "");
    }
    let rows = export_rows(&s);
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().any(|(id, _)| id == &mine.id));
    // A second run adds nothing.
    let second = migrate();
    assert_eq!(second["added"].as_array().unwrap().len(), 0, "{second}");
    assert_eq!(export_rows(&s).len(), 4);
}

#[test]
fn preview_source_and_cache_dir_through_the_cli() {
    use nvr_export::sample::previews::{add_cached_frame, add_preview, steady_times};
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 2.0, 1);
    add_preview(&s, T0, T0 + 60.0, &steady_times(60.0, 1.0), 3).unwrap();
    let cache = dir.path().join("cache");
    for k in 0..4 {
        add_cached_frame(&cache, &s.camera, T0 + 60.0 + k as f64, k).unwrap();
    }
    let out = export_cmd(&s, T0 + 30.5, T0 + 70.0)
        .args(["--source", "preview", "--json", "--cache-dir"])
        .arg(&cache)
        .output()
        .unwrap();
    let done = succeeded_json(&out).pop().unwrap();
    assert_eq!(done["event"], "done");
    // 29.5 s of preview, then 4 cached frames of 0.12 s.
    let d = done["duration_s"].as_f64().unwrap();
    assert!((d - 29.98).abs() < 0.01, "{done}");
    let thumb = done["thumb_path"].as_str().unwrap();
    assert!(thumb.ends_with(".webp"), "{done}");
    let v = done["video_path"].as_str().unwrap();
    let got = f(&probe(std::path::Path::new(v))["format"]["duration"]);
    assert!((got - 29.98).abs() < 0.01, "ffprobe says {got}");
}
