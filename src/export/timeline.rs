//! The timeline stage of a file-source export: the clip plan over the
//! footage (`plan`: cuts, gaps collapsed, output offsets), whether the
//! output keeps audio, the chapters, and the space the output needs.

use crate::error::{Error, Result, Warning};
use crate::output;
use crate::plan::chapters::{self, Chapter, ChapterMode};
use crate::plan::timestamps::{self, Cue};
use crate::plan::{Plan, PlanSegment};
use crate::probe::SegmentProbe;
use crate::remux::tracks::{self, AudioTrack};
use crate::timefmt::Zone;

use super::footage::Footage;
use super::reads::{Purpose, Reads};
use super::request::{ExportRequest, Source};

/// The output's timeline.
pub(super) struct Timeline {
    pub plan: Plan,
    /// Whether the output has an audio track.
    pub audio: bool,
    pub chapters: Vec<Chapter>,
    /// The wall-clock timestamp cues (empty without `--timestamps`).
    pub timestamps: Vec<Cue>,
    /// Bytes the output may need at most (the segments it copies).
    pub needed_bytes: u64,
}

/// Lays `footage` out on the output timeline; warnings about it (audio
/// dropped, segments skipped) go to `footage.warnings`.
pub(super) fn lay_out(
    req: &ExportRequest,
    reads: &Reads,
    footage: &mut Footage,
    min_free_bytes: u64,
) -> Result<Timeline> {
    let kept = &footage.segments;
    let segments: Vec<PlanSegment<'_>> = kept.iter().map(PlanSegment::of).collect();
    let mut plan = Plan::build_with(
        req.start_s,
        req.end_s,
        &segments[..footage.files],
        reads.trim,
    );
    if let Some(frames) = segments.get(footage.files) {
        plan.append_whole(footage.files, frames);
    }
    tracing::info!(
        stage = "plan",
        clips = plan.clips.len(),
        duration_s = plan.duration_s(),
        "planned"
    );
    if plan.clips.is_empty() {
        if !footage.skipped.is_empty() {
            return Err(Error::UnreadableSegments {
                skipped: footage.skipped.clone(),
            });
        }
        return Err(Error::NoRecordings {
            camera: req.camera.clone(),
            start_s: req.start_s,
            end_s: req.end_s,
            before: None,
            after: None,
        });
    }
    let clip_probes: Vec<&SegmentProbe> =
        plan.clips.iter().map(|c| &*kept[c.segment].probe).collect();
    let audio = match tracks::audio_track(&clip_probes) {
        AudioTrack::Keep => true,
        AudioTrack::None => false,
        AudioTrack::Dropped(reason) => {
            footage.warnings.push(Warning::AudioDropped { reason });
            false
        }
    };
    // Rows that disagree with their file, saying how much of it the output holds.
    for m in &footage.mismatched {
        let ps = &kept[m.index];
        let exported = plan
            .clips
            .iter()
            .filter(|c| c.segment == m.index)
            .map(|c| c.duration.seconds())
            .sum();
        footage.warnings.push(Warning::CatalogueMismatch {
            id: ps.segment.id.clone(),
            location: ps.segment.locator.to_string(),
            row_s: m.row_s,
            file_s: m.file_s,
            exported_s: exported,
        });
    }
    if !footage.skipped.is_empty() {
        footage.warnings.push(Warning::SegmentsSkipped {
            skipped: footage.skipped.clone(),
        });
    }
    let chapters = match req.chapters {
        // Chapters are a recordings export's (the NVR's too).
        _ if req.source == Source::Preview => Vec::new(),
        ChapterMode::None => Vec::new(),
        mode => chapters::build(
            mode,
            &plan,
            &reads.reviews,
            Zone::or_utc(req.timezone.as_deref()),
        ),
    };
    let timestamps = if req.timestamps {
        timestamps::cues(&plan, Zone::or_utc(req.timezone.as_deref()))
    } else {
        Vec::new()
    };
    // Space: the output holds at most the bytes of the segments it copies.
    let needed_bytes: u64 = plan
        .clips
        .iter()
        .map(|c| kept[c.segment].probe.file_size)
        .sum();
    if reads.purpose == Purpose::Export {
        output::ensure_space(
            &reads.export_dir,
            needed_bytes.saturating_add(min_free_bytes),
        )?;
    }
    Ok(Timeline {
        plan,
        audio,
        chapters,
        timestamps,
        needed_bytes,
    })
}
