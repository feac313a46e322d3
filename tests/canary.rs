//! A canary tree outside every folder the engine may touch, reached from
//! hostile catalogue rows and planted files: symlinks out of every root,
//! dangling links, FIFOs where files are expected, ids that climb out of
//! the export folder, a row that cannot be read. Export, preview export,
//! the queue, recovery and migration run over it (each under a watchdog: a
//! FIFO opened blocking would hang them), and afterwards every canary is
//! byte for byte and link for link what it was, and every refusal is named.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use nvr_export::sample::{self, previews};
use nvr_export::{
    CancelToken, ExportQueue, ExportRequest, Exporter, Layout, QueueConfig, RecoveryOptions, Source,
};

/// Runs `f` on a thread; fails the test if it takes over `secs`.
fn watchdog<T: Send + 'static>(what: &str, secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| {
            panic!("{what} did not finish in {secs} s (blocked on a FIFO? spinning?)")
        })
}

/// Every file and link under `dir`: content (files), target (links), kind.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let what = if meta.file_type().is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            format!(
                "file {} bytes, sum {}, mtime {:?}",
                bytes.len(),
                bytes.iter().map(|&b| b as u64).sum::<u64>(),
                meta.modified().unwrap()
            )
        } else {
            format!("{:?}", meta.file_type())
        };
        out.insert(path, what);
    }
    out
}

fn link(target: &Path, at: &Path) {
    std::os::unix::fs::symlink(target, at).unwrap();
}

#[test]
fn nothing_outside_the_folders_is_touched_and_every_refusal_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 4.0, 3);
    let canary = dir.path().join("canary");
    std::fs::create_dir_all(&canary).unwrap();
    std::fs::copy(&s.recordings[0].path, canary.join("secret.mp4")).unwrap();
    std::fs::write(canary.join("passwd"), b"root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(canary.join("doc.txt"), b"a user's document\n").unwrap();
    let cache = dir.path().join("cache");
    let real_frame = previews::add_cached_frame(&cache, &s.camera, T0 + 1.0, 1).unwrap();
    previews::add_cached_frame(&cache, &s.camera, T0 + 2.0, 2).unwrap();
    std::fs::copy(&real_frame, canary.join("image.webp")).unwrap();

    // Recordings: one outside, one through a symlink out, one a FIFO.
    let recs = s.media_dir.join("recordings/hostile");
    std::fs::create_dir_all(&recs).unwrap();
    link(&canary.join("secret.mp4"), &recs.join("link.mp4"));
    sample::mkfifo(&recs.join("fifo.mp4")).unwrap();
    let db = rusqlite::Connection::open(&s.db_path).unwrap();
    for (id, path, at) in [
        ("out", canary.join("secret.mp4"), 1.0),
        ("link", recs.join("link.mp4"), 2.0),
        ("fifo", recs.join("fifo.mp4"), 3.0),
    ] {
        db.execute(
            "INSERT INTO recordings (id, camera, path, start_time, end_time, duration, segment_size) \
             VALUES (?1, ?2, ?3, ?4, ?5, 4, 0)",
            rusqlite::params![id, s.camera, path.to_str().unwrap(), T0 + at, T0 + at + 4.0],
        )
        .unwrap();
    }
    // Export rows in progress: a video outside, an id that climbs out, a
    // row that cannot be read, an id whose lock file is a planted symlink.
    let exports = s.media_dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    let inside = |name: &str| exports.join(name).to_str().unwrap().to_string();
    for (id, video, date) in [
        (
            "evil_out",
            canary.join("doc.txt").to_str().unwrap().to_string(),
            "1",
        ),
        ("../../canary/x", inside("x.mp4"), "1"),
        ("text_date", inside("t.mp4"), "yesterday"),
        ("evil_lock", inside("l.mp4"), "1"),
    ] {
        db.execute(
            "INSERT INTO export (id, camera, name, date, video_path, thumb_path, in_progress) \
             VALUES (?1, ?2, 'n', ?3, ?4, '', 1)",
            rusqlite::params![id, s.camera, date, video],
        )
        .unwrap();
    }
    drop(db);
    link(&canary.join("passwd"), &exports.join(".evil_lock.lock"));
    link(&dir.path().join("nowhere"), &exports.join(".dangling.lock"));
    link(&canary.join("doc.txt"), &exports.join(".dead.abc123.part"));
    link(&canary.join("secret.mp4"), &exports.join("link.mp4"));
    link(&canary.join("passwd"), &exports.join("passwd.mp4"));
    sample::mkfifo(&exports.join("fifo.mp4")).unwrap();
    // Cached frames: a link out of the folder, a FIFO.
    let frames = cache.join("preview_frames");
    link(
        &canary.join("image.webp"),
        &frames.join(format!("preview_{}-{}.webp", s.camera, T0 + 1.5)),
    );
    sample::mkfifo(&frames.join(format!("preview_{}-{}.webp", s.camera, T0 + 1.7))).unwrap();

    let before = snapshot(&canary);
    let mut layout = Layout::new(&s.db_path, &s.media_dir);
    layout.cache_dir = cache.clone();
    let exporter = Exporter::new(layout);

    // Recovery, told to judge rows no lock owns at once.
    let ex = exporter.clone();
    let report = watchdog("recover", 60, move || {
        ex.recover(&RecoveryOptions {
            requeue: false,
            foreign_stale_after: Some(Duration::ZERO),
        })
    })
    .expect("recovery runs");
    let refused: Vec<String> = report
        .refused
        .iter()
        .map(|r| format!("{} {}", r.id, r.reason))
        .collect();
    for (id, why) in [
        ("evil_out", "outside the export folder"),
        ("../../canary/x", "may only contain"),
        ("text_date", "cannot be read"),
        ("evil_lock", "symlink"),
        ("dangling", "symlink"),
    ] {
        assert!(
            refused.iter().any(|r| r.starts_with(id) && r.contains(why)),
            "{id} not refused for {why:?}: {refused:#?}"
        );
    }

    // An export over the hostile recordings: the three named, the rest exported.
    let ex = exporter.clone();
    let req = request(&s, T0 - 1.0, T0 + 13.0);
    let o = watchdog("export", 120, move || {
        ex.export(&req, &CancelToken::new(), |_| {})
    })
    .expect("the good segments are exported");
    let skipped: Vec<String> = o.skipped.iter().map(|k| k.to_string()).collect();
    for (name, why) in [
        ("secret.mp4", "outside the media folder"),
        ("link.mp4", "outside the media folder"),
        ("fifo.mp4", "not a regular file"),
    ] {
        assert!(
            skipped.iter().any(|k| k.contains(name) && k.contains(why)),
            "{name} not skipped for {why:?}: {skipped:#?}"
        );
    }

    // A preview export reading the cached frames.
    let ex = exporter.clone();
    let req = ExportRequest {
        source: Source::Preview,
        ..request(&s, T0, T0 + 3.0)
    };
    let o = watchdog("preview export", 120, move || {
        ex.export(&req, &CancelToken::new(), |_| {})
    })
    .expect("the real frames are exported");
    let skipped: Vec<String> = o.skipped.iter().map(|k| k.to_string()).collect();
    assert!(
        skipped
            .iter()
            .any(|k| k.contains("-1718000001.5.webp") && k.contains("outside")),
        "{skipped:#?}"
    );
    assert!(
        skipped
            .iter()
            .any(|k| k.contains("-1718000001.7.webp") && k.contains("FIFO")),
        "{skipped:#?}"
    );

    // Migration: the links out and the FIFO named, nothing registered from them.
    let ex = exporter.clone();
    let m = watchdog("migrate", 60, move || ex.migrate(&CancelToken::new())).expect("migrate");
    let skipped: Vec<String> = m.skipped.iter().map(|k| k.to_string()).collect();
    for name in ["link.mp4", "passwd.mp4", "fifo.mp4"] {
        assert!(
            skipped.iter().any(|k| k.contains(name)),
            "{name}: {skipped:#?}"
        );
        assert!(
            m.added.iter().all(|a| !a.video_path.ends_with(name)),
            "{name} registered"
        );
    }

    // The queue: an export through it, with its start-up recovery.
    let ex = exporter.clone();
    let req = request(&s, T0, T0 + 8.0);
    let state = watchdog("queue", 120, move || {
        let (queue, _) = ExportQueue::start(ex, QueueConfig::default()).expect("queue starts");
        let id = queue.submit(req).expect("submitted");
        let info = queue
            .wait(&id, Duration::from_secs(100))
            .expect("job known");
        queue.shutdown();
        info.state
    });
    assert_eq!(state, nvr_export::JobState::Success);

    assert_eq!(snapshot(&canary), before, "the canary tree changed");
    // The planted links are still there, pointing where they did.
    for name in [
        ".evil_lock.lock",
        ".dangling.lock",
        "link.mp4",
        "passwd.mp4",
    ] {
        assert!(
            std::fs::symlink_metadata(exports.join(name)).is_ok(),
            "{name} was removed"
        );
    }
}

#[test]
fn two_migrations_at_once_register_each_file_once_and_names_obey_the_export_rules() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 2.0, 1);
    let exports = s.media_dir.join("exports");
    std::fs::create_dir_all(&exports).unwrap();
    for i in 0..4 {
        std::fs::copy(&s.recordings[0].path, exports.join(format!("bare_{i}.mp4"))).unwrap();
    }
    let long = "x".repeat(240);
    for bad in ["ctl\u{7}name", "bidi\u{202e}4pm.exe", long.as_str()] {
        std::fs::copy(&s.recordings[0].path, exports.join(format!("{bad}.mp4"))).unwrap();
    }
    let exporter = Exporter::new(Layout::new(&s.db_path, &s.media_dir));
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let ex = exporter.clone();
            std::thread::spawn(move || ex.migrate(&CancelToken::new()).expect("migrate"))
        })
        .collect();
    let reports: Vec<_> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    let added: usize = reports.iter().map(|r| r.added.len()).sum();
    assert_eq!(added, 4, "each bare file once: {reports:#?}");
    let db = rusqlite::Connection::open(&s.db_path).unwrap();
    let rows: i64 = db
        .query_row("SELECT count(*) FROM export", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 4);
    let thumbs = std::fs::read_dir(s.media_dir.join("clips/export"))
        .unwrap()
        .count();
    assert_eq!(thumbs, 4, "one thumbnail a file");
    // The names no export may have are refused, by the export's reason.
    let skipped: Vec<String> = reports
        .iter()
        .flat_map(|r| r.skipped.iter().map(|k| k.to_string()))
        .collect();
    for bad in ["ctl", "bidi", "xxxxxxxx"] {
        assert!(
            skipped
                .iter()
                .any(|k| k.contains(bad) && k.contains("cannot be a catalogue name")),
            "{bad}: {skipped:#?}"
        );
    }
}
