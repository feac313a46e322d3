//! The sample-store commands: `demo` (the README's main job) and the hidden
//! `bench-corpus` (benchmark corpora recorded the way the NVR records).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nvr_export::{sample, CancelToken, ExportRequest, Exporter, Layout, ProgressThrottle};

use super::human::{export_with_bar, print_outcome};
use super::install_signal_handlers;

/// `bench-corpus`: what to record.
#[derive(clap::Args)]
pub struct CorpusArgs {
    #[arg(long)]
    pub dir: PathBuf,
    /// How the camera records: `audio` (H.264 + AAC), `bframes` (H.264
    /// with B-frames + AAC), `restart` (audio, the camera restarts at
    /// another resolution half-way).
    #[arg(long, default_value = "audio")]
    pub variant: String,
    /// Length of the recording in minutes.
    #[arg(long, default_value_t = 60.0)]
    pub minutes: f64,
    /// Video bit rate in bits/s.
    #[arg(long, default_value_t = 2_000_000)]
    pub bitrate: u32,
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    #[arg(long, default_value_t = 360)]
    pub height: u32,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
}

/// `preview-corpus`: what to build.
#[derive(clap::Args)]
pub struct PreviewCorpusArgs {
    #[arg(long)]
    pub dir: PathBuf,
    /// Hourly previews (each its own picture and activity pattern).
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    /// Cached frames (two a second) after the last preview.
    #[arg(long, default_value_t = 600)]
    pub frames: u32,
}

/// A store of `hours` hourly previews (variable frame rate: two frames a
/// second while active, one every 30 s when quiet) and cached frames of the
/// hour after them, for benchmarks; writes `corpus.env`.
pub fn preview_corpus(args: PreviewCorpusArgs) -> ExitCode {
    use sample::previews::{activity_times, add_cached_frame, add_preview};
    let t0 = 1_735_689_600.0;
    let run = || -> nvr_export::Result<sample::SampleStore> {
        let s = sample::build_store(
            &args.dir,
            "bench_cam",
            t0,
            &[sample::SegmentPlan {
                spec: sample::SegmentSpec::small(2.0),
                gap_before_s: 0.0,
            }],
        )?;
        for h in 0..args.hours {
            let start = t0 + 3600.0 * h as f64;
            add_preview(&s, start, start + 3600.0, &activity_times(3600.0, h), h)?;
        }
        let cache = args.dir.join("cache");
        let after = t0 + 3600.0 * args.hours as f64;
        for k in 0..args.frames {
            add_cached_frame(&cache, &s.camera, after + k as f64 * 0.5, k)?;
        }
        Ok(s)
    };
    let t = Instant::now();
    match run() {
        Ok(s) => {
            let end = t0 + 3600.0 * args.hours as f64 + args.frames as f64 * 0.5;
            let env = format!(
                "DB={}\nMEDIA={}\nCACHE={}\nCAMERA={}\nSTART={t0}\nEND={end}\n",
                s.db_path.display(),
                s.media_dir.display(),
                s.root.join("cache").display(),
                s.camera
            );
            if let Err(e) = std::fs::write(args.dir.join("corpus.env"), env) {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            println!(
                "preview corpus: {} hours, {} cached frames in {} (built in {:.1} s)",
                args.hours,
                args.frames,
                args.dir.display(),
                t.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error ({}): {e}", e.kind());
            ExitCode::FAILURE
        }
    }
}

pub fn bench_corpus(args: CorpusArgs) -> ExitCode {
    let CorpusArgs {
        dir,
        variant,
        minutes,
        bitrate,
        width,
        height,
        fps,
    } = args;
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
                if let Err(e) =
                    sample::add_review(&s, &format!("bench-{n}"), at, Some(at + 30.0), sev, data)
                {
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

pub fn demo(dir: PathBuf) -> ExitCode {
    let store = if dir.join("frigate.db").exists() {
        println!("using the sample store in {}", dir.display());
        match sample::open_store(&dir) {
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
        match sample::demo::demo_store(&dir) {
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
    install_signal_handlers(&cancel);
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
