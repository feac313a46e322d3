//! The JSON lines of `export --json`: one object per line, serialised from
//! library types.

use std::io::Write;

use nvr_export::{
    DoneRecord, Error, ExportOutcome, MigrationReport, Progress, RecoveryReport, Step,
};
use serde::Serialize;

/// One line of `--json` output.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    Progress {
        step: Step,
        percent: f64,
    },
    Done(DoneRecord<'a>),
    Error {
        kind: &'static str,
        message: String,
        /// Whether running the same export again may succeed.
        retryable: bool,
    },
    /// What crash recovery did before the command ran (only when it acted).
    Recovered(&'a RecoveryReport),
    /// What `migrate` added and skipped.
    Migrated(&'a MigrationReport),
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Event<'_> {
    pub fn progress(p: Progress) -> Event<'static> {
        Event::Progress {
            step: p.step,
            percent: round2(p.percent),
        }
    }

    pub fn done(o: &ExportOutcome) -> Event<'_> {
        Event::Done(o.record())
    }

    pub fn error(e: &Error) -> Event<'static> {
        Event::Error {
            kind: e.kind().as_str(),
            message: e.to_string(),
            retryable: e.retryable(),
        }
    }

    /// Writes the event as one line on stdout. `false` when stdout is gone
    /// (closed or full): the caller decides what that means for the exit code.
    pub fn emit(&self) -> bool {
        let Ok(line) = serde_json::to_string(self) else {
            return false;
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    }
}
