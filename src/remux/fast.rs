//! The index-driven writer: plan first, move bytes second.
//!
//! libav's MP4 demuxer has already given us, for every segment, the offset,
//! size, decode timestamp and keyframe flag of every sample (`probe`). From
//! that and the plan this writer computes the whole output before writing a
//! byte: which samples are kept and their output timestamps (through
//! [`super::cut`], exactly as the libav writer does), where each lands in
//! `mdat`, and so the complete `moov`. It then writes `ftyp`, `moov`, the
//! `mdat` header and the chapter samples, and copies each clip's sample
//! bytes as one run, in kernel (`copy_file_range`), 8 MiB at a time so that
//! progress and cancellation stay within a few milliseconds.
//!
//! It accepts a job only when the copied bytes can be described by one
//! sample entry per track (see [`check`]); everything else goes to the libav
//! writer.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use ffmpeg_next::codec::Id;

use super::cut::{self, ClipMap, Cut, Timeline, AUDIO, VIDEO};
use super::mp4::{self, OutSample, Track, TrackKind};
use super::tracks::{self, InbandNeed};
use super::{io_write_error, read_error, RemuxJob, RemuxStats};
use crate::error::Result;
use crate::media::isobmff::TrakSummary;
use crate::media::params;
use crate::media::ts_seconds;
use crate::output;
use crate::plan::Clip;
use crate::plan::TB_90K;
use crate::probe::SegmentProbe;
use crate::progress::{CancelToken, Reporter};

/// Bytes copied between progress updates and cancellation checks.
pub const COPY_PIECE_BYTES: usize = 8 << 20;

const VIDEO_TRACK_ID: u32 = 1;
const AUDIO_TRACK_ID: u32 = 2;
const CHAPTER_TRACK_ID: u32 = 3;

/// Whether the index-driven writer can take `job`; `Err` says why not.
///
/// Sample entries are compared as decoders see them
/// ([`TrakSummary::decoder_view`]: per-file measured bit rates ignored).
/// A video entry may change (a camera restart with other parameter sets)
/// when every keyframe that needs the new sets in band (see
/// [`tracks::inband_needs`]) already carries them, as cameras send them: the
/// bytes are then copied as they are, exactly what the libav writer writes.
pub fn check(job: &RemuxJob<'_>) -> std::result::Result<(), String> {
    let first = job.probes[job.plan.clips[0].segment];
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
    let clip_probes: Vec<_> = job
        .plan
        .clips
        .iter()
        .map(|c| job.probes[c.segment])
        .collect();
    let needs = tracks::inband_needs(&clip_probes);
    for ((clip, p), need) in job.plan.clips.iter().zip(&clip_probes).zip(needs) {
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
    let f = File::open(&p.path).map_err(|e| format!("{}: {e}", p.path.display()))?;
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

/// One clip's bytes: a contiguous range of its segment file.
struct Run<'a> {
    path: &'a Path,
    start: i64,
    len: u64,
    offset_90k: i64,
    duration_90k: i64,
}

/// Writes `job` (accepted by [`check`]) to `out_path`.
pub fn write(
    job: &RemuxJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    let cancel = reporter.cancel_token().clone();
    let first = job.probes[job.plan.clips[0].segment];
    let audio = if job.audio {
        first.audio.as_ref()
    } else {
        None
    };
    let mut tl = Timeline::new(
        cut::VIDEO_TB,
        audio
            .map(|a| cut::audio_tb(a.sample_rate))
            .unwrap_or(TB_90K),
    );
    let mut stats = RemuxStats {
        writer: "fast",
        ..RemuxStats::default()
    };

    // 1. Chapter samples go first in mdat; then one run per clip.
    let (chapter_track, chapter_bytes) = mp4::chapter_track(CHAPTER_TRACK_ID, job.chapters, 0);
    let mut payload_len = chapter_bytes.len() as u64;
    let clip_probes = || job.plan.clips.iter().map(|c| job.probes[c.segment]);
    let mut video: Vec<OutSample> =
        Vec::with_capacity(clip_probes().map(|p| p.video.timing.samples.len()).sum());
    let audio_samples: usize = match audio {
        Some(_) => clip_probes()
            .filter_map(|p| p.audio.as_ref())
            .map(|a| a.samples.len())
            .sum(),
        None => 0,
    };
    let mut sound: Vec<OutSample> = Vec::with_capacity(audio_samples);
    let mut runs: Vec<Run<'_>> = Vec::with_capacity(job.plan.clips.len());
    let mut picks: Vec<(usize, OutSample, i64)> = Vec::new();
    for clip in &job.plan.clips {
        let p = job.probes[clip.segment];
        let ain = audio.and(p.audio.as_ref());
        let map = ClipMap::new(clip, ain.map(|a| a.time_base), &tl);
        picks.clear();
        for s in p.video.timing.samples.iter() {
            match map.video(s.dts, s.pts(), s.duration, &mut tl) {
                Cut::Drop => continue,
                Cut::After => break,
                Cut::Keep(st) => picks.push((VIDEO, out_sample(st, s.size, s.keyframe), s.pos)),
            }
        }
        if let Some(a) = ain {
            for s in a.samples.iter() {
                match map.audio(s.dts, s.duration, &mut tl) {
                    Cut::Drop => stats.audio_packets_trimmed += 1,
                    Cut::After => {
                        stats.audio_packets_trimmed += 1;
                        break;
                    }
                    Cut::Keep(st) => picks.push((AUDIO, out_sample(st, s.size, true), s.pos)),
                }
            }
        }
        let start = picks.iter().map(|x| x.2).min().unwrap_or(0);
        let end = picks
            .iter()
            .map(|x| x.2 + x.1.size as i64)
            .max()
            .unwrap_or(start);
        for &(track, mut s, pos) in &picks {
            s.offset = payload_len + (pos - start) as u64;
            if track == VIDEO {
                video.push(s);
            } else {
                sound.push(s);
            }
        }
        runs.push(Run {
            path: &clip.path,
            start,
            len: (end - start) as u64,
            offset_90k: clip.offset_90k,
            duration_90k: clip.duration_90k,
        });
        payload_len += (end - start) as u64;
    }
    stats.video_packets = video.len() as u64;
    stats.audio_packets = sound.len() as u64;
    stats.video_duration_s = ts_seconds(tl.end[VIDEO], tl.tb[VIDEO]);
    stats.audio_duration_s = ts_seconds(tl.end[AUDIO], tl.tb[AUDIO]);

    // 2. Tracks and moov.
    let has_chapters = !job.chapters.is_empty();
    let hevc = first.video.codec == Id::HEVC;
    let mut ventry = first
        .sample_entry(first.video.index)
        .map(|e| e.sample_entry.clone())
        .unwrap_or_default();
    if hevc {
        hvc1_if_complete(&mut ventry);
    }
    let mut tracks = vec![Track {
        kind: TrackKind::Video {
            width: first.video.width,
            height: first.video.height,
        },
        id: VIDEO_TRACK_ID,
        timescale: tb_den(tl.tb[VIDEO]),
        sample_entry: ventry,
        samples: video,
        chapter_track: has_chapters.then_some(CHAPTER_TRACK_ID),
    }];
    if let Some(a) = audio {
        tracks.push(Track {
            kind: TrackKind::Audio,
            id: AUDIO_TRACK_ID,
            timescale: tb_den(tl.tb[AUDIO]),
            sample_entry: first
                .sample_entry(a.index)
                .map(|e| output_audio_entry(e, &sound, tb_den(tl.tb[AUDIO])))
                .unwrap_or_default(),
            samples: sound,
            chapter_track: has_chapters.then_some(CHAPTER_TRACK_ID),
        });
    }
    if has_chapters {
        tracks.push(chapter_track);
    }
    let meta = |k: &str| {
        job.metadata
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.as_str())
    };
    let movie = mp4::Movie {
        creation_unix_s: job.creation_s,
        tracks: &tracks,
        title: meta("title"),
        comment: meta("comment"),
        chapters: job.chapters,
    };
    let ftyp = mp4::ftyp(hevc);
    let mdat_hdr = mp4::mdat_header(payload_len);
    let probe_len = mp4::moov(&movie, 0, false).len() as u64;
    let co64 =
        ftyp.len() as u64 + probe_len + mdat_hdr.len() as u64 + payload_len > u32::MAX as u64;
    let moov_len = if co64 {
        mp4::moov(&movie, 0, true).len() as u64
    } else {
        probe_len
    };
    let data_base = ftyp.len() as u64 + moov_len + mdat_hdr.len() as u64;
    let moov = mp4::moov(&movie, data_base, co64);
    drop(tracks);

    // 3. Bytes.
    let out = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(out_path)
        .map_err(|e| io_write_error(out_path, e, &cancel))?;
    let head_len = (ftyp.len() + moov.len() + mdat_hdr.len()) as u64;
    for part in [&ftyp[..], &moov[..], &mdat_hdr[..], &chapter_bytes[..]] {
        (&out)
            .write_all(part)
            .map_err(|e| io_write_error(out_path, e, &cancel))?;
    }
    drop(moov);

    let total_90k = job.plan.duration_90k().max(1) as f64;
    let mut copier = Copier::new();
    for run in &runs {
        cancel.check()?;
        if stats.first_sample_at.is_none() {
            stats.first_sample_at = Some(std::time::Instant::now());
        }
        copier.copy_run(run, &out, out_path, &cancel, |done, len| {
            let into = (run.duration_90k as f64 * done as f64 / len.max(1) as f64) as i64;
            reporter.update((run.offset_90k + into) as f64 / total_90k * 100.0)
        })?;
    }
    stats.bytes_written = head_len + payload_len;
    Ok(stats)
}

/// Relabels an HEVC sample entry `hvc1` when its `hvcC` holds complete
/// VPS/SPS/PPS arrays (setting their completeness flags, as `hvc1`
/// requires); otherwise it keeps its own type (`hev1`: sets in band).
fn hvc1_if_complete(entry: &mut [u8]) {
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
            if let Some(complete) = crate::media::params::hvcc_complete(&entry[p + 8..p + size]) {
                entry[p + 8..p + size].copy_from_slice(&complete);
                entry[4..8].copy_from_slice(b"hvc1");
            }
            return;
        }
        p += size;
    }
}

/// The first segment's audio sample entry with the `esds` bit rates
/// computed for the output (the segment's own describe only that file):
/// `avgBitrate` over the whole track, `maxBitrate` the most bits in any
/// one-second window of samples, `bufferSizeDB` kept.
fn output_audio_entry(e: &TrakSummary, samples: &[OutSample], timescale: u32) -> Vec<u8> {
    let mut entry = e.sample_entry.clone();
    let Some(at) = e.esds_rates_at else {
        return entry;
    };
    let (avg, max) = bit_rates(samples, timescale as i64);
    if let Some(dst) = entry.get_mut(at + 3..at + 11) {
        dst[..4].copy_from_slice(&max.to_be_bytes());
        dst[4..].copy_from_slice(&avg.to_be_bytes());
    }
    entry
}

/// (average, one-second peak) bit rate of a track's samples.
fn bit_rates(samples: &[OutSample], timescale: i64) -> (u32, u32) {
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return (0, 0);
    };
    let span = (last.dts + last.duration - first.dts).max(1);
    let total: u64 = samples.iter().map(|s| s.size as u64).sum();
    let avg = total as u128 * 8 * timescale as u128 / span as u128;
    let (mut lo, mut window, mut peak) = (0usize, 0u64, 0u64);
    for (hi, s) in samples.iter().enumerate() {
        window += s.size as u64;
        while samples[lo].dts + timescale <= s.dts {
            window -= samples[lo].size as u64;
            lo += 1;
        }
        peak = peak.max(window);
        let _ = hi;
    }
    (
        avg.min(u32::MAX as u128) as u32,
        (peak * 8).min(u32::MAX as u64) as u32,
    )
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

/// Copies byte runs, in kernel when the filesystems allow it.
struct Copier {
    in_kernel: bool,
    buf: Vec<u8>,
}

impl Copier {
    fn new() -> Copier {
        Copier {
            in_kernel: true,
            buf: Vec::new(),
        }
    }

    fn copy_run(
        &mut self,
        run: &Run<'_>,
        out: &File,
        out_path: &Path,
        cancel: &CancelToken,
        mut progress: impl FnMut(u64, u64) -> Result<()>,
    ) -> Result<()> {
        let src = File::open(run.path).map_err(|e| read_error(run.path, "open", e, cancel))?;
        let mut off = run.start;
        let mut done = 0u64;
        while done < run.len {
            cancel.check()?;
            let want = (run.len - done).min(COPY_PIECE_BYTES as u64) as usize;
            let n = if self.in_kernel {
                match output::copy_file_range(&src, &mut off, out, want) {
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
                    Err(e) => return Err(io_or_read(run.path, out_path, e, cancel)),
                }
            } else {
                self.buf.resize(want, 0);
                let mut f = &src;
                f.seek(SeekFrom::Start(off as u64))
                    .map_err(|e| read_error(run.path, "seek", e, cancel))?;
                let n = f
                    .read(&mut self.buf[..want])
                    .map_err(|e| read_error(run.path, "read", e, cancel))?;
                (&*out)
                    .write_all(&self.buf[..n])
                    .map_err(|e| io_write_error(out_path, e, cancel))?;
                off += n as i64;
                n
            };
            if n == 0 {
                return Err(read_error(
                    run.path,
                    "copy",
                    format!("file ends at byte {off}, before the sample data it indexes"),
                    cancel,
                ));
            }
            done += n as u64;
            progress(done, run.len)?;
        }
        Ok(())
    }
}

/// copy_file_range cannot say which side failed; ENOSPC/EDQUOT/EFBIG are the output's.
fn io_or_read(
    src: &Path,
    out_path: &Path,
    e: std::io::Error,
    cancel: &CancelToken,
) -> crate::error::Error {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) | Some(libc::EFBIG) => {
            io_write_error(out_path, e, cancel)
        }
        _ => read_error(src, "copy", e, cancel),
    }
}
