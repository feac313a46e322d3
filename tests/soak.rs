//! Exports and cancellations in random order, side by side, while another
//! connection keeps writing to the catalogue. Afterwards every finished
//! export decodes and every failed or cancelled one left nothing behind.
//! A few seconds in `make test`; `make soak` runs it for a minute
//! (`NVR_SOAK_SECONDS`).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use nvr_export::{CancelToken, ErrorKind, Step, WriterChoice};

#[test]
fn concurrent_exports_cancels_and_a_busy_catalogue() {
    let seconds: u64 = std::env::var("NVR_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 6);
    let stop = Arc::new(AtomicBool::new(false));
    // Another writer on the catalogue (the NVR inserting review items).
    let writer = {
        let (db, stop) = (s.db_path.clone(), stop.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                conn.execute(
                    "INSERT INTO reviewsegment (id, camera, start_time, end_time, severity, thumb_path, data) \
                     VALUES (?1, 'front_door', ?2, ?3, 'alert', '', '{}')",
                    rusqlite::params![format!("soak-{n}"), T0 + 1.0, T0 + 3.0],
                )
                .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            n
        })
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut done = Vec::new();
    let mut round = 0u64;
    while Instant::now() < until {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                let mut rng = fastrand::Rng::with_seed(round * 8 + i);
                std::thread::spawn(move || {
                    let token = CancelToken::new();
                    let cancel_at = rng.bool().then(|| rng.f64() * 100.0);
                    let writer = if rng.bool() {
                        WriterChoice::Auto
                    } else {
                        WriterChoice::Libav
                    };
                    let start = s.start_s() + rng.f64() * 4.0;
                    let t = token.clone();
                    let r = exporter(&s).with_writer(writer).export(
                        &request(&s, start, s.end_s() - rng.f64() * 3.0),
                        &token,
                        move |p| {
                            if cancel_at.is_some_and(|c| p.step == Step::Copying && p.percent >= c)
                            {
                                t.cancel();
                            }
                        },
                    );
                    (cancel_at.is_some(), r)
                })
            })
            .collect();
        for h in handles {
            let (cancelling, r) = h.join().unwrap();
            match r {
                Ok(o) => done.push(o),
                Err(e) => assert!(
                    cancelling && e.kind() == ErrorKind::Cancelled,
                    "unexpected failure: {e}"
                ),
            }
        }
        round += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let reviews = writer.join().unwrap();
    assert!(reviews > 0 && !done.is_empty());
    // Every finished export decodes; nothing else is in the folder; the
    // rows are exactly the finished ones, all done.
    let mut files = files_under(&s.media_dir.join("exports"));
    files.sort();
    let mut expected: Vec<_> = done.iter().map(|o| o.video_path.clone()).collect();
    expected.sort();
    assert_eq!(files, expected);
    let mut rows = export_rows(&s);
    rows.sort();
    let mut want: Vec<(String, i64)> = done.iter().map(|o| (o.id.clone(), 0)).collect();
    want.sort();
    assert_eq!(rows, want);
    let step = (done.len() / 10).max(1);
    for o in done.iter().step_by(step) {
        assert_eq!(
            decode_errors(&o.video_path),
            "",
            "{}",
            o.video_path.display()
        );
    }
    eprintln!(
        "soak: {round} rounds, {} finished, {reviews} catalogue writes",
        done.len()
    );
}
