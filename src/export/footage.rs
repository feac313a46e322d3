//! The footage stage of a file-source export: the rows' segments located
//! (`source::recordings`), their headers probed a batch at a time (so that
//! a range too long for the memory bound is refused before it is all
//! held), duplicates and rows that disagree with their file reported, the
//! segments the output cannot carry set aside; for a preview export, the
//! cached frames encoded as one more segment.

use crate::error::{Error, Result, SkippedSegment, Warning};
use crate::output::StagedFile;
use crate::probe::{self, ProbedSegment, SegmentProbe};
use crate::progress::CancelToken;
use crate::remux::tracks;
use crate::source::{self, Locator, Segment};

use super::reads::Reads;
use super::request::{Layout, Source};
use super::settings::Settings;

/// Segments probed at a time (the sample count is checked after each batch).
const PROBE_BATCH: usize = 256;

/// The segments an export is made from.
pub(super) struct Footage {
    /// The readable, distinct, compatible segments in start order; for a
    /// preview export the cached frames come last.
    pub segments: Vec<ProbedSegment>,
    /// How many of `segments` are files of the source (the rest: the
    /// cached frames).
    pub files: usize,
    /// Segments whose row's span disagrees with their file.
    pub mismatched: Vec<Mismatch>,
    /// Segments left out, and why.
    pub skipped: Vec<SkippedSegment>,
    pub warnings: Vec<Warning>,
    /// The cached frames' temporary MP4, removed when dropped.
    pub frames_file: Option<StagedFile>,
}

/// A segment whose catalogue row's span disagrees with its file.
pub(super) struct Mismatch {
    /// Index in `Footage::segments`.
    pub index: usize,
    pub row_s: f64,
    pub file_s: f64,
}

/// The rows' segments located: their paths checked against the media
/// folders (and their files' identities taken), and the rows refused there.
pub(super) fn locate(layout: &Layout, reads: &Reads) -> (Vec<Segment>, Vec<SkippedSegment>) {
    source::recordings::segments(
        &reads.recordings,
        &layout.media_dir,
        &layout.recording_roots,
    )
}

/// Probes and sorts the segments of `reads` (see the module doc), located
/// already (`located`, from [`locate`]) or here.
pub(super) fn gather(
    layout: &Layout,
    settings: &Settings,
    source: &Source,
    reads: &Reads,
    located: Option<(Vec<Segment>, Vec<SkippedSegment>)>,
    cancel: &CancelToken,
) -> Result<Footage> {
    let t0 = std::time::Instant::now();
    let (segments, refused) = located.unwrap_or_else(|| locate(layout, reads));
    let mut skipped: Vec<SkippedSegment> = reads.bad_rows.clone();
    skipped.extend(refused);
    let t_roots = t0.elapsed();
    let readable = probe_bounded(segments, settings, &mut skipped, cancel)?;
    let t_probe = t0.elapsed();
    tracing::info!(
        stage = "probe",
        segments = readable.len() + skipped.len(),
        readable = readable.len(),
        skipped = skipped.len(),
        "probed segment headers"
    );
    let mut warnings = Vec::new();
    let readable = if *source == Source::Preview {
        previews_the_nvr_writes(readable, &mut skipped)
    } else {
        readable
    };
    let unique = distinct(readable, &mut warnings);
    let keep = {
        let probes: Vec<&SegmentProbe> = unique.iter().map(|u| &*u.probe).collect();
        let (keep, incompatible) = tracks::compatible_video(&probes);
        skipped.extend(incompatible);
        keep
    };
    let mut kept: Vec<ProbedSegment> = unique
        .into_iter()
        .enumerate()
        .filter(|(i, _)| keep.contains(i))
        .map(|(_, ps)| ps)
        .collect();
    let files = kept.len();
    let t_distinct = t0.elapsed();
    let mismatched = mismatches(&kept);
    tracing::debug!(
        roots_ms = t_roots.as_secs_f64() * 1000.0,
        probe_ms = (t_probe - t_roots).as_secs_f64() * 1000.0,
        distinct_ms = (t_distinct - t_probe).as_secs_f64() * 1000.0,
        mismatch_ms = (t0.elapsed() - t_distinct).as_secs_f64() * 1000.0,
        "footage phases"
    );
    // Preview exports: the cached frames as one more segment, played
    // after the preview files whatever its wall-clock times.
    let frames_file = if reads.frames.is_empty() {
        None
    } else {
        let size = kept
            .first()
            .map(|k| (k.probe.video.width, k.probe.video.height));
        let (seg, file, frame_skips) = frames_segment(reads, size, cancel)?;
        skipped.extend(frame_skips);
        kept.push(seg);
        Some(file)
    };
    Ok(Footage {
        segments: kept,
        files,
        mismatched,
        skipped,
        warnings,
        frames_file,
    })
}

/// Every segment's header (in parallel), a batch at a time, counting
/// samples against the export's bound; unreadable ones go to `skipped`.
fn probe_bounded(
    segments: Vec<Segment>,
    settings: &Settings,
    skipped: &mut Vec<SkippedSegment>,
    cancel: &CancelToken,
) -> Result<Vec<ProbedSegment>> {
    let mut readable = Vec::with_capacity(segments.len());
    let mut samples = 0u64;
    let mut pending = segments.into_iter().peekable();
    let mut prober =
        probe::Prober::new(settings.probe_template).with_cache(settings.index_cache.clone());
    while pending.peek().is_some() {
        let batch: Vec<_> = pending.by_ref().take(PROBE_BATCH).collect();
        for res in prober.probe(batch, cancel) {
            cancel.check()?;
            match res {
                Ok(ps) => {
                    samples += ps.probe.sample_count();
                    readable.push(ps);
                }
                Err(s) => skipped.push(s),
            }
        }
        if samples > settings.max_samples {
            return Err(Error::RangeTooLong {
                samples,
                limit: settings.max_samples,
            });
        }
    }
    Ok(readable)
}

/// Previews in a codec the NVR does not write them in (H.264, HEVC) are
/// set aside and named: the cached frames (H.264) could not follow them,
/// and the writer would fail on the change without saying which file.
fn previews_the_nvr_writes(
    readable: Vec<ProbedSegment>,
    skipped: &mut Vec<SkippedSegment>,
) -> Vec<ProbedSegment> {
    use ffmpeg_next::codec::Id;
    readable
        .into_iter()
        .filter(|ps| {
            let codec = ps.probe.video.codec;
            let ok = matches!(codec, Id::H264 | Id::HEVC);
            if !ok {
                skipped.push(SkippedSegment {
                    path: ps.probe.path.clone(),
                    reason: format!(
                        "a preview in {codec:?}: previews are H.264 or HEVC (the NVR's); not used"
                    ),
                });
            }
            ok
        })
        .collect()
}

/// Two rows for the same footage (the same file listed twice, or a byte
/// copy of it in an overlapping row): keeps the first, says so.
/// Overlapping wall times alone never make footage a duplicate (see `plan`).
fn distinct(mut readable: Vec<ProbedSegment>, warnings: &mut Vec<Warning>) -> Vec<ProbedSegment> {
    // In place (a day is thousands of segments): the first `kept` are the
    // unique ones so far, in order.
    let mut kept = 0;
    for i in 0..readable.len() {
        let (seg, probe) = (&readable[i].segment, &readable[i].probe);
        let dup = readable[..kept].iter().find(|k| {
            k.probe.file_id == probe.file_id
                || (k.segment.start_s < seg.end_s
                    && seg.start_s < k.segment.end_s
                    && k.probe.same_footage(probe))
        });
        match dup {
            Some(first) => warnings.push(Warning::DuplicateFootage {
                id: seg.id.clone(),
                location: seg.locator.to_string(),
                first_id: first.segment.id.clone(),
                first_location: first.segment.locator.to_string(),
            }),
            None => {
                readable.swap(kept, i);
                kept += 1;
            }
        }
    }
    readable.truncate(kept);
    readable
}

/// Rows whose span disagrees with their file (frame-count durations
/// differ from the content by a frame or two; more is a wrong row): their
/// indexes in `segments`, the row's span and the file's.
fn mismatches(segments: &[ProbedSegment]) -> Vec<Mismatch> {
    segments
        .iter()
        .enumerate()
        .filter_map(|(index, ps)| {
            let row_s = ps.segment.end_s - ps.segment.start_s;
            let file_s = ps.probe.video.duration_s();
            ((row_s - file_s).abs() > (0.2 * file_s).max(2.0)).then_some(Mismatch {
                index,
                row_s,
                file_s,
            })
        })
        .collect()
}

/// The cached frames of a preview export encoded into a temporary MP4
/// in the export folder (removed when the returned file is dropped),
/// probed as a segment; and the frames that could not be decoded.
fn frames_segment(
    reads: &Reads,
    size: Option<(u32, u32)>,
    cancel: &CancelToken,
) -> Result<(ProbedSegment, StagedFile, Vec<SkippedSegment>)> {
    let file = StagedFile::create(&reads.video_path, &reads.row.id)?;
    let show = crate::transcode::slideshow::encode(&reads.frames, size, file.temp_path(), cancel)?;
    tracing::info!(
        stage = "frames",
        frames = show.frames,
        skipped = show.skipped.len(),
        "cached preview frames encoded"
    );
    let probe = probe::probe(file.temp_path(), cancel)
        .map_err(|s| Error::UnreadableSegments { skipped: vec![s] })?;
    let first = reads
        .frames
        .first()
        .map(|f| f.ts_s)
        .unwrap_or(reads.row.date_s);
    let last = reads.frames.last().map(|f| f.ts_s).unwrap_or(first);
    let segment = Segment {
        id: "cached-preview-frames".into(),
        start_s: first,
        end_s: last,
        locator: Locator::File(file.temp_path().to_path_buf()),
        stamp: None,
    };
    Ok((
        ProbedSegment {
            segment,
            probe: std::sync::Arc::new(probe),
        },
        file,
        show.skipped,
    ))
}
