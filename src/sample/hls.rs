//! What the NVR's VOD server (nginx-vod-module, mapped mode) would serve for
//! a sample store, made in process: the HLS fixtures of the test suite.
//!
//! Reproduced from `../shared/fixtures/nginx-vod-capture` (see
//! `source::hls::playlist` for the facts): fMP4, an init segment
//! (`ftyp`+`moov` with `mvex`) and one media segment (`moof`+`mdat`
//! pairs) per recording, the timeline continuous across recordings (each
//! fragment's `tfdt` carries on where the previous one ended, gaps
//! collapsed), video at 90 kHz. [`VodForm::Vod`] has one `EXT-X-MAP` for
//! the whole range made from the *last* recording and no discontinuity;
//! [`VodForm::VodClip`] has a discontinuity and an init per recording.
//! The files are named as the server names them.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::{Dictionary, Rational};

use super::SampleStore;
use crate::error::{Error, Result};
use crate::media::{self, ffi, mux, mux::StreamSpec};
use crate::progress::CancelToken;

/// Which of the server's two paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VodForm {
    /// `/vod/<camera>/start/<s>/end/<e>/`: one init (the last recording's).
    Vod,
    /// `/vod/clip/...`: a discontinuity and an init per recording.
    VodClip,
}

/// One recording as an init segment and a media segment.
struct Fragmented {
    init: Vec<u8>,
    media: Vec<u8>,
    /// Track id -> (time scale, duration in it).
    tracks: Vec<(u32, u32, i64)>,
}

/// The responses for all of `store`'s recordings: file name -> body
/// (`index.m3u8`, `init-…mp4`, `seg-N-v1-a1.m4s`).
pub fn vod_responses(store: &SampleStore, form: VodForm) -> Result<BTreeMap<String, Vec<u8>>> {
    media::init();
    let mut clips = Vec::new();
    for (i, r) in store.recordings.iter().enumerate() {
        let tmp = store.root.join(format!(".hls-{i}.mp4"));
        let f = fragment(&r.path, &tmp);
        let _ = fs::remove_file(&tmp);
        clips.push(f?);
    }
    let mut files = BTreeMap::new();
    let mut playlist = String::from(
        "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-ALLOW-CACHE:YES\n#EXT-X-PLAYLIST-TYPE:VOD\n\
         #EXT-X-VERSION:6\n#EXT-X-MEDIA-SEQUENCE:1\n",
    );
    if form == VodForm::Vod {
        let last = clips
            .last()
            .ok_or_else(|| Error::media_state("hls fixture", "no recordings"))?;
        files.insert("init-v1-a1.mp4".to_string(), last.init.clone());
        playlist.push_str("#EXT-X-MAP:URI=\"init-v1-a1.mp4\"\n");
    }
    // Where each recording starts on the served timeline, seconds: the
    // server starts every track of a clip at the same instant (video and
    // audio `tfdt` equal at each segment start), the clip's video length
    // after the previous one.
    let mut at_s = 0.0f64;
    for (i, clip) in clips.iter().enumerate() {
        if form == VodForm::VodClip {
            let name = format!("init-c{}-v1-a1.mp4", i + 1);
            if i > 0 {
                playlist.push_str("#EXT-X-DISCONTINUITY\n");
            }
            playlist.push_str(&format!("#EXT-X-MAP:URI=\"{name}\"\n"));
            files.insert(name, clip.init.clone());
        }
        let mut media = clip.media.clone();
        let offsets: BTreeMap<u32, i64> = clip
            .tracks
            .iter()
            .map(|(id, ts, _)| (*id, (at_s * f64::from(*ts)).round() as i64))
            .collect();
        shift_tfdt(&mut media, &offsets);
        let video_s = clip
            .tracks
            .first()
            .map_or(0.0, |(_, ts, d)| *d as f64 / f64::from(*ts));
        at_s += video_s;
        playlist.push_str(&format!("#EXTINF:{video_s:.3},\nseg-{}-v1-a1.m4s\n", i + 1));
        files.insert(format!("seg-{}-v1-a1.m4s", i + 1), media);
    }
    playlist.push_str("#EXT-X-ENDLIST\n");
    files.insert("index.m3u8".to_string(), playlist.into_bytes());
    Ok(files)
}

/// Remuxes the MP4 at `path` into fragmented MP4 (via `tmp`) and splits it.
fn fragment(path: &Path, tmp: &Path) -> Result<Fragmented> {
    let err = |what: &'static str| {
        move |e: ffmpeg::Error| Error::media(format!("hls fixture: {what}"), e)
    };
    let cancel = CancelToken::new();
    let mut input = ffi::open_input(path, &cancel).map_err(err("open"))?;
    fs::write(tmp, b"").map_err(|e| Error::io(tmp, e))?;
    let mut out = ffi::open_output(tmp, "mp4", &cancel).map_err(err("create"))?;
    let mut map = Vec::new();
    let mut in_tbs = Vec::new();
    for st in input.ctx.streams() {
        let kind = st.parameters().medium();
        if matches!(
            kind,
            ffmpeg::media::Type::Video | ffmpeg::media::Type::Audio
        ) {
            let idx = mux::add_stream(
                &mut out.ctx,
                StreamSpec {
                    parameters: st.parameters(),
                    time_base: st.time_base(),
                    tag: None,
                },
            )
            .map_err(err("stream"))?;
            map.push((st.index(), idx));
            in_tbs.push(st.time_base());
        }
    }
    let mut opts = Dictionary::new();
    opts.set("movflags", "frag_keyframe+empty_moov+default_base_moof");
    opts.set("video_track_timescale", "90000");
    let tbs = mux::write_header(&mut out.ctx, opts).map_err(err("header"))?;
    let mut ends = vec![0i64; tbs.len()];
    for (st, mut pkt) in input.ctx.packets() {
        let Some(&(_, o)) = map.iter().find(|(i, _)| *i == st.index()) else {
            continue;
        };
        let tb: Rational = st.time_base();
        pkt.rescale_ts(tb, tbs[o]);
        pkt.set_stream(o);
        pkt.set_position(-1);
        if let Some(d) = pkt.dts() {
            ends[o] = ends[o].max(d + pkt.duration());
        }
        pkt.write_interleaved(&mut out.ctx).map_err(err("write"))?;
    }
    // The fragmented mov muxer's trailer returns the size of the `mfra` it
    // wrote (a positive number), which ffmpeg-next reports as an error
    // with a negative "errno": that is success.
    match out.ctx.write_trailer() {
        Ok(()) => {}
        Err(ffmpeg::Error::Other { errno }) if errno < 0 => {}
        Err(e) => return Err(err("trailer")(e)),
    }
    drop(out);
    let bytes = fs::read(tmp).map_err(|e| Error::io(tmp, e))?;
    let first_moof = top_boxes(&bytes)
        .into_iter()
        .find(|(kind, _, _)| kind == b"moof")
        .map(|(_, at, _)| at)
        .ok_or_else(|| Error::media_state("hls fixture", "no moof written"))?;
    let tracks = tbs
        .iter()
        .enumerate()
        .map(|(i, tb)| (i as u32 + 1, tb.denominator() as u32, ends[i]))
        .collect();
    Ok(Fragmented {
        init: bytes[..first_moof].to_vec(),
        media: bytes[first_moof..].to_vec(),
        tracks,
    })
}

/// Top-level boxes: (type, offset, size).
fn top_boxes(b: &[u8]) -> Vec<([u8; 4], usize, usize)> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p + 8 <= b.len() {
        let size = u32::from_be_bytes([b[p], b[p + 1], b[p + 2], b[p + 3]]) as usize;
        let kind = [b[p + 4], b[p + 5], b[p + 6], b[p + 7]];
        if size < 8 || p + size > b.len() {
            break;
        }
        out.push((kind, p, size));
        p += size;
    }
    out
}

/// Adds `offsets[track id]` to every `tfdt` of the `moof`s in `media`.
fn shift_tfdt(media: &mut [u8], offsets: &BTreeMap<u32, i64>) {
    for (kind, at, size) in top_boxes(media) {
        if &kind != b"moof" {
            continue;
        }
        for (k, t_at, t_size) in top_boxes(&media[at + 8..at + size]) {
            if &k != b"traf" {
                continue;
            }
            let traf = at + 8 + t_at;
            let mut track = 0u32;
            for (k2, b_at, _) in top_boxes(&media[traf + 8..traf + t_size]) {
                let body = traf + 8 + b_at + 8;
                match &k2 {
                    b"tfhd" => {
                        track = u32::from_be_bytes([
                            media[body + 4],
                            media[body + 5],
                            media[body + 6],
                            media[body + 7],
                        ])
                    }
                    b"tfdt" => {
                        let add = offsets.get(&track).copied().unwrap_or(0);
                        if media[body] == 1 {
                            let v = u64::from_be_bytes(
                                media[body + 4..body + 12].try_into().unwrap_or([0; 8]),
                            );
                            media[body + 4..body + 12]
                                .copy_from_slice(&(v + add as u64).to_be_bytes());
                        } else {
                            let v = u32::from_be_bytes(
                                media[body + 4..body + 8].try_into().unwrap_or([0; 4]),
                            );
                            media[body + 4..body + 8]
                                .copy_from_slice(&(v + add as u32).to_be_bytes());
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}
