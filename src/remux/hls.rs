//! The HLS writer: fMP4 fragments in, one MP4 with `moov` first out, in one
//! pass and without rewriting the file.
//!
//! Each fragment is demuxed by libav's MP4 demuxer from memory (its group's
//! init segment followed by the fragment, through a custom AVIO context).
//! Its packets' bytes are appended to the output's `mdat` as they come;
//! their timing, sizes and offsets go into sample tables from which the
//! `moov` is built at the end (the same box writer as the index-driven file
//! writer, `mp4.rs`).
//!
//! `moov` first without a second pass: the output starts with `ftyp`, then
//! a reserved region, then `mdat`. The region is sized from the first
//! fragment (samples a second, times the playlist's duration, at most 24
//! bytes of tables a sample, with margin); at the end the `moov` is written
//! into it and a `free` box covers the rest (a sparse hole on disk). Should
//! the estimate be short, the `moov` goes after the `mdat` instead (a valid
//! file, not fast-start) and a warning says so.
//!
//! Timelines: every fragment's video is placed right where the output's
//! video ends, so gaps collapse as with the file source (a camera offline,
//! a skipped fragment, a reset after a discontinuity) and so does the
//! server's padding of each clip's last frame; against the NVR's own server
//! the result has the file source's packets and duration (`make test-vod`).
//! Keyframes of a group whose video parameter sets differ from the first
//! group's carry that group's sets in band (as the file source does for a
//! camera restart). So does a keyframe without sets of its own wherever the
//! sets last carried in band differ from its group's: a camera that sent
//! its sets in band, then restarted with them only in the init (on the
//! `/vod/` form, one init made from the last clip), would otherwise be
//! decoded with the old in-band sets (the ffmpeg CLI's export of such a
//! range has ~1500 decode errors).

use std::fs::OpenOptions;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec::Id;
use ffmpeg_next::media::Type;
use ffmpeg_next::Rational;

use super::job::{RemuxStats, WriterKind};
use super::mp4::{self, OutSample, TrackKind};
use crate::error::{Error, Result, SkippedSegment, Warning};
use crate::media::{ffi, isobmff, params};
use crate::plan::chapters::Chapter;
use crate::plan::timestamps::Cue;
use crate::progress::{CancelToken, Reporter};
use crate::source::hls::fetch::Prefetch;
use crate::source::hls::http::HttpClient;
use crate::source::hls::playlist::VodPlaylist;
use crate::time::OutTicks;

const VIDEO_TRACK_ID: u32 = 1;
const AUDIO_TRACK_ID: u32 = 2;
const CHAPTER_TRACK_ID: u32 = 3;
const TIMESTAMP_TRACK_ID: u32 = 4;
/// Most bytes of sample tables one sample can need (stts, ctts, stsz, stss).
const TABLE_BYTES_PER_SAMPLE: u64 = 24;
/// Bytes written between two writeback kicks.
const WRITEBACK_BYTES: u64 = 16 << 20;
/// At most this many fragments of a single-init group are test-decoded.
const CHECKED_FRAGMENTS: usize = 16;

/// An HLS export to write.
pub struct HlsJob<'a> {
    pub playlist: &'a VodPlaylist,
    pub client: HttpClient,
    /// Container metadata (`title`, `creation_time`, `comment`).
    pub metadata: &'a [(&'a str, String)],
    pub creation_s: f64,
    /// Most samples the tables may hold.
    pub max_samples: u64,
    /// Places the chapters, the timestamp cues and an exact cut once every
    /// fragment's place in the output is known (see [`FragmentSpan`]);
    /// `None`: none of them.
    pub chapters: Option<&'a ChapterMaker<'a>>,
}

/// Places the chapters, the wall-clock timestamp cues and an exact cut
/// from where each fragment landed.
pub type ChapterMaker<'a> = dyn Fn(&[FragmentSpan]) -> Placed + 'a;

/// What [`ChapterMaker`] placed, on the output timeline after the cut.
#[derive(Debug, Default)]
pub struct Placed {
    pub chapters: Vec<Chapter>,
    pub cues: Vec<Cue>,
    /// `--start-at exact`: the in- and out-point on the timeline as the
    /// fragments were written. What is before the in-point stays in the
    /// file (it is needed to decode from the keyframe) but is hidden by the
    /// edit list, as the file-source writers do; what is after the
    /// out-point is left out of the tables.
    pub cut: Option<(OutTicks, OutTicks)>,
}

/// Applies an exact cut (see [`Placed::cut`]) to the written samples:
/// timestamps move so that the in-point is 0, the frame on screen at the
/// in-point starts there (video without composition offsets, as the plan's
/// `Lift`), samples presented from the out-point on are dropped from the
/// end and the last ones end at it. Returns each track's end in its time
/// base, to clamp its presentation to.
fn cut_samples(o: &mut Out, (in_t, out_t): (OutTicks, OutTicks)) -> (i64, i64) {
    let to = |t: OutTicks, tb: Rational| crate::time::rescale(t.0, OutTicks::BASE, tb);
    let vin = to(in_t, o.video_tb);
    let vout = to(out_t, o.video_tb) - vin;
    for s in &mut o.video.s {
        s.dts -= vin;
    }
    // Keep, in decode order, up to the last sample presented before the end.
    if let Some(last) = o
        .video
        .s
        .iter()
        .rposition(|s| s.dts + (s.cts as i64) < vout)
    {
        o.video.s.truncate(last + 1);
    }
    if o.video.s.iter().all(|s| s.cts == 0) {
        if let Some(i) = o.video.s.iter().rposition(|s| s.dts <= 0) {
            o.video.s[i].dts = 0;
        }
        if let Some(last) = o.video.s.last() {
            o.video.last_duration = (vout - last.dts).max(1);
        }
    }
    let mut aout = 0;
    if let Some(tb) = o.audio_tb {
        let ain = to(in_t, tb);
        aout = to(out_t, tb) - ain;
        for s in &mut o.audio.s {
            s.dts -= ain;
        }
        if let Some(last) = o.audio.s.iter().rposition(|s| s.dts < aout) {
            o.audio.s.truncate(last + 1);
        }
        if let Some(last) = o.audio.s.last() {
            o.audio.last_duration = o.audio.last_duration.min(aout - last.dts).max(1);
        }
    }
    o.video_end = vout;
    o.audio_end = aout;
    (vout, aout)
}

/// Where one written fragment's video lies in the output.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FragmentSpan {
    pub group: usize,
    pub fragment: usize,
    pub start: crate::time::OutTicks,
    pub end: crate::time::OutTicks,
}

/// What the HLS writer did.
pub struct HlsOutcome {
    pub stats: RemuxStats,
    pub skipped: Vec<SkippedSegment>,
    pub warnings: Vec<Warning>,
    /// Output duration (the longer track), seconds.
    pub duration_s: f64,
    pub chapters: usize,
}

/// A group's init segment, parsed.
struct Init {
    bytes: Arc<Vec<u8>>,
    video_entry: Vec<u8>,
    audio_entry: Option<Vec<u8>>,
}

/// The first fragment's video and audio sample entries, video geometry and
/// extradata: the output's.
type FirstEntries = (Vec<u8>, Option<Vec<u8>>, (u32, u32, Id), Vec<u8>);

/// One packet of a fragment, held until the fragment demuxed cleanly.
struct Pkt {
    audio: bool,
    dts: i64,
    pts: i64,
    duration: i64,
    key: bool,
    data: PktData,
}

/// Where a packet's bytes are: a range of the fragment (no copy: the MP4
/// demuxer reports each sample's byte position), or a copy when it cannot
/// say.
enum PktData {
    InFragment(usize, usize),
    Owned(Vec<u8>),
}

/// A fragment demuxed: its packets in file order and its streams' time bases.
struct Demuxed {
    /// The fragment's bytes, which `PktData::InFragment` ranges index.
    fragment: Arc<Vec<u8>>,
    packets: Vec<Pkt>,
    video_tb: Rational,
    audio_tb: Option<Rational>,
    /// (width, height, codec) of the video stream.
    video: (u32, u32, Id),
    /// Video extradata (avcC / hvcC) as the init states it.
    extradata: Vec<u8>,
    /// libav errors while test-decoding its first keyframe, if it was checked.
    decode_errors: Option<u64>,
}

/// Reads the init segment then the fragment, forward only.
struct InitThenFragment {
    init: Arc<Vec<u8>>,
    frag: Arc<Vec<u8>>,
    pos: usize,
}

impl Demuxed {
    fn data<'a>(&'a self, p: &'a Pkt) -> &'a [u8] {
        match &p.data {
            PktData::InFragment(at, len) => &self.fragment[*at..*at + *len],
            PktData::Owned(v) => v,
        }
    }
}

impl Read for InitThenFragment {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let il = self.init.len();
        let (src, at) = if self.pos < il {
            (&self.init[..], self.pos)
        } else {
            (&self.frag[..], self.pos - il)
        };
        let n = buf.len().min(src.len().saturating_sub(at));
        buf[..n].copy_from_slice(&src[at..at + n]);
        self.pos += n;
        Ok(n)
    }
}

fn parse_init(mut bytes: Vec<u8>) -> std::result::Result<Init, String> {
    // Kept for the group's life (a `/vod/clip/` hour has 360 of them).
    bytes.shrink_to_fit();
    let moov = isobmff::moov_in(&bytes).ok_or("the init segment has no moov")?;
    let traks = isobmff::traks(moov);
    let video = traks
        .iter()
        .flatten()
        .find(|t| &t.handler == b"vide")
        .ok_or("the init segment has no video track")?;
    let audio = traks.iter().flatten().find(|t| &t.handler == b"soun");
    Ok(Init {
        video_entry: video.sample_entry.clone(),
        audio_entry: audio.map(|a| a.sample_entry.clone()),
        bytes: Arc::new(bytes),
    })
}

/// Demuxes `init` + `frag`; with `check`, test-decodes the first video
/// keyframe with the init's parameters and counts libav's error messages.
fn demux(
    init: &Init,
    frag: Vec<u8>,
    check: bool,
    cancel: &CancelToken,
) -> std::result::Result<Demuxed, String> {
    let fragment = Arc::new(frag);
    let init_len = init.bytes.len();
    let reader = InitThenFragment {
        init: init.bytes.clone(),
        frag: fragment.clone(),
        pos: 0,
    };
    let mut input = ffi::open_reader_input(Box::new(reader), cancel)
        .map_err(|e| format!("not an fMP4 fragment for its init: {e}"))?;
    let ctx = input.ctx();
    let mut vindex = None;
    let mut aindex = None;
    let (mut video_tb, mut audio_tb) = (Rational::new(1, 90000), None);
    let mut video = (0, 0, Id::None);
    let mut extradata = Vec::new();
    let mut decoder = None;
    for st in ctx.streams() {
        let par = st.parameters();
        match par.medium() {
            Type::Video if vindex.is_none() => {
                vindex = Some(st.index());
                video_tb = st.time_base();
                let (w, h, extra) = ffi::video_geometry(&par);
                video = (w, h, par.id());
                extradata = extra;
                if check {
                    // One thread: the error count is per thread (see
                    // `ffi::libav_errors`), and frame threads would log
                    // elsewhere.
                    decoder = ffmpeg::codec::context::Context::from_parameters(par)
                        .and_then(|mut c| {
                            let mut one = ffmpeg::codec::threading::Config::count(1);
                            one.kind = ffmpeg::codec::threading::Type::None;
                            c.set_threading(one);
                            c.decoder().video()
                        })
                        .ok();
                }
            }
            Type::Audio if aindex.is_none() => {
                aindex = Some(st.index());
                audio_tb = Some(st.time_base());
            }
            _ => {}
        }
    }
    let vindex = vindex.ok_or("no video stream")?;
    let mut packets = Vec::new();
    let mut decode_errors = None;
    loop {
        let mut pkt = ffmpeg::Packet::empty();
        match pkt.read(ctx) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(e) => return Err(format!("truncated or damaged fragment: {e}")),
        }
        let index = pkt.stream();
        let audio = Some(index) == aindex;
        if index != vindex && !audio {
            continue;
        }
        let (Some(dts), Some(pts)) = (pkt.dts().or(pkt.pts()), pkt.pts().or(pkt.dts())) else {
            continue;
        };
        if pkt.is_corrupt() {
            return Err("a packet is marked corrupt (truncated fragment)".into());
        }
        if let (Some(dec), false, true, None) =
            (decoder.as_mut(), audio, pkt.is_key(), decode_errors)
        {
            let before = ffi::libav_errors();
            let _ = dec.send_packet(&pkt);
            let _ = dec.send_eof();
            let mut frame = ffmpeg::frame::Video::empty();
            while dec.receive_frame(&mut frame).is_ok() {}
            decode_errors = Some(ffi::libav_errors() - before);
        }
        packets.push(Pkt {
            audio,
            dts,
            pts,
            duration: pkt.duration(),
            key: pkt.is_key(),
            data: {
                let bytes = pkt.data().unwrap_or(&[]);
                // The sample's bytes as they lie in the fragment, if the
                // demuxer's position says where (checked, not trusted).
                let at = usize::try_from(pkt.position())
                    .ok()
                    .and_then(|p| p.checked_sub(init_len));
                match at {
                    Some(at) if fragment.get(at..at + bytes.len()) == Some(bytes) => {
                        PktData::InFragment(at, bytes.len())
                    }
                    _ => PktData::Owned(bytes.to_vec()),
                }
            },
        });
    }
    if packets.is_empty() {
        return Err("no media samples".into());
    }
    Ok(Demuxed {
        fragment,
        packets,
        video_tb,
        audio_tb,
        video,
        extradata,
        decode_errors,
    })
}

/// Top bit of `Stored::size_key`: a keyframe (sync sample).
const KEY_BIT: u32 = 1 << 31;
const SIZE_MASK: u32 = KEY_BIT - 1;

/// One written sample, compactly (24 bytes): an hour of 30 fps video with
/// AAC is ~280 000 of them.
#[derive(Clone, Copy)]
struct Stored {
    dts: i64,
    /// Offset in the `mdat` payload.
    offset: u64,
    size_key: u32,
    cts: i32,
}

/// A track's written samples. Durations are not stored: each sample lasts
/// until the next one starts (the `stts` table stores durations only, and a
/// fragment's last sample may be stated shorter than the gap to the next
/// fragment); the last one keeps its own.
struct Samples {
    s: Vec<Stored>,
    last_duration: i64,
}

impl Samples {
    fn with_capacity(n: usize) -> Samples {
        Samples {
            s: Vec::with_capacity(n),
            last_duration: 0,
        }
    }
    fn push(&mut self, s: Stored, duration: i64) {
        self.s.push(s);
        self.last_duration = duration;
    }
    fn last_dts(&self) -> Option<i64> {
        self.s.last().map(|s| s.dts)
    }
    fn len(&self) -> usize {
        self.s.len()
    }
    fn is_empty(&self) -> bool {
        self.s.is_empty()
    }
}

impl mp4::SampleSource for Samples {
    fn for_each(&self, f: &mut dyn FnMut(OutSample)) {
        let mut last_positive = self.last_duration;
        for (i, x) in self.s.iter().enumerate() {
            let duration = match self.s.get(i + 1) {
                Some(next) if next.dts > x.dts => next.dts - x.dts,
                Some(_) => last_positive,
                None => self.last_duration,
            };
            if duration > 0 {
                last_positive = duration;
            }
            f(OutSample {
                dts: x.dts,
                duration,
                cts: x.cts,
                size: x.size_key & SIZE_MASK,
                keyframe: x.size_key & KEY_BIT != 0,
                offset: x.offset,
            });
        }
    }
}

/// The output being built.
struct Out {
    file: BufWriter<std::fs::File>,
    /// Offset of the mdat payload in the file.
    payload_at: u64,
    written: u64,
    /// Payload bytes already handed to writeback.
    flushed: u64,
    video: Samples,
    audio: Samples,
    /// Output time bases (the first fragment's stream time bases).
    video_tb: Rational,
    audio_tb: Option<Rational>,
    /// End of each track so far, in its time base.
    video_end: i64,
    audio_end: i64,
}

impl Out {
    fn end_s(&self) -> f64 {
        let v = self.video_end as f64 * f64::from(self.video_tb);
        let a = self
            .audio_tb
            .map_or(0.0, |tb| self.audio_end as f64 * f64::from(tb));
        v.max(a)
    }
}

/// Writes the playlist to `out_path` (a staged file the caller owns).
pub fn write(job: &HlsJob<'_>, out_path: &Path, reporter: &mut Reporter<'_>) -> Result<HlsOutcome> {
    crate::media::init();
    let cancel = reporter.cancel_token().clone();
    let io_err = |e: std::io::Error| {
        if cancel.is_cancelled() {
            Error::Cancelled
        } else if e.raw_os_error().is_some_and(crate::output::is_disk_full) {
            crate::output::disk_full_at(out_path)
        } else {
            Error::io(out_path, e)
        }
    };
    let total_s = job.playlist.duration_s().max(0.001);
    let total_fragments = job.playlist.fragment_count();
    let single_init = job.playlist.groups.len() == 1 && total_fragments > 1;
    let check_every = (total_fragments / CHECKED_FRAGMENTS).max(1);
    let prefetch = Prefetch::start(job.client.clone(), job.playlist, &cancel)?;

    let mut skipped = Vec::new();
    let mut warnings = Vec::new();
    let mut spans: Vec<FragmentSpan> = Vec::new();
    let mut inits: Vec<Option<Init>> = (0..job.playlist.groups.len()).map(|_| None).collect();
    let mut out: Option<Out> = None;
    let mut first_entries: Option<FirstEntries> = None;
    // The parameter sets the decoder holds at the output's end: the sample
    // entry's, then whatever keyframes carried in band.
    let mut active_sets: Option<Option<Vec<u8>>> = None;
    let mut reserve = 0u64;
    let mut seen = 0usize;
    let mut contradicted = Vec::new();
    let mut stats = RemuxStats {
        writer: WriterKind::Hls,
        ..RemuxStats::default()
    };

    while let Some(item) = prefetch.next(&cancel)? {
        let group = &job.playlist.groups[item.group];
        let Some(fi) = item.fragment else {
            // An init segment.
            match item.body.map_err(|e| e.to_string()).and_then(parse_init) {
                Ok(init) => inits[item.group] = Some(init),
                Err(why) => {
                    for f in &group.fragments {
                        skipped.push(SkippedSegment {
                            path: f.url.as_str().into(),
                            reason: format!("its init segment {} failed: {why}", group.init),
                        });
                    }
                }
            }
            continue;
        };
        let url = group.fragments[fi].url.as_str();
        let skip = |reason: String| SkippedSegment {
            path: url.into(),
            reason,
        };
        seen += 1;
        let Some(init) = inits[item.group].as_ref() else {
            continue; // named with its init
        };
        let body = match item.body {
            Ok(b) => b,
            Err(e) => {
                if cancel.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                skipped.push(skip(e.reason));
                continue;
            }
        };
        let check = single_init && (seen - 1).is_multiple_of(check_every);
        let d = match demux(init, body, check, &cancel) {
            Ok(d) => d,
            Err(why) => {
                cancel.check()?;
                skipped.push(skip(why));
                continue;
            }
        };
        if d.decode_errors.is_some_and(|n| n > 0) {
            contradicted.push(url.to_string());
        }
        // The first fragment fixes the output's entries and the reserve.
        if out.is_none() {
            let samples = d.packets.len() as f64;
            let span_s = d
                .packets
                .iter()
                .filter(|p| !p.audio)
                .map(|p| (p.dts + p.duration) as f64 * f64::from(d.video_tb))
                .fold(0.0f64, f64::max)
                - d.packets
                    .iter()
                    .filter(|p| !p.audio)
                    .map(|p| p.dts as f64 * f64::from(d.video_tb))
                    .fold(f64::MAX, f64::min);
            let rate = samples / span_s.max(group.fragments[fi].duration_s).max(0.5);
            let expected = rate * total_s * 1.25 + 1000.0;
            let video_share =
                d.packets.iter().filter(|p| !p.audio).count() as f64 / samples.max(1.0);
            let bound = job.max_samples as f64;
            let cap = |share: f64| (expected.min(bound) * share / 1.2) as usize + 64;
            reserve = (expected as u64).saturating_mul(TABLE_BYTES_PER_SAMPLE) + (64 << 10);
            let ftyp = mp4::ftyp(d.video.2 == Id::HEVC);
            let mut file = OpenOptions::new()
                .write(true)
                .open(out_path)
                .map_err(io_err)?;
            file.write_all(&ftyp).map_err(io_err)?;
            let mdat_at = ftyp.len() as u64 + reserve;
            file.seek(SeekFrom::Start(mdat_at + 16)).map_err(io_err)?;
            first_entries = Some((
                init.video_entry.clone(),
                init.audio_entry.clone(),
                d.video,
                d.extradata.clone(),
            ));
            out = Some(Out {
                file: BufWriter::with_capacity(1 << 20, file),
                payload_at: mdat_at + 16,
                written: 0,
                flushed: 0,
                // Sized once from the estimate (no doubling as they grow).
                video: Samples::with_capacity(cap(video_share)),
                audio: Samples::with_capacity(cap(1.0 - video_share)),
                video_tb: d.video_tb,
                audio_tb: d.audio_tb,
                video_end: 0,
                audio_end: 0,
            });
        }
        let Some(o) = out.as_mut() else { continue };
        let Some((_, _, first_video, first_extra)) = first_entries.as_ref() else {
            continue;
        };
        if d.video.2 != first_video.2 {
            skipped.push(skip(format!(
                "video codec {:?}, not the export's {:?}",
                d.video.2, first_video.2
            )));
            continue;
        }
        // The parameter sets this fragment's keyframes need (its init's),
        // written in band where a keyframe lacks them and the decoder would
        // otherwise use others: on every such keyframe of a group whose init
        // differs from the output's (so that a seek lands on them too), and
        // wherever the sets last seen in band differ from them (a camera that
        // sent its sets in band, then restarted with them only in the init:
        // the `/vod/` form's single init is the last clip's).
        let hevc = d.video.2 == Id::HEVC;
        let sets_of = |extradata: &[u8]| {
            if hevc {
                params::hevc_inband(extradata)
            } else {
                params::h264_inband(extradata)
            }
            .ok()
            .map(|p| p.nals)
        };
        let needed = sets_of(&d.extradata);
        let group_differs = &d.extradata != first_extra;
        let active = active_sets.get_or_insert_with(|| sets_of(first_extra));
        // Every fragment's video continues exactly where the output's video
        // ends: gaps collapse (a camera offline, a skipped fragment, a
        // timeline reset after a discontinuity), and so does the server's
        // own padding (the NVR's server stretches each clip's last frame to
        // the catalogue's duration, which counts the audio: ~16 ms a clip).
        // The audio moves by the same amount; what then overlaps is dropped.
        let first_video = d
            .packets
            .iter()
            .filter(|p| !p.audio)
            .map(|p| crate::time::rescale(p.dts, d.video_tb, o.video_tb))
            .min()
            .unwrap_or(0);
        let video_shift = o.video_end - first_video;
        let span_start = o.video_end;
        let shift_s = video_shift as f64 * f64::from(o.video_tb);
        for p in &d.packets {
            let (tb, out_tb) = if p.audio {
                match (d.audio_tb, o.audio_tb) {
                    (Some(a), Some(b)) => (a, b),
                    _ => continue,
                }
            } else {
                (d.video_tb, o.video_tb)
            };
            let shift = if p.audio {
                (shift_s / f64::from(out_tb)).round() as i64
            } else {
                video_shift
            };
            let mut dts = crate::time::rescale(p.dts, tb, out_tb) + shift;
            let mut pts = crate::time::rescale(p.pts, tb, out_tb) + shift;
            let duration = crate::time::rescale(p.duration, tb, out_tb).max(0);
            let prefix = match (&needed, p.audio, p.key) {
                (Some(nals), false, true) => match params::inband_sets(hevc, d.data(p)) {
                    Some(carried) => {
                        *active = Some(carried);
                        None
                    }
                    None if group_differs || active.as_ref() != Some(nals) => {
                        *active = Some(nals.clone());
                        Some(nals.as_slice())
                    }
                    None => None,
                },
                _ => None,
            };
            // Audio keeps its cadence across clips (as `cut` does for the
            // file source): a packet is dropped only where it overlaps the
            // audio already written by more than half a packet; a smaller
            // overlap only shortens the previous packet's delta.
            if p.audio {
                if let Some(last) = o.audio.last_dts() {
                    if dts < o.audio_end - duration / 2 {
                        stats.audio_dropped.overlap += 1;
                        continue;
                    }
                    dts = dts.max(last + 1);
                    pts = dts;
                }
            }
            let data = d.data(p);
            let size = data.len() + prefix.map_or(0, |n| n.len());
            if let Some(n) = prefix {
                o.file.write_all(n).map_err(io_err)?;
            }
            o.file.write_all(data).map_err(io_err)?;
            let sample = Stored {
                dts,
                offset: o.written,
                size_key: (size as u32 & SIZE_MASK) | if p.key || p.audio { KEY_BIT } else { 0 },
                cts: (pts - dts).clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            };
            if size as u64 > SIZE_MASK as u64 {
                return Err(Error::media_state(
                    "hls",
                    format!("a sample of {size} bytes"),
                ));
            }
            o.written += size as u64;
            if p.audio {
                o.audio.push(sample, duration);
                o.audio_end = o.audio_end.max(dts + duration);
            } else {
                o.video.push(sample, duration);
                o.video_end = o.video_end.max(dts + duration);
            }
        }
        if stats.first_sample_at.is_none() {
            stats.first_sample_at = Some(std::time::Instant::now());
        }
        spans.push(FragmentSpan {
            group: item.group,
            fragment: fi,
            start: crate::time::OutTicks::from_ts(crate::time::Ts::new(span_start, o.video_tb)),
            end: crate::time::OutTicks::from_ts(crate::time::Ts::new(o.video_end, o.video_tb)),
        });
        // The fragment's buffer goes back to the fetchers.
        if let Ok(buf) = Arc::try_unwrap(d.fragment) {
            prefetch.recycle(buf);
        }
        // Start writing back what is written so far, so the commit's fsync
        // does not wait for the whole file at the end.
        if o.written - o.flushed >= WRITEBACK_BYTES {
            o.file.flush().map_err(io_err)?;
            let _ = crate::output::start_writeback(
                o.file.get_ref(),
                o.payload_at + o.flushed,
                o.written - o.flushed,
            );
            o.flushed = o.written;
        }
        if (o.video.len() + o.audio.len()) as u64 > job.max_samples {
            return Err(Error::RangeTooLong {
                samples: (o.video.len() + o.audio.len()) as u64,
                limit: job.max_samples,
            });
        }
        reporter.update(o.end_s() / total_s * 100.0)?;
    }
    drop(prefetch);

    let (Some(mut o), Some((ventry, aentry, video, _))) = (out, first_entries) else {
        if skipped.is_empty() {
            return Err(Error::NoRecordings {
                camera: String::new(),
                start_s: 0.0,
                end_s: 0.0,
                before: None,
                after: None,
            });
        }
        return Err(Error::UnreadableSegments { skipped });
    };
    if !contradicted.is_empty() {
        warnings.push(Warning::InitMismatch {
            fragments: contradicted,
        });
    }
    o.file.flush().map_err(io_err)?;

    // Chapters and timestamps: their text samples go at the end of the payload.
    let placed = job.chapters.map(|f| f(&spans)).unwrap_or_default();
    let ends = placed.cut.map(|cut| cut_samples(&mut o, cut));
    let (chapter_list, cues) = (placed.chapters, placed.cues);
    let (chapter_samples, chapter_bytes) = mp4::chapter_samples(&chapter_list, o.written);
    if !chapter_list.is_empty() {
        o.file.write_all(&chapter_bytes).map_err(io_err)?;
        o.written += chapter_bytes.len() as u64;
    }
    let (timestamp_samples, timestamp_bytes) = mp4::timestamp_samples(&cues, o.written);
    if !cues.is_empty() {
        o.file.write_all(&timestamp_bytes).map_err(io_err)?;
        o.written += timestamp_bytes.len() as u64;
    }
    o.file.flush().map_err(io_err)?;
    let chap = (!chapter_list.is_empty()).then_some(CHAPTER_TRACK_ID);
    // The moov, from the sample tables.
    let mut ventry = ventry;
    let needs_inband = !o.video.is_empty() && job.playlist.groups.len() > 1;
    if video.2 == Id::HEVC && needs_inband && ventry.get(4..8) == Some(b"hvc1") {
        ventry[4..8].copy_from_slice(b"hev1");
    }
    let den = |tb: Rational| tb.denominator().max(1) as u32;
    let mut tracks = vec![mp4::Track::new(
        TrackKind::Video {
            width: video.0,
            height: video.1,
        },
        VIDEO_TRACK_ID,
        den(o.video_tb),
        ventry,
        &o.video,
        chap,
    )];
    if let (Some(entry), Some(tb), false) = (aentry, o.audio_tb, o.audio.is_empty()) {
        tracks.push(mp4::Track::new(
            TrackKind::Audio,
            AUDIO_TRACK_ID,
            den(tb),
            entry,
            &o.audio,
            chap,
        ));
    }
    if let Some((vend, aend)) = ends {
        // An exact cut ends every track at the out-point (the edit list).
        for t in tracks.iter_mut() {
            let end = if t.kind == TrackKind::Audio {
                aend
            } else {
                vend
            };
            t.stats.presentation_end = t.stats.presentation_end.min(end);
        }
    }
    if !cues.is_empty() {
        tracks.push(mp4::timestamp_track(
            TIMESTAMP_TRACK_ID,
            &timestamp_samples,
            (video.0, video.1),
        ));
    }
    if chap.is_some() {
        tracks.push(mp4::chapter_track(CHAPTER_TRACK_ID, &chapter_samples));
    }
    let movie = mp4::Movie::new(job.creation_s, &tracks, job.metadata, &chapter_list);
    let co64 = o.payload_at + o.written > u32::MAX as u64;
    let moov = mp4::moov(&movie, co64);
    let duration_s = o.end_s();
    let mut file = o.file.into_inner().map_err(|e| io_err(e.into_error()))?;
    let ftyp_len = o.payload_at - 16 - reserve;
    let mdat_at = o.payload_at - 16;
    let mut mdat = Vec::with_capacity(16);
    mdat.extend_from_slice(&1u32.to_be_bytes());
    mdat.extend_from_slice(b"mdat");
    mdat.extend_from_slice(&(16 + o.written).to_be_bytes());
    let check_cancel = || {
        if cancel.is_cancelled() {
            Err(std::io::Error::from(std::io::ErrorKind::Interrupted))
        } else {
            Ok(())
        }
    };
    let free = |at: u64, len: u64, file: &mut std::fs::File| -> std::io::Result<()> {
        file.seek(SeekFrom::Start(at))?;
        file.write_all(&(len as u32).to_be_bytes())?;
        file.write_all(b"free")
    };
    if moov.len + 8 <= reserve {
        file.seek(SeekFrom::Start(ftyp_len)).map_err(io_err)?;
        let mut w = BufWriter::with_capacity(1 << 20, &mut file);
        let mut check = check_cancel;
        mp4::write_moov(&moov, &tracks, o.payload_at, &mut w, &mut check).map_err(io_err)?;
        w.flush().map_err(io_err)?;
        drop(w);
        free(ftyp_len + moov.len, reserve - moov.len, &mut file).map_err(io_err)?;
    } else {
        // The estimate was short: moov after mdat (valid, not fast-start).
        free(ftyp_len, reserve, &mut file).map_err(io_err)?;
        file.seek(SeekFrom::Start(o.payload_at + o.written))
            .map_err(io_err)?;
        let mut w = BufWriter::with_capacity(1 << 20, &mut file);
        let mut check = check_cancel;
        mp4::write_moov(&moov, &tracks, o.payload_at, &mut w, &mut check).map_err(io_err)?;
        w.flush().map_err(io_err)?;
        warnings.push(Warning::MoovAtEnd {
            reserved: reserve,
            needed: moov.len,
        });
    }
    file.seek(SeekFrom::Start(mdat_at)).map_err(io_err)?;
    file.write_all(&mdat).map_err(io_err)?;
    file.flush().map_err(io_err)?;

    stats.video_packets = o.video.len() as u64;
    stats.audio_packets = o.audio.len() as u64;
    stats.video_duration_s = o.video_end as f64 * f64::from(o.video_tb);
    stats.audio_duration_s = o
        .audio_tb
        .map_or(0.0, |tb| o.audio_end as f64 * f64::from(tb));
    stats.bytes_written =
        o.payload_at + o.written + if moov.len + 8 <= reserve { 0 } else { moov.len };
    Ok(HlsOutcome {
        duration_s,
        chapters: chapter_list.len(),
        stats,
        skipped,
        warnings,
    })
}
