//! Migration of bare export files: a catalogue row for every `.mp4` in the
//! export folder that has none (files copied in by hand, exports of an NVR
//! version that kept no rows), as the NVR's own migration does:
//!
//! * camera: the longest of the catalogue's camera names (from recordings,
//!   previews, review items and exports: retention may have removed a
//!   camera's recordings but not its exports) found in the file name
//!   (`front_door` before `front`), else `unknown`;
//! * id `<camera>_<6 random [a-z0-9]>`, name = the file name without
//!   `.mp4`, date = the file's ctime, `in_progress = 0`;
//! * thumbnail: the first frame, 180 px high, as JPEG at
//!   `<media>/clips/export/<id>.jpg` (written under a temporary name and
//!   renamed, as every output).
//!
//! A file is taken only when it is a complete MP4 (its top-level boxes tile
//! it and one is `moov`) and a picture decodes from it: anything else (a
//! copy still under way or cut short, a file that only has the name) is
//! reported and skipped.
//! Files whose name starts with `.` (this engine's partial files) are not
//! looked at, and a file some row already names is left alone, so a second
//! run adds nothing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, ExportRow};
use crate::error::{Error, Result, SkippedSegment};
use crate::export::owner;
use crate::export::thumbnail::{self, write_image};
use crate::export::Exporter;
use crate::media::image::{self, ImageFormat};
use crate::output::{self, confine::Roots};
use crate::progress::CancelToken;

/// A file that got a row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MigratedExport {
    pub id: String,
    pub camera: String,
    pub name: String,
    pub video_path: String,
    /// Empty when the thumbnail could not be written.
    pub thumb_path: String,
}

/// What [`migrate`] did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct MigrationReport {
    pub added: Vec<MigratedExport>,
    /// Files left without a row, and why.
    pub skipped: Vec<SkippedSegment>,
}

impl Exporter {
    /// Gives every bare `.mp4` in the export folder a catalogue row; a
    /// second run adds nothing.
    pub fn migrate(&self, cancel: &CancelToken) -> Result<MigrationReport> {
        self.migrate_cameras(None, cancel)
    }

    /// [`Exporter::migrate`], guessing cameras from `cameras` (the NVR's
    /// configured names, as its own migration does) instead of the
    /// catalogue's when given.
    pub fn migrate_cameras(
        &self,
        cameras: Option<&[String]>,
        cancel: &CancelToken,
    ) -> Result<MigrationReport> {
        let catalogue = self.open_catalogue(cancel)?;
        let export_dir = self.layout().export_dir_absolute();
        let thumb_dir = thumbnail::thumb_dir(self.layout());
        let thumb_dir = std::path::absolute(&thumb_dir).unwrap_or(thumb_dir);
        migrate(&catalogue, &export_dir, &thumb_dir, cameras, cancel)
    }
}

/// Gives every bare `.mp4` in `export_dir` a row (see the module doc);
/// thumbnails go to `thumb_dir`; camera names from `cameras`, else the
/// catalogue's.
pub fn migrate(
    catalogue: &Catalogue,
    export_dir: &Path,
    thumb_dir: &Path,
    cameras: Option<&[String]>,
    cancel: &CancelToken,
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();
    // One migration at a time, across processes: two at once would each
    // register every bare file. Held for the whole run (the catalogue is
    // read after it is taken).
    let _migrating = match take_migration_lock(export_dir, cancel)? {
        Some(lock) => lock,
        None => return Ok(report),
    };
    let known: HashSet<String> = catalogue.export_video_paths()?.into_iter().collect();
    let cameras = match cameras {
        Some(names) => names.to_vec(),
        None => catalogue.known_cameras()?,
    };
    let mut files: Vec<PathBuf> = match std::fs::read_dir(export_dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(crate::error::Error::io(export_dir, e)),
    };
    files.sort();
    let mut inside = Roots::new("the export folder", [export_dir]);
    for path in files {
        cancel.check()?;
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".mp4") else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Only regular files, and symlinks that stay in the export folder:
        // what a link out of it points to is never opened or registered.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Err(why) = inside.check(&path) {
                    report.skipped.push(SkippedSegment {
                        path: path.clone(),
                        reason: format!("a symlink {why}: not opened"),
                    });
                    continue;
                }
            }
            Ok(m) if m.is_file() => {}
            Ok(_) => {
                report.skipped.push(SkippedSegment {
                    path: path.clone(),
                    reason: "not a regular file (a FIFO, device, socket or folder): not opened"
                        .into(),
                });
                continue;
            }
            Err(_) => continue,
        }
        if !path.is_file() {
            continue;
        }
        // The names the row gets obey the rules an export's do.
        if let Err(e) = output::validate_display_name(stem) {
            report.skipped.push(SkippedSegment {
                path: path.clone(),
                reason: format!("its name cannot be a catalogue name: {e}"),
            });
            continue;
        }
        let Some(video_path) = path.to_str().map(str::to_string) else {
            report.skipped.push(SkippedSegment {
                path: path.clone(),
                reason: "its path is not valid UTF-8 (the catalogue stores text)".into(),
            });
            continue;
        };
        if known.contains(&video_path) {
            continue;
        }
        // A file still being copied in (or cut short) is not taken: its
        // first frame may well decode, but the NVR would list it as whole.
        match crate::media::isobmff::is_complete(&path) {
            Ok(true) => {}
            Ok(false) => {
                report.skipped.push(SkippedSegment {
                    path: path.clone(),
                    reason: "not a complete MP4 (still being written, or cut short)".into(),
                });
                continue;
            }
            Err(e) => {
                report.skipped.push(SkippedSegment {
                    path: path.clone(),
                    reason: format!("cannot read: {e}"),
                });
                continue;
            }
        }
        let picture = match image::frame_at(&path, 0.0, cancel) {
            Ok(p) => p,
            Err(reason) => {
                report.skipped.push(SkippedSegment {
                    path: path.clone(),
                    reason: format!("not decodable video: {reason}"),
                });
                continue;
            }
        };
        let camera = guess_camera(stem, &cameras);
        let id = unused_id(catalogue, &camera)?;
        if let Err(e) = output::validate_component("export id", &id)
            .and_then(|()| output::validate_id_length(&id))
        {
            report.skipped.push(SkippedSegment {
                path: path.clone(),
                reason: format!("no export id can be made from its camera: {e}"),
            });
            continue;
        }
        let target = thumb_dir.join(format!("{id}.jpg"));
        let thumb_path = image::thumbnail(&picture, ImageFormat::Jpeg)
            .and_then(|bytes| write_image(&target, &id, &bytes).map_err(|e| e.to_string()));
        let thumb_path = match thumb_path {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "no thumbnail for a migrated export");
                String::new()
            }
        };
        let row = ExportRow {
            id: id.clone(),
            camera: camera.clone(),
            name: stem.to_string(),
            date_s: ctime_s(&path),
            video_path: video_path.clone(),
            thumb_path: thumb_path.clone(),
            in_progress: false,
            export_case_id: None,
        };
        if let Err(e) = catalogue.insert_export(&row) {
            if !thumb_path.is_empty() {
                let _ = std::fs::remove_file(&thumb_path);
            }
            return Err(e);
        }
        report.added.push(MigratedExport {
            id,
            camera,
            name: stem.to_string(),
            video_path,
            thumb_path,
        });
    }
    Ok(report)
}

/// The migration lock (`.migration.lock` in the export folder, an
/// export owner's lock file): waits while another process migrates,
/// cancellably, up to [`MIGRATION_WAIT`]; `None` when cancelled.
fn take_migration_lock(export_dir: &Path, cancel: &CancelToken) -> Result<Option<owner::Locked>> {
    if !export_dir.is_dir() {
        return Ok(None);
    }
    let deadline = std::time::Instant::now() + MIGRATION_WAIT;
    loop {
        let lock_path = owner::lock_path(export_dir, MIGRATION_LOCK_ID);
        match owner::claim(export_dir, MIGRATION_LOCK_ID).map_err(|e| Error::io(&lock_path, e))? {
            Some(lock) => return Ok(Some(lock)),
            None if std::time::Instant::now() < deadline => {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            None => {
                return Err(Error::InvalidName {
                    what: "migration",
                    value: lock_path.display().to_string(),
                    reason: "another migration has held this lock for over a minute",
                })
            }
        }
    }
}

/// The id whose lock file guards a migration.
const MIGRATION_LOCK_ID: &str = "migration";

/// How long a migration waits for another to finish.
const MIGRATION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest camera name contained in `stem`, else `unknown`.
pub fn guess_camera(stem: &str, cameras: &[String]) -> String {
    cameras
        .iter()
        .filter(|c| !c.is_empty() && stem.contains(c.as_str()))
        .max_by_key(|c| c.len())
        .cloned()
        .unwrap_or_else(|| "unknown".to_string())
}

/// `<camera>_<6 random>` that no row has yet.
fn unused_id(catalogue: &Catalogue, camera: &str) -> Result<String> {
    loop {
        let id = format!("{camera}_{}", crate::output::random_suffix());
        if !catalogue.export_exists(&id)? {
            return Ok(id);
        }
    }
}

/// The file's ctime (inode change), unix seconds, as the NVR records.
fn ctime_s(path: &Path) -> f64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .map(|m| m.ctime() as f64 + m.ctime_nsec() as f64 * 1e-9)
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_camera_name_in_the_file_name_wins() {
        let cams: Vec<String> = ["front", "front_door", "back"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            guess_camera("front_door_20240101_120000-x", &cams),
            "front_door"
        );
        assert_eq!(guess_camera("front_20240101", &cams), "front");
        assert_eq!(guess_camera("garage clip", &cams), "unknown");
        assert_eq!(guess_camera("anything", &[]), "unknown");
    }
}
