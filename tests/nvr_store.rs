//! Exports of stores recorded the way the NVR records (`sample::nvr`):
//! one continuous encode split by libav's segment muxer, in-band parameter
//! sets, rows with whole-second starts and frame-count durations that
//! overlap or leave small gaps. Nothing recorded in the selected segments
//! may be lost or repeated, and the two writers must agree.

mod common;

use std::path::Path;

use common::*;
use nvr_export::sample::nvr::{self, Session};
use nvr_export::sample::{AudioSpec, SampleStore, SegmentSpec, VideoCodec};
use nvr_export::{CancelToken, ExportOutcome, ExportRequest, WriterChoice, WriterKind};

/// A 320x180 15 fps camera, keyframe every 2 s, 16 kHz AAC.
fn camera(seconds: f64) -> SegmentSpec {
    SegmentSpec {
        audio: Some(AudioSpec {
            sample_rate: 16_000,
            ..AudioSpec::default()
        }),
        gop: 30,
        ..SegmentSpec::small(seconds)
    }
}

fn record(dir: &Path, sessions: &[Session]) -> SampleStore {
    let s = nvr::record_store(dir, "front_door", T0 + 0.37, sessions).expect("record store");
    // The fixture must have what the NVR's rows have: overlaps between rows.
    let overlaps = s
        .recordings
        .windows(2)
        .filter(|w| w[1].start_s < w[0].end_s)
        .count();
    assert!(
        overlaps > 0,
        "fixture rows do not overlap: {:?}",
        s.recordings
    );
    s
}

fn export_with(s: &SampleStore, req: &ExportRequest, w: WriterChoice) -> ExportOutcome {
    exporter(s)
        .with_writer(w)
        .export(req, &CancelToken::new(), |_| {})
        .expect("export")
}

/// The export by the writer it picks (which must be the index-driven one:
/// real cameras' segments, with per-file bit rates, B-frames and restarts
/// whose sets are in band, all go that way) and by the libav writer.
fn both_writers(s: &SampleStore, req: &ExportRequest) -> (ExportOutcome, ExportOutcome) {
    let auto = export_with(s, req, WriterChoice::Auto);
    let libav = export_with(s, req, WriterChoice::Libav);
    assert_eq!(
        auto.stats.writer,
        WriterKind::Fast,
        "{:?}",
        auto.stats.fast_declined
    );
    (auto, libav)
}

/// Video packet hashes of every recording, in catalogue order.
fn source_hashes(s: &SampleStore) -> Vec<String> {
    s.recordings
        .iter()
        .flat_map(|r| video_packet_hashes(&r.path))
        .collect()
}

/// Checks one output file: first frame at 0, A/V ends within 0.1 s, no
/// decode errors, moov first.
fn check_file(path: &Path, audio: bool, audio_late_s: f64) -> (f64, f64) {
    let (vstart, vdur) = stream_span(path, "video").expect("video stream");
    assert!(vstart.abs() < 1e-6, "first presented frame at {vstart}");
    let pts: Vec<f64> = video_packets(path).iter().map(|p| p.0).collect();
    let min = pts.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!(min.abs() < 1e-6, "smallest video pts {min}");
    if audio {
        let (astart, adur) = stream_span(path, "audio").expect("audio stream");
        let (vend, aend) = (vstart + vdur, astart + adur);
        assert!(
            (vend - aend).abs() <= 0.1,
            "video ends {vend}, audio {aend}"
        );
        assert!(
            (astart - audio_late_s).abs() <= 0.1,
            "audio starts at {astart}, recorded from {audio_late_s}"
        );
    }
    assert_eq!(
        decode_errors(path),
        "",
        "decode errors in {}",
        path.display()
    );
    assert_moov_first(path);
    (vstart, vdur)
}

/// Both writers, packet for packet.
fn writers_agree(a: &ExportOutcome, b: &ExportOutcome) {
    let (pa, pb) = (packets(&a.video_path), packets(&b.video_path));
    assert_eq!(pa.len(), pb.len(), "packet counts differ");
    for (i, (x, y)) in pa.iter().zip(&pb).enumerate() {
        assert_eq!(
            x,
            y,
            "packet {i} differs ({} vs {}); around it:\n{}\n--\n{}",
            a.stats.writer,
            b.stats.writer,
            pa[i.saturating_sub(3)..(i + 3).min(pa.len())].join("\n"),
            pb[i.saturating_sub(3)..(i + 3).min(pb.len())].join("\n")
        );
    }
}

/// The whole store: every source packet exactly once, duration = content.
fn check_whole(s: &SampleStore, fps: f64, audio: bool, audio_late_s: f64) {
    let (auto, libav) = both_writers(s, &request(s, s.start_s() - 5.0, s.end_s() + 5.0));
    let src = source_hashes(s);
    for o in [&auto, &libav] {
        assert!(o.skipped.is_empty(), "{:?}", o.skipped);
        assert!(warnings_besides_thumbnail(o).is_empty(), "{:?}", o.warnings);
        let out = video_packet_hashes(&o.video_path);
        assert_eq!(
            out.len(),
            src.len(),
            "{}: frames lost or repeated",
            o.stats.writer
        );
        assert_eq!(
            out, src,
            "{}: packets differ from the sources",
            o.stats.writer
        );
        let (_, vdur) = check_file(&o.video_path, audio, audio_late_s);
        let content = src.len() as f64 / fps;
        assert!(
            (vdur - content).abs() < 0.5 / fps,
            "{}: duration {vdur} s, recorded content {content} s",
            o.stats.writer
        );
        assert!(
            (o.duration_s - content).abs() < 0.5 / fps,
            "plan says {}",
            o.duration_s
        );
    }
    writers_agree(&auto, &libav);
    if audio {
        // Every audio packet of the sources is in the export, but those the
        // report counts as dropped (and those only overlap: the range holds
        // all the footage).
        let src: Vec<String> = s
            .recordings
            .iter()
            .flat_map(|r| audio_packet_hashes(&r.path))
            .collect();
        for o in [&auto, &libav] {
            let out = audio_packet_hashes(&o.video_path);
            let (missing, extra) = multiset_difference(&src, &out);
            let dropped = o.stats.audio_dropped;
            assert_eq!(
                extra, 0,
                "{}: audio packets not in the sources",
                o.stats.writer
            );
            assert_eq!(
                missing,
                dropped.total(),
                "{}: {missing} source audio packets missing, {dropped:?} reported",
                o.stats.writer
            );
            assert!(
                dropped.overlap * 100 <= src.len() as u64,
                "{}: {} of {} audio packets dropped as overlapping",
                o.stats.writer,
                dropped.overlap,
                src.len()
            );
        }
    }
    if audio {
        // The esds bit rates describe the output, as libav's muxer computes
        // them, not the first segment's (read back by ffprobe).
        let rate = |o: &ExportOutcome| {
            let p = probe(&o.video_path);
            f(&streams_of(&p, "audio")[0]["bit_rate"])
        };
        let (fast, reference) = (rate(&auto), rate(&libav));
        assert!(
            (fast - reference).abs() <= reference * 0.02,
            "audio bit rate {fast} (fast) vs {reference} (libav)"
        );
    }
}

/// A range inside the store: a contiguous run of source packets, starting
/// on a keyframe at or before the start, covering the range.
fn check_mid(s: &SampleStore, start: f64, end: f64, gop_s: f64, audio: bool) {
    let (auto, libav) = both_writers(s, &request(s, start, end));
    let src = source_hashes(s);
    for o in [&auto, &libav] {
        let out = video_packet_hashes(&o.video_path);
        let at = src
            .iter()
            .position(|h| *h == out[0])
            .expect("first output packet is a source packet");
        assert_eq!(
            &src[at..at + out.len()],
            &out[..],
            "{}: not a contiguous run of the source packets",
            o.stats.writer
        );
        let flags = video_packets(&o.video_path);
        assert!(
            flags[0].1.starts_with('K'),
            "first packet is not a keyframe"
        );
        let (_, vdur) = check_file(&o.video_path, audio, 0.0);
        let asked = end - start;
        // Rows overlap by up to a few seconds and the start snaps back to a keyframe.
        assert!(vdur >= asked - 2.0, "{vdur} s for a {asked} s range");
        assert!(
            vdur <= asked + gop_s + 2.0,
            "{vdur} s for a {asked} s range"
        );
    }
    writers_agree(&auto, &libav);
}

#[test]
fn h264_audio_late_join_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = Session {
        audio_late_s: 2.5,
        ..Session::new(camera(42.0))
    };
    // The camera restarts 20 s later at another resolution (new SPS).
    let restart = Session {
        gap_before_s: 20.0,
        ..Session::new(SegmentSpec {
            width: 256,
            height: 144,
            seed: 5,
            ..camera(21.0)
        })
    };
    let s = record(dir.path(), &[first, restart]);
    check_whole(&s, 15.0, true, 2.5);
    let r = &s.recordings;
    check_mid(&s, r[1].start_s + 3.3, r[3].start_s + 4.1, 2.0, true);
}

#[test]
fn h264_bframes_no_audio() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SegmentSpec {
        b_frames: 2,
        audio: None,
        ..camera(42.0)
    };
    let s = record(dir.path(), &[Session::new(spec)]);
    check_whole(&s, 15.0, false, 0.0);
    let r = &s.recordings;
    check_mid(&s, r[0].start_s + 3.3, r[2].start_s + 4.1, 2.0, false);
    // A range that begins on a segment whose first DTS is negative.
    check_mid(&s, r[1].start_s, r[2].end_s, 2.0, false);
}

#[test]
fn hevc_bframes_with_audio() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SegmentSpec {
        codec: VideoCodec::Hevc,
        b_frames: 2,
        ..camera(32.0)
    };
    let s = record(dir.path(), &[Session::new(spec)]);
    // The segments are `hev1` with parameter sets in band and
    // array_completeness 0, as the NVR writes them without apple_compatibility.
    assert_eq!(hvcc_arrays(&s.recordings[0].path)[0].0, "hev1");
    check_whole(&s, 15.0, true, 0.0);
    let r = &s.recordings;
    check_mid(&s, r[1].start_s + 2.2, r[2].start_s + 5.5, 2.0, true);
    // Written as hvc1 only with complete VPS/SPS/PPS arrays.
    for w in [WriterChoice::Auto, WriterChoice::Libav] {
        let o = export_with(&s, &request(&s, s.start_s(), s.end_s()), w);
        let arrays = hvcc_arrays(&o.video_path);
        assert_eq!(arrays[0].0, "hvc1", "{}", o.stats.writer);
        let types: Vec<u8> = arrays.iter().map(|a| a.1).collect();
        for t in [32, 33, 34] {
            assert!(types.contains(&t), "nal type {t} missing: {types:?}");
        }
        for (_, t, complete) in &arrays {
            if (32..=34).contains(t) {
                assert!(
                    complete,
                    "{}: array {t} not marked complete",
                    o.stats.writer
                );
            }
        }
    }
}

#[test]
fn long_gop_12s() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SegmentSpec {
        gop: 180,
        ..camera(50.0)
    };
    let s = record(dir.path(), &[Session::new(spec)]);
    // The segment muxer splits at keyframes: 12 s segments.
    assert!(s.recordings[0].duration_s > 11.0, "{:?}", s.recordings[0]);
    check_whole(&s, 15.0, true, 0.0);
    let r = &s.recordings;
    check_mid(&s, r[1].start_s + 5.0, r[2].start_s + 6.0, 12.0, true);
}

/// (sample entry type, NAL type, array_completeness) of each `hvcC` array in a file.
fn hvcc_arrays(path: &Path) -> Vec<(String, u8, bool)> {
    let data = std::fs::read(path).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == b"hvcC")
        .expect("an hvcC box");
    // The sample entry's type is 4 bytes after its size, 86 + 4 bytes before the hvcC type.
    let entry = String::from_utf8_lossy(&data[at - 4 - 86 + 4..at - 86 + 4]).into_owned();
    let rec = &data[at + 4..];
    let mut out = Vec::new();
    let mut p = 23;
    for _ in 0..rec[22] {
        let (complete, t) = (rec[p] & 0x80 != 0, rec[p] & 0x3f);
        let n = u16::from_be_bytes([rec[p + 1], rec[p + 2]]) as usize;
        p += 3;
        for _ in 0..n {
            p += 2 + u16::from_be_bytes([rec[p], rec[p + 1]]) as usize;
        }
        out.push((entry.clone(), t, complete));
    }
    out
}

#[test]
fn a_variable_frame_rate_camera_keeps_every_frame_and_ends_audio_with_video() {
    // 15 fps for 10 s, then 5 fps (a camera lowering its rate), 22.05 kHz
    // AAC (46 ms frames). The NVR's rows take their durations from frame
    // count / nominal rate, so they say 4 s for a 12 s segment: the range
    // runs well past the last row, as an export of "until now" does.
    let dir = tempfile::tempdir().unwrap();
    let session = Session {
        rate_change: Some((10.0, 5)),
        ..Session::new(SegmentSpec {
            audio: Some(AudioSpec {
                sample_rate: 22_050,
                ..AudioSpec::default()
            }),
            ..SegmentSpec::small(30.0)
        })
    };
    let s = nvr::record_store(dir.path(), "front_door", T0 + 0.37, &[session]).unwrap();
    let source_frames: usize = s
        .recordings
        .iter()
        .map(|r| video_packets(&r.path).len())
        .sum();
    assert_eq!(
        source_frames,
        150 + 100,
        "the fixture is 10 s at 15 fps + 20 s at 5 fps"
    );
    let req = request(&s, s.start_s() - 1.0, s.end_s() + 20.0);
    let (auto, libav) = both_writers(&s, &req);
    for o in [&auto, &libav] {
        assert_eq!(
            video_packets(&o.video_path).len(),
            source_frames,
            "{:?}",
            o.stats.writer
        );
        let (vs, vd) = stream_span(&o.video_path, "video").unwrap();
        let (a_s, ad) = stream_span(&o.video_path, "audio").unwrap();
        // The last 5 fps frame lasts its 200 ms; audio ends with it, within
        // one AAC frame (the ffmpeg concat CLI: 0.121 s apart on this store).
        let apart = ((vs + vd) - (a_s + ad)).abs();
        assert!(
            apart <= 1024.0 / 22_050.0,
            "{:?}: video and audio end {apart:.3} s apart",
            o.stats.writer
        );
        assert!(
            ((vs + vd) - 30.0).abs() <= 0.21,
            "{:?}: video lasts {vd}",
            o.stats.writer
        );
    }
}
