//! A multi-camera export's input and writer: each camera's footage probed
//! and planned alone (as a one-camera export's), the plans placed on one
//! wall-clock timeline (`plan::cameras`), chapters from every camera's
//! review items titled with the camera, and one stream copy of all of them
//! by the index-driven writer (a track a camera, each with its edit list).
//!
//! The catalogue gets one export row, the first camera's, named for all of
//! them: the NVR's `export` table has one camera a row, and its UI lists a
//! camera's exports by that column; one row a camera would show one file
//! as several exports and delete it with the first.

use std::path::Path;

use crate::error::{Error, Result, Warning};
use crate::output;
use crate::plan::cameras::{self, Placement};
use crate::plan::chapters::{self, Chapter, ChapterMode, Titled};
use crate::plan::timestamps::{self, Cue};
use crate::progress::{Reporter, Step};
use crate::remux::fast;
use crate::timefmt::Zone;

use super::footage::{self, Footage};
use super::manifest;
use super::outcome::Written;
use super::reads::Reads;
use super::request::{ExportRequest, Layout, Source};
use super::settings::Settings;
use super::timeline::{self, Timeline};
use super::writer;

/// One camera's part.
pub(super) struct CameraInput {
    pub name: String,
    pub footage: Footage,
    pub timeline: Timeline,
}

/// Every camera's footage on one timeline; nothing written yet.
pub(super) struct Cameras {
    /// The cameras with footage in range, in the request's order.
    pub each: Vec<CameraInput>,
    pub placement: Placement,
    pub chapters: Vec<Chapter>,
    pub timestamps: Vec<Cue>,
    pub needed_bytes: u64,
    pub warnings: Vec<Warning>,
}

/// Reads and plans every camera of `reads` (the first's and its
/// `others`); a camera without footage in range is left out with a
/// warning, none with footage fails as a one-camera export does.
pub(super) fn read(
    layout: &Layout,
    settings: &Settings,
    min_free_bytes: u64,
    req: &ExportRequest,
    reads: &Reads,
    reporter: &Reporter<'_>,
) -> Result<Cameras> {
    let cancel = reporter.cancel_token();
    let mut each = Vec::new();
    let mut warnings = Vec::new();
    let mut first_error = None;
    for r in std::iter::once(reads).chain(&reads.others) {
        // Each camera planned alone: no chapters or cues of its own.
        let mut one = req.for_camera(&r.row.camera);
        one.chapters = ChapterMode::None;
        one.timestamps = false;
        let mut footage = footage::gather(layout, settings, &Source::Recordings, r, None, cancel)?;
        match timeline::lay_out(&one, r, &mut footage, 0) {
            Ok(timeline) => each.push(CameraInput {
                name: r.row.camera.clone(),
                footage,
                timeline,
            }),
            Err(e @ (Error::NoRecordings { .. } | Error::UnreadableSegments { .. })) => {
                warnings.push(Warning::CameraLeftOut {
                    camera: r.row.camera.clone(),
                    reason: e.to_string(),
                });
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if each.is_empty() {
        return Err(first_error.unwrap_or(Error::NoRecordings {
            camera: req.camera.clone(),
            start_s: req.start_s,
            end_s: req.end_s,
            before: None,
            after: None,
        }));
    }
    let plans: Vec<_> = each.iter().map(|c| &c.timeline.plan).collect();
    let placement = cameras::place(req.start_s, req.end_s, &plans);
    let zone = Zone::or_utc(req.timezone.as_deref());
    let chapters = shared_chapters(req, reads, &each, &placement, zone);
    let timestamps = if req.timestamps {
        timestamps::cues(&placement.timeline, zone)
    } else {
        Vec::new()
    };
    let needed_bytes = each.iter().map(|c| c.timeline.needed_bytes).sum::<u64>();
    output::ensure_space(
        &reads.export_dir,
        needed_bytes.saturating_add(min_free_bytes),
    )?;
    tracing::info!(
        stage = "plan",
        cameras = each.len(),
        duration_s = placement.duration().seconds(),
        skipped_holes = placement.holes.len(),
        "cameras placed on one timeline"
    );
    Ok(Cameras {
        each,
        placement,
        chapters,
        timestamps,
        needed_bytes,
        warnings,
    })
}

/// Chapters on the shared timeline: every camera's review items titled
/// `"<camera>: <title>"` (or one a covered stretch), the skipped stretches
/// marked.
fn shared_chapters(
    req: &ExportRequest,
    reads: &Reads,
    each: &[CameraInput],
    placement: &Placement,
    zone: Zone,
) -> Vec<Chapter> {
    let timeline = &placement.timeline;
    let mut list = match req.chapters {
        ChapterMode::None => return Vec::new(),
        ChapterMode::RecordingSegments => {
            chapters::build(ChapterMode::RecordingSegments, timeline, &[], zone)
        }
        ChapterMode::ReviewItems => {
            let items: Vec<Titled> = std::iter::once(reads)
                .chain(&reads.others)
                .filter(|r| each.iter().any(|c| c.name == r.row.camera))
                .flat_map(|r| {
                    r.reviews.iter().map(|v| Titled {
                        start_s: v.start_s,
                        end_s: v.end_s,
                        title: format!(
                            "{}: {}",
                            r.row.camera,
                            chapters::review_title(&v.severity, &v.data)
                        ),
                    })
                })
                .collect();
            chapters::titled_chapters(timeline, &items, zone)
        }
    };
    if list.is_empty() && !placement.holes.is_empty() {
        if let Some(first) = timeline.clips.first() {
            list.push(Chapter {
                start: crate::time::OutTicks::ZERO,
                end: timeline.duration(),
                title: zone.iso8601(first.wall_start_s),
            });
        }
    }
    let holes: Vec<_> = placement
        .holes
        .iter()
        .map(|h| (h.at, h.from_s, h.to_s))
        .collect();
    chapters::mark_holes(&mut list, &holes, zone);
    list
}

impl Cameras {
    /// Tiles every camera into one picture, re-encoded (`transcode::mosaic`).
    fn mosaic(
        self,
        req: &ExportRequest,
        reads: &Reads,
        out: &Path,
        reporter: &mut Reporter<'_>,
    ) -> Result<Written> {
        use crate::transcode::{mosaic, preset};
        reporter.step(Step::Encoding, 0.0)?;
        let args = req.encode.clone().unwrap_or_default();
        let chosen = preset::chosen(args.hwaccel.as_deref());
        let defaults = crate::transcode::args::EncodeOptions::default();
        let options = reads.encode.as_ref().unwrap_or(&defaults);
        let fps = self
            .each
            .iter()
            .filter_map(|c| {
                let clip = c.timeline.plan.clips.first()?;
                let t = &c.footage.segments[clip.segment].probe.video.timing;
                let span = t.samples.span();
                let secs = crate::time::seconds(span.end_at_least_1 - span.min_pts, t.time_base);
                (secs > 0.0).then(|| (t.samples.len() as f64 / secs).round() as u32)
            })
            .max()
            .unwrap_or(15)
            .clamp(1, 30);
        let cameras = self
            .each
            .iter()
            .zip(&self.placement.cameras)
            .map(|(c, p)| {
                let plan = &c.timeline.plan;
                mosaic::MosaicCamera {
                    name: &c.name,
                    plan,
                    segments: &c.footage.segments,
                    shift: plan
                        .clips
                        .iter()
                        .zip(&p.clip_at)
                        .map(|(clip, &at)| at - clip.offset)
                        .collect(),
                    footage: p.footage(plan),
                }
            })
            .collect();
        let job = mosaic::MosaicJob {
            cameras,
            total: self.placement.duration(),
            fps,
            options,
            chapters: &self.chapters,
            timestamps: &self.timestamps,
            metadata: &reads.metadata,
            preset: chosen,
            cpu_fallback: args.cpu_fallback,
        };
        let (stats, fell_back) = mosaic::write(&job, out, reporter)?;
        drop(job);
        let mut warnings = self.warnings;
        warnings.extend(fell_back);
        let mut skipped = Vec::new();
        for c in self.each {
            warnings.extend(c.footage.warnings);
            skipped.extend(c.footage.skipped);
        }
        Ok(Written {
            duration_s: stats.video_duration_s,
            skipped,
            warnings,
            chapters: self.chapters.len(),
            stats,
        })
    }

    /// The segments a manifest describes: every camera's.
    pub fn sources(&self) -> Vec<manifest::Source> {
        self.each
            .iter()
            .flat_map(|c| c.footage.segments[..c.footage.files].iter())
            .map(|ps| {
                let crate::source::Locator::File(path) = &ps.segment.locator;
                manifest::Source {
                    id: ps.segment.id.clone(),
                    start_s: ps.segment.start_s,
                    end_s: ps.segment.end_s,
                    path: path.clone(),
                }
            })
            .collect()
    }

    /// Copies every camera into `out` (a staged file the caller owns).
    pub fn write(
        self,
        settings: &Settings,
        req: &ExportRequest,
        reads: &Reads,
        out: &Path,
        reporter: &mut Reporter<'_>,
    ) -> Result<Written> {
        if req.mosaic {
            return self.mosaic(req, reads, out, reporter);
        }
        reporter.step(Step::Copying, 0.0)?;
        if let Some(rate) = settings.max_rate {
            reporter.pace(rate, self.needed_bytes);
        }
        let jobs: Vec<_> = self
            .each
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let mut job =
                    writer::remux_job(req, reads, &c.footage, &c.timeline, settings.max_rate);
                if k == 0 {
                    job.chapters = &self.chapters;
                    job.timestamps = &self.timestamps;
                }
                job
            })
            .collect();
        for (c, job) in self.each.iter().zip(&jobs) {
            if let Err(why) = fast::check(job) {
                return Err(Error::Media {
                    context: format!("multi-camera export, camera {}", c.name),
                    cause: format!(
                        "its footage cannot be copied track by track ({why}); export it alone"
                    ),
                });
            }
        }
        let tracks: Vec<fast::CameraTrack<'_>> = self
            .each
            .iter()
            .zip(&jobs)
            .zip(&self.placement.cameras)
            .map(|((c, job), placement)| fast::CameraTrack {
                job,
                name: &c.name,
                placement,
            })
            .collect();
        let total = self.placement.duration();
        let stats = fast::write_cameras(&tracks, total, out, reporter)?;
        tracing::info!(
            stage = "write",
            cameras = tracks.len(),
            bytes = stats.bytes_written,
            video_packets = stats.video_packets,
            audio_packets = stats.audio_packets,
            "written"
        );
        let mut warnings = self.warnings;
        let mut skipped = Vec::new();
        for c in self.each {
            warnings.extend(c.footage.warnings);
            skipped.extend(c.footage.skipped);
        }
        Ok(Written {
            duration_s: total.seconds(),
            skipped,
            warnings,
            chapters: self.chapters.len(),
            stats,
        })
    }
}
