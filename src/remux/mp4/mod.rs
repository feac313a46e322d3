//! MP4 box writing for the index-driven writer (ISO/IEC 14496-12, with the
//! QuickTime chapter track and Nero `chpl` box that libav's mov muxer writes).
//!
//! Box order written (sizes are all known before the first byte goes out):
//!
//! ```text
//! ftyp
//! moov
//!   mvhd
//!   trak (video, then audio)
//!     tkhd, edts/elst (empty edit for a late start, or a media time that
//!       skips what is before the first presented instant), [tref/chap]
//!     mdia: mdhd, hdlr, minf: vmhd|smhd, dinf/dref/url, stbl:
//!       stsd (the segments' own sample entry, copied verbatim)
//!       stts (run-length decode deltas), [ctts], [stss], stsz, stsc (1 sample/chunk), stco|co64
//!   [trak (wall-clock timestamps: a `tx3g` subtitle track, handler `sbtl`,
//!     `nmhd`, one sample per cue of `plan::timestamps`)]
//!   trak (chapters: QuickTime text track, one sample per chapter)
//!   udta: meta/hdlr/ilst (©nam title, ©cmt comment), chpl (first 255 chapters)
//! mdat: chapter samples, timestamp samples, then each clip's sample bytes as one run
//! ```
//!
//! Every sample is its own chunk: `stsc` is a single entry and `stco` holds
//! one offset per sample, so a clip's run can be copied as is and samples
//! of it that the plan leaves out are simply not referenced.
//!
//! Memory does not follow the number of samples: a track's samples come from
//! a [`SampleSource`] that is replayed rather than held. One pass sizes every
//! table ([`SampleStats`]); the `moov` is then built with a hole of known
//! length for each per-sample table ([`Part::Table`]), and [`write_moov`]

mod boxes;
mod layout;
mod samples;
mod tables;

pub use layout::{
    chapter_samples, chapter_track, ftyp, mdat_header, moov, timestamp_samples, timestamp_track,
    tx3g_sample, Movie, Presentation, Track, TX3G_DESCRIPTION,
};
pub use samples::{OutSample, SampleSource, StatsAccumulator, TrackKind};
pub use tables::write_moov;

#[cfg(test)]
mod tests {
    use super::boxes::{BoxBuf, Part};
    use super::layout::Edit;
    use super::tables::write_moov_fusing;
    use super::*;

    #[test]
    fn box_sizes_are_patched() {
        let mut b = BoxBuf::default();
        b.open(b"moov")
            .open_full(b"mvhd", 0, 0)
            .u32(7)
            .close()
            .close();
        let v = b.into_inner();
        assert_eq!(&v[0..8], &[0, 0, 0, 24, b'm', b'o', b'o', b'v']);
        assert_eq!(&v[8..16], &[0, 0, 0, 16, b'm', b'v', b'h', b'd']);
    }

    fn s(dts: i64, duration: i64) -> OutSample {
        OutSample {
            dts,
            duration,
            cts: 0,
            size: 1,
            keyframe: true,
            offset: 0,
        }
    }

    fn audio(samples: &Vec<OutSample>) -> Track<'_> {
        Track::new(TrackKind::Audio, 2, 48_000, vec![], samples, None)
    }

    /// The whole moov of `tracks`, holes filled.
    fn render(tracks: &[Track<'_>], co64: bool, data_base: u64) -> Vec<u8> {
        let movie = Movie {
            creation_unix_s: 0.0,
            tracks,
            title: None,
            comment: None,
            chapters: &[],
        };
        let m = moov(&movie, co64);
        let mut out = Vec::new();
        write_moov(&m, tracks, data_base, &mut out, &mut || Ok(())).unwrap();
        assert_eq!(out.len() as u64, m.len);
        // Streamed table by table (what tracks too big to fuse get): the same bytes.
        let mut streamed = Vec::new();
        write_moov_fusing(&m, tracks, data_base, &mut streamed, &mut || Ok(()), 0).unwrap();
        assert_eq!(streamed, out);
        // A budget the first track's tables fill: it fused, the rest streamed.
        let first: u64 = m
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Table { track: 0, len, .. } => Some(*len),
                _ => None,
            })
            .sum();
        let mut mixed = Vec::new();
        write_moov_fusing(&m, tracks, data_base, &mut mixed, &mut || Ok(()), first).unwrap();
        assert_eq!(mixed, out);
        // Small tables built by the sizing pass (what the index-driven
        // writer does for video), the next streamed: the same bytes.
        let pre: Vec<Track<'_>> = tracks
            .iter()
            .map(|t| {
                let mut acc = StatsAccumulator::recording(t.timescale);
                t.samples.for_each(&mut |x| acc.push(x));
                let (stats, prebuilt) = acc.finish_tables();
                assert_eq!(stats, t.stats);
                Track {
                    kind: t.kind,
                    id: t.id,
                    timescale: t.timescale,
                    sample_entry: t.sample_entry.clone(),
                    samples: t.samples,
                    stats,
                    chapter_track: t.chapter_track,
                    presentation: t.presentation.clone(),
                    prebuilt,
                }
            })
            .collect();
        let mut prebuilt = Vec::new();
        write_moov(&m, &pre, data_base, &mut prebuilt, &mut || Ok(())).unwrap();
        assert_eq!(prebuilt, out);
        out
    }

    fn find(v: &[u8], kind: &[u8; 4]) -> usize {
        v.windows(4).position(|w| w == kind).unwrap()
    }

    #[test]
    fn stts_runs_and_edit_with_delay() {
        let samples = vec![s(480, 1024), s(1504, 1024), s(2528, 1024), s(3552, 384)];
        let t = audio(&samples);
        // 480 samples = 10 ms of empty edit; media 3456 samples = 72 ms.
        assert_eq!(
            t.edit(),
            Edit {
                delay: 10,
                media_time: 0,
                duration: 72
            }
        );
        // Starting 480 samples early (an audio frame straddling the start):
        // no delay, the media time skips them; the duration is the media's
        // rounded up, less the start rounded down (as libav computes it).
        let early: Vec<OutSample> = samples
            .iter()
            .map(|x| OutSample {
                dts: x.dts - 960,
                ..*x
            })
            .collect();
        assert_eq!(
            audio(&early).edit(),
            Edit {
                delay: 0,
                media_time: 480,
                duration: 62
            }
        );
        // B-frames: first DTS two frames early, its PTS at 0.
        let frames = vec![
            OutSample {
                dts: -12_000,
                cts: 12_000,
                ..s(0, 6_000)
            },
            OutSample {
                dts: -6_000,
                cts: 24_000,
                keyframe: false,
                ..s(0, 6_000)
            },
            OutSample {
                dts: 0,
                cts: 6_000,
                keyframe: false,
                ..s(0, 6_000)
            },
        ];
        let v = Track::new(
            TrackKind::Video {
                width: 2,
                height: 2,
            },
            1,
            90_000,
            vec![],
            &frames,
            None,
        );
        // Presented 0, 18000, 6000 (+6000 each): 24000 ticks = 266.7 ms.
        assert_eq!(
            v.edit(),
            Edit {
                delay: 0,
                media_time: 12_000,
                duration: 267
            }
        );
        let out = render(&[t], false, 0);
        let i = find(&out, b"stts");
        // version/flags, 2 runs: (3 x 1024), (1 x 384)
        assert_eq!(
            &out[i + 4..i + 28],
            &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 1, 128]
        );
        let out = render(&[v], false, 0);
        let i = find(&out, b"ctts");
        // 3 runs of one: 12000, 24000, 6000
        assert_eq!(&out[i + 4..i + 12], &[0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&out[i + 12..i + 20], &[0, 0, 0, 1, 0, 0, 0x2e, 0xe0]);
        let i = find(&out, b"stss");
        assert_eq!(&out[i + 4..i + 16], &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn chunk_offsets_past_4_gib_use_co64() {
        let far = 5u64 << 30;
        let samples: Vec<OutSample> = (0..3)
            .map(|i| OutSample {
                offset: far + i * 100,
                ..s(i as i64 * 1024, 1024)
            })
            .collect();
        let t = audio(&samples);
        let out = render(std::slice::from_ref(&t), true, 1000);
        let i = find(&out, b"co64");
        assert_eq!(&out[i + 4..i + 12], &[0, 0, 0, 0, 0, 0, 0, 3]);
        let first = u64::from_be_bytes(out[i + 12..i + 20].try_into().unwrap());
        assert_eq!(first, far + 1000);
        let last = u64::from_be_bytes(out[i + 28..i + 36].try_into().unwrap());
        assert_eq!(last, far + 1200);
        assert!(out.windows(4).all(|w| w != b"stco"));
    }

    #[test]
    fn video_tables_built_while_sizing_are_the_streamed_ones() {
        // B-frames (composition offsets, some negative), a keyframe every
        // 4 frames, a timestamp jump (a camera's gap on a shared timeline).
        let samples: Vec<OutSample> = (0..40)
            .map(|i: i64| OutSample {
                dts: i * 3000 + if i >= 20 { 900_000 } else { 0 },
                duration: 3000,
                cts: [0, 6000, -3000, 3000][(i % 4) as usize],
                size: 100 + i as u32,
                keyframe: i % 4 == 0,
                offset: i as u64 * 200,
            })
            .collect();
        let t = Track::new(
            TrackKind::Video {
                width: 320,
                height: 180,
            },
            1,
            90_000,
            vec![],
            &samples,
            None,
        );
        for co64 in [false, true] {
            let out = render(std::slice::from_ref(&t), co64, 64);
            for kind in [b"ctts", b"stss", b"stsz"] {
                assert!(out.windows(4).any(|w| w == kind), "{kind:?}");
            }
        }
    }

    #[test]
    fn large_mdat_uses_64_bit_size() {
        assert_eq!(mdat_header(10), vec![0, 0, 0, 18, b'm', b'd', b'a', b't']);
        let h = mdat_header(u32::MAX as u64);
        assert_eq!(&h[0..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(h[8..16].try_into().unwrap()),
            u32::MAX as u64 + 16
        );
    }
}
