//! Crash recovery: finish what dead exports left, never touch a live one.
//!
//! An export that dies (`SIGKILL`, power loss, a panic) leaves at most: its
//! lock file `.<id>.lock` (unlocked, since the kernel dropped the lock), an
//! `export` row with `in_progress = 1`, and a partial `.<id>.<random>.part`.
//! [`recover`] looks at each:
//!
//! * a row in progress whose lock is held: a live export, left alone;
//! * a row in progress whose lock file is there but free: its export died.
//!   If its final file exists, the export had finished (files only get their
//!   final name after `fsync`) and only the row update was lost: the row is
//!   marked done ("registered"). Otherwise the row, its thumbnail and its
//!   partial files are removed (or, with [`RecoveryOptions::requeue`], the
//!   request from the lock file is handed back to be run again);
//! * a row in progress with no lock file at all was not written by this
//!   engine (the NVR's own exporter, an older tool): left alone, unless
//!   [`RecoveryOptions::foreign_stale_after`] says how long its file must
//!   have been unchanged to count as abandoned; then a complete MP4 is
//!   registered and anything else removed with its row;
//! * partial files and lock files whose owner is dead are removed, and so
//!   are partial thumbnails (`<media>/clips/export/.<id>.<random>.part`);
//! * except a dead export's partial file that has a resume journal (the
//!   index-driven writer's, see `remux::resume`) and whose request the lock
//!   file kept: its row goes, and the export is run again at once
//!   ([`Exporter::recover`]) or handed back (`requeue`), and the writer
//!   keeps what of the partial file still holds. The report names each
//!   resumed export with the bytes kept.
//!
//! Whatever was done is returned as a [`RecoveryReport`].

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::catalogue::{Catalogue, ExportRow};
use crate::error::{Error, Result};
use crate::export::{owner, thumbnail};
use crate::export::{ExportRequest, Exporter};
use crate::media::isobmff;
use crate::output::{self, confine::Roots};
use crate::progress::CancelToken;

/// What recovery may do beyond the safe default.
#[derive(Debug, Clone, Default)]
pub struct RecoveryOptions {
    /// Hand dead exports back to be run again instead of only removing them.
    pub requeue: bool,
    /// Treat an in-progress row that no lock file owns as abandoned once
    /// its file has not changed for this long (`None`: never touch it).
    pub foreign_stale_after: Option<Duration>,
}

/// One export recovery acted on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RecoveredExport {
    pub id: String,
    pub video_path: String,
    pub reason: String,
}

/// A dead export run again from where it stopped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ResumedExport {
    pub id: String,
    pub video_path: String,
    /// Bytes of the partial file kept (0: it could not be resumed and was
    /// written again whole; `reason` says why).
    pub bytes_kept: u64,
    /// Bytes of the finished file.
    pub bytes_total: u64,
    pub reason: Option<String>,
    /// Finished from the plan its dead run saved (no segment header read
    /// again); `false`: planned again.
    pub from_saved_plan: bool,
}

/// What [`recover`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RecoveryReport {
    /// Dead exports resumed from their partial file ([`Exporter::recover`]
    /// without `requeue`).
    pub resumed: Vec<ResumedExport>,
    /// Dead exports with a resumable partial file, to run again (the queue
    /// runs them; [`Exporter::recover`] runs them itself otherwise).
    #[serde(skip)]
    pub resumable: Vec<ExportRequest>,
    /// Finished files whose row was still in progress: marked done.
    pub registered: Vec<RecoveredExport>,
    /// Dead exports whose row (and partial files, thumbnail) were removed.
    pub removed: Vec<RecoveredExport>,
    /// With `requeue`: the requests of removed exports, to run again.
    #[serde(skip)]
    pub requeue: Vec<ExportRequest>,
    /// Partial and lock files removed.
    pub files_removed: Vec<PathBuf>,
    /// Exports in progress in a live process: untouched.
    pub live: Vec<String>,
    /// Rows in progress no lock file owns: untouched.
    pub foreign: Vec<String>,
    /// Rows recovery would not act on, and why (an id that is not a valid
    /// name, a file outside the export folder, a row that cannot be read):
    /// untouched, and nothing they name is opened or removed.
    pub refused: Vec<RecoveredExport>,
}

impl RecoveryReport {
    /// Whether recovery changed anything.
    pub fn acted(&self) -> bool {
        !(self.registered.is_empty()
            && self.removed.is_empty()
            && self.files_removed.is_empty()
            && self.resumed.is_empty())
    }
}

impl Exporter {
    /// Finishes what dead exports left: rows still in progress whose owner
    /// is gone, partial files, stale lock files. Live exports, in this
    /// process or another, are never touched.
    pub fn recover(&self, options: &RecoveryOptions) -> Result<RecoveryReport> {
        let catalogue = self.open_catalogue(&CancelToken::new())?;
        let export_dir = self.layout().export_dir_absolute();
        let thumb_dir = thumbnail::thumb_dir(self.layout());
        let mut report = recover(&catalogue, &export_dir, &thumb_dir, options)?;
        // Held open while the dead exports run again: the connection that
        // closes last checkpoints the WAL and deletes it, and the export's
        // own would make it again (four `fsync`s for nothing, each of which
        // waits behind the dead export's writeback).
        let _held = catalogue;
        if !options.requeue {
            for req in std::mem::take(&mut report.resumable) {
                let id = req.id.clone().unwrap_or_default();
                match self.export(&req, &CancelToken::new(), |_| {}) {
                    Ok(out) => report.resumed.push(ResumedExport {
                        id,
                        video_path: out.video_path.display().to_string(),
                        bytes_kept: out.stats.resumed_bytes,
                        bytes_total: out.stats.bytes_written,
                        reason: out.stats.resume_restarted.clone(),
                        from_saved_plan: out.stats.from_saved_plan,
                    }),
                    Err(e) => report.refused.push(RecoveredExport {
                        id,
                        video_path: String::new(),
                        reason: format!("its resume failed: {e}"),
                    }),
                }
            }
        }
        Ok(report)
    }

    /// Resumes the dead export `id` (its partial file and journal kept by
    /// an earlier [`Exporter::recover`] with `requeue`, or left by a crash):
    /// recovery for that export alone, the export run again.
    pub fn resume(&self, id: &str) -> Result<Option<ResumedExport>> {
        let report = self.recover(&RecoveryOptions::default())?;
        Ok(report.resumed.into_iter().find(|r| r.id == id))
    }
}

/// Recovers dead exports of `catalogue` whose files are in `export_dir` and
/// thumbnails in `thumb_dir`.
pub fn recover(
    catalogue: &Catalogue,
    export_dir: &Path,
    thumb_dir: &Path,
    options: &RecoveryOptions,
) -> Result<RecoveryReport> {
    let mut report = RecoveryReport::default();
    let mut exports = Roots::new("the export folder", [export_dir]);
    for row in catalogue.exports_in_progress()? {
        let row = match row {
            Ok(row) => row,
            Err((id, reason)) => {
                report.refused.push(RecoveredExport {
                    id,
                    video_path: String::new(),
                    reason,
                });
                continue;
            }
        };
        if let Err(reason) = confined(&row, &mut exports) {
            report.refused.push(recovered(&row, &reason));
            continue;
        }
        let lock_path = owner::lock_path(export_dir, &row.id);
        if std::fs::symlink_metadata(&lock_path).is_err() {
            foreign(catalogue, &row, thumb_dir, options, &mut report)?;
            continue;
        }
        let mut lock = match owner::claim(export_dir, &row.id) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                report.live.push(row.id.clone());
                continue;
            }
            Err(e) => {
                report
                    .refused
                    .push(recovered(&row, &format!("its lock file: {e}")));
                continue;
            }
        };
        let record = lock.record();
        if Path::new(&row.video_path).is_file() {
            catalogue.finish_export(&row.id, &row.thumb_path)?;
            report.registered.push(recovered(
                &row,
                "the file was complete; its row was still in progress",
            ));
        } else {
            remove_thumb(&row, thumb_dir, &mut report);
            catalogue.delete_export(&row.id)?;
            let resumable = owner::resumable_part(export_dir, &row.id).is_some();
            match record {
                Some(r) if resumable => {
                    // Its partial file stays for the export run again
                    // (with `requeue` by the queue, else below).
                    let mut req = r.request;
                    req.id = Some(row.id.clone());
                    if options.requeue {
                        report.requeue.push(req.clone());
                    }
                    report.resumable.push(req);
                }
                record => {
                    report.removed.push(recovered(
                        &row,
                        "its export died before the file was finished",
                    ));
                    if let (true, Some(r)) = (options.requeue, record) {
                        let mut req = r.request;
                        req.id = Some(row.id.clone());
                        report.requeue.push(req);
                    }
                }
            }
        }
        let _ = lock.remove();
        report.files_removed.push(lock_path);
    }
    sweep_files(export_dir, &mut report)?;
    sweep_thumbnail_parts(thumb_dir, export_dir, &mut report)?;
    Ok(report)
}

/// Whether recovery may act on `row`: its id is a valid name (it becomes
/// the lock file's), and its file, if it has one, is in the export folder.
fn confined(row: &ExportRow, exports: &mut Roots) -> std::result::Result<(), String> {
    output::validate_component("export id", &row.id).map_err(|e| e.to_string())?;
    let video = Path::new(&row.video_path);
    if !video.is_absolute() {
        return Err(format!(
            "its video_path {:?} is not an absolute path",
            row.video_path
        ));
    }
    exports
        .check(video)
        .map(|_| ())
        .map_err(|why| format!("its video_path {:?} is {why}", row.video_path))
}

/// Partial thumbnails (`.<id>.<random>.part` in the thumbnail folder)
/// whose export is not alive: a process killed while writing one.
fn sweep_thumbnail_parts(
    thumb_dir: &Path,
    export_dir: &Path,
    report: &mut RecoveryReport,
) -> Result<()> {
    let entries = match std::fs::read_dir(thumb_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(thumb_dir, e)),
    };
    for name in entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
    {
        let Some(id) = owner::part_owner(&name) else {
            continue;
        };
        let path = thumb_dir.join(&name);
        let Some(lock) = claim_for_sweep(export_dir, id, &path, report) else {
            continue; // a live export's, or refused
        };
        if std::fs::remove_file(&path).is_ok() {
            report.files_removed.push(path);
        }
        let _ = lock.remove();
    }
    Ok(())
}

/// Claims export `id` to remove `path`, a file it left: `None` when a live
/// export holds it, or when its lock file is refused (a symlink, not a
/// regular file: named in the report, never followed).
fn claim_for_sweep(
    export_dir: &Path,
    id: &str,
    path: &Path,
    report: &mut RecoveryReport,
) -> Option<owner::Locked> {
    match owner::claim(export_dir, id) {
        Ok(lock) => lock,
        Err(e) => {
            report.refused.push(RecoveredExport {
                id: id.to_string(),
                video_path: path.display().to_string(),
                reason: format!("left alone: {e}"),
            });
            None
        }
    }
}

/// Partial files and lock files whose owner is dead.
fn sweep_files(export_dir: &Path, report: &mut RecoveryReport) -> Result<()> {
    let entries = match std::fs::read_dir(export_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(export_dir, e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    for name in names {
        let (id, is_part) = match (owner::part_owner(&name), owner::lock_owner(&name)) {
            (Some(id), _) => (id.to_string(), true),
            (None, Some(id)) => (id.to_string(), false),
            _ => continue,
        };
        let path = export_dir.join(&name);
        // A lock file already handled above, or removed by its owner since.
        if !is_part && std::fs::symlink_metadata(&path).is_err() {
            continue;
        }
        // Already refused (and named) with its row.
        if report.refused.iter().any(|r| r.id == id) {
            continue;
        }
        // Kept for the export run again from it (see the module doc).
        if is_part
            && report
                .resumable
                .iter()
                .any(|r| r.id.as_deref() == Some(id.as_str()))
        {
            continue;
        }
        let Some(lock) = claim_for_sweep(export_dir, &id, &path, report) else {
            continue; // a live export's, or refused
        };
        if is_part && std::fs::remove_file(&path).is_ok() {
            report.files_removed.push(path.clone());
        }
        if is_part {
            let sides = crate::remux::resume::SIDE_FILES.iter().chain(&[".share"]);
            for suffix in sides {
                let side = export_dir.join(format!("{name}{suffix}"));
                if std::fs::remove_file(&side).is_ok() {
                    report.files_removed.push(side);
                }
            }
        }
        // Report lock files that were there before (not one the claim made).
        let (lock_path, existed) = (lock.path().to_path_buf(), lock.existed);
        if lock.remove().is_ok() && existed {
            report.files_removed.push(lock_path);
        }
    }
    Ok(())
}

/// A row in progress with no lock file: see the module docs.
fn foreign(
    catalogue: &Catalogue,
    row: &ExportRow,
    thumb_dir: &Path,
    options: &RecoveryOptions,
    report: &mut RecoveryReport,
) -> Result<()> {
    let video = Path::new(&row.video_path);
    let stale = options.foreign_stale_after.and_then(|after| {
        let modified = std::fs::metadata(video).ok()?.modified().ok()?;
        let age = SystemTime::now().duration_since(modified).ok()?;
        Some(age >= after)
    });
    if stale != Some(true) {
        report.foreign.push(row.id.clone());
        return Ok(());
    }
    if isobmff::is_complete(video).unwrap_or(false) {
        catalogue.finish_export(&row.id, &row.thumb_path)?;
        report.registered.push(recovered(
            row,
            "a complete MP4 (moov written) whose writer left its row in progress",
        ));
    } else {
        if std::fs::remove_file(video).is_ok() {
            report.files_removed.push(video.to_path_buf());
        }
        remove_thumb(row, thumb_dir, report);
        catalogue.delete_export(&row.id)?;
        report.removed.push(recovered(
            row,
            "an unfinished file (no moov, or an mdat never closed) abandoned by its writer",
        ));
    }
    Ok(())
}

/// Removes a dead export's thumbnail if it lies in the thumbnail folder.
fn remove_thumb(row: &ExportRow, thumb_dir: &Path, report: &mut RecoveryReport) {
    if row.thumb_path.is_empty() {
        return;
    }
    let thumb = Path::new(&row.thumb_path);
    let inside = match (thumb.canonicalize(), thumb_dir.canonicalize()) {
        (Ok(t), Ok(m)) => t.starts_with(m),
        _ => false,
    };
    if inside && std::fs::remove_file(thumb).is_ok() {
        report.files_removed.push(thumb.to_path_buf());
    }
}

fn recovered(row: &ExportRow, reason: &str) -> RecoveredExport {
    RecoveredExport {
        id: row.id.clone(),
        video_path: row.video_path.clone(),
        reason: reason.to_string(),
    }
}
