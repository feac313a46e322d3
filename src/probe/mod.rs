//! Opens segment headers and reads what a plan needs: stream parameters and
//! the video sample index. No packet is read and no frame is decoded.
//!
//! Format facts relied on:
//! * The NVR's segments are MP4 files with `moov` first; libav's MP4 demuxer
//!   parses the whole sample table (`stts`, `ctts`, `stss`, `stsz`, `stco`)
//!   at open, so the index of every stream is complete before any read.
//! * The index timestamps are decode timestamps (DTS) in the stream's time
//!   base. Cut points are therefore chosen on DTS; for streams without
//!   B-frames (what NVR cameras send) DTS equals PTS.
//!
//! Segments are opened in parallel (rayon). A segment that cannot be used
//! (missing, unreadable, truncated, no video, no keyframe) is reported as a
//! [`SkippedSegment`] here, before any output byte is written.

use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec;
use ffmpeg_next::media::Type;
use ffmpeg_next::Rational;
use rayon::prelude::*;

use crate::error::SkippedSegment;
use crate::media::isobmff::{self, TrakSummary};
use crate::media::{self, ffi};
use crate::progress::CancelToken;

/// One sample of the index: timing in the stream's time base, and where
/// its bytes are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleTime {
    pub dts: i64,
    pub duration: i64,
    pub keyframe: bool,
    /// Byte offset in the segment file.
    pub pos: i64,
    pub size: u32,
}

/// Video timing of one segment: everything the plan needs, nothing of libav.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTiming {
    pub time_base: Rational,
    /// Samples in decode order.
    pub samples: Vec<SampleTime>,
}

/// The video stream of a segment.
pub struct VideoStream {
    pub index: usize,
    pub codec: codec::Id,
    pub width: u32,
    pub height: u32,
    pub extradata: Vec<u8>,
    pub parameters: codec::Parameters,
    pub timing: VideoTiming,
}

/// The first audio stream of a segment.
pub struct AudioStream {
    pub index: usize,
    /// The audio sample index (for the index-driven writer).
    pub samples: Vec<SampleTime>,
    pub codec: codec::Id,
    pub sample_rate: u32,
    pub channels: u16,
    pub time_base: Rational,
    pub parameters: codec::Parameters,
}

/// What a segment's header says.
pub struct SegmentProbe {
    pub path: PathBuf,
    pub file_size: u64,
    pub video: VideoStream,
    pub audio: Option<AudioStream>,
    /// Sample descriptions read from the segment's own `moov`, one per
    /// libav stream; `None` when they could not be read (the index-driven
    /// writer then leaves this export to the libav writer).
    pub traks: Option<Vec<Option<TrakSummary>>>,
}

impl SegmentProbe {
    /// The raw sample entry of libav stream `index`, if known.
    pub fn sample_entry(&self, index: usize) -> Option<&TrakSummary> {
        self.traks.as_ref()?.get(index)?.as_ref()
    }
}

/// Probes every path in parallel, keeping order. `Err` entries say why a
/// segment cannot be used.
pub fn probe_all(
    paths: &[PathBuf],
    cancel: &CancelToken,
) -> Vec<Result<SegmentProbe, SkippedSegment>> {
    media::init();
    paths
        .par_iter()
        .map(|p| {
            if cancel.is_cancelled() {
                return Err(skip(p, "cancelled"));
            }
            probe(p, cancel)
        })
        .collect()
}

fn skip(path: &Path, reason: impl Into<String>) -> SkippedSegment {
    SkippedSegment {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Probes one segment.
pub fn probe(path: &Path, cancel: &CancelToken) -> Result<SegmentProbe, SkippedSegment> {
    media::init();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(skip(path, "missing")),
        Err(e) => return Err(skip(path, format!("cannot stat: {e}"))),
    };
    if !meta.is_file() {
        return Err(skip(path, "not a regular file"));
    }
    let file_size = meta.len();
    if file_size == 0 {
        return Err(skip(path, "empty file"));
    }
    let input = ffi::open_input(path, cancel)
        .map_err(|e| skip(path, format!("cannot open as media: {e}")))?;
    let ctx = &input.ctx;

    let vstream = ctx
        .streams()
        .find(|s| s.parameters().medium() == Type::Video)
        .ok_or_else(|| skip(path, "no video stream"))?;
    let astream = ctx
        .streams()
        .find(|s| s.parameters().medium() == Type::Audio);

    let mut data_end: i64 = 0;
    let entries = ffi::index_entries(&vstream);
    if entries.is_empty() {
        return Err(skip(path, "no video samples in the index"));
    }
    if !entries.iter().any(|e| e.keyframe) {
        return Err(skip(path, "no keyframe"));
    }
    for e in &entries {
        data_end = data_end.max(e.pos + e.size as i64);
    }
    let audio_entries = astream.as_ref().map(ffi::index_entries).unwrap_or_default();
    for e in &audio_entries {
        data_end = data_end.max(e.pos + e.size as i64);
    }
    if data_end as u64 > file_size {
        return Err(skip(
            path,
            format!(
                "truncated: sample data runs to byte {data_end} but the file has {file_size} bytes"
            ),
        ));
    }

    let tb = vstream.time_base();
    if tb.numerator() <= 0 || tb.denominator() <= 0 {
        return Err(skip(path, "invalid video time base"));
    }
    let (start, duration) = ffi::stream_start_and_duration(&vstream);
    let samples = sample_times(&entries, start, duration);

    let vpar = vstream.parameters();
    // SAFETY-free reads through ffmpeg-next's accessors.
    let (width, height, extradata) = video_geometry(&vpar);
    let video = VideoStream {
        index: vstream.index(),
        codec: vpar.id(),
        width,
        height,
        extradata,
        parameters: owned(&vpar),
        timing: VideoTiming {
            time_base: tb,
            samples,
        },
    };

    let audio = astream.map(|a| {
        let par = a.parameters();
        let (sample_rate, channels) = audio_format(&par);
        let (start, duration) = ffi::stream_start_and_duration(&a);
        AudioStream {
            index: a.index(),
            samples: sample_times(&audio_entries, start, duration),
            codec: par.id(),
            sample_rate,
            channels,
            time_base: a.time_base(),
            parameters: owned(&par),
        }
    });

    let traks = isobmff::read_moov(path).ok().map(|m| isobmff::traks(&m));
    Ok(SegmentProbe {
        path: path.to_path_buf(),
        file_size,
        video,
        audio,
        traks,
    })
}

/// Sample durations from consecutive DTS; the last sample lasts until the
/// stream's end when the header states it, else as long as the one before.
fn sample_times(
    entries: &[ffi::IndexEntry],
    start: Option<i64>,
    duration: Option<i64>,
) -> Vec<SampleTime> {
    let mut out: Vec<SampleTime> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let dur = match entries.get(i + 1) {
            Some(n) => n.dts - e.dts,
            None => {
                let prev = out.last().map(|s| s.duration).unwrap_or(0);
                let end = match (start, duration) {
                    // The stream ends at its start (first presented sample)
                    // plus its duration, as the edit list has it.
                    (Some(s), Some(d)) => s + d,
                    (None, Some(d)) => entries[0].dts + d,
                    _ => e.dts + prev,
                };
                let d = end - e.dts;
                if d > 0 && (prev == 0 || d <= prev * 4) {
                    d
                } else {
                    prev.max(1)
                }
            }
        };
        out.push(SampleTime {
            dts: e.dts,
            duration: dur.max(0),
            keyframe: e.keyframe,
            pos: e.pos,
            size: e.size,
        });
    }
    out
}

/// An owned copy of stream parameters. `Stream::parameters()` borrows the
/// demuxer context and keeps it (index, buffers, codec contexts) alive for
/// as long as the parameters live; a probe must not hold 360 open demuxers.
fn owned(par: &codec::Parameters) -> codec::Parameters {
    let mut copy = codec::Parameters::new();
    copy.clone_from(par);
    copy
}

fn video_geometry(par: &codec::Parameters) -> (u32, u32, Vec<u8>) {
    // SAFETY: reading plain fields of a valid AVCodecParameters.
    unsafe {
        let p = &*par.as_ptr();
        let extra = if p.extradata.is_null() || p.extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
        };
        (p.width.max(0) as u32, p.height.max(0) as u32, extra)
    }
}

fn audio_format(par: &codec::Parameters) -> (u32, u16) {
    // SAFETY: reading plain fields of a valid AVCodecParameters.
    unsafe {
        let p = &*par.as_ptr();
        (p.sample_rate.max(0) as u32, channel_count(p))
    }
}

/// Channel count from the channel layout (FFmpeg >= 5.1).
fn channel_count(p: &ffmpeg::ffi::AVCodecParameters) -> u16 {
    p.ch_layout.nb_channels.max(0) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_sample_duration_from_stream_end() {
        let e = |dts| ffi::IndexEntry {
            pos: 0,
            dts,
            size: 1,
            keyframe: dts == 0,
        };
        let s = sample_times(&[e(0), e(512), e(1024)], Some(0), Some(1536));
        assert_eq!(
            s.iter().map(|x| x.duration).collect::<Vec<_>>(),
            vec![512, 512, 512]
        );
        // Unknown duration: repeat the previous one.
        let s = sample_times(&[e(0), e(512), e(1024)], None, None);
        assert_eq!(s[2].duration, 512);
    }
}
