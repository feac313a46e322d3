//! The commands that run the library: export, recover, migrate,
//! validate-args. Each prints its result (JSON events with `--json`, else
//! lines for a person) and returns the exit status.

use std::process::ExitCode;
use std::time::Duration;

use super::args::{ExportArgs, MigrateArgs, RecoverArgs};
use super::events::Event;
use nvr_export::{CancelToken, Exporter, Progress, ProgressThrottle, RecoveryOptions};

pub fn migrate(args: MigrateArgs) -> ExitCode {
    let cancel = CancelToken::new();
    super::install_signal_handlers(&cancel);
    match Exporter::new(args.layout.layout()).migrate(&cancel) {
        Ok(report) => {
            if args.json {
                Event::Migrated(&report).emit();
            } else {
                super::human::print_migration(&report);
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

pub fn recover(args: RecoverArgs) -> ExitCode {
    let exporter = Exporter::new(args.layout.layout());
    let options = RecoveryOptions {
        requeue: false,
        foreign_stale_after: args.foreign_after.map(Duration::from_secs),
    };
    match exporter.recover(&options) {
        Ok(report) => {
            if args.json {
                Event::Recovered(&report).emit();
            } else if report.acted() || !report.foreign.is_empty() || !report.refused.is_empty() {
                super::human::print_recovery(&report);
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

pub fn export(args: ExportArgs) -> ExitCode {
    let layout = args.layout.layout();
    let req = args.request();
    let cancel = CancelToken::new();
    super::install_signal_handlers(&cancel);
    let exporter = Exporter::new(layout)
        .with_parallel_decode(!args.sequential_decode)
        .with_writer(args.writer.into())
        .with_libav_probe(args.libav_probe)
        .with_max_rate(args.max_rate.unwrap_or(0));
    super::recover_before(&exporter, args.json);
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
        match super::human::export_with_bar(&exporter, &req, &cancel) {
            Ok(o) => {
                super::human::print_outcome(&o);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error ({}): {e}", e.kind());
                ExitCode::FAILURE
            }
        }
    }
}

/// `validate-args`: `ok` (success) or the refusal (failure).
pub fn keygen(dir: &std::path::Path) -> ExitCode {
    match nvr_export::keygen(dir) {
        Ok((secret, public)) => {
            println!(
                "secret key: {} (keep it; sign with --sign)",
                secret.display()
            );
            println!(
                "public key: {} (give it to whoever verifies)",
                public.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.kind());
            ExitCode::FAILURE
        }
    }
}

pub fn verify(export: &std::path::Path, key: Option<&std::path::Path>, json: bool) -> ExitCode {
    match nvr_export::verify(export, key) {
        Ok(v) => {
            if json {
                println!("{}", serde_json::to_string(&v).unwrap_or_default());
            } else {
                let yes = |b: bool| if b { "holds" } else { "DOES NOT HOLD" };
                println!("export {}: {}", export.display(), yes(v.export_matches));
                if let Some(sig) = v.signature {
                    println!("signature: {}", yes(sig));
                }
                let count = |state: &str| v.sources.iter().filter(|s| s.state == state).count();
                println!(
                    "sources: {} the same, {} changed, {} gone",
                    count("same"),
                    count("changed"),
                    count("gone")
                );
                for p in &v.problems {
                    println!("  {p}");
                }
            }
            ExitCode::from(v.exit_code())
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.kind());
            ExitCode::from(2)
        }
    }
}

pub fn validate_args(args: &[String]) -> ExitCode {
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
