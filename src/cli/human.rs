//! Human output: a progress bar on stderr and a summary on stdout.

use indicatif::{ProgressBar, ProgressStyle};
use nvr_export::{CancelToken, Error, ExportOutcome, ExportRequest, Exporter, Progress};

pub fn export_with_bar(
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

pub fn print_outcome(o: &ExportOutcome) {
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
