//! Human output: a progress bar on stderr and a summary on stdout.

use std::io::Write;

use indicatif::{ProgressBar, ProgressStyle};
use nvr_export::{
    CancelToken, Error, ExportOutcome, ExportRequest, Exporter, Progress, RecoveryReport,
};

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

/// The summary of a finished export on stdout. A closed or full stdout
/// (`| true`, `> /dev/full`) is not an export failure: the file is written
/// and the exit code stays 0; nothing panics.
pub fn print_outcome(o: &ExportOutcome) {
    let mut text = format!(
        "exported {} ({:.1} s, {} chapters)\n  id: {}  name: {}  writer: {}\n",
        o.video_path.display(),
        o.duration_s,
        o.chapters,
        o.id,
        o.name,
        o.stats.writer
    );
    if !o.thumb_path.is_empty() {
        text.push_str(&format!("  thumbnail: {}\n", o.thumb_path));
    }
    if let Some(line) = sharing_line(o.stats.shared_bytes, o.stats.copied_bytes) {
        text.push_str(&line);
    }
    if let Some(why) = &o.stats.fast_declined {
        text.push_str(&format!("  (index-driven writer declined: {why})\n"));
    }
    for s in &o.skipped {
        text.push_str(&format!("  skipped {s}\n"));
    }
    for w in &o.warnings {
        text.push_str(&format!("  warning: {w}\n"));
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// The line saying how much of the footage the filesystem shared with the
/// recordings (extent sharing), when it shared any.
fn sharing_line(shared: u64, copied: u64) -> Option<String> {
    (shared > 0).then(|| {
        let mb = |b: u64| b as f64 / 1e6;
        format!(
            "  shared with the recordings: {:.1} of {:.1} MB (those take no new \
             disk space; the export stays whole when the recordings are deleted)\n",
            mb(shared),
            mb(shared + copied)
        )
    })
}

/// What recovery did, on stderr (it is not the command's result).
pub fn print_recovery(r: &RecoveryReport) {
    for x in &r.registered {
        eprintln!(
            "recovered: export {} marked done ({}): {}",
            x.id, x.video_path, x.reason
        );
    }
    for x in &r.removed {
        eprintln!("recovered: export {} removed: {}", x.id, x.reason);
    }
    for f in &r.files_removed {
        eprintln!("recovered: removed {}", f.display());
    }
    for id in &r.foreign {
        eprintln!(
            "note: export {id} is in progress without an owner this tool knows \
             (another exporter?); left alone (see `recover --foreign-after`)"
        );
    }
    for x in &r.refused {
        eprintln!("refused: export {:?} left alone: {}", x.id, x.reason);
    }
}

/// What `migrate` did, one line per file.
pub fn print_migration(r: &nvr_export::MigrationReport) {
    for x in &r.added {
        eprintln!(
            "added: {} as export {} (camera {}, thumbnail {})",
            x.video_path,
            x.id,
            x.camera,
            if x.thumb_path.is_empty() {
                "none"
            } else {
                &x.thumb_path
            }
        );
    }
    for s in &r.skipped {
        eprintln!("skipped: {s}");
    }
    eprintln!("{} added, {} skipped", r.added.len(), r.skipped.len());
}

#[cfg(test)]
mod tests {
    use super::sharing_line;

    #[test]
    fn the_sharing_line_appears_only_when_something_was_shared() {
        assert_eq!(sharing_line(0, 929_332_193), None);
        let line = sharing_line(927_784_960, 1_547_233).unwrap_or_default();
        assert!(line.contains("927.8 of 929.3 MB"), "{line}");
    }
}
