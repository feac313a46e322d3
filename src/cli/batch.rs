//! `batch FILE.json`: many exports through the queue, with one progress bar
//! per running job (or `--json` events tagged by job id).
//!
//! The file is a JSON array of requests, each as the library's
//! `ExportRequest`: `{"camera": "front_door", "start": 1700000000,
//! "end": 1700000600, "name": ..., "id": ..., "timezone": ...,
//! "chapters": "review_items", "export_case_id": ...}`.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use nvr_export::{
    CancelToken, ExportQueue, ExportRequest, Exporter, JobEvent, JobInfo, JobState, QueueConfig,
    Source,
};
use serde_json::json;

use super::events::Event;

/// The jobs with the operator's allowlist: a job file may not widen it
/// (whoever writes a job would choose the hosts contacted).
fn with_operator_hosts(
    mut requests: Vec<ExportRequest>,
    allow_hosts: &[String],
) -> Result<Vec<ExportRequest>, String> {
    for (i, r) in requests.iter_mut().enumerate() {
        if let Source::Hls(h) = &mut r.source {
            if !h.allow_hosts.is_empty() {
                return Err(format!(
                    "job {i} sets allow_hosts {:?}: only the operator's --allow-host may widen \
                     the hosts an export contacts",
                    h.allow_hosts
                ));
            }
            h.allow_hosts = allow_hosts.to_vec();
        }
    }
    Ok(requests)
}

/// Runs every request of `file` through a queue of `max_concurrent` workers;
/// `allow_hosts` (the operator's `--allow-host`) applies to every HLS job.
pub fn run(
    exporter: Exporter,
    file: &Path,
    max_concurrent: usize,
    allow_hosts: &[String],
    json: bool,
) -> ExitCode {
    let requests: Vec<ExportRequest> = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .and_then(|r| with_operator_hosts(r, allow_hosts))
    {
        Ok(r) => r,
        Err(e) => {
            let message = format!(
                "{}: not a batch of export requests ({e}); \
                 e.g. [{{\"camera\": \"front_door\", \"start\": 1700000000, \"end\": 1700000600}}]",
                file.display()
            );
            if json {
                println!(
                    "{}",
                    json!({"event": "error", "kind": "invalid_batch", "message": message})
                );
            } else {
                eprintln!("error: {message}");
            }
            return ExitCode::from(2);
        }
    };
    let cancel = CancelToken::new();
    super::install_signal_handlers(&cancel);
    let config = QueueConfig {
        max_concurrent: max_concurrent.max(1),
        max_waiting: requests.len().max(1),
        progress_interval: if json {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        },
        ..QueueConfig::default()
    };
    let (queue, report) = match ExportQueue::start(exporter, config) {
        Ok(q) => q,
        Err(e) => {
            if json {
                Event::error(&e).emit();
            } else {
                eprintln!("error ({}): {e}", e.kind());
            }
            return ExitCode::FAILURE;
        }
    };
    if report.acted() {
        if json {
            Event::Recovered(&report).emit();
        } else {
            super::human::print_recovery(&report);
        }
    }
    if json {
        queue.subscribe(emit_json);
    } else {
        let bars = Bars::new();
        queue.subscribe(move |e| bars.show(e));
    }
    let mut ids = Vec::new();
    let mut refused = 0;
    for req in requests {
        match queue.submit(req) {
            Ok(id) => ids.push(id),
            Err(e) => {
                refused += 1;
                if json {
                    Event::error(&e).emit();
                } else {
                    eprintln!("refused ({}): {e}", e.kind());
                }
            }
        }
    }
    while !queue.wait_idle(Duration::from_millis(10)) {
        if cancel.is_cancelled() {
            for id in &ids {
                queue.cancel(id);
            }
        }
    }
    let finals: Vec<JobInfo> = ids.iter().filter_map(|id| queue.get(id)).collect();
    queue.shutdown();
    let ok = finals
        .iter()
        .filter(|j| j.state == JobState::Success)
        .count();
    if !json {
        println!("{ok} of {} exports done", ids.len() + refused);
    }
    if ok == ids.len() && refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn emit_json(e: &JobEvent) {
    let line = match e {
        JobEvent::Progress { job } => json!({
            "event": "progress", "job": job.id, "step": job.step,
            "percent": (job.percent * 100.0).round() / 100.0,
        }),
        JobEvent::State { job } => json!({
            "event": job.state, "job": job.id, "camera": job.camera,
            // When this state began, unix seconds.
            "at": job.finished_at_s.or(job.started_at_s).unwrap_or(job.queued_at_s),
            "error": job.error, "result": job.result,
        }),
    };
    println!("{line}");
}

/// One bar per running job, under indicatif's MultiProgress (stderr).
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl Bars {
    fn new() -> Arc<Bars> {
        Arc::new(Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            style: ProgressStyle::with_template(
                "{prefix:>24} {msg:>11} [{bar:30.cyan/blue}] {percent:>3}% {elapsed_precise}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        })
    }

    fn show(&self, e: &JobEvent) {
        let job = e.job();
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match job.state {
            JobState::Queued => {}
            JobState::Running => {
                let bar = bars.entry(job.id.clone()).or_insert_with(|| {
                    let b = self.multi.add(ProgressBar::new(1000));
                    b.set_style(self.style.clone());
                    b.set_prefix(job.id.clone());
                    b
                });
                if let Some(step) = job.step {
                    bar.set_message(step.as_str());
                }
                bar.set_position((job.percent * 10.0).round() as u64);
            }
            finished => {
                let line = match (finished, &job.result, &job.error) {
                    (JobState::Success, Some(o), _) => {
                        format!("{}: done {}", job.id, o.video_path.display())
                    }
                    (_, _, Some(err)) => {
                        format!("{}: failed ({}): {}", job.id, err.kind, err.message)
                    }
                    _ => format!("{}: {:?}", job.id, finished).to_lowercase(),
                };
                if let Some(bar) = bars.remove(&job.id) {
                    bar.finish_and_clear();
                }
                // Bars are hidden when stderr is not a terminal; lines are not.
                if self.multi.is_hidden() {
                    eprintln!("{line}");
                } else {
                    let _ = self.multi.println(line);
                }
            }
        }
    }
}
