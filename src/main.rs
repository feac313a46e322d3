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

use clap::{Parser, Subcommand};

use cli::args::{BatchArgs, ExportArgs, MigrateArgs, RecoverArgs};
use nvr_export::Exporter;

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
    /// Serve clips over HTTP by byte range, nothing written:
    /// GET/HEAD /clip/<camera>/start/<s>/end/<e>.mp4 (loopback by default).
    Serve(cli::serve::ServeArgs),
    /// Show the linked libav and the hardware encoders it offers.
    Info,
    /// Write a new Ed25519 key pair for signing export manifests into DIR:
    /// export-signing.key (secret, mode 0600) and export-signing.pub.
    Keygen { dir: PathBuf },
    /// Check an export against its manifest (and the manifest's signature
    /// with --key): exit 0 all holds; 1 the export or the manifest was
    /// altered, or the signature fails; 3 the export holds but source
    /// segments changed or are gone.
    Verify {
        export: PathBuf,
        /// The signer's public key (export-signing.pub).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Machine-readable output: one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Record a benchmark corpus the way the NVR records (segment muxer, real rows).
    #[command(hide = true)]
    BenchCorpus(cli::samples::CorpusArgs),
    /// Build a preview benchmark store (hourly previews, cached frames).
    #[command(hide = true)]
    PreviewCorpus(cli::samples::PreviewCorpusArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.verbose, cli.log_level.as_deref());
    match cli.command {
        Command::Export(args) => cli::commands::export(*args),
        Command::Demo { dir } => cli::samples::demo(dir),
        Command::BenchCorpus(args) => cli::samples::bench_corpus(args),
        Command::PreviewCorpus(args) => cli::samples::preview_corpus(args),
        Command::Recover(args) => cli::commands::recover(args),
        Command::Migrate(args) => cli::commands::migrate(args),
        Command::Batch(args) => {
            let exporter =
                Exporter::new(args.layout.layout()).with_max_rate(args.max_rate.unwrap_or(0));
            cli::batch::run(
                exporter,
                &args.file,
                args.max_concurrent,
                &args.allow_hosts,
                args.json,
            )
        }
        Command::ValidateArgs { args } => cli::commands::validate_args(&args),
        Command::Serve(args) => cli::serve::serve(args),
        Command::Info => cli::info(),
        Command::Keygen { dir } => cli::commands::keygen(&dir),
        Command::Verify { export, key, json } => {
            cli::commands::verify(&export, key.as_deref(), json)
        }
    }
}
