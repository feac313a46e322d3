//! `nvr-export`: the command-line face of the library.
//!
//! ```text
//! nvr-export export --db FILE --media-dir DIR --camera NAME --start UNIX --end UNIX
//!     [--name TEXT] [--id ID] [--timezone IANA] [--cache-dir DIR] [--json]
//!     [--chapters none|review-items|recording-segments]
//! nvr-export demo [--dir DIR]
//! nvr-export info
//! ```
//!
//! With `--json`, stdout carries one JSON object per line: `progress`
//! events, then one `done` or `error` event. Errors exit non-zero.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use nvr_export::{
    sample, CancelToken, ChapterMode, Error, ExportOutcome, ExportRequest, Exporter, Layout,
    Progress, ProgressThrottle, WriterChoice,
};

#[derive(Parser)]
#[command(
    name = "nvr-export",
    version,
    about = "Export NVR recordings to one MP4, in process with libav"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Export a camera's recordings for a time range into one MP4 (stream copy).
    Export(ExportArgs),
    /// Build a small sample store (if missing) and export it with a progress bar.
    Demo {
        /// Where the sample store lives.
        #[arg(long, default_value = "demo-store")]
        dir: PathBuf,
    },
    /// Show the linked libav and the hardware encoders it offers.
    Info,
    /// Record a benchmark corpus the way the NVR records (segment muxer, real rows).
    #[command(hide = true)]
    BenchCorpus {
        #[arg(long)]
        dir: PathBuf,
        /// How the camera records: `audio` (H.264 + AAC), `bframes` (H.264
        /// with B-frames + AAC), `restart` (audio, the camera restarts at
        /// another resolution half-way).
        #[arg(long, default_value = "audio")]
        variant: String,
        /// Length of the recording in minutes.
        #[arg(long, default_value_t = 60.0)]
        minutes: f64,
        /// Video bit rate in bits/s.
        #[arg(long, default_value_t = 2_000_000)]
        bitrate: u32,
        #[arg(long, default_value_t = 640)]
        width: u32,
        #[arg(long, default_value_t = 360)]
        height: u32,
        #[arg(long, default_value_t = 30)]
        fps: u32,
    },
}

#[derive(clap::Args)]
struct ExportArgs {
    /// The NVR's catalogue (frigate.db).
    #[arg(long)]
    db: PathBuf,
    /// The NVR's media root: exports go to <media-dir>/exports.
    #[arg(long)]
    media_dir: PathBuf,
    #[arg(long)]
    camera: String,
    /// Start of the range, unix seconds.
    #[arg(long, allow_negative_numbers = true)]
    start: f64,
    /// End of the range, unix seconds.
    #[arg(long, allow_negative_numbers = true)]
    end: f64,
    /// Display name of the export.
    #[arg(long)]
    name: Option<String>,
    /// Export id (default: <camera>_<6 random characters>).
    #[arg(long)]
    id: Option<String>,
    /// IANA timezone for names and chapter titles.
    #[arg(long)]
    timezone: Option<String>,
    /// The NVR's cache folder (preview frames).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// Chapters: none, review-items (default) or recording-segments.
    #[arg(long, default_value = "review-items")]
    chapters: ChapterMode,
    /// Machine-readable output: one JSON object per line.
    #[arg(long)]
    json: bool,
    /// Print libav's own warnings to stderr.
    #[arg(long, hide = true)]
    libav_log: bool,
    /// Writer: auto (index-driven when possible) or libav (packet loop).
    #[arg(long, hide = true, default_value = "auto", value_parser = ["auto", "libav"])]
    writer: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Export(args) => run_export(args),
        Command::Demo { dir } => run_demo(dir),
        Command::BenchCorpus {
            dir,
            variant,
            minutes,
            bitrate,
            width,
            height,
            fps,
        } => {
            let spec = sample::SegmentSpec {
                width,
                height,
                fps,
                gop: fps * 2,
                bitrate,
                b_frames: u32::from(variant == "bframes"),
                ..sample::SegmentSpec::camera_1080p(minutes * 60.0, 1)
            };
            let sessions: Vec<sample::nvr::Session> = match variant.as_str() {
                "audio" | "bframes" => vec![sample::nvr::Session::new(spec)],
                "restart" => {
                    let half = sample::SegmentSpec {
                        seconds_x1000: spec.seconds_x1000 / 2,
                        ..spec
                    };
                    vec![
                        sample::nvr::Session::new(half),
                        sample::nvr::Session {
                            gap_before_s: 7.0,
                            ..sample::nvr::Session::new(sample::SegmentSpec {
                                width: width * 3 / 4 / 2 * 2,
                                height: height * 3 / 4 / 2 * 2,
                                seed: 2,
                                ..half
                            })
                        },
                    ]
                }
                other => {
                    eprintln!("error: unknown variant {other:?} (audio, bframes, restart)");
                    return ExitCode::FAILURE;
                }
            };
            let t = Instant::now();
            match sample::nvr::record_store(&dir, "bench_cam", 1_735_689_600.4, &sessions) {
                Ok(s) => {
                    // A review every two minutes, so exports carry chapters.
                    let mut at = s.start_s() + 30.0;
                    let mut n = 0;
                    while at + 30.0 < s.end_s() {
                        let (sev, data) = if n % 2 == 0 {
                            ("alert", r#"{"objects":["person"]}"#)
                        } else {
                            ("detection", r#"{"objects":["car"]}"#)
                        };
                        if let Err(e) = sample::add_review(
                            &s,
                            &format!("bench-{n}"),
                            at,
                            Some(at + 30.0),
                            sev,
                            data,
                        ) {
                            eprintln!("error ({}): {e}", e.kind());
                            return ExitCode::FAILURE;
                        }
                        at += 120.0;
                        n += 1;
                    }
                    let bytes: u64 = s
                        .recordings
                        .iter()
                        .filter_map(|r| std::fs::metadata(&r.path).ok())
                        .map(|m| m.len())
                        .sum();
                    println!(
                        "corpus: {} segments, {:.0} s, {:.1} MB in {} (built in {:.1} s)",
                        s.recordings.len(),
                        s.end_s() - s.start_s(),
                        bytes as f64 / 1e6,
                        s.root.display(),
                        t.elapsed().as_secs_f64()
                    );
                    let env = format!(
                        "CAMERA={}\nSTART={}\nEND={}\nVARIANT={variant}\n",
                        s.camera,
                        s.start_s().floor(),
                        s.recordings
                            .iter()
                            .map(|r| r.end_s)
                            .fold(0.0, f64::max)
                            .ceil()
                    );
                    if let Err(e) = std::fs::write(s.root.join("corpus.env"), &env) {
                        eprintln!("error: cannot write corpus.env: {e}");
                        return ExitCode::FAILURE;
                    }
                    print!("{env}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error ({}): {e}", e.kind());
                    ExitCode::FAILURE
                }
            }
        }
        Command::Info => {
            println!("libav (build): {}", nvr_export::hw::LIBAV_VERSION);
            println!(
                "hardware encoders in libavcodec (build): {}",
                nonempty(nvr_export::hw::BUILD_HW_ENCODERS)
            );
            println!(
                "hardware encoders registered (run time): {}",
                nonempty(&nvr_export::hw::available_encoders().join(","))
            );
            ExitCode::SUCCESS
        }
    }
}

fn nonempty(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

fn install_ctrlc(token: &CancelToken) {
    let t = token.clone();
    let _ = ctrlc::set_handler(move || t.cancel());
}

fn run_export(args: ExportArgs) -> ExitCode {
    nvr_export::media::init();
    if args.libav_log {
        nvr_export::media::ffi::set_log_level(24);
    }
    let mut layout = Layout::new(&args.db, &args.media_dir);
    if let Some(c) = &args.cache_dir {
        layout.cache_dir = c.clone();
    }
    let req = ExportRequest {
        camera: args.camera.clone(),
        start_s: args.start,
        end_s: args.end,
        name: args.name.clone(),
        id: args.id.clone(),
        timezone: args.timezone.clone(),
        export_case_id: None,
        chapters: args.chapters,
    };
    let cancel = CancelToken::new();
    install_ctrlc(&cancel);
    let writer = if args.writer == "libav" {
        WriterChoice::Libav
    } else {
        WriterChoice::Auto
    };
    if args.json {
        let exporter = Exporter::new(layout).with_writer(writer);
        let result = exporter.export(&req, &cancel, |p: Progress| {
            emit(&json!({"event": "progress", "step": p.step.as_str(), "percent": round2(p.percent)}));
        });
        match result {
            Ok(o) => {
                emit(&done_json(&o));
                ExitCode::SUCCESS
            }
            Err(e) => {
                emit(
                    &json!({"event": "error", "kind": e.kind().as_str(), "message": e.to_string()}),
                );
                ExitCode::FAILURE
            }
        }
    } else {
        let exporter = Exporter::new(layout)
            .with_writer(writer)
            .with_throttle(ProgressThrottle {
                interval: Duration::from_millis(100),
            });
        match export_with_bar(&exporter, &req, &cancel) {
            Ok(o) => {
                print_outcome(&o);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error ({}): {e}", e.kind());
                ExitCode::FAILURE
            }
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn emit(v: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

fn done_json(o: &ExportOutcome) -> serde_json::Value {
    json!({
        "event": "done",
        "id": o.id,
        "name": o.name,
        "video_path": o.video_path,
        "thumb_path": o.thumb_path,
        "duration_s": round2(o.duration_s),
        "chapters": o.chapters,
        "skipped": o.skipped,
        "warnings": o.warnings,
        "writer": o.stats.writer,
        "fast_declined": o.stats.fast_declined,
        "timings": o.timings,
        "packets": {"video": o.stats.video_packets, "audio": o.stats.audio_packets},
    })
}

fn export_with_bar(
    exporter: &Exporter,
    req: &ExportRequest,
    cancel: &CancelToken,
) -> Result<ExportOutcome, Error> {
    let bar = ProgressBar::new(1000);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>11} [{bar:40.cyan/blue}] {percent:>3}% {elapsed_precise} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let result = exporter.export(req, cancel, |p: Progress| {
        bar.set_prefix(p.step.as_str());
        bar.set_position((p.percent * 10.0).round() as u64);
    });
    match &result {
        Ok(_) => bar.finish(),
        Err(_) => bar.abandon(),
    }
    result
}

fn print_outcome(o: &ExportOutcome) {
    println!(
        "exported {} ({:.1} s, {} chapters)",
        o.video_path.display(),
        o.duration_s,
        o.chapters
    );
    println!(
        "  id: {}  name: {}  writer: {}",
        o.id, o.name, o.stats.writer
    );
    if let Some(why) = &o.stats.fast_declined {
        println!("  (index-driven writer declined: {why})");
    }
    for s in &o.skipped {
        println!("  skipped {}", s);
    }
    for w in &o.warnings {
        println!("  warning: {w}");
    }
}

fn run_demo(dir: PathBuf) -> ExitCode {
    nvr_export::media::init();
    let store = if dir.join("frigate.db").exists() {
        println!("using the sample store in {}", dir.display());
        match existing_store(&dir) {
            Ok(s) => s,
            Err(e) => {
                eprintln!(
                    "error ({}): {e}; remove {} to rebuild it",
                    e.kind(),
                    dir.display()
                );
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "building a sample store in {} (12 x 5 s H.264 + AAC segments, one gap)",
            dir.display()
        );
        let t = Instant::now();
        match sample::demo_store(&dir) {
            Ok(s) => {
                println!("  built in {:.1} s", t.elapsed().as_secs_f64());
                s
            }
            Err(e) => {
                eprintln!("error ({}): {e}", e.kind());
                return ExitCode::FAILURE;
            }
        }
    };
    let exporter = Exporter::new(Layout::new(&store.db_path, &store.media_dir)).with_throttle(
        ProgressThrottle {
            interval: Duration::from_millis(50),
        },
    );
    let req = ExportRequest {
        timezone: Some("UTC".into()),
        ..ExportRequest::new(&store.camera, store.start_s(), store.end_s())
    };
    let cancel = CancelToken::new();
    install_ctrlc(&cancel);
    let t = Instant::now();
    let outcome = match export_with_bar(&exporter, &req, &cancel) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error ({}): {e}", e.kind());
            return ExitCode::FAILURE;
        }
    };
    let export_s = t.elapsed().as_secs_f64();
    print_outcome(&outcome);

    // The floor: copying the same segment bytes into one file.
    let t = Instant::now();
    let copied = match concat_copy(&store, &dir.join("cp-floor.bin")) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("error copying segments: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cp_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(dir.join("cp-floor.bin"));
    println!(
        "  export {:.3} s vs copy of the same {:.1} MB {:.3} s: {:.1}x the copy",
        export_s,
        copied as f64 / 1e6,
        cp_s,
        export_s / cp_s.max(1e-9)
    );
    ExitCode::SUCCESS
}

fn existing_store(dir: &std::path::Path) -> Result<sample::SampleStore, Error> {
    let dir = &std::fs::canonicalize(dir).map_err(|e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let db_path = dir.join("frigate.db");
    let cat = nvr_export::catalogue::Catalogue::open(&db_path)?;
    let camera = cat
        .cameras()?
        .into_iter()
        .next()
        .unwrap_or_else(|| "front_door".into());
    let recordings = cat.recordings_overlapping(&camera, 0.0, 1e12)?;
    Ok(sample::SampleStore {
        root: dir.to_path_buf(),
        db_path,
        media_dir: dir.join("media"),
        camera,
        recordings,
    })
}

fn concat_copy(store: &sample::SampleStore, dest: &std::path::Path) -> std::io::Result<u64> {
    let mut out = std::fs::File::create(dest)?;
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    for r in &store.recordings {
        let mut f = std::fs::File::open(&r.path)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            total += n as u64;
        }
    }
    out.sync_all()?;
    Ok(total)
}
