//! Crash recovery and ownership across processes: real child processes
//! killed with SIGKILL, stopped with SIGTERM/SIGHUP, a catalogue locked by
//! another connection, rows left by another exporter.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nvr_export::sample::SampleStore;
use nvr_export::{CancelToken, ErrorKind, RecoveryOptions, Step, Warning};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nvr-export"))
}

fn export_cmd(s: &SampleStore, id: &str) -> Command {
    let mut c = bin();
    c.arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .args(["--camera", &s.camera, "--json", "--id", id])
        .args(["--start", &s.start_s().to_string()])
        .args(["--end", &s.end_s().to_string()]);
    c
}

/// A running export child whose JSON lines are read as they come.
struct Running {
    child: Child,
    lines: BufReader<ChildStdout>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap());
        Running { child, lines }
    }

    /// Reads events until one satisfies `want` (panics at the end of the stream).
    fn until(&mut self, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let mut line = String::new();
            let n = self.lines.read_line(&mut line).unwrap();
            assert!(n > 0, "stream ended before the awaited event");
            let v: Value = serde_json::from_str(&line).unwrap();
            if want(&v) {
                return v;
            }
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0);
    }

    /// The last event and the exit status.
    fn finish(mut self) -> (Value, std::process::ExitStatus) {
        let mut last = Value::Null;
        let mut line = String::new();
        while self.lines.read_line(&mut line).unwrap() > 0 {
            last = serde_json::from_str(&line).unwrap();
            line.clear();
        }
        (last, self.child.wait().unwrap())
    }
}

fn copying(v: &Value) -> bool {
    v["step"] == "copying"
}

fn rows(s: &SampleStore) -> Vec<(String, i64)> {
    let mut r = export_rows(s);
    r.sort();
    r
}

fn exports_dir(s: &SampleStore) -> PathBuf {
    s.media_dir.join("exports")
}

/// Files of the export folder whose name starts with `.<id>.`.
fn hidden_of(s: &SampleStore, id: &str) -> Vec<PathBuf> {
    let prefix = format!(".{id}.");
    let mut v: Vec<PathBuf> = files_under(&exports_dir(s))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
        })
        .collect();
    v.sort();
    v
}

fn part_size(s: &SampleStore, id: &str) -> u64 {
    hidden_of(s, id)
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "part"))
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn recover_json(s: &SampleStore) -> Value {
    store_command_json(s, "recover")
}

fn ids(v: &Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.get("id").unwrap_or(x).as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sigkill_mid_copy_then_recovery_from_a_fresh_process_spares_a_live_export() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 6);
    // A preview, so that each export has a thumbnail when it is killed.
    nvr_export::sample::previews::add_preview(
        &s,
        s.start_s(),
        s.end_s(),
        &nvr_export::sample::previews::steady_times(s.end_s() - s.start_s(), 1.0),
        0,
    )
    .unwrap();
    let thumb = |id: &str| s.media_dir.join(format!("clips/export/{id}.webp"));
    // Rate-limited so that both are still copying when the test acts.
    let mut dead = Running::start({
        let mut c = export_cmd(&s, "front_door_dead01");
        c.args(["--max-rate", "30k"]);
        c
    });
    dead.until(copying);
    // (The live export's own start-up recovery sees the other one alive.)
    let mut live = Running::start({
        let mut c = export_cmd(&s, "front_door_live01");
        c.args(["--max-rate", "60k"]);
        c
    });
    live.until(copying);
    wait_for("a partial file with bytes", || {
        part_size(&s, "front_door_dead01") > 0
    });
    wait_for("its resume journal", || {
        hidden_of(&s, "front_door_dead01")
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".part.resume"))
    });
    dead.child.kill().unwrap(); // SIGKILL
    dead.child.wait().unwrap();
    // What the kill left: its row in progress, its lock file, its partial file.
    assert_eq!(
        rows(&s),
        vec![
            ("front_door_dead01".to_string(), 1),
            ("front_door_live01".to_string(), 1)
        ]
    );
    // Lock, partial file, and the index-driven writer's resume journal,
    // record of writes and saved plan.
    let left = hidden_of(&s, "front_door_dead01");
    assert_eq!(left.len(), 5, "{left:?}");
    for side in [".part.resume.now", ".part.resume.plan"] {
        assert!(left.iter().any(|p| p.to_string_lossy().ends_with(side)));
    }
    assert!(thumb("front_door_dead01").is_file());
    // What a kill while writing a thumbnail leaves, for the dead and (as if)
    // for the live export.
    let part = |id: &str| s.media_dir.join(format!("clips/export/.{id}.abc123.part"));
    std::fs::write(part("front_door_dead01"), b"x").unwrap();
    std::fs::write(part("front_door_live01"), b"x").unwrap();
    let report = recover_json(&s);
    assert_eq!(report["event"], "recovered");
    // The dead export is finished from its partial file (see
    // `tests/resume.rs`), the live one is left alone.
    assert_eq!(ids(&report, "resumed"), vec!["front_door_dead01"]);
    assert_eq!(ids(&report, "removed"), Vec::<String>::new());
    assert_eq!(ids(&report, "live"), vec!["front_door_live01"]);
    assert_eq!(ids(&report, "registered"), Vec::<String>::new());
    assert_eq!(hidden_of(&s, "front_door_dead01"), Vec::<PathBuf>::new());
    assert!(
        report["resumed"][0]["bytes_kept"].as_u64().unwrap() > 0,
        "{report}"
    );
    assert!(
        thumb("front_door_dead01").is_file(),
        "the resumed export's thumbnail"
    );
    assert!(
        !part("front_door_dead01").exists(),
        "a dead export's partial thumbnail"
    );
    assert!(
        part("front_door_live01").exists(),
        "a live export's partial thumbnail"
    );
    std::fs::remove_file(part("front_door_live01")).unwrap();
    // The live export was not touched: its row, lock, partial file and
    // thumbnail stay...
    assert_eq!(
        rows(&s),
        vec![
            ("front_door_dead01".to_string(), 0),
            ("front_door_live01".to_string(), 1)
        ]
    );
    assert_eq!(hidden_of(&s, "front_door_live01").len(), 5);
    assert!(thumb("front_door_live01").is_file());

    let (done, status) = live.finish();
    assert!(status.success(), "{done}");
    assert_eq!(done["event"], "done");
    let video = PathBuf::from(done["video_path"].as_str().unwrap());
    assert_eq!(decode_errors(&video), "");
    assert_eq!(
        rows(&s),
        vec![
            ("front_door_dead01".to_string(), 0),
            ("front_door_live01".to_string(), 0)
        ]
    );
    // Only the two finished files remain.
    let mut files = files_under(&exports_dir(&s));
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files
        .iter()
        .all(|f| f.extension().is_some_and(|e| e == "mp4")));
}

#[test]
fn sigkill_while_preparing_then_the_next_export_recovers_first() {
    let dir = tempfile::tempdir().unwrap();
    // Many segments, so that probing takes a while after the row appears.
    let s = back_to_back(dir.path(), 1.0, 80);
    let mut child = export_cmd(&s, "front_door_prep01")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    wait_for("the export row", || {
        conn.query_row(
            "SELECT count(*) FROM export WHERE id = 'front_door_prep01'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .unwrap_or(0)
            > 0
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let had_part = part_size(&s, "front_door_prep01") > 0;
    eprintln!("killed after the row appeared; partial file with bytes then: {had_part}");
    assert_eq!(rows(&s), vec![("front_door_prep01".to_string(), 1)]);

    // The next export (another process) recovers before it starts.
    let out = export_cmd(&s, "front_door_next01").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let recovered = events.iter().find(|e| e["event"] == "recovered").unwrap();
    assert_eq!(ids(recovered, "removed"), vec!["front_door_prep01"]);
    assert_eq!(hidden_of(&s, "front_door_prep01"), Vec::<PathBuf>::new());
    assert_eq!(rows(&s), vec![("front_door_next01".to_string(), 0)]);
    assert_eq!(files_under(&exports_dir(&s)).len(), 1);
}

#[test]
fn sigterm_and_sighup_cancel_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 6);
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let mut run = Running::start({
            let mut c = export_cmd(&s, "front_door_term01");
            c.args(["--max-rate", "30k"]);
            c
        });
        run.until(copying);
        wait_for("a partial file with bytes", || {
            part_size(&s, "front_door_term01") > 0
        });
        run.signal(sig);
        let (last, status) = run.finish();
        assert_eq!(status.code(), Some(1), "signal {sig}");
        assert_eq!(last["event"], "error");
        assert_eq!(last["kind"], "cancelled");
        assert_nothing_left(&s);
    }
}

#[test]
fn a_second_signal_exits_at_once_and_recovery_cleans_up_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 6);
    let mut run = Running::start({
        let mut c = export_cmd(&s, "front_door_twice1");
        c.args(["--max-rate", "30k"]);
        c
    });
    run.until(copying);
    // Another connection takes the write lock: the cancelled export's
    // cleanup (removing its row) has to wait for it...
    let holder = rusqlite::Connection::open(&s.db_path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    wait_for("a partial file with bytes", || {
        part_size(&s, "front_door_twice1") > 0
    });
    run.signal(libc::SIGTERM);
    // The partial file goes first: the first signal was handled (two
    // signals sent back to back may merge into one).
    wait_for("the partial file to go", || {
        part_size(&s, "front_door_twice1") == 0
    });
    // ...and a second signal ends it at once.
    let t = Instant::now();
    run.signal(libc::SIGTERM);
    let (last, status) = run.finish();
    assert_eq!(status.code(), Some(130), "{last}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_eq!(rows(&s), vec![("front_door_twice1".to_string(), 1)]);
    let report = recover_json(&s);
    assert_eq!(ids(&report, "removed"), vec!["front_door_twice1"]);
    assert_nothing_left(&s);
}

#[test]
fn a_catalogue_locked_after_the_copy_keeps_the_video_and_recovery_registers_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    let exporter = exporter(&s).with_busy_timeout(Duration::from_millis(300));
    let mut holder: Option<rusqlite::Connection> = None;
    let o = exporter
        .export(
            &request(&s, s.start_s(), s.end_s()),
            &CancelToken::new(),
            |p| {
                if p.step == Step::Finalizing && holder.is_none() {
                    let c = rusqlite::Connection::open(&s.db_path).unwrap();
                    c.execute_batch("BEGIN IMMEDIATE").unwrap();
                    holder = Some(c);
                }
            },
        )
        .unwrap();
    assert!(holder.is_some());
    let warning = o
        .warnings
        .iter()
        .find(|w| matches!(w, Warning::CatalogueNotUpdated { .. }))
        .expect("a catalogue warning");
    assert!(
        warning.to_string().contains("held by another connection"),
        "{warning}"
    );
    assert!(o.video_path.is_file());
    assert_eq!(decode_errors(&o.video_path), "");
    assert_eq!(rows(&s), vec![(o.id.clone(), 1)]);
    drop(holder);
    let report = exporter.recover(&RecoveryOptions::default()).unwrap();
    assert_eq!(report.registered.len(), 1, "{report:?}");
    assert_eq!(report.registered[0].id, o.id);
    assert_eq!(rows(&s), vec![(o.id.clone(), 0)]);
    assert_eq!(files_under(&exports_dir(&s)), vec![o.video_path.clone()]);
}

#[test]
fn a_busy_catalogue_wait_is_cancellable_and_a_timeout_names_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let holder = rusqlite::Connection::open(&s.db_path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    // Default busy timeout (30 s): a cancel ends the wait at once.
    let token = CancelToken::new();
    let t = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        t.cancel();
    });
    let started = Instant::now();
    let e = exporter(&s)
        .export(&request(&s, s.start_s(), s.end_s()), &token, |_| {})
        .unwrap_err();
    canceller.join().unwrap();
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // A short busy timeout: a retryable error that says what is held.
    let e = exporter(&s)
        .with_busy_timeout(Duration::from_millis(200))
        .export(
            &request(&s, s.start_s(), s.end_s()),
            &CancelToken::new(),
            |_| {},
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Database, "{e}");
    assert!(e.retryable());
    let msg = e.to_string();
    assert!(
        msg.contains("write lock") && msg.contains("another connection"),
        "{msg}"
    );
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    assert_nothing_left(&s);
}

/// Inserts an in-progress row as another exporter would (no lock file).
fn foreign_row(s: &SampleStore, id: &str, video: &Path) {
    let conn = rusqlite::Connection::open(&s.db_path).unwrap();
    conn.execute(
        "INSERT INTO export (id, camera, name, date, video_path, thumb_path, in_progress) \
         VALUES (?1, 'front_door', 'x', 0, ?2, '', 1)",
        rusqlite::params![id, video.to_str().unwrap()],
    )
    .unwrap();
}

#[test]
fn rows_of_another_exporter_are_left_alone_unless_asked_then_judged_by_their_moov() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    let bytes = std::fs::read(&o.video_path).unwrap();
    let exports = exports_dir(&s);
    let complete = exports.join("other_complete.mp4");
    let partial = exports.join("other_partial.mp4");
    std::fs::write(&complete, &bytes).unwrap();
    // A writer that died half-way: the file ends inside a box.
    std::fs::write(&partial, &bytes[..bytes.len() / 2]).unwrap();
    foreign_row(&s, "other_complete", &complete);
    foreign_row(&s, "other_partial", &partial);

    let ex = exporter(&s);
    let report = ex.recover(&RecoveryOptions::default()).unwrap();
    assert_eq!(report.foreign, vec!["other_complete", "other_partial"]);
    assert!(!report.acted());
    assert!(partial.exists() && complete.exists());

    let report = ex
        .recover(&RecoveryOptions {
            foreign_stale_after: Some(Duration::ZERO),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.registered.len(), 1);
    assert_eq!(report.registered[0].id, "other_complete");
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].id, "other_partial");
    assert!(!partial.exists() && complete.exists());
    assert_eq!(
        rows(&s),
        vec![(o.id.clone(), 0), ("other_complete".to_string(), 0)]
    );
}
