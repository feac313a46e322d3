//! The reads stage: everything an export needs from the catalogue and the
//! NVR's folders, read before anything is written or planned. The rows in
//! range (recordings, or previews and the cached frames of the current
//! hour), the review items its chapters come from, the thumbnail's picture,
//! and the names and paths of what it will write: the export row as it will
//! be inserted, the file's name, the container metadata.
//!
//! A request that finds nothing fails here with the error that says why
//! (an unknown camera, no recordings with the nearest ones around, no
//! previews, only unreadable rows).

use std::path::{Path, PathBuf};

use crate::catalogue::{Catalogue, ExportRow, Recording, ReviewSegment};
use crate::error::{Error, Result, SkippedSegment, Warning};
use crate::output;
use crate::plan::chapters::ChapterMode;
use crate::plan::Trim;
use crate::progress::CancelToken;
use crate::source::previews::{self, CachedFrame};
use crate::timefmt::{self, Zone};
use crate::transcode::args::EncodeOptions;

use super::request::{ExportRequest, Layout, Source, StartAt};
use super::settings::Settings;
use super::thumbnail::{self, ThumbSource};

/// What the reads are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// An export: a row, a file in the export folder, a thumbnail.
    Export,
    /// A virtual clip: nothing is written, so no folder is made, no space
    /// is needed and there is no thumbnail.
    Clip,
}

/// What an export read; nothing is written yet.
pub(super) struct Reads {
    pub purpose: Purpose,
    /// The typed options of a re-encoding export.
    pub encode: Option<EncodeOptions>,
    /// How the range cuts the first and last clip.
    pub trim: Trim,
    /// Preview exports: cached frames appended after the preview files.
    pub frames: Vec<CachedFrame>,
    /// The thumbnail's picture.
    pub thumb: ThumbSource,
    pub catalogue: Catalogue,
    /// The rows in range: recordings, or previews for a preview export.
    pub recordings: Vec<Recording>,
    /// Catalogue rows in range that could not be read.
    pub bad_rows: Vec<SkippedSegment>,
    /// The review items chapters are made from (empty unless the chapter
    /// mode takes them).
    pub reviews: Vec<ReviewSegment>,
    /// HLS source: the recording rows in range, which place its chapters
    /// (empty without chapters).
    pub vod_rows: Vec<Recording>,
    /// The export row as it is inserted.
    pub row: ExportRow,
    /// Absolute.
    pub export_dir: PathBuf,
    pub video_path: PathBuf,
    /// Container metadata: `title` ("Frigate Recording for ..."),
    /// `creation_time`, `comment`.
    pub metadata: Vec<(&'static str, String)>,
    /// A multi-camera export: the reads of every camera after the first
    /// (read as for a clip: no row, folder or thumbnail of their own).
    pub others: Vec<Reads>,
}

/// Reads what `req` needs (see the module doc).
pub(super) fn read(
    layout: &Layout,
    settings: &Settings,
    req: &ExportRequest,
    encode: Option<EncodeOptions>,
    purpose: Purpose,
    cancel: &CancelToken,
) -> Result<Reads> {
    if req.is_multi() {
        return read_cameras(layout, settings, req, encode, purpose, cancel);
    }
    read_one(
        layout,
        settings,
        req,
        encode,
        purpose,
        cancel,
        &[&req.camera],
    )
}

/// The reads of a multi-camera export: the first camera's as the export's
/// (its row, names and thumbnail, named for all), the others' beside.
fn read_cameras(
    layout: &Layout,
    settings: &Settings,
    req: &ExportRequest,
    encode: Option<EncodeOptions>,
    purpose: Purpose,
    cancel: &CancelToken,
) -> Result<Reads> {
    let cameras = req.camera_list();
    let first = req.for_camera(cameras[0]);
    let mut reads = read_one(layout, settings, &first, encode, purpose, cancel, &cameras)?;
    for camera in &cameras[1..] {
        let one = req.for_camera(camera);
        let clip = Purpose::Clip;
        reads.others.push(read_one(
            layout, settings, &one, None, clip, cancel, &cameras,
        )?);
    }
    Ok(reads)
}

/// The reads of one camera of the export's `cameras` (named for all of
/// them); of several, one without footage in range
/// is not an error).
fn read_one(
    layout: &Layout,
    settings: &Settings,
    req: &ExportRequest,
    encode: Option<EncodeOptions>,
    purpose: Purpose,
    cancel: &CancelToken,
    cameras: &[&str],
) -> Result<Reads> {
    let multi = cameras.len() > 1;
    let export = purpose == Purpose::Export;
    let user_thumbnail = match &req.thumbnail {
        Some(p) if export => Some(thumbnail::check_user_image(layout, p)?),
        _ => None,
    };
    let catalogue = Catalogue::open_with(&layout.db_path, cancel, settings.busy_timeout)?;
    let (recordings, bad_rows) = match &req.source {
        Source::Recordings => {
            catalogue.recordings_overlapping(&req.camera, req.start_s, req.end_s)?
        }
        Source::Preview => catalogue.previews_overlapping(&req.camera, req.start_s, req.end_s)?,
        // The VOD server says what it has; the catalogue takes the row.
        Source::Hls(_) => (Vec::new(), Vec::new()),
    };
    // The previews and the cached frames (read once: the source of a
    // preview export, and what the thumbnail is made from).
    let preview_rows = match (&req.source, &user_thumbnail) {
        (Source::Preview, _) => recordings.clone(),
        (_, Some(_)) => Vec::new(),
        _ if !export => Vec::new(),
        _ => {
            catalogue
                .previews_overlapping(&req.camera, req.start_s, req.end_s)?
                .0
        }
    };
    let (all_frames, refused_frames) = if req.source == Source::Preview
        || (export && user_thumbnail.is_none() && preview_rows.is_empty())
    {
        previews::cached_frames(&previews::frames_dir(&layout.cache_dir), &req.camera)
    } else {
        Default::default()
    };
    // A preview export names the frames it refused with its other skips;
    // for a thumbnail they are only passed over.
    let mut bad_rows = bad_rows;
    if req.source == Source::Preview {
        bad_rows.extend(refused_frames);
    } else if !refused_frames.is_empty() {
        tracing::warn!(refused = ?refused_frames, "cached preview frames refused");
    }
    let frames = if req.source == Source::Preview {
        preview_frames(layout, req, &recordings, &bad_rows, &all_frames)?
    } else {
        Vec::new()
    };
    if recordings.is_empty() && frames.is_empty() && !bad_rows.is_empty() {
        return Err(Error::UnreadableSegments { skipped: bad_rows });
    }
    if recordings.is_empty() && req.source == Source::Recordings {
        // Of several cameras, one without footage in range is left out
        // (said by a warning); an unknown one fails the export.
        match nothing_recorded(&catalogue, req) {
            Error::NoRecordings { .. } if multi => {}
            e => return Err(e),
        }
    }
    let (reviews, vod_rows) = chapter_rows(&catalogue, req)?;

    let export_dir = layout.export_dir_absolute();
    if export {
        output::ensure_dir(&export_dir)?;
    }
    let id = match &req.id {
        Some(id) => id.clone(),
        None => format!("{}_{}", req.camera, output::random_suffix()),
    };
    let names = Names::of(req, cameras, &export_dir, &id);
    if export && names.video_path.exists() {
        return Err(Error::InvalidName {
            what: "export file",
            value: names.video_path.display().to_string(),
            reason: "already exists in the export folder",
        });
    }
    let thumb = if export {
        thumbnail::choose(
            layout,
            &req.camera,
            req.start_s,
            req.end_s,
            user_thumbnail,
            &preview_rows,
            &all_frames,
        )
    } else {
        ThumbSource::None("a virtual clip has no thumbnail".into())
    };
    let thumb_target = thumbnail::thumb_dir(layout).join(format!("{id}.webp"));
    let thumb_target = std::path::absolute(&thumb_target).unwrap_or(thumb_target);
    let row = ExportRow {
        id,
        camera: req.camera.clone(),
        name: names.name,
        date_s: req.start_s,
        video_path: utf8("export folder", &names.video_path)?.to_string(),
        // Set before the thumbnail exists, so that recovery removes it
        // with the row if this process dies; emptied if none is made.
        thumb_path: match (&thumb, thumb_target.to_str()) {
            (ThumbSource::None(_), _) | (_, None) => String::new(),
            (_, Some(t)) => t.to_string(),
        },
        in_progress: true,
        export_case_id: req.export_case_id.clone(),
    };
    Ok(Reads {
        purpose,
        encode,
        trim: if req.source == Source::Preview || req.start_at == StartAt::Exact {
            Trim::Exact
        } else {
            Trim::Keyframe
        },
        frames,
        thumb,
        catalogue,
        recordings,
        bad_rows,
        reviews,
        vod_rows,
        row,
        export_dir,
        video_path: names.video_path,
        metadata: names.metadata,
        others: Vec::new(),
    })
}

/// Preview exports: the cached frames after the last preview file; no
/// previews and no frames is an error.
fn preview_frames(
    layout: &Layout,
    req: &ExportRequest,
    previews_in_range: &[Recording],
    bad_rows: &[SkippedSegment],
    all_frames: &[CachedFrame],
) -> Result<Vec<CachedFrame>> {
    let from = previews_in_range
        .iter()
        .map(|r| r.end_s)
        .fold(req.start_s, f64::max);
    let frames = previews::frames_in(all_frames, from, req.end_s).to_vec();
    if previews_in_range.is_empty() && frames.is_empty() {
        if !bad_rows.is_empty() {
            return Err(Error::UnreadableSegments {
                skipped: bad_rows.to_vec(),
            });
        }
        return Err(Error::NoPreviews {
            camera: req.camera.clone(),
            start_s: req.start_s,
            end_s: req.end_s,
            frames_dir: previews::frames_dir(&layout.cache_dir),
        });
    }
    Ok(frames)
}

/// No recording in range: an unknown camera, or the nearest recordings
/// before and after the range.
fn nothing_recorded(catalogue: &Catalogue, req: &ExportRequest) -> Error {
    let known = match catalogue.cameras() {
        Ok(known) => known,
        Err(e) => return e,
    };
    if !known.iter().any(|c| c == &req.camera) {
        return Error::UnknownCamera {
            camera: req.camera.clone(),
            known,
        };
    }
    match catalogue.nearest_recordings(&req.camera, req.start_s, req.end_s) {
        Ok((before, after)) => Error::NoRecordings {
            camera: req.camera.clone(),
            start_s: req.start_s,
            end_s: req.end_s,
            before,
            after,
        },
        Err(e) => e,
    }
}

/// The rows chapters are made from: the review items (review-item
/// chapters of a recordings or HLS export; previews carry none, as the
/// NVR's), and for the HLS source the recording rows that place them (and
/// the wall-clock timestamps).
fn chapter_rows(
    catalogue: &Catalogue,
    req: &ExportRequest,
) -> Result<(Vec<ReviewSegment>, Vec<Recording>)> {
    let hls = matches!(req.source, Source::Hls(_));
    if (req.chapters == ChapterMode::None
        && !(hls && (req.timestamps || req.start_at == StartAt::Exact)))
        || req.source == Source::Preview
    {
        return Ok((Vec::new(), Vec::new()));
    }
    let vod_rows = match req.source {
        Source::Hls(_) => {
            catalogue
                .recordings_overlapping(&req.camera, req.start_s, req.end_s)?
                .0
        }
        _ => Vec::new(),
    };
    let reviews = if req.chapters == ChapterMode::ReviewItems {
        catalogue.reviews_overlapping(&req.camera, req.start_s, req.end_s)?
    } else {
        Vec::new()
    };
    Ok((reviews, vod_rows))
}

/// The names an export is known by.
struct Names {
    /// Display name; default `"<camera with _ as space> <start> <end>"`
    /// (several cameras: joined by ` + `).
    name: String,
    video_path: PathBuf,
    metadata: Vec<(&'static str, String)>,
}

impl Names {
    /// The names of `req`'s export of `cameras` (the file is named for the
    /// first, `req.camera`).
    fn of(req: &ExportRequest, cameras: &[&str], export_dir: &Path, id: &str) -> Names {
        let zone = Zone::or_local(req.timezone.as_deref());
        let fmt = "%Y-%m-%d %H:%M:%S";
        let (start, end) = (zone.format(req.start_s, fmt), zone.format(req.end_s, fmt));
        let spoken: Vec<String> = cameras.iter().map(|c| c.replace('_', " ")).collect();
        let name = req
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {start} {end}", spoken.join(" + ")));
        // Three clocks, as the NVR: the file is named in the machine's local
        // time, the name and title in the configured zone, creation_time in UTC.
        let file = output::export_file_name(&req.camera, req.start_s, req.end_s, id, Zone::Local);
        let kind = if req.source == Source::Preview {
            "Preview"
        } else {
            "Recording"
        };
        let metadata = vec![
            (
                "title",
                format!("Frigate {kind} for {}, {start} - {end}", cameras.join(", ")),
            ),
            ("creation_time", timefmt::creation_time(req.start_s)),
            match cameras {
                [one] => ("comment", format!("Camera: {one}")),
                all => ("comment", format!("Cameras: {}", all.join(", "))),
            },
        ];
        Names {
            name,
            video_path: export_dir.join(file),
            metadata,
        }
    }
}

/// `path` as text: the catalogue stores paths as text.
fn utf8<'a>(what: &'static str, path: &'a Path) -> Result<&'a str> {
    path.to_str().ok_or_else(|| Error::InvalidName {
        what,
        value: path.to_string_lossy().into_owned(),
        reason: "is not valid UTF-8: the catalogue stores paths as text, \
                 and the NVR could not find the file",
    })
}

impl Reads {
    /// Makes the thumbnail the row names; when none can be made, empties
    /// the row's `thumb_path` and says why. Never fails the export.
    pub fn make_thumbnail(&mut self, cancel: &CancelToken) -> Option<Warning> {
        let made = if self.row.thumb_path.is_empty() {
            match &self.thumb {
                ThumbSource::None(why) => Err(why.clone()),
                _ => Err("the thumbnail folder's path is not valid UTF-8".to_string()),
            }
        } else {
            let target = PathBuf::from(&self.row.thumb_path);
            thumbnail::make(&self.thumb, &target, &self.row.id, cancel)
        };
        match made {
            Ok(path) => {
                tracing::info!(stage = "thumbnail", path = %path.display(), "thumbnail made");
                None
            }
            Err(reason) => {
                tracing::info!(%reason, "no thumbnail");
                self.row.thumb_path.clear();
                Some(Warning::NoThumbnail { reason })
            }
        }
    }
}
