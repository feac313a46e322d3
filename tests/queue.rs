//! The export queue: limits, order, cancellation, subscribers, recovery.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use nvr_export::sample::SampleStore;
use nvr_export::{
    ErrorKind, ExportQueue, ExportRequest, Exporter, JobEvent, JobState, ManualClock, QueueConfig,
    RecoveryOptions,
};

const LONG: Duration = Duration::from_secs(60);

fn config(max_concurrent: usize) -> QueueConfig {
    QueueConfig {
        max_concurrent,
        progress_interval: Duration::from_millis(100),
        ..QueueConfig::default()
    }
}

/// A queue over `s` whose exports write at most `rate` bytes a second.
fn queue(s: &SampleStore, cfg: QueueConfig, rate: u64) -> ExportQueue {
    let (q, report) = ExportQueue::start(exporter(s).with_max_rate(rate), cfg).unwrap();
    assert!(!report.acted());
    q
}

fn req(s: &SampleStore, id: &str) -> ExportRequest {
    ExportRequest {
        id: Some(id.into()),
        ..request(s, s.start_s(), s.end_s())
    }
}

/// Records every event a subscriber gets.
fn recorder(q: &ExportQueue) -> Arc<Mutex<Vec<JobEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    q.subscribe(move |e| s2.lock().unwrap().push(e.clone()));
    seen
}

fn states(seen: &Mutex<Vec<JobEvent>>) -> Vec<(String, JobState)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            JobEvent::State { job } => Some((job.id.clone(), job.state)),
            _ => None,
        })
        .collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + LONG;
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn running_and_copying(q: &ExportQueue, id: &str) -> bool {
    q.get(id)
        .is_some_and(|j| j.state == JobState::Running && j.step == Some(nvr_export::Step::Copying))
}

#[test]
fn a_full_waiting_line_refuses_at_once_and_jobs_start_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 4);
    let q = queue(
        &s,
        QueueConfig {
            max_waiting: 2,
            // Stands still: no job leaves the list before the checks.
            clock: Arc::new(ManualClock::default()),
            ..config(1)
        },
        40_000,
    );
    let seen = recorder(&q);
    q.submit(req(&s, "front_door_q1")).unwrap();
    wait_until("q1 running", || running_and_copying(&q, "front_door_q1"));
    q.submit(req(&s, "front_door_q2")).unwrap();
    q.submit(req(&s, "front_door_q3")).unwrap();
    let t = Instant::now();
    let e = q.submit(req(&s, "front_door_q4")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull, "{e}");
    assert!(e.retryable());
    assert!(t.elapsed() < Duration::from_secs(1));
    // A duplicate id is refused too.
    q.cancel("front_door_q1");
    let e = q.submit(req(&s, "front_door_q2"));
    assert!(e.is_err());
    assert!(q.wait_idle(LONG));
    // One worker: q2 started after q1 ended, q3 after q2.
    let order: Vec<String> = states(&seen)
        .into_iter()
        .filter(|(_, st)| *st == JobState::Running)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        order,
        vec!["front_door_q1", "front_door_q2", "front_door_q3"]
    );
    let finals: Vec<JobState> = ["front_door_q1", "front_door_q2", "front_door_q3"]
        .iter()
        .map(|id| q.get(id).unwrap().state)
        .collect();
    assert_eq!(
        finals,
        vec![JobState::Cancelled, JobState::Success, JobState::Success]
    );
    q.shutdown();
}

#[test]
fn concurrency_never_exceeds_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    let q = queue(&s, config(2), 300_000);
    let seen = recorder(&q);
    for i in 0..6 {
        q.submit(req(&s, &format!("front_door_c{i}"))).unwrap();
    }
    assert!(q.wait_idle(LONG));
    q.shutdown();
    // Measured from the state changes, in the order they happened.
    let (mut running, mut peak) = (0i32, 0i32);
    for (_, st) in states(&seen) {
        match st {
            JobState::Running => running += 1,
            JobState::Success | JobState::Failed | JobState::Cancelled => running -= 1,
            JobState::Queued => {}
        }
        peak = peak.max(running);
    }
    assert_eq!(peak, 2);
    assert_eq!(running, 0);
    let rows = export_rows(&s);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|(_, p)| *p == 0));
}

#[test]
fn cancel_queued_and_running_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 4);
    let q = queue(&s, config(1), 20_000);
    q.submit(req(&s, "front_door_r1")).unwrap();
    q.submit(req(&s, "front_door_r2")).unwrap();
    wait_until("r1 copying", || running_and_copying(&q, "front_door_r1"));
    assert!(q.cancel("front_door_r2"));
    assert_eq!(q.get("front_door_r2").unwrap().state, JobState::Cancelled);
    let t = Instant::now();
    assert!(q.cancel("front_door_r1"));
    let done = q.wait("front_door_r1", LONG).unwrap();
    let took = t.elapsed();
    eprintln!("running job cancelled in {took:?}");
    assert_eq!(done.state, JobState::Cancelled);
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert!(!q.cancel("front_door_r1"), "already finished");
    q.shutdown();
    assert_nothing_left(&s);
}

#[test]
fn cancel_case_cancels_only_that_cases_queued_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let q = queue(&s, config(1), 20_000);
    q.submit(req(&s, "front_door_k0")).unwrap();
    wait_until("k0 running", || running_and_copying(&q, "front_door_k0"));
    for (id, case) in [
        ("front_door_k1", "case1"),
        ("front_door_k2", "case2"),
        ("front_door_k3", "case1"),
    ] {
        q.submit(ExportRequest {
            export_case_id: Some(case.into()),
            ..req(&s, id)
        })
        .unwrap();
    }
    assert_eq!(
        q.cancel_case("case1"),
        vec!["front_door_k1", "front_door_k3"]
    );
    let st = |id| q.get(id).unwrap().state;
    assert_eq!(st("front_door_k1"), JobState::Cancelled);
    assert_eq!(st("front_door_k3"), JobState::Cancelled);
    assert_eq!(st("front_door_k2"), JobState::Queued);
    assert_eq!(st("front_door_k0"), JobState::Running);
    q.shutdown();
    assert_nothing_left(&s);
}

#[test]
fn a_panicking_or_slow_subscriber_stalls_no_worker() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 2);
    let q = queue(&s, config(2), 0);
    q.subscribe(|_| panic!("a subscriber bug"));
    // A subscriber stuck until the test lets it go.
    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let stuck_seen = Arc::new(Mutex::new(0usize));
    {
        let (gate, stuck_seen) = (gate.clone(), stuck_seen.clone());
        q.subscribe(move |_| {
            drop(gate.lock().unwrap());
            *stuck_seen.lock().unwrap() += 1;
        });
    }
    let seen = recorder(&q);
    for i in 0..4 {
        q.submit(req(&s, &format!("front_door_p{i}"))).unwrap();
    }
    // Every job finishes while one subscriber is stuck on its first event.
    assert!(q.wait_idle(LONG));
    for i in 0..4 {
        assert_eq!(
            q.get(&format!("front_door_p{i}")).unwrap().state,
            JobState::Success
        );
    }
    assert_eq!(*stuck_seen.lock().unwrap(), 0);
    // Queued, running, success for each, despite the panicking neighbour.
    wait_until("the recorder to hear every change", || {
        states(&seen).len() == 12
    });
    drop(held);
    wait_until("the stuck subscriber to catch up", || {
        *stuck_seen.lock().unwrap() >= 12
    });
}

#[test]
fn finished_jobs_leave_the_live_list_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 1);
    let clock = Arc::new(ManualClock::default());
    let q = queue(
        &s,
        QueueConfig {
            clock: clock.clone(),
            ..config(1)
        },
        0,
    );
    q.submit(req(&s, "front_door_f1")).unwrap();
    let done = q.wait("front_door_f1", LONG).unwrap();
    assert_eq!(done.state, JobState::Success);
    assert!(done.result.unwrap().video_path.is_file());
    assert!(done.finished_at_s.unwrap() >= done.started_at_s.unwrap());
    clock.advance(Duration::from_millis(4900));
    assert!(q.get("front_door_f1").is_some());
    assert_eq!(q.jobs().len(), 1);
    clock.advance(Duration::from_millis(200));
    assert!(q.get("front_door_f1").is_none());
    assert!(q.jobs().is_empty());
}

#[test]
fn eight_exports_at_once_while_another_connection_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 3);
    let q = queue(&s, config(8), 0);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (s.db_path.clone(), stop.clone());
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(db).unwrap();
            conn.busy_timeout(Duration::from_secs(30)).unwrap();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                conn.execute(
                    "INSERT INTO reviewsegment (id, camera, start_time, end_time, severity, thumb_path, data) \
                     VALUES (?1, 'front_door', ?2, ?3, 'alert', '', '{}')",
                    rusqlite::params![format!("w{n}"), T0 + 1.0, T0 + 2.0],
                )
                .unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            n
        })
    };
    let ids: Vec<String> = (0..8)
        .map(|i| q.submit(req(&s, &format!("front_door_e{i}"))).unwrap())
        .collect();
    assert!(q.wait_idle(LONG));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 0);
    for id in &ids {
        let j = q.get(id).unwrap();
        assert_eq!(j.state, JobState::Success, "{:?}", j.error);
        let video = j.result.unwrap().video_path;
        assert_eq!(decode_errors(&video), "");
    }
    let rows = export_rows(&s);
    assert_eq!(rows.len(), 8);
    assert!(rows.iter().all(|(_, p)| *p == 0));
}

#[test]
fn start_up_recovery_can_requeue_a_dead_export() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 2.0, 4);
    // A CLI export killed mid-copy.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_nvr-export"))
        .arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .args(["--camera", &s.camera, "--id", "front_door_dead02", "--json"])
        .args([
            "--start",
            &s.start_s().to_string(),
            "--end",
            &s.end_s().to_string(),
        ])
        .args(["--max-rate", "20k"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let exports = s.media_dir.join("exports");
    wait_until("a partial file", || {
        files_under(&exports)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "part"))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(export_rows(&s), vec![("front_door_dead02".to_string(), 1)]);

    let (q, report) = ExportQueue::start(
        Exporter::new(nvr_export::Layout::new(&s.db_path, &s.media_dir)),
        QueueConfig {
            recovery: RecoveryOptions {
                requeue: true,
                ..Default::default()
            },
            ..config(1)
        },
    )
    .unwrap();
    // Removed, or (when its resume journal was already written) kept to be
    // resumed: either way handed back to the queue.
    assert_eq!(report.removed.len() + report.resumable.len(), 1);
    assert_eq!(report.requeue.len(), 1);
    let done = q.wait("front_door_dead02", LONG).unwrap();
    assert_eq!(done.state, JobState::Success, "{:?}", done.error);
    assert_eq!(export_rows(&s), vec![("front_door_dead02".to_string(), 0)]);
    let files = files_under(&exports);
    assert_eq!(files, vec![done.result.unwrap().video_path]);
}
