//! `nvr-export`: the command-line face of the library. This file parses
//! and dispatches; `cli/` prints (JSON events, the progress bar, the sample
//! commands).
//!
//! ```text
//! nvr-export export --db FILE --media-dir DIR --camera NAME --start UNIX --end UNIX
//!     [--name TEXT] [--id ID] [--timezone IANA] [--json]
//!     [--chapters none|review-items|recording-segments]
//!     [--source hls --vod-url URL | --vod-base URL [--allow-host HOST]]
//!     [--source preview [--cache-dir DIR]] [--thumbnail FILE]
//!     [--timelapse | --input-args ARGS --output-args ARGS]
//! nvr-export batch FILE.json --db FILE --media-dir DIR [--max-concurrent N] [--json]
//! nvr-export recover --db FILE --media-dir DIR [--foreign-after SECS] [--json]
//! nvr-export migrate --db FILE --media-dir DIR [--json]
//! nvr-export demo [--dir DIR]
//! nvr-export info
//! ```
//!
//! With `--json`, stdout carries one JSON object per line: `progress`
//! events, then one `done` or `error` event. Errors exit non-zero. Logs go
//! to stderr, never into the JSON stream: `-v` (repeatable), `--log-level`
//! or `RUST_LOG` choose what is shown (default: warnings; libav's own
//! messages, target `libav`, from errors up).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use cli::events::Event;
use nvr_export::{
    CancelToken, ChapterMode, EncodeArgs, ExportRequest, Exporter, HlsSource, Layout, Progress,
    ProgressThrottle, RecoveryOptions, Source, WriterChoice,
};

#[derive(Parser)]
#[command(
    name = "nvr-export",
    version,
    about = "Export NVR recordings to one MP4, in process with libav"
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Log filter (e.g. `debug`, `nvr_export=debug,libav=warn`); RUST_LOG works too.
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Export a camera's recordings for a time range into one MP4 (stream copy).
    Export(Box<ExportArgs>),
    /// Build a small sample store (if missing) and export it with a progress bar.
    Demo {
        /// Where the sample store lives.
        #[arg(long, default_value = "demo-store")]
        dir: PathBuf,
    },
    /// Run many exports (a JSON array of requests) through the job queue.
    Batch(BatchArgs),
    /// Finish what dead exports left (rows in progress, partial files);
    /// `export` does this by itself first. Live exports are never touched.
    Recover(RecoverArgs),
    /// Give every bare .mp4 in the export folder a catalogue row (camera
    /// guessed from the name, JPEG thumbnail); a second run adds nothing.
    Migrate(MigrateArgs),
    /// Check NVR-style custom "ffmpeg args" against the allowlist: prints
    /// `ok` (exit 0) or the refusal (exit 1).
    ValidateArgs {
        /// The argument string (values beginning with '-' are taken as they are).
        #[arg(allow_hyphen_values = true, num_args = 0.., trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Show the linked libav and the hardware encoders it offers.
    Info,
    /// Record a benchmark corpus the way the NVR records (segment muxer, real rows).
    #[command(hide = true)]
    BenchCorpus(cli::samples::CorpusArgs),
    /// Build a preview benchmark store (hourly previews, cached frames).
    #[command(hide = true)]
    PreviewCorpus(cli::samples::PreviewCorpusArgs),
}

/// `--source`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceArg {
    /// The catalogue's recording files.
    Recordings,
    /// The NVR's HLS VOD server.
    Hls,
    /// The hourly preview files (trimmed exactly) and the cached preview
    /// frames of the current hour (from --cache-dir).
    Preview,
}

/// `--writer`: which stream-copy writer.
#[derive(Clone, Copy, ValueEnum)]
enum WriterArg {
    /// The index-driven writer when it accepts the export, else libav.
    Auto,
    /// Always the libav packet loop.
    Libav,
}

impl From<WriterArg> for WriterChoice {
    fn from(w: WriterArg) -> WriterChoice {
        match w {
            WriterArg::Auto => WriterChoice::Auto,
            WriterArg::Libav => WriterChoice::Libav,
        }
    }
}

/// Where the NVR keeps things.
#[derive(clap::Args)]
struct LayoutArgs {
    /// The NVR's catalogue (frigate.db).
    #[arg(long)]
    db: PathBuf,
    /// The NVR's media root: exports go to <media-dir>/exports; recordings
    /// are read only from under it (or a --recordings-root).
    #[arg(long)]
    media_dir: PathBuf,
    /// Another folder recordings may be read from (repeatable).
    #[arg(long = "recordings-root")]
    recordings_roots: Vec<PathBuf>,
    /// The NVR's cache folder: cached preview frames are read from its
    /// preview_frames/ (preview exports, thumbnails).
    #[arg(long, default_value = "/tmp/cache")]
    cache_dir: PathBuf,
}

impl LayoutArgs {
    fn layout(&self) -> Layout {
        let mut layout = Layout::new(&self.db, &self.media_dir);
        layout.recording_roots = self.recordings_roots.clone();
        layout.cache_dir = self.cache_dir.clone();
        layout
    }
}

#[derive(clap::Args)]
struct BatchArgs {
    /// A JSON array of requests: [{"camera": "front_door", "start": UNIX, "end": UNIX, ...}].
    file: PathBuf,
    #[command(flatten)]
    layout: LayoutArgs,
    /// Exports running at once.
    #[arg(long, default_value_t = 3)]
    max_concurrent: usize,
    /// Most bytes a second each export writes (e.g. 20M).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    max_rate: Option<u64>,
    /// Machine-readable output: JSON lines tagged by job id.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct MigrateArgs {
    #[command(flatten)]
    layout: LayoutArgs,
    /// Machine-readable output: one JSON object (added, skipped).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct RecoverArgs {
    #[command(flatten)]
    layout: LayoutArgs,
    /// Also treat in-progress rows that no lock file owns (another
    /// exporter's) as abandoned once their file is unchanged for SECS:
    /// a complete MP4 is kept and marked done, anything else removed.
    #[arg(long, value_name = "SECS")]
    foreign_after: Option<u64>,
    /// Machine-readable output: one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct ExportArgs {
    #[command(flatten)]
    layout: LayoutArgs,
    #[arg(long)]
    camera: String,
    /// Start of the range, unix seconds.
    #[arg(long, allow_hyphen_values = true)]
    start: f64,
    /// End of the range, unix seconds.
    #[arg(long, allow_hyphen_values = true)]
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
    /// Chapters: none, review-items (default) or recording-segments.
    #[arg(long, default_value = "review-items")]
    chapters: ChapterMode,
    /// Machine-readable output: one JSON object per line.
    #[arg(long)]
    json: bool,
    /// Where the media comes from: the recording files (default), or the
    /// NVR's HLS VOD server (with --vod-url or --vod-base).
    #[arg(long, value_enum, default_value_t = SourceArg::Recordings)]
    source: SourceArg,
    /// HLS: a master or media playlist URL.
    #[arg(long, value_name = "URL")]
    vod_url: Option<String>,
    /// HLS: the NVR's address (e.g. http://127.0.0.1:5000); the playlist is
    /// /vod/clip/<camera>/start/<start>/end/<end>/index.m3u8 (an init per clip).
    #[arg(long, value_name = "URL")]
    vod_base: Option<String>,
    /// HLS: a host (name or IP) besides loopback that may be contacted (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// Most bytes a second the export writes (e.g. 20M, 500k; default: no
    /// limit), leaving disk bandwidth to the recorder.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    max_rate: Option<u64>,
    /// Re-encode as a timelapse (the NVR's default: -vf setpts=0.04*PTS -r 30).
    #[arg(long)]
    timelapse: bool,
    /// Re-encode: NVR-style input arguments (allowlisted; see validate-args).
    #[arg(long, allow_hyphen_values = true, value_name = "ARGS")]
    input_args: Option<String>,
    /// Re-encode: NVR-style output arguments (allowlisted; see validate-args).
    #[arg(long, allow_hyphen_values = true, value_name = "ARGS")]
    output_args: Option<String>,
    /// Re-encode on hardware: a preset (preset-vaapi, preset-nvidia, preset-intel-qsv-h264,
    /// preset-vulkan, ...) or `auto` (the first that initialises here).
    #[arg(long, value_name = "PRESET")]
    hwaccel: Option<String>,
    /// With --hwaccel: if the hardware fails, encode again in software.
    #[arg(long)]
    cpu_fallback: bool,
    /// Timelapse: decode in sequence instead of GOPs side by side (less CPU
    /// taken from the recorder, slower).
    #[arg(long)]
    sequential_decode: bool,
    /// The thumbnail's picture: an image under the media or cache folder
    /// (default: a preview frame at the start of the range).
    #[arg(long, value_name = "FILE")]
    thumbnail: Option<PathBuf>,
    /// Probe every segment with libav (a debugging and benchmarking aid).
    #[arg(long, hide = true)]
    libav_probe: bool,
    /// Which writer (a debugging and benchmarking aid).
    #[arg(long, hide = true, value_enum, default_value_t = WriterArg::Auto)]
    writer: WriterArg,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.verbose, cli.log_level.as_deref());
    match cli.command {
        Command::Export(args) => run_export(*args),
        Command::Demo { dir } => cli::samples::demo(dir),
        Command::BenchCorpus(args) => cli::samples::bench_corpus(args),
        Command::PreviewCorpus(args) => cli::samples::preview_corpus(args),
        Command::Recover(args) => run_recover(args),
        Command::Migrate(args) => run_migrate(args),
        Command::Batch(args) => {
            let exporter =
                Exporter::new(args.layout.layout()).with_max_rate(args.max_rate.unwrap_or(0));
            cli::batch::run(exporter, &args.file, args.max_concurrent, args.json)
        }
        Command::ValidateArgs { args } => {
            match nvr_export::transcode::args::parse("", &args.join(" ")) {
                Ok(_) => {
                    println!("ok");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    println!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Info => cli::info(),
    }
}

fn run_migrate(args: MigrateArgs) -> ExitCode {
    let cancel = CancelToken::new();
    cli::install_signal_handlers(&cancel);
    match Exporter::new(args.layout.layout()).migrate(&cancel) {
        Ok(report) => {
            if args.json {
                Event::Migrated(&report).emit();
            } else {
                cli::human::print_migration(&report);
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e, args.json),
    }
}

/// Reports a command's error (a JSON `error` event, or a line on stderr).
fn failed(e: &nvr_export::Error, json: bool) -> ExitCode {
    if json {
        Event::error(e).emit();
    } else {
        eprintln!("error ({}): {e}", e.kind());
    }
    ExitCode::FAILURE
}

fn run_recover(args: RecoverArgs) -> ExitCode {
    let exporter = Exporter::new(args.layout.layout());
    let options = RecoveryOptions {
        requeue: false,
        foreign_stale_after: args.foreign_after.map(Duration::from_secs),
    };
    match exporter.recover(&options) {
        Ok(report) => {
            if args.json {
                Event::Recovered(&report).emit();
            } else if report.acted() || !report.foreign.is_empty() {
                cli::human::print_recovery(&report);
            } else {
                eprintln!(
                    "nothing to recover ({} live export(s) untouched)",
                    report.live.len()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e, args.json),
    }
}

fn run_export(args: ExportArgs) -> ExitCode {
    let layout = args.layout.layout();
    let req = ExportRequest {
        camera: args.camera.clone(),
        start_s: args.start,
        end_s: args.end,
        name: args.name.clone(),
        id: args.id.clone(),
        timezone: args.timezone.clone(),
        export_case_id: None,
        chapters: args.chapters,
        source: if args.source == SourceArg::Preview {
            Source::Preview
        } else if args.source == SourceArg::Hls || args.vod_url.is_some() || args.vod_base.is_some()
        {
            Source::Hls(HlsSource {
                url: args.vod_url.clone(),
                base: args.vod_base.clone(),
                allow_hosts: args.allow_hosts.clone(),
            })
        } else {
            Source::Recordings
        },
        encode: match (&args.input_args, &args.output_args, args.timelapse) {
            (None, None, false) => None,
            (None, None, true) => Some(EncodeArgs {
                hwaccel: args.hwaccel.clone(),
                cpu_fallback: args.cpu_fallback,
                ..EncodeArgs::timelapse()
            }),
            (i, o, _) => Some(EncodeArgs {
                input_args: i.clone().unwrap_or_default(),
                output_args: o.clone().unwrap_or_else(|| {
                    nvr_export::transcode::args::DEFAULT_TIMELAPSE_ARGS.to_string()
                }),
                hwaccel: args.hwaccel.clone(),
                cpu_fallback: args.cpu_fallback,
            }),
        },
        thumbnail: args.thumbnail.clone(),
    };
    let cancel = CancelToken::new();
    cli::install_signal_handlers(&cancel);
    let exporter = Exporter::new(layout)
        .with_parallel_decode(!args.sequential_decode)
        .with_writer(args.writer.into())
        .with_libav_probe(args.libav_probe)
        .with_max_rate(args.max_rate.unwrap_or(0));
    cli::recover_before(&exporter, args.json);
    if args.json {
        let result = exporter.export(&req, &cancel, |p: Progress| {
            Event::progress(p).emit();
        });
        match result {
            Ok(o) => {
                Event::done(&o).emit();
                ExitCode::SUCCESS
            }
            Err(e) => {
                Event::error(&e).emit();
                ExitCode::FAILURE
            }
        }
    } else {
        let exporter = exporter.with_throttle(ProgressThrottle {
            interval: Duration::from_millis(100),
        });
        match cli::human::export_with_bar(&exporter, &req, &cancel) {
            Ok(o) => {
                cli::human::print_outcome(&o);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error ({}): {e}", e.kind());
                ExitCode::FAILURE
            }
        }
    }
}

/// `--max-rate`: bytes a second, with an optional k/M/G suffix (powers of 1000).
fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok((v * mul).round() as u64),
        _ => Err(format!(
            "{s:?} is not a rate: give bytes a second, e.g. 500k or 20M"
        )),
    }
}
