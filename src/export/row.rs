//! The row stage: the export's catalogue row and the lock file that owns
//! its id, from before any work to after the file is committed.
//!
//! The id is owned (a lock file, see [`owner`](super::owner)) before the
//! row exists, so that recovery, in any process, can tell this export from
//! a dead one at every moment. The row is inserted `in_progress = 1`; on
//! success the file is committed first and the row marked done after: a
//! committed file is never removed, and a row that cannot be marked (the
//! catalogue stays locked, its disk is full) is left to recovery with
//! [`Warning::CatalogueNotUpdated`]. On failure the thumbnail and the row
//! are removed (the staged file is gone already), and the id released.

use std::path::PathBuf;

use crate::error::{Error, Result, Warning};
use crate::output::StagedFile;
use crate::progress::{Reporter, Step};

use super::owner::{ExportOwner, OwnerRecord};
use super::reads::Reads;
use super::request::ExportRequest;

/// Owns the export id and inserts the row.
pub(super) fn claim(req: &ExportRequest, reads: &Reads) -> Result<ExportOwner> {
    let id = reads.row.id.as_str();
    let mut request = req.clone();
    request.id = Some(id.to_string());
    let record = OwnerRecord {
        pid: std::process::id(),
        started_s: crate::time::unix_now_s(),
        request,
    };
    let owner = ExportOwner::acquire(&reads.export_dir, id, &record)?;
    let inserted = match reads.catalogue.export_exists(id) {
        Ok(true) => Err(Error::InvalidName {
            what: "export id",
            value: id.to_string(),
            reason: "an export with this id already exists",
        }),
        Ok(false) => reads.catalogue.insert_export(&reads.row),
        Err(e) => Err(e),
    };
    match inserted {
        Ok(()) => Ok(owner),
        Err(e) => {
            owner.finish();
            Err(e)
        }
    }
}

/// Commits the written file and marks the row done; `true` when the row
/// is final. Whatever happens to the row, the committed file stays.
pub(super) fn commit(
    reads: &Reads,
    staged: StagedFile,
    reporter: &mut Reporter<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(PathBuf, bool)> {
    reporter.complete();
    reporter.step(Step::Finalizing, 100.0)?;
    let video_path = staged.commit()?;
    tracing::info!(stage = "commit", path = %video_path.display(), "committed");
    let row_final = match reads
        .catalogue
        .finish_export(&reads.row.id, &reads.row.thumb_path)
    {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "export row not marked done; recovery will");
            warnings.push(Warning::CatalogueNotUpdated {
                id: reads.row.id.clone(),
                reason: e.to_string(),
            });
            false
        }
    };
    Ok((video_path, row_final))
}

/// Releases the id: for good when the row is final, else left for
/// recovery.
pub(super) fn release(owner: ExportOwner, row_final: bool) {
    if row_final {
        owner.finish();
    } else {
        owner.abandon();
    }
}

/// A failed export: its thumbnail and row go; if the row cannot be
/// removed now, recovery removes it.
pub(super) fn remove(reads: &Reads, owner: ExportOwner) {
    if !reads.row.thumb_path.is_empty() {
        let _ = std::fs::remove_file(&reads.row.thumb_path);
    }
    let removed = reads.catalogue.delete_export(&reads.row.id).is_ok();
    release(owner, removed);
    tracing::debug!("export cleaned up");
}
