//! What the binary prints and the commands beside `export`.

pub mod args;
pub mod batch;
pub mod commands;
pub mod events;
pub mod human;
pub mod samples;
pub mod serve;

use std::process::ExitCode;

use nvr_export::CancelToken;

/// Logs to stderr: `RUST_LOG` if set, else `--log-level`, else by `-v`
/// count; libav's messages (target `libav`) from errors up unless asked.
pub fn init_logging(verbose: u8, level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn,libav=error",
        1 => "info,libav=warn",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .or_else(|| level.map(str::to_string))
        .unwrap_or_else(|| default.to_string());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new(default)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(true)
        .try_init();
}

/// Exit status after a second signal: 128 + SIGINT, as shells report it.
const EXIT_SECOND_SIGNAL: i32 = 130;

/// `SIGINT`, `SIGTERM` and `SIGHUP` (Ctrl-C, `docker stop`, systemd, a
/// closed terminal) cancel the export at the next packet; it then removes
/// its partial file and row. A second signal exits at once; what it leaves
/// is removed by the next command's recovery.
pub fn install_signal_handlers(token: &CancelToken) {
    let t = token.clone();
    let _ = ctrlc::set_handler(move || {
        if t.is_cancelled() {
            std::process::exit(EXIT_SECOND_SIGNAL);
        }
        t.cancel();
    });
}

/// Runs crash recovery before a command that writes, and reports what it
/// did (a JSON `recovered` event, or lines on stderr). A failure is only
/// logged: the command itself then meets, and reports, the same problem.
pub fn recover_before(exporter: &nvr_export::Exporter, json: bool) {
    match exporter.recover(&nvr_export::RecoveryOptions::default()) {
        Ok(report) if report.acted() || !report.refused.is_empty() => {
            if json {
                events::Event::Recovered(&report).emit();
            } else {
                human::print_recovery(&report);
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "recovery before the export failed"),
    }
}

/// `info`: the linked libav and the hardware encoders.
pub fn info() -> ExitCode {
    use std::io::Write;
    let nonempty = |s: String| if s.is_empty() { "none".to_string() } else { s };
    let mut lines = vec![
        format!("libav (build): {}", nvr_export::hw::LIBAV_VERSION),
        format!("libav licence: {}", nvr_export::hw::libav_license()),
        format!(
            "hardware encoders in libavcodec (build): {}",
            nonempty(nvr_export::hw::BUILD_HW_ENCODERS.to_string())
        ),
        format!(
            "hardware encoders registered (run time): {}",
            nonempty(nvr_export::hw::available_encoders().join(","))
        ),
        "presets (--hwaccel), on this machine:".to_string(),
    ];
    for p in nvr_export::transcode::preset::PRESETS {
        lines.push(match p.probe() {
            Ok(_) => format!("  {:24} {:14} initialises", p.name, p.encoder),
            Err(why) => format!("  {:24} {:14} no: {why}", p.name, p.encoder),
        });
    }
    let (auto, _) = nvr_export::transcode::preset::auto();
    lines.push(format!("  auto -> {} ({})", auto.name, auto.encoder));
    // A closed stdout (`info | head -1`) ends the listing, not the process
    // with a panic.
    let mut out = std::io::stdout().lock();
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
