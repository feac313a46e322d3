//! `nvr_export._native`: the native half of the Python module.
//!
//! Deliberately thin. Requests go in and results come out as JSON text (the
//! same shapes as the CLI's batch jobs and `--json` events, serialised by
//! the engine's own types), and the Python half (`nvr_export/__init__.py`)
//! turns them into typed objects and exception classes. What has to be
//! native is here:
//!
//! * **The GIL.** Every engine call runs with the GIL released
//!   ([`Python::detach`]); the progress and subscriber callbacks take it
//!   back only for the call.
//! * **Ctrl-C.** An export runs on a scoped worker thread while the calling
//!   thread waits in 50 ms slices, checking Python's signals between them:
//!   a `KeyboardInterrupt` cancels the export (it stops at its next packet
//!   and cleans up), the thread waits for it to finish, then the interrupt
//!   is raised. Nothing is left behind either way.
//! * **Errors** become `NativeError(kind, retryable, message)`, `kind` being
//!   the engine's stable [`nvr_export::ErrorKind`] name.
//!
//! Lock order: the GIL is never held while waiting on an engine lock (every
//! queue call detaches first), so a worker calling back into Python can
//! always get it.

use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use nvr_export as engine;

pyo3::create_exception!(
    _native,
    NativeError,
    PyException,
    "An engine error: args are (kind, retryable, message)."
);

/// How often a waiting call looks at Python's signals.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

fn engine_error(e: engine::Error) -> PyErr {
    NativeError::new_err((e.kind().as_str(), e.retryable(), e.to_string()))
}

fn json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// The `done` record as JSON, its warnings as `{kind, message}` objects.
fn done_json(outcome: &engine::ExportOutcome) -> PyResult<String> {
    let mut record = serde_json::to_value(outcome.record())
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    record["warnings"] = outcome
        .warnings
        .iter()
        .map(|w| serde_json::json!({"kind": w.kind(), "message": w.to_string()}))
        .collect();
    json(&record)
}

/// A job snapshot as JSON, its result as the `done` record.
fn job_value(info: &engine::JobInfo) -> PyResult<serde_json::Value> {
    let mut value =
        serde_json::to_value(info).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    if let Some(outcome) = &info.result {
        value["result"] = serde_json::from_str(&done_json(outcome)?)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    }
    Ok(value)
}

/// Runs `work` on a scoped thread with the GIL released, checking Python's
/// signals every [`SIGNAL_SLICE`]; on an interrupt, cancels `cancel`, waits
/// for `work` to return and raises the interrupt.
fn run_interruptible<T: Send>(
    py: Python<'_>,
    cancel: &engine::CancelToken,
    work: impl FnOnce() -> engine::Result<T> + Send,
) -> PyResult<T> {
    let outcome: Result<engine::Result<T>, PyErr> = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            scope.spawn(move || {
                let _ = tx.send(work());
            });
            loop {
                match rx.recv_timeout(SIGNAL_SLICE) {
                    Ok(result) => return Ok(result),
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        if let Err(interrupt) = Python::attach(|py| py.check_signals()) {
                            cancel.cancel();
                            let _ = rx.recv();
                            return Err(interrupt);
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        return Err(PyRuntimeError::new_err("the export thread died"));
                    }
                }
            }
        })
    });
    outcome?.map_err(engine_error)
}

/// A flag that stops a running export at its next packet. Any thread may
/// call `cancel()`.
#[pyclass(frozen, module = "nvr_export._native")]
struct CancelToken(engine::CancelToken);

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> CancelToken {
        CancelToken(engine::CancelToken::new())
    }

    fn cancel(&self) {
        self.0.cancel();
    }

    #[getter]
    fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The engine over one NVR layout.
#[pyclass(frozen, module = "nvr_export._native")]
struct Exporter(Arc<engine::Exporter>);

#[pymethods]
impl Exporter {
    #[new]
    #[pyo3(signature = (db, media_dir, *, cache_dir=None, recordings_roots=Vec::new(),
                        exports_dir=None, clips_dir=None, progress_interval_s=0.25,
                        max_rate=None, index_cache_mib=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        db: PathBuf,
        media_dir: PathBuf,
        cache_dir: Option<PathBuf>,
        recordings_roots: Vec<PathBuf>,
        exports_dir: Option<PathBuf>,
        clips_dir: Option<PathBuf>,
        progress_interval_s: f64,
        max_rate: Option<u64>,
        index_cache_mib: u64,
    ) -> PyResult<Exporter> {
        if !(progress_interval_s.is_finite() && progress_interval_s >= 0.0) {
            return Err(PyValueError::new_err(
                "progress_interval_s must be a number of seconds >= 0",
            ));
        }
        let mut layout = engine::Layout::new(db, media_dir);
        if let Some(dir) = cache_dir {
            layout.cache_dir = dir;
        }
        layout.recording_roots = recordings_roots;
        layout.exports_dir = exports_dir;
        layout.clips_dir = clips_dir;
        let mut exporter = engine::Exporter::new(layout).with_throttle(engine::ProgressThrottle {
            interval: Duration::from_secs_f64(progress_interval_s),
        });
        if let Some(rate) = max_rate {
            if rate == 0 {
                return Err(PyValueError::new_err(
                    "max_rate must be at least 1 byte a second",
                ));
            }
            exporter = exporter.with_max_rate(rate);
        }
        exporter = exporter.with_index_cache(index_cache_mib.saturating_mul(1 << 20));
        Ok(Exporter(Arc::new(exporter)))
    }

    /// The index cache's counters as JSON (`null`: no cache).
    fn index_cache_stats(&self) -> String {
        match self.0.index_cache_stats() {
            None => "null".into(),
            Some(s) => format!(
                r#"{{"entries":{},"bytes":{},"hits":{},"misses":{}}}"#,
                s.entries, s.bytes, s.hits, s.misses
            ),
        }
    }

    /// Runs one export (`request`: an `ExportRequest` as JSON); returns the
    /// `done` record as JSON. `progress(step, percent)` is called on the
    /// export's thread with the GIL taken for the call.
    #[pyo3(signature = (request, progress=None, cancel=None))]
    fn export(
        &self,
        py: Python<'_>,
        request: &str,
        progress: Option<Py<PyAny>>,
        cancel: Option<&CancelToken>,
    ) -> PyResult<String> {
        let req: engine::ExportRequest =
            serde_json::from_str(request).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let cancel = cancel.map(|c| c.0.clone()).unwrap_or_default();
        let exporter = &self.0;
        let token = cancel.clone();
        let outcome = run_interruptible(py, &cancel, move || {
            exporter.export(&req, &token, |p: engine::Progress| {
                if let Some(callback) = &progress {
                    call_quietly(callback, (p.step.as_str(), p.percent));
                }
            })
        })?;
        done_json(&outcome)
    }

    /// Plans the stream-copy export `request` (JSON) as a virtual MP4:
    /// nothing is written; its bytes are read on demand.
    #[pyo3(signature = (request, cancel=None))]
    fn clip(&self, py: Python<'_>, request: &str, cancel: Option<&CancelToken>) -> PyResult<Clip> {
        let req: engine::ExportRequest =
            serde_json::from_str(request).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let cancel = cancel.map(|c| c.0.clone()).unwrap_or_default();
        let exporter = &self.0;
        let token = cancel.clone();
        let v = run_interruptible(py, &cancel, move || exporter.virtual_mp4(&req, &token))?;
        Ok(Clip(Arc::new(v)))
    }

    /// Registers bare files of the export folder (`MigrationReport` as JSON);
    /// `cameras`: the names to find in file names (default: the catalogue's).
    #[pyo3(signature = (cancel=None, cameras=None))]
    fn migrate(
        &self,
        py: Python<'_>,
        cancel: Option<&CancelToken>,
        cameras: Option<Vec<String>>,
    ) -> PyResult<String> {
        let cancel = cancel.map(|c| c.0.clone()).unwrap_or_default();
        let exporter = &self.0;
        let token = cancel.clone();
        let report = run_interruptible(py, &cancel, move || {
            exporter.migrate_cameras(cameras.as_deref(), &token)
        })?;
        json(&report)
    }

    /// Crash recovery (`RecoveryReport` as JSON); `foreign_after_s`: also
    /// settle rows in progress with no lock file whose file is that old.
    #[pyo3(signature = (foreign_after_s=None))]
    fn recover(&self, py: Python<'_>, foreign_after_s: Option<f64>) -> PyResult<String> {
        let options = engine::RecoveryOptions {
            foreign_stale_after: foreign_after_s
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
            ..engine::RecoveryOptions::default()
        };
        let exporter = &self.0;
        let report = run_interruptible(py, &engine::CancelToken::new(), move || {
            exporter.recover(&options)
        })?;
        json(&report)
    }
}

/// A virtual MP4 (see `nvr_export::VirtualMp4`): read-only, any offset.
#[pyclass(frozen, module = "nvr_export._native")]
struct Clip(Arc<engine::VirtualMp4>);

#[pymethods]
impl Clip {
    fn __len__(&self) -> usize {
        self.0.len() as usize
    }

    #[getter]
    fn etag(&self) -> String {
        self.0.etag().to_string()
    }

    #[getter]
    fn content_type(&self) -> &'static str {
        self.0.content_type()
    }

    /// Up to `size` bytes at `offset` (fewer only at the end), read with
    /// the GIL released.
    fn read_at<'py>(
        &self,
        py: Python<'py>,
        offset: u64,
        size: usize,
    ) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
        let size = size.min(self.0.len().saturating_sub(offset) as usize);
        let clip = &self.0;
        let mut buf = vec![0u8; size];
        let n = py
            .detach(|| clip.read_at(offset, &mut buf))
            .map_err(engine_error)?;
        buf.truncate(n);
        Ok(pyo3::types::PyBytes::new(py, &buf))
    }
}

/// Calls a Python callback from an engine thread. The Python half wraps
/// user callbacks so that they never raise; whatever still escapes is
/// reported as unraisable (Python's hook logs it), never into the export.
fn call_quietly<A>(callback: &Py<PyAny>, args: A)
where
    A: for<'py> pyo3::call::PyCallArgs<'py>,
{
    Python::attach(|py| {
        if let Err(e) = callback.call1(py, args) {
            e.write_unraisable(py, Some(callback.bind(py)));
        }
    });
}

/// Exports run by workers (`max_concurrent` at once, `max_waiting` more
/// waiting); events go to subscribers on threads of their own.
#[pyclass(frozen, module = "nvr_export._native")]
struct ExportQueue {
    queue: Mutex<Option<engine::ExportQueue>>,
    /// What start-up recovery did, as JSON.
    recovered: String,
}

/// A queue dropped without `shutdown()` (garbage-collected, with the GIL
/// held) shuts down with the GIL released: its subscriber threads may be
/// waiting for the GIL to deliver their last events.
impl Drop for ExportQueue {
    fn drop(&mut self) {
        let queue = match self.queue.get_mut() {
            Ok(q) => q.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(q) = queue {
            Python::attach(|py| py.detach(move || q.shutdown()));
        }
    }
}

impl ExportQueue {
    fn with<T>(&self, f: impl FnOnce(&engine::ExportQueue) -> T) -> PyResult<T> {
        let guard = self
            .queue
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the queue's lock is poisoned"))?;
        match guard.as_ref() {
            Some(q) => Ok(f(q)),
            None => Err(PyRuntimeError::new_err("the queue is shut down")),
        }
    }
}

#[pymethods]
impl ExportQueue {
    #[new]
    #[pyo3(signature = (exporter, *, max_concurrent=3, max_waiting=100, keep_finished_s=5.0,
                        progress_interval_s=1.0))]
    fn new(
        py: Python<'_>,
        exporter: &Exporter,
        max_concurrent: usize,
        max_waiting: usize,
        keep_finished_s: f64,
        progress_interval_s: f64,
    ) -> PyResult<ExportQueue> {
        let seconds = |what: &str, s: f64| {
            if s.is_finite() && s >= 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(PyValueError::new_err(format!(
                    "{what} must be seconds >= 0"
                )))
            }
        };
        if max_concurrent == 0 {
            return Err(PyValueError::new_err("max_concurrent must be at least 1"));
        }
        let config = engine::QueueConfig {
            max_concurrent,
            max_waiting,
            keep_finished: seconds("keep_finished_s", keep_finished_s)?,
            progress_interval: seconds("progress_interval_s", progress_interval_s)?,
            ..engine::QueueConfig::default()
        };
        let exporter = (*exporter.0).clone();
        let (queue, report) = py
            .detach(|| engine::ExportQueue::start(exporter, config))
            .map_err(engine_error)?;
        Ok(ExportQueue {
            queue: Mutex::new(Some(queue)),
            recovered: json(&report)?,
        })
    }

    #[getter]
    fn recovered(&self) -> String {
        self.recovered.clone()
    }

    /// Queues an export (`request` as JSON); returns its id.
    fn submit(&self, py: Python<'_>, request: &str) -> PyResult<String> {
        let req: engine::ExportRequest =
            serde_json::from_str(request).map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.detach(|| self.with(|q| q.submit(req)))?
            .map_err(engine_error)
    }

    /// Cancels a waiting or running job; false when there is no such job
    /// or it has finished.
    fn cancel(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        py.detach(|| self.with(|q| q.cancel(id)))
    }

    /// The live jobs (JSON list of `JobInfo`).
    fn jobs(&self, py: Python<'_>) -> PyResult<String> {
        let jobs = py.detach(|| self.with(|q| q.jobs()))?;
        json(&jobs.iter().map(job_value).collect::<PyResult<Vec<_>>>()?)
    }

    /// Waits up to `timeout_s` for job `id` to finish; its `JobInfo` as JSON,
    /// `None` when unknown or still running at the timeout.
    fn wait(&self, py: Python<'_>, id: &str, timeout_s: f64) -> PyResult<Option<String>> {
        let timeout = Duration::from_secs_f64(timeout_s.clamp(0.0, 1e9));
        let info = py.detach(|| self.with(|q| q.wait(id, timeout)))?;
        info.map(|i| json(&job_value(&i)?)).transpose()
    }

    /// Calls `callback(event_json)` for every state change and coalesced
    /// progress, on a thread of its own.
    fn subscribe(&self, py: Python<'_>, callback: Py<PyAny>) -> PyResult<()> {
        py.detach(|| {
            self.with(|q| {
                q.subscribe(move |event: &engine::JobEvent| {
                    let kind = match event {
                        engine::JobEvent::State { .. } => "state",
                        engine::JobEvent::Progress { .. } => "progress",
                    };
                    let text = job_value(event.job())
                        .and_then(|job| json(&serde_json::json!({"event": kind, "job": job})));
                    if let Ok(text) = text {
                        call_quietly(&callback, (text,));
                    }
                })
            })
        })
    }

    /// Cancels every job, waits for the workers and delivers the last
    /// events. Idempotent.
    fn shutdown(&self, py: Python<'_>) -> PyResult<()> {
        let queue = self
            .queue
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the queue's lock is poisoned"))?
            .take();
        if let Some(q) = queue {
            py.detach(|| q.shutdown());
        }
        Ok(())
    }
}

/// `(True, "")` when the NVR-style argument string passes the allowlist,
/// else `(False, why)`.
#[pyfunction]
fn validate_ffmpeg_args(py: Python<'_>, args: &str) -> (bool, String) {
    py.detach(|| match engine::transcode::args::parse("", args) {
        Ok(_) => (true, String::new()),
        Err(e) => (false, e.to_string()),
    })
}

/// Checks an export against its manifest (and signature, with `key`): the
/// engine's `Verification` as JSON, with its `exit_code`.
#[pyfunction]
#[pyo3(signature = (path, key=None))]
fn verify(py: Python<'_>, path: PathBuf, key: Option<PathBuf>) -> PyResult<String> {
    let v = py
        .detach(|| engine::verify(&path, key.as_deref()))
        .map_err(engine_error)?;
    let mut value = serde_json::to_value(&v).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    value["exit_code"] = v.exit_code().into();
    json(&value)
}

/// Writes a new signing key pair into `dir`; returns (secret, public) paths.
#[pyfunction]
fn keygen(py: Python<'_>, dir: PathBuf) -> PyResult<(PathBuf, PathBuf)> {
    py.detach(|| engine::keygen(&dir)).map_err(engine_error)
}

/// Whether `name` is an IANA time zone the engine knows.
#[pyfunction]
fn is_known_timezone(name: &str) -> bool {
    engine::is_known_timezone(name)
}

/// Which libav this module runs on, under which licence, with which
/// hardware encoders (JSON).
#[pyfunction]
fn libav_info() -> PyResult<String> {
    json(&serde_json::json!({
        "version": engine::hw::LIBAV_VERSION,
        "license": engine::hw::libav_license(),
        "hardware_encoders": engine::hw::available_encoders(),
    }))
}

/// Builds a sample store under `root` (a new folder) and describes it as
/// JSON (`db`, `media_dir`, `camera`, `start`, `end`, `recordings`).
/// `demo`: the README's demo (a minute with a gap, review items, the
/// hour's preview). `nvr`: recorded the way the NVR records (libav's
/// segment muxer, whole-second rows that overlap; 320x180 15 fps with
/// 16 kHz AAC; a 40 s session, a 20 s outage, a 30 s session whose audio
/// joins 2 s late), with a preview and a review item. `restart`: a camera
/// that sends its parameter sets in band, then restarts at another
/// resolution with them only in the file headers. `cameras`: two cameras
/// recorded so (`front_door` 24 s at 320x180, `back_yard` 15 s at 640x360
/// from 5 s later; the JSON names the first). For tests and trials.
#[pyfunction]
fn sample_store(py: Python<'_>, kind: &str, root: PathBuf) -> PyResult<String> {
    use engine::sample::{self, nvr::Session, AudioSpec, SegmentSpec};
    let store = py
        .detach(|| match kind {
            "demo" => sample::demo::demo_store(&root).map(Some),
            "nvr" => {
                let spec = |seconds_x1000| SegmentSpec {
                    audio: Some(AudioSpec {
                        sample_rate: 16_000,
                        ..AudioSpec::default()
                    }),
                    gop: 30,
                    seconds_x1000,
                    ..SegmentSpec::small(1.0)
                };
                let first = Session::new(spec(40_000));
                let second = Session {
                    gap_before_s: 20.0,
                    audio_late_s: 2.0,
                    ..Session::new(SegmentSpec {
                        seed: 3,
                        ..spec(30_000)
                    })
                };
                let t0 = 1_735_732_800.0; // 2025-01-01 12:00:00 UTC
                let store =
                    sample::nvr::record_store(&root, "front_door", t0 + 0.37, &[first, second])?;
                let (start_s, end_s) = (store.start_s(), store.end_s());
                sample::previews::add_preview(
                    &store,
                    start_s.floor(),
                    end_s.ceil(),
                    &sample::previews::steady_times(end_s.ceil() - start_s.floor(), 1.0),
                    0,
                )?;
                sample::add_review(
                    &store,
                    "nvr-r1",
                    start_s + 5.0,
                    Some(start_s + 25.0),
                    "alert",
                    r#"{"objects":["person"]}"#,
                )?;
                Ok(Some(store))
            }
            "cameras" => {
                let spec = |w, h, seconds_x1000, seed| SegmentSpec {
                    width: w,
                    height: h,
                    gop: 30,
                    seconds_x1000,
                    seed,
                    ..SegmentSpec::small(1.0)
                };
                let t0 = 1_735_732_800.0; // 2025-01-01 12:00:00 UTC
                let front = [Session::new(spec(320, 180, 24_000, 1))];
                let yard = [Session::new(spec(640, 360, 15_000, 2))];
                let stores = sample::nvr::record_cameras(
                    &root,
                    &[
                        ("front_door", t0 + 0.37, &front[..]),
                        ("back_yard", t0 + 5.2, &yard[..]),
                    ],
                )?;
                Ok(stores.into_iter().next())
            }
            "restart" => {
                let t0 = 1_735_732_800.0; // 2025-01-01 12:00:00 UTC
                sample::nvr::restart_store(&root, "front_door", t0 + 0.37, false).map(Some)
            }
            _ => Ok(None),
        })
        .map_err(engine_error)?
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "unknown sample store {kind:?}: demo, nvr, cameras or restart"
            ))
        })?;
    json(&serde_json::json!({
        "db": store.db_path,
        "media_dir": store.media_dir,
        "camera": store.camera,
        "start": store.start_s(),
        "end": store.end_s(),
        "recordings": store.recordings.len(),
    }))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add_class::<CancelToken>()?;
    m.add_class::<Exporter>()?;
    m.add_class::<ExportQueue>()?;
    m.add_class::<Clip>()?;
    m.add_function(wrap_pyfunction!(validate_ffmpeg_args, m)?)?;
    m.add_function(wrap_pyfunction!(libav_info, m)?)?;
    m.add_function(wrap_pyfunction!(sample_store, m)?)?;
    m.add_function(wrap_pyfunction!(is_known_timezone, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(keygen, m)?)?;
    Ok(())
}
