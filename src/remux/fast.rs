//! The index-driven writer: plan first, move bytes second.
//!
//! libav's MP4 demuxer has already given us, for every segment, the offset,
//! size, decode timestamp and keyframe flag of every sample (`probe`). From
//! that and the plan this writer computes the whole output before writing a
//! byte: which samples are kept and their output timestamps (through
//! [`super::cut`], exactly as the libav writer does), where each lands in
//! `mdat`, and so the complete `moov`. It then writes `ftyp`, `moov`, the
//! `mdat` header and the chapter samples while a second thread copies each
//! clip's sample bytes as one run to its place further on, in kernel
//! (`copy_file_range`), 8 MiB at a time so that progress and cancellation
//! stay within a few milliseconds.
//!
//! Where the filesystem shares extents between files (XFS with reflink,
//! btrfs, bcachefs, ZFS block cloning; a trial clone says so), each run is
//! placed at an offset congruent to its source offset modulo the block
//! size: the whole blocks are then shared, not copied, and only the partial
//! blocks at the ends of each run are written (see [`sharing_pays`]).
//!
//! It accepts a job only when the copied bytes can be described by one
//! sample entry per track (see [`check`]); everything else goes to the libav
//! writer.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use ffmpeg_next::codec::Id;

use super::cut::{self, Cut, AUDIO, VIDEO};
use super::fail::{Failure, Failures};
use super::job::{RemuxJob, RemuxStats, WriterKind};
use super::mp4::{self, OutSample, SampleSource, TrackKind};
use super::resume;
use super::select::Selection;
use super::tracks::{self, InbandNeed};
use crate::error::Result;
use crate::media::isobmff::TrakSummary;
use crate::media::params;
use crate::output;
use crate::output::confine::open_regular;
use crate::plan::cameras::CameraPlacement;
use crate::plan::Clip;
use crate::probe::{FileStamp, SegmentProbe};
use crate::progress::{CancelToken, Reporter};
use crate::source::Locator;
use crate::time::OutTicks;
use ffmpeg_next::Rational;

/// Bytes copied between progress updates and cancellation checks.
pub const COPY_PIECE_BYTES: usize = 8 << 20;

const VIDEO_TRACK_ID: u32 = 1;
const AUDIO_TRACK_ID: u32 = 2;
const CHAPTER_TRACK_ID: u32 = 3;
const TIMESTAMP_TRACK_ID: u32 = 4;
/// Alternate groups of a multi-camera export's tracks: the cameras' videos
/// are one (players offer a switch), their audio tracks another (as a
/// single camera's audio track is).
const VIDEO_GROUP: u16 = 3;
const AUDIO_GROUP: u16 = 1;

/// Whether the index-driven writer can take `job`; `Err` says why not.
///
/// Sample entries are compared as decoders see them
/// ([`TrakSummary::decoder_view`]: per-file measured bit rates ignored).
/// A video entry may change (a camera restart with other parameter sets)
/// when every keyframe that needs the new sets in band (see
/// [`tracks::inband_needs`]) already carries them, as cameras send them: the
/// bytes are then copied as they are, exactly what the libav writer writes.
pub fn check(job: &RemuxJob<'_>) -> std::result::Result<(), String> {
    let first = job.first();
    if !matches!(first.video.codec, Id::H264 | Id::HEVC) {
        return Err(format!(
            "video codec {:?} (only H.264 and HEVC)",
            first.video.codec
        ));
    }
    let hevc = first.video.codec == Id::HEVC;
    let v0 = entry(first, first.video.index, b"vide")?;
    let a0 = match (job.audio, &first.audio) {
        (true, Some(a)) => Some(entry(first, a.index, b"soun")?),
        _ => None,
    };
    let mut sel = Selection::new(job, [cut::VIDEO_TB, OutTicks::BASE]);
    for i in 0..job.plan.clips.len() {
        let c = sel.clip(i);
        let (clip, p, need) = (c.clip, c.probe, c.inband);
        let v = entry(p, p.video.index, b"vide")?;
        if v.sample_entry != v0.sample_entry
            && (v.sample_entry.get(4..8) != v0.sample_entry.get(4..8)
                || p.video.extradata == first.video.extradata)
        {
            return Err(format!(
                "video sample description changes at {}",
                p.path.display()
            ));
        }
        if need != InbandNeed::None {
            keyframes_carry_sets(clip, p, hevc, need)?;
        }
        if let (Some(a0), Some(a)) = (a0, &p.audio) {
            if entry(p, a.index, b"soun")?.decoder_view() != a0.decoder_view() {
                return Err(format!(
                    "audio sample description changes at {}",
                    p.path.display()
                ));
            }
        }
    }
    Ok(())
}

/// Checks that the keyframes of `clip` that `need` names carry their
/// parameter sets in band (reads the head of each).
fn keyframes_carry_sets(
    clip: &Clip,
    p: &SegmentProbe,
    hevc: bool,
    need: InbandNeed,
) -> std::result::Result<(), String> {
    use std::os::unix::fs::FileExt;
    let f = open_regular(&p.path).map_err(|e| format!("{}: {e}", p.path.display()))?;
    let mut head = vec![0u8; 1024];
    let keys = p
        .video
        .timing
        .samples
        .iter()
        .filter(|s| s.keyframe && s.dts >= clip.first_dts && s.dts < clip.end_dts);
    for s in keys {
        let n = (s.size as usize).min(head.len());
        f.read_exact_at(&mut head[..n], s.pos as u64)
            .map_err(|e| format!("{}: {e}", p.path.display()))?;
        if !params::carries_parameter_sets(hevc, &head[..n]) {
            return Err(format!(
                "parameter sets change at {} and its keyframes do not carry them in band",
                p.path.display()
            ));
        }
        if need == InbandNeed::FirstKeyframe {
            break;
        }
    }
    Ok(())
}

/// The single sample entry of libav stream `index` of `p`, with the handler it must have.
fn entry<'p>(
    p: &'p SegmentProbe,
    index: usize,
    handler: &[u8; 4],
) -> std::result::Result<&'p TrakSummary, String> {
    let e = p
        .sample_entry(index)
        .ok_or_else(|| format!("no sample description read from {}", p.path.display()))?;
    if &e.handler != handler {
        return Err(format!(
            "track order of {} differs from libav's",
            p.path.display()
        ));
    }
    if e.sample_entry_count != 1 {
        return Err(format!(
            "{} has {} sample descriptions",
            p.path.display(),
            e.sample_entry_count
        ));
    }
    Ok(e)
}

/// One clip's bytes: a contiguous range of its segment file, and where it
/// lands in the `mdat` payload.
struct Run<'a> {
    path: &'a Path,
    /// The segment as probed: its bytes are copied under that index only if
    /// the file is still the same.
    stamp: FileStamp,
    start: i64,
    len: u64,
    /// Offset of `start` in the `mdat` payload.
    payload_at: u64,
    /// Placed congruent to its source offset modulo this block size (the
    /// filesystem shares aligned extents): copy head, aligned middle, tail.
    align: Option<u64>,
    offset: OutTicks,
    duration: OutTicks,
}

impl Run<'_> {
    /// Asks the kernel to read the partial blocks at the ends of an aligned
    /// run: they are copied as bytes (the whole blocks between are shared
    /// and never read), so from cold storage each is a small read, two a
    /// segment, and copied one after the other they would be read one at a
    /// time. Advisory; nothing for unaligned runs (read as they are copied,
    /// with the kernel's own readahead).
    fn prefetch_partial_blocks(&self) {
        let Some(b) = self.align else { return };
        let Ok(f) = open_regular(self.path) else {
            return;
        };
        let start = self.start as u64;
        let end = start + self.len;
        let _ = output::will_need(&f, start / b * b, b);
        let _ = output::will_need(&f, end.saturating_sub(1) / b * b, b);
    }
}

/// How many runs ahead of the copy their partial blocks are asked for.
const PREFETCH_RUNS: usize = 32;

/// The kept samples of one output track, replayed from the probes' sample
/// tables through the cut ([`super::cut`]): the writer never holds them.
#[derive(Clone, Copy)]
struct ClipSamples<'a> {
    job: &'a RemuxJob<'a>,
    /// Per clip: the source offset of its run and where the run lands in
    /// the payload (empty in the layout pass, which places nothing).
    places: &'a [(i64, u64)],
    /// Per clip (empty: none): how much later than its plan's output time
    /// the clip is presented (one camera of several: its place on the
    /// shared timeline), added to every sample's timestamps.
    shift: &'a [OutTicks],
    tbs: [Rational; 2],
    track: usize,
    /// Checked at every clip: a day's tables take a while to replay, and a
    /// cancel must not wait for the end (a cut-short replay is then
    /// reported as the cancel, never written).
    cancel: &'a CancelToken,
}

impl ClipSamples<'_> {
    /// Calls `f(clip index, track, out sample, source byte offset)` for
    /// every kept sample of the tracks in `tracks`, clip by clip; returns
    /// the selection's final state (ends, audio trims). Stops early when
    /// cancelled.
    fn replay(
        &self,
        tracks: &[usize],
        f: &mut dyn FnMut(usize, usize, OutSample, i64),
    ) -> Selection<'_> {
        let mut sel = Selection::new(self.job, self.tbs);
        for ci in 0..self.job.plan.clips.len() {
            if self.cancel.is_cancelled() {
                break;
            }
            let c = sel.clip(ci);
            let shift = self.shift.get(ci).copied().unwrap_or(OutTicks::ZERO);
            let by = [
                shift.in_base(self.tbs[VIDEO]),
                shift.in_base(self.tbs[AUDIO]),
            ];
            if tracks.contains(&VIDEO) {
                for s in c.probe.video.timing.samples.iter() {
                    match sel.video(&c, s.dts, s.pts(), s.duration) {
                        Cut::Drop => continue,
                        Cut::After => break,
                        Cut::Keep(st) => {
                            let mut o = out_sample(st, s.size, s.keyframe);
                            o.dts += by[VIDEO];
                            f(ci, VIDEO, o, s.pos)
                        }
                    }
                }
            }
            if let (true, Some(a)) = (tracks.contains(&AUDIO), c.audio) {
                for s in a.samples.iter() {
                    match sel.audio(&c, s.dts, s.duration) {
                        Cut::Drop => {}
                        Cut::After => break,
                        Cut::Keep(st) => {
                            let mut o = out_sample(st, s.size, true);
                            o.dts += by[AUDIO];
                            f(ci, AUDIO, o, s.pos)
                        }
                    }
                }
            }
        }
        sel
    }
}

impl SampleSource for ClipSamples<'_> {
    fn for_each(&self, f: &mut dyn FnMut(OutSample)) {
        let places = self.places;
        self.replay(&[self.track], &mut |ci, _, mut s, pos| {
            let (start, payload_at) = places[ci];
            s.offset = payload_at + (pos - start) as u64;
            f(s)
        });
    }
}

/// Where the index-driven writer's bytes go.
#[derive(Clone, Copy)]
enum Target<'p> {
    /// The staged output file (extents shared where the filesystem can).
    File(&'p Path),
    /// Nowhere: the runs are described and the head kept in memory, for a
    /// virtual file ([`super::virtual_mp4`]): the layout is handed over
    /// first, the head written after it.
    Memory(&'p HeadStream),
}

/// Where a virtual file's head goes while it is built: the layout (length,
/// runs) is sent as soon as it is known, so that the file can answer its
/// length and its sample bytes, and the head fills `buf` behind it.
pub struct HeadStream {
    pub layout: std::sync::mpsc::Sender<Result<PartsLayout>>,
    pub buf: std::sync::Arc<super::virtual_mp4::HeadBuf>,
}

/// A virtual file's shape, known before its head is written.
#[derive(Debug, Clone)]
pub struct PartsLayout {
    /// Bytes of the head: everything before the first run.
    pub head_len: u64,
    pub data_base: u64,
    pub runs: Vec<RunRef>,
    /// What the head's bytes are made from besides the runs' segments (the
    /// plan, chapters, timestamps, metadata), hashed: with the segments'
    /// identities, the file's entity tag.
    pub identity: u64,
}

/// One clip's bytes as a virtual file reads them: `len` bytes of `path`
/// from `start`, at `payload_at` in the `mdat` payload.
#[derive(Debug, Clone)]
pub struct RunRef {
    pub path: std::path::PathBuf,
    pub stamp: FileStamp,
    pub start: u64,
    pub len: u64,
    pub payload_at: u64,
}

/// The file [`write`] would write for `job` (accepted by [`check`]) on a
/// filesystem without extent sharing, not written: its layout goes to
/// `to.layout` as soon as it is known (its length, the runs of segment
/// bytes that follow the head), then the head is written into `to.buf`
/// (finished or failed there).
pub fn parts_streamed(
    job: &RemuxJob<'_>,
    reporter: &mut Reporter<'_>,
    to: &HeadStream,
) -> Result<RemuxStats> {
    build(&[Cam::alone(job)], Target::Memory(to), reporter)
}

/// Writes `job` (accepted by [`check`]) to `out_path`.
pub fn write(
    job: &RemuxJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    build(&[Cam::alone(job)], Target::File(out_path), reporter)
}

/// One camera of a multi-camera export: its stream copy (each accepted by
/// [`check`]), its name, where its clips sit on the shared timeline.
pub struct CameraTrack<'a> {
    pub job: &'a RemuxJob<'a>,
    pub name: &'a str,
    pub placement: &'a CameraPlacement,
}

/// Writes several cameras into one file on one timeline (see
/// `plan::cameras`): a video track per camera (and its audio track), each
/// clip's samples shifted to its place on the shared timeline (a late
/// start becomes the track's leading empty edit, a gap a jump of its decode
/// times), named for its camera, the first camera's the default of their
/// alternate group. The chapters, timestamp cues, metadata
/// and creation time are the first camera's job's; `total` is the shared
/// timeline's length (progress).
pub fn write_cameras(
    cameras: &[CameraTrack<'_>],
    total: OutTicks,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    let cams: Vec<Cam<'_>> = cameras
        .iter()
        .map(|c| Cam {
            job: c.job,
            shared: Some((c.name, c.placement, total)),
        })
        .collect();
    build(&cams, Target::File(out_path), reporter)
}

/// A camera as [`build`] takes it: alone (its plan is the output's
/// timeline) or one of several on a shared one.
struct Cam<'a> {
    job: &'a RemuxJob<'a>,
    shared: Option<(&'a str, &'a CameraPlacement, OutTicks)>,
}

impl<'a> Cam<'a> {
    fn alone(job: &'a RemuxJob<'a>) -> Cam<'a> {
        Cam { job, shared: None }
    }
    /// Where clip `ci` starts on the output's timeline.
    fn clip_at(&self, ci: usize) -> OutTicks {
        match self.shared {
            Some((_, p, _)) => p.clip_at.get(ci).copied().unwrap_or(OutTicks::ZERO),
            None => self.job.plan.clips[ci].offset,
        }
    }
}

/// What the layout pass found for one camera.
struct CamLayout<'a> {
    audio: Option<&'a crate::probe::AudioStream>,
    tbs: [Rational; 2],
    /// Per clip: the first and last source byte kept.
    bounds: Vec<(i64, i64)>,
    counts: [u64; 2],
    sizing: [mp4::StatsAccumulator; 2],
    ends_s: [f64; 2],
    audio_dropped: super::cut::AudioDrops,
}

/// The layout pass of one camera: one replay a track, the two side by side
/// (each track's samples are selected as in a replay of it alone, which
/// is how its tables are written); it sizes each track's tables (offsets
/// play no part there) and finds each clip's bytes.
fn lay_out_camera<'a>(
    job: &'a RemuxJob<'a>,
    shift: &'a [OutTicks],
    cancel: &CancelToken,
) -> CamLayout<'a> {
    let first = job.first();
    let audio = if job.audio {
        first.audio.as_ref()
    } else {
        None
    };
    let tbs = [
        cut::VIDEO_TB,
        audio
            .map(|a| cut::audio_tb(a.sample_rate))
            .unwrap_or(OutTicks::BASE),
    ];
    let layout = ClipSamples {
        job,
        places: &[],
        shift,
        tbs,
        track: VIDEO,
        cancel,
    };
    let pass = |track: usize| {
        let mut bounds: Vec<(i64, i64)> = vec![(i64::MAX, i64::MIN); job.plan.clips.len()];
        let mut count = 0u64;
        // The video's small tables are built here too: the head's first
        // bytes (a virtual file's first answer) then need no replay.
        let mut sizing = match track {
            VIDEO => mp4::StatsAccumulator::recording(tb_den(tbs[track])),
            _ => mp4::StatsAccumulator::new(tb_den(tbs[track])),
        };
        let sel = layout.replay(&[track], &mut |ci, _, s, pos| {
            let b = &mut bounds[ci];
            b.0 = b.0.min(pos);
            b.1 = b.1.max(pos + s.size as i64);
            count += 1;
            sizing.push(s);
        });
        (
            bounds,
            count,
            sizing,
            sel.ends_s()[track],
            sel.audio_dropped,
        )
    };
    let (video_pass, audio_pass) = if audio.is_some() {
        let (v, a) = rayon::join(|| pass(VIDEO), || pass(AUDIO));
        (v, Some(a))
    } else {
        (pass(VIDEO), None)
    };
    let (mut bounds, vcount, vsizing, vend, _) = video_pass;
    let mut l = CamLayout {
        audio,
        tbs,
        bounds: Vec::new(),
        counts: [vcount, 0],
        sizing: [vsizing, mp4::StatsAccumulator::new(tb_den(tbs[AUDIO]))],
        ends_s: [vend, 0.0],
        audio_dropped: Default::default(),
    };
    if let Some((abounds, acount, asizing, aend, dropped)) = audio_pass {
        for (b, a) in bounds.iter_mut().zip(abounds) {
            *b = (b.0.min(a.0), b.1.max(a.1));
        }
        l.counts[AUDIO] = acount;
        l.sizing[AUDIO] = asizing;
        l.ends_s[AUDIO] = aend;
        l.audio_dropped = dropped;
    }
    l.bounds = bounds;
    l
}

fn build(cams: &[Cam<'_>], target: Target<'_>, reporter: &mut Reporter<'_>) -> Result<RemuxStats> {
    let job = cams[0].job;
    let cancel = reporter.cancel_token().clone();
    let out_path = match target {
        Target::File(p) => p,
        Target::Memory(_) => Path::new("(virtual file)"),
    };
    let fail = Failures {
        out: out_path,
        cancel: &cancel,
    };
    let first = job.first();
    let mut stats = RemuxStats {
        writer: WriterKind::Fast,
        ..RemuxStats::default()
    };

    let t0 = std::time::Instant::now();
    // 1. Chapter samples go first in mdat; then one run per clip: the bytes
    // from the first to the last kept sample of the clip's segment.
    let (chapter_samples, mut chapter_bytes) = mp4::chapter_samples(job.chapters, 0);
    // The timestamp samples follow them (one buffer: both go out with the head).
    let (timestamp_samples, timestamp_bytes) =
        mp4::timestamp_samples(job.timestamps, chapter_bytes.len() as u64);
    chapter_bytes.extend_from_slice(&timestamp_bytes);
    drop(timestamp_bytes);
    // One camera of several: each clip presented at its place on the shared
    // timeline, as a shift of its samples' timestamps.
    let shifts: Vec<Vec<OutTicks>> = cams
        .iter()
        .map(|c| match c.shared {
            Some(_) => (0..c.job.plan.clips.len())
                .map(|ci| c.clip_at(ci) - c.job.plan.clips[ci].offset)
                .collect(),
            None => Vec::new(),
        })
        .collect();
    let layouts: Vec<CamLayout<'_>> = cams
        .iter()
        .zip(&shifts)
        .map(|(c, shift)| lay_out_camera(c.job, shift, &cancel))
        .collect();
    stats.video_duration_s = match cams[0].shared {
        Some((_, _, total)) => total.seconds(),
        None => layouts[0].ends_s[VIDEO],
    };
    stats.audio_duration_s = layouts[0].ends_s[AUDIO];
    stats.audio_dropped = layouts[0].audio_dropped;
    // Extent sharing: on XFS / btrfs, a run placed at an offset congruent to
    // its source offset (modulo the block size) is shared by the filesystem,
    // not copied. The payload starts block-aligned (a `free` box before
    // `mdat` sees to it), so each run only needs `payload_at ≡ start`; the
    // padding (< one block a clip) is a hole the sample tables never point
    // into. Only runs whose segment is on the output's filesystem.
    let out_dir = out_path.parent().unwrap_or(Path::new("."));
    let out_dev = std::fs::metadata(out_dir)
        .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
        .ok();
    let on_out_fs = |p: &SegmentProbe| Some(p.file_id.0) == out_dev;
    let sharing = match target {
        Target::File(_) => output::extent_sharing_block(out_dir),
        Target::Memory(_) => None,
    };
    let block = sharing.filter(|&b| {
        let shareable: Vec<u64> = cams
            .iter()
            .zip(&layouts)
            .flat_map(|(c, l)| {
                c.job
                    .plan
                    .clips
                    .iter()
                    .zip(&l.bounds)
                    .map(move |x| (c.job, x))
            })
            .filter(|(job, (c, (s, e)))| e > s && on_out_fs(job.probe(c)))
            .map(|(_, (_, (s, e)))| (e - s) as u64)
            .collect();
        let pays = sharing_pays(b, &shareable);
        if !pays {
            tracing::info!(
                block = b,
                runs = shareable.len(),
                "extent sharing declined: the padding would exceed 5 % of the file"
            );
        }
        pays && sharing_works(job, out_path, &on_out_fs, b)
    });
    // The runs in the order of their place on the output's timeline (one
    // camera: clip order; several: interleaved, so that a player reading
    // the file front to back finds every camera's samples close together).
    let mut order: Vec<(usize, usize)> = cams
        .iter()
        .enumerate()
        .flat_map(|(k, c)| (0..c.job.plan.clips.len()).map(move |ci| (k, ci)))
        .collect();
    if cams.len() > 1 {
        order.sort_by_key(|&(k, ci)| (cams[k].clip_at(ci), k));
    }
    let mut places: Vec<Vec<(i64, u64)>> = cams
        .iter()
        .map(|c| vec![(0, 0); c.job.plan.clips.len()])
        .collect();
    let mut payload_len = chapter_bytes.len() as u64;
    let mut runs: Vec<Run<'_>> = Vec::with_capacity(order.len());
    for &(k, ci) in &order {
        let cam_job = cams[k].job;
        let clip = &cam_job.plan.clips[ci];
        let (start, end) = layouts[k].bounds[ci];
        let (start, end) = if start <= end { (start, end) } else { (0, 0) };
        let Locator::File(path) = cam_job.locator(clip);
        let probe = cam_job.probe(clip);
        let align = block.filter(|_| on_out_fs(probe) && end > start);
        if let Some(b) = align {
            payload_len += (start as u64 % b + b - payload_len % b) % b;
        }
        places[k][ci] = (start, payload_len);
        runs.push(Run {
            path,
            stamp: probe.stamp(),
            start,
            len: (end - start) as u64,
            payload_at: payload_len,
            align,
            offset: cams[k].clip_at(ci),
            duration: clip.duration,
        });
        payload_len += (end - start) as u64;
    }
    stats.video_packets = layouts.iter().map(|l| l.counts[VIDEO]).sum();
    stats.audio_packets = layouts.iter().map(|l| l.counts[AUDIO]).sum();
    cancel.check()?;

    let t_layout = t0.elapsed();
    // 2. Tracks (sized by the layout pass) and the moov layout.
    let has_chapters = !job.chapters.is_empty();
    let hevc = cams.iter().any(|c| c.job.first().video.codec == Id::HEVC);
    let multi = cams.iter().any(|c| c.shared.is_some());
    // One camera: the ids libav gives the same tracks; several: in order,
    // each camera's video then its audio, then the text tracks.
    let av_tracks = layouts
        .iter()
        .map(|l| 1 + l.audio.is_some() as u32)
        .sum::<u32>();
    let (timestamp_id, chapter_id) = if multi {
        (av_tracks + 1, av_tracks + 2)
    } else {
        (TIMESTAMP_TRACK_ID, CHAPTER_TRACK_ID)
    };
    let chap = has_chapters.then_some(chapter_id);
    let sources: Vec<[ClipSamples<'_>; 2]> = cams
        .iter()
        .zip(&layouts)
        .zip(&places)
        .zip(&shifts)
        .map(|(((c, l), places), shift)| {
            let v = ClipSamples {
                job: c.job,
                places,
                shift,
                tbs: l.tbs,
                track: VIDEO,
                cancel: &cancel,
            };
            let a = ClipSamples { track: AUDIO, ..v };
            [v, a]
        })
        .collect();
    let mut next_id = 1u32;
    let mut tracks = Vec::with_capacity(cams.len() * 2 + 2);
    for (k, (cam, l)) in cams.iter().zip(layouts).enumerate() {
        let cfirst = cam.job.first();
        let mut ventry = cfirst
            .sample_entry(cfirst.video.index)
            .map(|e| e.sample_entry.clone())
            .unwrap_or_default();
        if let Some((tag, Some(hvcc))) = tracks::hevc_entry(&cfirst.video) {
            set_hvcc(&mut ventry, tag, &hvcc);
        }
        let [vsizing, asizing] = l.sizing;
        let (vstats, vtables) = vsizing.finish_tables();
        let astats = asizing.finish();
        let present = |group: u16| {
            cam.shared.map(|(name, _, _)| mp4::Presentation {
                name: name.to_string(),
                group,
                enabled: k == 0,
            })
        };
        let (vid, aid) = if multi {
            next_id += 1 + l.audio.is_some() as u32;
            (next_id - 1 - l.audio.is_some() as u32, next_id - 1)
        } else {
            (VIDEO_TRACK_ID, AUDIO_TRACK_ID)
        };
        let mut v = mp4::Track::with_stats(
            TrackKind::Video {
                width: cfirst.video.width,
                height: cfirst.video.height,
            },
            vid,
            tb_den(l.tbs[VIDEO]),
            ventry,
            &sources[k][VIDEO],
            vstats,
            chap,
        );
        v.presentation = present(VIDEO_GROUP);
        v.prebuilt = vtables;
        tracks.push(v);
        if let Some(a) = l.audio {
            let mut t = mp4::Track::with_stats(
                TrackKind::Audio,
                aid,
                tb_den(l.tbs[AUDIO]),
                Vec::new(),
                &sources[k][AUDIO],
                astats,
                chap,
            );
            if let Some(e) = cfirst.sample_entry(a.index) {
                t.sample_entry = output_audio_entry(e, t.bit_rates());
            }
            t.presentation = present(AUDIO_GROUP);
            tracks.push(t);
        }
    }
    // The layout pass stops early on a cancel: its sizes are not used then.
    cancel.check()?;
    if !job.timestamps.is_empty() {
        tracks.push(mp4::timestamp_track(
            timestamp_id,
            &timestamp_samples,
            (first.video.width, first.video.height),
        ));
    }
    if has_chapters {
        tracks.push(mp4::chapter_track(chapter_id, &chapter_samples));
    }
    let movie = mp4::Movie::new(job.creation_s, &tracks, job.metadata, job.chapters);
    let ftyp = mp4::ftyp(hevc);
    let mdat_hdr = mp4::mdat_header(payload_len);
    let mut moov = mp4::moov(&movie, false);
    let co64 = ftyp.len() as u64 + moov.len + mdat_hdr.len() as u64 + payload_len > u32::MAX as u64;
    if co64 {
        moov = mp4::moov(&movie, true);
    }
    // With extent sharing, a `free` box makes the payload start on a block.
    let head = ftyp.len() as u64 + moov.len + mdat_hdr.len() as u64;
    let free_len = match block {
        Some(b) if runs.iter().any(|r| r.align.is_some()) => {
            let f = (b - head % b) % b;
            if f > 0 && f < 8 {
                f + b
            } else {
                f
            }
        }
        _ => 0,
    };
    let data_base = head + free_len;

    let write_head = |w: &mut dyn Write| -> Result<()> {
        let io = |e| fail.write("write head", e);
        w.write_all(&ftyp).map_err(io)?;
        let token = cancel.clone();
        mp4::write_moov(&moov, &tracks, data_base, w, &mut || {
            if token.is_cancelled() {
                Err(std::io::Error::from(std::io::ErrorKind::Interrupted))
            } else {
                Ok(())
            }
        })
        .map_err(io)?;
        if free_len > 0 {
            w.write_all(&(free_len as u32).to_be_bytes()).map_err(io)?;
            w.write_all(b"free").map_err(io)?;
            w.write_all(&vec![0u8; (free_len - 8) as usize])
                .map_err(io)?;
        }
        w.write_all(&mdat_hdr).map_err(io)?;
        w.write_all(&chapter_bytes).map_err(io)?;
        w.flush().map_err(io)
    };
    if let Target::Memory(to) = target {
        let runs: Vec<RunRef> = runs
            .iter()
            .map(|r| RunRef {
                path: r.path.to_path_buf(),
                stamp: r.stamp,
                start: r.start as u64,
                len: r.len,
                payload_at: r.payload_at,
            })
            .collect();
        stats.bytes_written = data_base + payload_len;
        let head_len = data_base + chapter_bytes.len() as u64;
        let layout = PartsLayout {
            head_len,
            data_base,
            runs,
            identity: cams_identity(cams),
        };
        // The reader may already be answering from the layout while the
        // head is written; a failure from here on fails its reads.
        let _ = to.layout.send(Ok(layout));
        let mut w = std::io::BufWriter::with_capacity(
            64 << 10,
            super::virtual_mp4::HeadWriter::new(&to.buf, head_len as usize),
        );
        let r = write_head(&mut w);
        drop(w);
        to.buf
            .finish(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        r?;
        tracing::debug!(
            layout_ms = t_layout.as_secs_f64() * 1000.0,
            head_ms = (t0.elapsed() - t_layout).as_secs_f64() * 1000.0,
            "index-driven layout, head written to memory"
        );
        return Ok(stats);
    }
    // 3. Bytes: the head (moov tables streamed from the samples) and the
    // runs (see `write_file`).
    let head_end = data_base + chapter_bytes.len() as u64;
    let head_identity = cams_identity(cams);
    let file = FileLayout {
        identity: layout_identity(head_identity, &runs, data_base, payload_len),
        runs: &runs,
        data_base,
        payload_len,
        head_end,
        total: job.plan.duration(),
        max_rate: job.max_rate,
    };
    // One camera: the plan is saved for a resume that need not plan again.
    let saved = match (cams, job.resume) {
        ([one], Some(inputs)) if one.shared.is_none() => {
            Some(file.saved(inputs, head_identity, &stats))
        }
        _ => None,
    };
    let head = |w: &mut dyn Write| write_head(w);
    write_file(
        &file,
        out_path,
        Some(&head),
        saved,
        fail,
        &mut stats,
        reporter,
    )?;
    let t_written = t0.elapsed();
    drop(moov);
    drop(tracks);
    stats.bytes_written = data_base + payload_len;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    tracing::debug!(
        layout_ms = ms(t_layout),
        head_and_copy_ms = ms(t_written - t_layout),
        "index-driven writer phases"
    );
    Ok(stats)
}

/// Writes an export's head (its `moov` tables streamed from the samples).
type HeadWriter<'a> = dyn Fn(&mut dyn Write) -> Result<()> + 'a;

/// An export's file once laid out: the runs and where they land, what
/// identifies the plan (for the resume journal), the output's duration
/// (progress) and the copy's pace.
struct FileLayout<'a> {
    runs: &'a [Run<'a>],
    data_base: u64,
    payload_len: u64,
    /// The head with the chapter and timestamp samples after it.
    head_end: u64,
    identity: String,
    total: OutTicks,
    max_rate: Option<u64>,
}

impl FileLayout<'_> {
    /// This layout as saved for a resume of the same `inputs`.
    fn saved(
        &self,
        inputs: &resume::Inputs,
        head_identity: u64,
        stats: &RemuxStats,
    ) -> resume::SavedPlan {
        resume::SavedPlan {
            key: inputs.key.clone(),
            identity: self.identity.clone(),
            head_identity,
            data_base: self.data_base,
            payload_len: self.payload_len,
            head_end: self.head_end,
            total: self.total.0,
            runs: self
                .runs
                .iter()
                .map(|r| resume::SavedRun {
                    path: r.path.to_path_buf(),
                    stamp: r.stamp,
                    start: r.start,
                    len: r.len,
                    payload_at: r.payload_at,
                    align: r.align,
                    offset: r.offset.0,
                    duration: r.duration.0,
                })
                .collect(),
            stats: stats.clone(),
            summary: inputs.summary.clone(),
        }
    }
}

/// Writes `file` at `out_path`: the head (the `moov` tables streamed from
/// the samples, by `head`) and the runs, each at its own offset of the file
/// (`pwrite`, explicit `copy_file_range` offsets), so that the runs are
/// copied on a second thread while this one writes the head: on an hour,
/// building the 2.4 MB of tables takes about as long as sharing the runs.
/// What a dead export of the same plan left there is kept where its
/// journal vouches for it (see `resume`); `saved` goes beside.
///
/// `head: None` (a resume from a saved plan, which has no tables to
/// write): `Ok(false)`, the file untouched, unless the head is kept.
fn write_file(
    file: &FileLayout<'_>,
    out_path: &Path,
    head: Option<&HeadWriter<'_>>,
    saved: Option<resume::SavedPlan>,
    fail: Failures<'_>,
    stats: &mut RemuxStats,
    reporter: &mut Reporter<'_>,
) -> Result<bool> {
    let (runs, data_base, head_end) = (file.runs, file.data_base, file.head_end);
    // The staged file was just created empty: no O_TRUNC, which ext4 takes
    // as "replace via truncate" and answers by flushing the data on close
    // (a cancelled export then spends 100+ ms writing what it deletes).
    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .open(out_path)
        .map_err(|e| fail.write("create", e))?;
    let fresh = resume::Journal {
        identity: file.identity.clone(),
        len: data_base + file.payload_len,
        head_len: head_end,
        head: None,
        runs: 0,
        last_run: None,
    };
    let (durable, kept_journal) = match (resumable(&out, out_path, &fresh, runs, data_base), head) {
        (Ok(kept), Some(_)) => kept,
        (Ok(kept), None) if kept.1.head.is_some() => kept,
        (_, None) => return Ok(false),
        (Err(why), Some(_)) => {
            if let Some(why) = why {
                tracing::info!(reason = %why, "resume: starting over");
                stats.resume_restarted = Some(why);
            }
            out.set_len(0).map_err(|e| fail.write("size", e))?;
            (fresh.clone(), fresh)
        }
    };
    let (skip_head, skip_runs) = (kept_journal.head.is_some(), kept_journal.runs);
    if let Some(r) = runs.get(skip_runs).filter(|_| skip_runs > 0) {
        reporter.pace_from(r.offset.ratio(file.total) * 100.0);
    }
    stats.resumed_bytes =
        if skip_head { head_end } else { 0 } + runs[..skip_runs].iter().map(|r| r.len).sum::<u64>();
    // Removed however this writer ends; only a dead process leaves one.
    let journal = resume::Journaler::start(
        &out,
        out_path,
        (durable, kept_journal),
        head_end,
        runs.iter()
            .map(|r| (data_base + r.payload_at, r.len))
            .collect(),
        saved,
    );
    // With extent sharing the file gets its final size first, so that the
    // runs land inside it (and a padding hole at the very end cannot leave
    // the file short of its mdat). Written past the end instead, each
    // aligned run's head would make the filesystem zero the hole before it
    // (XFS: `xfs_file_write_checks` -> `iomap_zero_range`): pages the fsync
    // then writes out, 30-40 ms of an hour's export. Not elsewhere: on a
    // filesystem without holes (vfat, exFAT: a USB stick) an extending
    // truncate writes zeros over the whole file first.
    if runs.iter().any(|r| r.align.is_some()) {
        out.set_len(data_base + file.payload_len)
            .map_err(|e| fail.write("size", e))?;
    }
    let write_head = || -> Result<()> {
        let Some(head) = head.filter(|_| !skip_head) else {
            return Ok(());
        };
        let at = WriteAt { file: &out, pos: 0 };
        head(&mut std::io::BufWriter::with_capacity(1 << 20, at))?;
        journal.wrote(resume::Mark::Head);
        journal.mark(resume::Mark::Head);
        Ok(())
    };
    let since = std::sync::atomic::AtomicU64::new(0);
    let last_checkpoint = std::sync::Mutex::new(std::time::Instant::now());
    let run_done = |i: usize| -> Result<()> {
        use std::sync::atomic::Ordering;
        let r = &runs[i];
        journal.wrote(resume::Mark::Runs(i + 1));
        journal.write_back(i + 1);
        let n = since.fetch_add(r.len, Ordering::Relaxed) + r.len;
        let due = last_checkpoint
            .lock()
            .map(|t| t.elapsed() >= resume::CHECKPOINT_INTERVAL)
            .unwrap_or(true);
        if n < resume::CHECKPOINT_BYTES && !due && i + 1 < runs.len() {
            return Ok(());
        }
        since.store(0, Ordering::Relaxed);
        if let Ok(mut t) = last_checkpoint.lock() {
            *t = std::time::Instant::now();
        }
        journal.mark(resume::Mark::Runs(i + 1));
        Ok(())
    };
    let copy = RunCopy {
        runs,
        out: &out,
        data_base,
        total: file.total,
        fail,
        skip: skip_runs,
        done: &run_done,
    };
    let tally = if file.max_rate.is_some() {
        // Paced: the reporter sleeps between pieces; one thread, in order.
        write_head()?;
        copy.run(Copier::new(file.max_rate), &mut |p| reporter.update(p))?
    } else {
        copy.alongside(write_head, reporter)?
    };
    stats.shared_bytes += tally.shared;
    stats.copied_bytes += tally.copied;
    stats.first_sample_at = tally.first_at;
    Ok(true)
}

/// A saved run as the writer copies it.
fn run_of(r: &resume::SavedRun) -> Run<'_> {
    Run {
        path: &r.path,
        stamp: r.stamp,
        start: r.start,
        len: r.len,
        payload_at: r.payload_at,
        align: r.align,
        offset: OutTicks(r.offset),
        duration: OutTicks(r.duration),
    }
}

/// The runs of a saved plan, and its identity, if it holds: every run's
/// file is one of `segments` (located, inside the media folders) with the
/// identity it has now, and the runs give the identity the plan claims.
fn saved_runs<'p>(
    plan: &'p resume::SavedPlan,
    segments: &[crate::source::Segment],
) -> Option<(Vec<Run<'p>>, String)> {
    let known: std::collections::HashMap<&Path, FileStamp> = segments
        .iter()
        .filter_map(|s| {
            let Locator::File(path) = &s.locator;
            Some((path.as_path(), s.stamp?))
        })
        .collect();
    let runs: Vec<Run<'p>> = plan
        .runs
        .iter()
        .map(|r| (known.get(r.path.as_path()) == Some(&r.stamp)).then(|| run_of(r)))
        .collect::<Option<_>>()?;
    let identity = layout_identity(plan.head_identity, &runs, plan.data_base, plan.payload_len);
    (identity == plan.identity && !runs.is_empty()).then_some((runs, identity))
}

/// Resumes the export whose plan was saved beside `out_path` under `key`
/// (see `resume`), without reading a segment header: the plan is checked
/// against itself (its runs give its identity) and against `segments`
/// (every run's file must be one of them, with the identity it has now:
/// nothing else is read), then what the journals vouch for is kept and the
/// rest copied. Returns the writer's statistics and the summary saved
/// with the plan; `Ok(None)` when there is no such plan or nothing of the
/// file it can keep (the caller plans the export again, which decides
/// whether to start over), the file untouched; so too when `summary`
/// refuses the summary saved with the plan (it is read before anything is
/// written). `max_rate`: as [`RemuxJob::max_rate`].
pub fn resume_saved<T>(
    out_path: &Path,
    key: &str,
    segments: &[crate::source::Segment],
    max_rate: Option<u64>,
    summary: impl FnOnce(serde_json::Value) -> Option<T>,
    reporter: &mut Reporter<'_>,
) -> Result<Option<(RemuxStats, T)>> {
    let Some(mut plan) = resume::read_plan(out_path, key) else {
        return Ok(None);
    };
    let Some(summary) = summary(std::mem::take(&mut plan.summary)) else {
        return Ok(None);
    };
    let Some((runs, identity)) = saved_runs(&plan, segments) else {
        return Ok(None);
    };
    let cancel = reporter.cancel_token().clone();
    let fail = Failures {
        out: out_path,
        cancel: &cancel,
    };
    let file = FileLayout {
        runs: &runs,
        data_base: plan.data_base,
        payload_len: plan.payload_len,
        head_end: plan.head_end,
        identity,
        total: OutTicks(plan.total),
        max_rate,
    };
    let mut stats = plan.stats.clone();
    stats.from_saved_plan = true;
    reporter.step(crate::progress::Step::Copying, 0.0)?;
    if let Some(rate) = max_rate {
        reporter.pace(rate, plan.data_base + plan.payload_len);
    }
    if !write_file(&file, out_path, None, None, fail, &mut stats, reporter)? {
        return Ok(None);
    }
    stats.bytes_written = plan.data_base + plan.payload_len;
    Ok(Some((stats, summary)))
}

/// The identity of the bytes this plan writes at each offset: what the head
/// is made from ([`identity`]), where each run comes from (its segment's
/// identity and range) and where it lands.
fn layout_identity(
    head_identity: u64,
    runs: &[Run<'_>],
    data_base: u64,
    payload_len: u64,
) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    head_identity.hash(&mut h);
    (data_base, payload_len).hash(&mut h);
    for r in runs {
        let FileStamp {
            id,
            size,
            modified_ns,
        } = r.stamp;
        (r.path, id, size, modified_ns, r.start, r.len, r.payload_at).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// What of the staged file a dead export left may be kept, as the journals
/// to go on from (`fresh` with the head and the runs that still hold):
/// what is durably there, and what is there in this boot (the durable part
/// and what the record of writes adds; see `resume`).
/// `Err(Some(why))` when there was something to resume but it cannot be;
/// `Err(None)` when there was nothing (a fresh export).
fn resumable(
    out: &File,
    out_path: &Path,
    fresh: &resume::Journal,
    runs: &[Run<'_>],
    data_base: u64,
) -> std::result::Result<(resume::Journal, resume::Journal), Option<String>> {
    let Some(j) = resume::read(out_path) else {
        let len = out.metadata().map(|m| m.len()).unwrap_or(0);
        return Err((len > 0).then(|| "a partial file without a journal".to_string()));
    };
    let claim = Claim {
        out,
        fresh,
        runs,
        data_base,
    };
    let durable = claim.vouched(&j, fresh).map_err(Some)?;
    // The record of writes adds what its own blocks vouch for; one that
    // does not hold is no record.
    let more = resume::read_written(out_path)
        .and_then(|w| claim.vouched(&w, &durable).ok())
        .filter(|w| w.runs >= durable.runs)
        .map(|mut w| {
            w.head = w.head.or_else(|| durable.head.clone());
            w
        })
        .unwrap_or_else(|| durable.clone());
    Ok((durable, more))
}

/// A staged file and the plan it should hold, to check a journal against.
struct Claim<'a> {
    out: &'a File,
    fresh: &'a resume::Journal,
    runs: &'a [Run<'a>],
    data_base: u64,
}

impl Claim<'_> {
    /// `fresh` with the head and runs `j` names, if its plan is this one
    /// and the blocks it names still hash the same (a head `known` already
    /// vouched for is not hashed again); else why not.
    fn vouched(
        &self,
        j: &resume::Journal,
        known: &resume::Journal,
    ) -> Result<resume::Journal, String> {
        let fresh = self.fresh;
        if j.identity != fresh.identity || j.len != fresh.len || j.head_len != fresh.head_len {
            return Err(
                "the plan changed since (catalogue rows, segment files or the request)".into(),
            );
        }
        let mut kept = fresh.clone();
        if let Some(h) = &j.head {
            if known.head.as_ref() != Some(h)
                && resume::hash(self.out, 0, fresh.head_len).ok().as_ref() != Some(h)
            {
                return Err("the head is not what was written".into());
            }
            kept.head = Some(h.clone());
        }
        let done = j.runs.min(self.runs.len());
        if let Some(r) = done.checked_sub(1).map(|i| &self.runs[i]) {
            let at = self.data_base + r.payload_at;
            let now = resume::block_hash(self.out, at, at + r.len).ok();
            if now.is_none() || now != j.last_run {
                return Err("the last run's last block is not what was written".into());
            }
            (kept.runs, kept.last_run) = (done, now);
        }
        Ok(kept)
    }
}

/// [`identity`] of one camera's job; of several, with their names and
/// edit lists.
fn cams_identity(cams: &[Cam<'_>]) -> u64 {
    use std::hash::{Hash, Hasher};
    if let [one] = cams {
        if one.shared.is_none() {
            return identity(one.job);
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for c in cams {
        identity(c.job).hash(&mut h);
        if let Some((name, placement, total)) = c.shared {
            (name, total.0).hash(&mut h);
            for at in &placement.clip_at {
                at.0.hash(&mut h);
            }
        }
    }
    h.finish()
}

/// A hash of what a virtual file's head is made from besides its segments'
/// sample tables (whose files the runs identify): the plan's clips, the
/// chapters, the timestamp cues, the metadata, the creation time, whether
/// audio is kept, and this engine's version (its layout rules).
fn identity(job: &RemuxJob<'_>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    env!("CARGO_PKG_VERSION").hash(&mut h);
    for c in &job.plan.clips {
        (
            &c.segment_id,
            c.first_dts,
            c.end_dts,
            c.origin_pts,
            c.end_pts,
        )
            .hash(&mut h);
        (
            c.offset.0,
            c.duration.0,
            c.exact,
            c.lift.map(|l| (l.from_pts, l.to_pts)),
        )
            .hash(&mut h);
        (
            c.wall_start_s.to_bits(),
            c.time_base.numerator(),
            c.time_base.denominator(),
        )
            .hash(&mut h);
    }
    for c in job.chapters {
        (c.start.0, c.end.0, &c.title).hash(&mut h);
    }
    for c in job.timestamps {
        (c.start.0, c.end.0, &c.text).hash(&mut h);
    }
    job.metadata.hash(&mut h);
    (job.creation_s.to_bits(), job.audio).hash(&mut h);
    h.finish()
}

/// Whether the filesystem really shares blocks between the segments and
/// the output's folder: the filesystem type says only that it may (XFS
/// made with `reflink=0`, ZFS with block cloning off, share nothing, and
/// `copy_file_range` silently copies there). One block of the first segment
/// on the output's filesystem is cloned into a scratch file beside the
/// output (`<staged>.share`: the staged file may hold a resumed export's
/// bytes) and removed: a fraction of a millisecond, and where it fails the
/// export is laid out as on any filesystem, with no padding.
fn sharing_works(
    job: &RemuxJob<'_>,
    out_path: &Path,
    on_out_fs: &dyn Fn(&SegmentProbe) -> bool,
    block: u64,
) -> bool {
    let Some(p) = job
        .plan
        .clips
        .iter()
        .map(|c| job.probe(c))
        .find(|p| on_out_fs(p) && p.file_size >= block)
    else {
        return false;
    };
    let mut scratch = out_path.as_os_str().to_owned();
    scratch.push(".share");
    let scratch = std::path::PathBuf::from(scratch);
    let tried = (|| -> std::io::Result<()> {
        let src = open_regular(&p.path)?;
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&scratch)?;
        let cloned = output::clone_range(&src, 0, &out, 0, block);
        drop(out);
        cloned
    })();
    let _ = std::fs::remove_file(&scratch);
    if let Err(e) = &tried {
        tracing::info!(block, error = %e, "extent sharing declined: the filesystem shares no blocks here");
    }
    tried.is_ok()
}

/// Whether aligning runs of these lengths to `block` pays. Aligning shares
/// all but a block or two of each run: the export takes (almost) no new
/// disk space and no copy time. Its cost is the padding, half a block a run
/// on average: a hole (no disk space), but part of the file's size, so
/// every download or copy of the export sends it as zeros. It must stay
/// within 5 % of the bytes: runs of 10 blocks or more on average, that is
/// 40 KiB with 4 KiB blocks (XFS, btrfs: a 10 s segment above ~32 kbit/s,
/// every real camera), 1.25 MiB with ZFS's default 128 KiB records (above
/// ~1 Mbit/s). Below that, the export is written as on any filesystem.
pub(crate) fn sharing_pays(block: u64, runs: &[u64]) -> bool {
    let bytes: u64 = runs.iter().sum();
    let padding = runs.len() as u64 * block / 2;
    bytes > 0 && padding.saturating_mul(20) <= bytes
}

/// The first segment's audio sample entry with the `esds` bit rates
/// computed for the output (the segment's own describe only that file):
/// `avgBitrate` over the whole track, `maxBitrate` the most bits in any
/// one-second window of samples, `bufferSizeDB` kept.
fn output_audio_entry(e: &TrakSummary, (avg, max): (u32, u32)) -> Vec<u8> {
    let mut entry = e.sample_entry.clone();
    let Some(at) = e.esds_rates_at else {
        return entry;
    };
    if let Some(dst) = entry.get_mut(at + 3..at + 11) {
        dst[..4].copy_from_slice(&max.to_be_bytes());
        dst[4..].copy_from_slice(&avg.to_be_bytes());
    }
    entry
}

/// Sets an HEVC sample entry's type to `tag` and its `hvcC` payload to
/// `hvcc` (the same record with completeness flags: the same length).
fn set_hvcc(entry: &mut [u8], tag: [u8; 4], hvcc: &[u8]) {
    // VisualSampleEntry: 8-byte header + 78 bytes of fixed fields, then boxes.
    const CHILDREN_AT: usize = 86;
    let mut p = CHILDREN_AT;
    while p + 8 <= entry.len() {
        let size =
            u32::from_be_bytes([entry[p], entry[p + 1], entry[p + 2], entry[p + 3]]) as usize;
        if size < 8 || p + size > entry.len() {
            return;
        }
        if &entry[p + 4..p + 8] == b"hvcC" {
            if size - 8 == hvcc.len() {
                entry[p + 8..p + size].copy_from_slice(hvcc);
                entry[4..8].copy_from_slice(&tag);
            }
            return;
        }
        p += size;
    }
}

fn out_sample(s: cut::Stamp, size: u32, keyframe: bool) -> OutSample {
    OutSample {
        dts: s.dts,
        duration: s.duration,
        cts: (s.pts - s.dts).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
        size,
        keyframe,
        offset: 0,
    }
}

/// Output time bases are 1/N by construction: N is the track's time scale.
fn tb_den(tb: ffmpeg_next::Rational) -> u32 {
    tb.denominator().max(1) as u32
}

/// What copying the runs did.
#[derive(Default)]
struct Tally {
    /// Bytes the filesystem shared rather than copied.
    shared: u64,
    copied: u64,
    /// When the first run began.
    first_at: Option<std::time::Instant>,
}

/// The runs of one export and where they go: `out` at `data_base` plus
/// each run's payload offset.
struct RunCopy<'a> {
    runs: &'a [Run<'a>],
    out: &'a File,
    data_base: u64,
    total: OutTicks,
    fail: Failures<'a>,
    /// Runs already in the file (a resumed export): not copied again.
    skip: usize,
    /// Called after each run is copied (the resume journal's checkpoints).
    done: &'a (dyn Fn(usize) -> Result<()> + Sync),
}

impl RunCopy<'_> {
    /// Copies every run in order, calling `progress` with the percentage
    /// of the export's media time done after every piece.
    fn run(
        &self,
        mut copier: Copier,
        progress: &mut dyn FnMut(f64) -> Result<()>,
    ) -> Result<Tally> {
        let mut tally = Tally::default();
        for (i, run) in self.runs.iter().enumerate().skip(self.skip) {
            self.fail.cancel.check()?;
            // Keep the partial blocks of the next runs on their way in: the
            // first window at once, then one more run per run copied.
            let n = self.runs.len();
            let ahead = match i {
                0 => 0..PREFETCH_RUNS.min(n),
                _ => (i + PREFETCH_RUNS - 1).min(n)..(i + PREFETCH_RUNS).min(n),
            };
            for r in &self.runs[ahead] {
                r.prefetch_partial_blocks();
            }
            tally.first_at.get_or_insert_with(std::time::Instant::now);
            // Padding before an aligned run stays a hole.
            let at = self.data_base + run.payload_at;
            copier.copy_run(run, self.out, at, self.fail, &mut tally, |done, len| {
                let into =
                    OutTicks((run.duration.0 as f64 * done as f64 / len.max(1) as f64) as i64);
                progress((run.offset + into).ratio(self.total) * 100.0)
            })?;
            (self.done)(i)?;
        }
        Ok(tally)
    }

    /// Copies the runs on a second thread while `head` runs on this one;
    /// progress goes through `reporter` here. The first error wins in the
    /// order head, reporter (a cancel), copy; any error stops the other
    /// side at its next piece.
    fn alongside(
        &self,
        head: impl FnOnce() -> Result<()>,
        reporter: &mut Reporter<'_>,
    ) -> Result<Tally> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::channel::<f64>();
            let stop = &stop;
            let spawned = std::thread::Builder::new()
                .name("nvr-export-copy".into())
                .spawn_scoped(scope, move || {
                    let r = self.run(Copier::new(None), &mut |p| {
                        if stop.load(Ordering::Relaxed) {
                            return Err(crate::error::Error::Cancelled);
                        }
                        // The receiver lives until this thread is joined.
                        let _ = tx.send(p);
                        Ok(())
                    });
                    if r.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    r
                });
            let copier = match spawned {
                Ok(handle) => handle,
                // Out of threads: the same work, in order, on this one.
                Err(e) => {
                    tracing::debug!(error = %e, "no copy thread: head, then runs");
                    head()?;
                    return self.run(Copier::new(None), &mut |p| reporter.update(p));
                }
            };
            let head = head();
            if head.is_err() {
                stop.store(true, Ordering::Relaxed);
            }
            // Ends when the copy thread drops its sender.
            let mut reported = Ok(());
            for p in rx {
                if head.is_ok() && reported.is_ok() && !stop.load(Ordering::Relaxed) {
                    reported = reporter.update(p);
                    if reported.is_err() {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            let copied = copier.join().unwrap_or_else(|_| {
                Err(self
                    .fail
                    .write("copy", Failure::Found("the copy thread panicked".into())))
            });
            head?;
            reported?;
            copied
        })
    }
}

/// A [`Write`] at an explicit position of a file (`pwrite`): the file's
/// own position is left to no one, so another thread can write elsewhere.
struct WriteAt<'f> {
    file: &'f File,
    pos: u64,
}

impl Write for WriteAt<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Copies byte runs, in kernel when the filesystems allow it.
struct Copier {
    in_kernel: bool,
    buf: Vec<u8>,
    /// Bytes per piece: [`COPY_PIECE_BYTES`], or a twentieth of a second's
    /// worth under a rate limit, so the pacing is smooth.
    piece: usize,
}

impl Copier {
    fn new(max_rate: Option<u64>) -> Copier {
        let piece = match max_rate {
            Some(r) => ((r / 20) as usize).clamp(16 << 10, COPY_PIECE_BYTES),
            None => COPY_PIECE_BYTES,
        };
        Copier {
            in_kernel: true,
            buf: Vec::new(),
            piece,
        }
    }

    /// Copies `run` to `out` at byte `at`.
    fn copy_run(
        &mut self,
        run: &Run<'_>,
        out: &File,
        at: u64,
        fail: Failures<'_>,
        tally: &mut Tally,
        mut progress: impl FnMut(u64, u64) -> Result<()>,
    ) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let cancel = fail.cancel;
        let src = open_regular(run.path).map_err(|e| fail.read(run.path, "open", e))?;
        let meta = src.metadata().map_err(|e| fail.read(run.path, "stat", e))?;
        run.stamp
            .check(&meta)
            .map_err(|why| fail.read(run.path, "copy", Failure::Found(why)))?;
        let mut off = run.start;
        let mut dst = at as i64;
        let mut done = 0u64;
        while done < run.len {
            cancel.check()?;
            // Aligned runs: the unaligned head alone first, then whole
            // blocks (pieces are block multiples), then the tail.
            let head = run.align.map_or(0, |b| (b - run.start as u64 % b) % b);
            let piece = match run.align {
                Some(b) => (self.piece as u64 / b).max(1) * b,
                None => self.piece as u64,
            };
            let want = if done < head {
                head - done
            } else {
                (run.len - done).min(piece)
            } as usize;
            let want = want.min((run.len - done) as usize);
            let n = if self.in_kernel {
                match output::copy_file_range(&src, &mut off, out, &mut dst, want) {
                    Ok(n) => n,
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EXDEV)
                                | Some(libc::ENOSYS)
                                | Some(libc::EINVAL)
                                | Some(libc::EOPNOTSUPP)
                        ) =>
                    {
                        self.in_kernel = false;
                        continue;
                    }
                    Err(e) => return Err(fail.read(run.path, "copy", e)),
                }
            } else {
                self.buf.resize(want, 0);
                let n = src
                    .read_at(&mut self.buf[..want], off as u64)
                    .map_err(|e| fail.read(run.path, "read", e))?;
                out.write_all_at(&self.buf[..n], dst as u64)
                    .map_err(|e| fail.write("write", e))?;
                off += n as i64;
                dst += n as i64;
                n
            };
            if n == 0 {
                return Err(fail.read(
                    run.path,
                    "copy",
                    Failure::Found(format!(
                        "file ends at byte {off}, before the sample data it indexes"
                    )),
                ));
            }
            // Whole blocks copied in kernel between aligned offsets: shared.
            let shared = match run.align {
                Some(b) if self.in_kernel && done >= head => (n as u64 / b) * b,
                _ => 0,
            };
            tally.shared += shared;
            tally.copied += n as u64 - shared;
            done += n as u64;
            progress(done, run.len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::sharing_pays;

    #[test]
    fn a_saved_plan_holds_only_for_located_files_as_they_are_and_its_own_identity() {
        use super::{layout_identity, resume, run_of, saved_runs, Run};
        use crate::source::{FileStamp, Locator, Segment};
        let stamp = |n: u64| FileStamp {
            id: (1, n),
            size: 1000 + n,
            modified_ns: n as i128,
        };
        let segment = |n: u64| Segment {
            id: format!("r{n}"),
            start_s: n as f64,
            end_s: n as f64 + 10.0,
            locator: Locator::File(format!("/media/r{n}.mp4").into()),
            stamp: Some(stamp(n)),
        };
        let run = |n: u64, path: &str| resume::SavedRun {
            path: path.into(),
            stamp: stamp(n),
            start: 40,
            len: 900,
            payload_at: n * 900,
            align: None,
            offset: n as i64 * 100,
            duration: 100,
        };
        // A plan's identity as its writer makes it.
        let plan_of = |runs: Vec<resume::SavedRun>| {
            let as_runs: Vec<Run<'_>> = runs.iter().map(run_of).collect();
            let identity = layout_identity(7, &as_runs, 4096, 1800);
            drop(as_runs);
            resume::SavedPlan {
                key: "k".into(),
                identity,
                head_identity: 7,
                data_base: 4096,
                payload_len: 1800,
                head_end: 4096,
                total: 200,
                runs,
                stats: Default::default(),
                summary: serde_json::Value::Null,
            }
        };
        let located = [segment(0), segment(1)];
        let good = plan_of(vec![run(0, "/media/r0.mp4"), run(1, "/media/r1.mp4")]);
        let (runs, identity) = saved_runs(&good, &located).expect("a plan that holds");
        assert_eq!((runs.len(), identity), (2, good.identity.clone()));
        // A run at a file that is not located (outside the media folders),
        // even with a well-made identity.
        let outside = plan_of(vec![run(0, "/media/r0.mp4"), run(1, "/etc/secret")]);
        assert!(saved_runs(&outside, &located).is_none());
        // A located file whose identity changed since.
        let mut changed = located.clone();
        changed[1].stamp = Some(stamp(9));
        assert!(saved_runs(&good, &changed).is_none());
        // A file whose identity was not taken.
        changed[1].stamp = None;
        assert!(saved_runs(&good, &changed).is_none());
        // Runs edited under the identity they were saved with.
        let mut edited = good.clone();
        edited.runs[1].len += 1;
        assert!(saved_runs(&edited, &located).is_none());
    }

    #[test]
    fn aligning_pays_for_big_runs_on_small_blocks_only() {
        const KIB: u64 = 1024;
        // An hour of a 2 Mbit/s camera: 360 runs of ~2.5 MB.
        let hour = vec![2_600 * KIB; 360];
        assert!(sharing_pays(4 * KIB, &hour), "XFS/btrfs blocks");
        assert!(
            sharing_pays(128 * KIB, &hour),
            "ZFS records: 23 MB of holes"
        );
        assert!(!sharing_pays(1024 * KIB, &hour), "1 MiB records");
        // A 20 kbit/s camera: 25 KB a segment.
        let low = vec![25 * KIB; 360];
        assert!(!sharing_pays(4 * KIB, &low));
        // The boundary: 10 blocks a run.
        assert!(sharing_pays(4 * KIB, &[40 * KIB; 10]));
        assert!(!sharing_pays(4 * KIB, &[39 * KIB; 10]));
        assert!(!sharing_pays(4 * KIB, &[]));
    }
}
