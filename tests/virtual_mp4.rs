//! The virtual MP4: byte for byte the file the index-driven writer writes
//! (without extent sharing), read at any offset and length, on ideal
//! stores and stores recorded the NVR's way (B-frames, a restart at another
//! resolution); segments replaced or rewritten since planning fail the
//! read; what it cannot serve is refused by name.

mod common;

use std::path::Path;

use common::*;
use nvr_export::sample::nvr::{self, Session};
use nvr_export::sample::{AudioSpec, SampleStore, SegmentSpec};
use nvr_export::{CancelToken, EncodeArgs, ErrorKind, ExportRequest, VirtualMp4, WriterKind};

/// 320x180 15 fps, keyframe every 2 s, B-frames, 16 kHz AAC.
fn bframes(dir: &Path) -> SampleStore {
    let spec = SegmentSpec {
        audio: Some(AudioSpec {
            sample_rate: 16_000,
            ..AudioSpec::default()
        }),
        gop: 30,
        b_frames: 2,
        ..SegmentSpec::small(35.0)
    };
    nvr::record_store(dir, "front_door", T0 + 0.37, &[Session::new(spec)]).unwrap()
}

/// 25 s at 320x180, a 20 s outage, a restart at 640x360 (new SPS in band).
fn restart(dir: &Path) -> SampleStore {
    restart_store(dir, "front_door")
}

fn read_all(v: &VirtualMp4) -> Vec<u8> {
    let mut out = vec![0u8; v.len() as usize];
    let n = v.read_at(0, &mut out).expect("read the whole virtual file");
    assert_eq!(n as u64, v.len());
    out
}

/// Exports `req` and builds its virtual file; they must be the same bytes.
/// Returns the virtual file and the exported bytes.
fn compare(s: &SampleStore, req: &ExportRequest) -> Option<(VirtualMp4, Vec<u8>)> {
    let ex = exporter(s);
    let out = ex.export(req, &CancelToken::new(), |_| {}).expect("export");
    assert_eq!(
        out.stats.writer,
        WriterKind::Fast,
        "{:?}",
        out.stats.fast_declined
    );
    let file = std::fs::read(&out.video_path).unwrap();
    if out.stats.shared_bytes > 0 {
        skipped(
            "virtual vs exported bytes",
            "the export folder shares extents (its runs are block-aligned)",
        );
        return None;
    }
    let v = ex
        .virtual_mp4(req, &CancelToken::new())
        .expect("virtual file");
    assert_eq!(v.len(), file.len() as u64);
    assert!(read_all(&v) == file, "virtual bytes differ from the export");
    assert_eq!(v.content_type(), "video/mp4");
    Some((v, file))
}

#[test]
fn virtual_bytes_equal_the_exported_file_on_ideal_and_nvr_stores() {
    let dir = tempfile::tempdir().unwrap();
    let gapped = two_then_gap_then_one(&dir.path().join("gapped"));
    let b = bframes(&dir.path().join("bframes"));
    let r = restart(&dir.path().join("restart"));
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for (s, start, end) in [
        (&gapped, gapped.start_s(), gapped.end_s()),
        (&gapped, gapped.start_s() + 1.5, gapped.end_s() - 2.2),
        (&b, b.start_s() + 3.0, b.end_s() - 4.0),
        (&r, r.start_s(), r.end_s()),
    ] {
        let req = request(s, start, end);
        let Some((v, file)) = compare(s, &req) else {
            continue;
        };
        // Random offsets and lengths, across the head, run boundaries and
        // the end of the file.
        for _ in 0..300 {
            let at = rng.u64(0..v.len() + 10);
            let len = match rng.u8(0..4) {
                0 => rng.usize(0..16),
                1 => rng.usize(0..4096),
                _ => rng.usize(0..300_000),
            };
            let mut buf = vec![0u8; len];
            let n = v.read_at(at, &mut buf).unwrap();
            let lo = (at as usize).min(file.len());
            let hi = (lo + len).min(file.len());
            assert_eq!(n, hi - lo, "length at {at}+{len}");
            assert!(buf[..n] == file[lo..hi], "bytes at {at}+{len}");
        }
        // A stable tag: the same request over the same files.
        let again = exporter(s).virtual_mp4(&req, &CancelToken::new()).unwrap();
        assert_eq!(again.etag(), v.etag());
        let other = exporter(s)
            .virtual_mp4(&request(s, start, end - 1.0), &CancelToken::new())
            .unwrap();
        assert_ne!(other.etag(), v.etag());
        // The head is small: the moov and what precedes the samples.
        assert!(v.head_len() < 64 << 10, "{}", v.head_len());
    }
}

#[test]
fn a_segment_replaced_or_rewritten_after_planning_fails_the_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 4.0, 3);
    let req = request(&s, s.start_s(), s.end_s());
    let ex = exporter(&s);
    let v = ex.virtual_mp4(&req, &CancelToken::new()).unwrap();
    let whole = read_all(&v);
    // Replaced under its name (another inode): the read of its bytes fails.
    let victim = &s.recordings[1].path;
    let copy = victim.with_extension("tmp");
    std::fs::copy(victim, &copy).unwrap();
    std::fs::rename(&copy, victim).unwrap();
    let mut buf = vec![0u8; whole.len()];
    let e = v.read_at(0, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnreadableSegment, "{e}");
    assert!(e.to_string().contains("replaced"), "{e}");
    // The head and the first segment still read.
    let mut head = vec![0u8; v.head_len()];
    assert_eq!(v.read_at(0, &mut head).unwrap(), head.len());
    assert!(head[..] == whole[..head.len()]);
    // A fresh plan reads the new file.
    let v2 = ex.virtual_mp4(&req, &CancelToken::new()).unwrap();
    assert_ne!(v2.etag(), v.etag());
    assert!(read_all(&v2) == whole);
    // Rewritten in place (same inode, other size): refused too.
    let last = &s.recordings[2].path;
    let f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    f.set_len(f.metadata().unwrap().len() + 1).unwrap();
    let e = v2.read_at(0, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnreadableSegment, "{e}");
    assert!(e.to_string().contains("changed"), "{e}");
}

/// An exporter that keeps segment indexes (`with_index_cache`, what
/// `serve` uses) gives every clip the bytes an exporter without one gives;
/// a segment replaced or rewritten since is read again, and only it.
#[test]
fn an_index_cache_gives_the_same_bytes_and_reads_changed_segments_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = bframes(&dir.path().join("bframes"));
    let n = s.recordings.len() as u64;
    assert!(n >= 3, "{n} segments");
    let cached = exporter(&s).with_index_cache(64 << 20);
    let same = |req: &ExportRequest| {
        let v = cached.virtual_mp4(req, &CancelToken::new()).unwrap();
        let plain = exporter(&s).virtual_mp4(req, &CancelToken::new()).unwrap();
        assert_eq!(v.etag(), plain.etag());
        assert!(
            read_all(&v) == read_all(&plain),
            "cached clip's bytes differ"
        );
    };
    let stats = || cached.index_cache_stats().expect("a cache");
    same(&request(&s, s.start_s(), s.end_s()));
    let st = stats();
    assert_eq!((st.hits, st.misses, st.entries as u64), (0, n, n), "{st:?}");
    assert!(st.bytes > 0);
    // Another range over the same segments: every index from the cache.
    same(&request(&s, s.start_s() + 3.0, s.end_s() - 4.0));
    let st2 = stats();
    assert_eq!(st2.misses, n, "{st2:?}");
    assert!(st2.hits >= n - 1, "{st2:?}");
    // One segment replaced under its name (a new inode), another grown by
    // a byte: those two are read again, the others not.
    let victim = &s.recordings[1].path;
    let copy = victim.with_extension("tmp");
    std::fs::copy(victim, &copy).unwrap();
    std::fs::rename(&copy, victim).unwrap();
    let grown = &s.recordings[2].path;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .open(grown)
        .unwrap();
    f.set_len(f.metadata().unwrap().len() + 1).unwrap();
    drop(f);
    same(&request(&s, s.start_s(), s.end_s()));
    let st3 = stats();
    assert_eq!(st3.misses - st2.misses, 2, "{st3:?}");
    assert_eq!(st3.hits - st2.hits, n - 2, "{st3:?}");
    assert_eq!(st3.entries as u64, n);
    // A budget of about two segments' indexes holds no more than that.
    let small = exporter(&s).with_index_cache(2 * st.bytes / n + 1);
    small
        .virtual_mp4(&request(&s, s.start_s(), s.end_s()), &CancelToken::new())
        .unwrap();
    let st4 = small.index_cache_stats().unwrap();
    assert!(st4.bytes <= 2 * st.bytes / n + 1, "{st4:?}");
    assert!(st4.entries >= 1 && (st4.entries as u64) < n, "{st4:?}");
}

/// Indexes read ahead (`index_ahead`, what `serve` does for the last
/// hour): newest first, up to half the cache's budget; a clip over them
/// then reads no header; a second pass reads nothing; no cache, nothing.
#[test]
fn indexes_read_ahead_serve_the_first_clip_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let s = bframes(&dir.path().join("bframes"));
    let n = s.recordings.len();
    let cancel = CancelToken::new();
    let none = exporter(&s)
        .index_ahead(s.start_s(), s.end_s(), &cancel)
        .unwrap();
    assert_eq!(none, nvr_export::IndexAhead::default());
    let ex = exporter(&s).with_index_cache(64 << 20);
    let ahead = ex.index_ahead(s.start_s(), s.end_s(), &cancel).unwrap();
    assert_eq!((ahead.segments, ahead.read), (n, n as u64), "{ahead:?}");
    let again = ex.index_ahead(s.start_s(), s.end_s(), &cancel).unwrap();
    assert_eq!(again.read, 0, "{again:?}");
    let req = request(&s, s.start_s() + 1.0, s.end_s() - 1.0);
    let v = ex.virtual_mp4(&req, &cancel).unwrap();
    let st = ex.index_cache_stats().unwrap();
    assert_eq!(st.misses, n as u64, "the clip read a header: {st:?}");
    assert!(st.hits >= n as u64, "{st:?}");
    let plain = exporter(&s).virtual_mp4(&req, &cancel).unwrap();
    assert!(read_all(&v) == read_all(&plain));
    // Half the budget: a budget of about two segments' indexes reads the
    // newest one (and stops).
    let per = st.bytes / n as u64;
    let small = exporter(&s).with_index_cache(2 * per + 1);
    let part = small.index_ahead(s.start_s(), s.end_s(), &cancel).unwrap();
    assert!(part.read >= 1 && part.read < n as u64, "{part:?}");
    assert!(small.index_cache_stats().unwrap().bytes <= 2 * per + 1);
}

#[test]
fn what_cannot_be_served_is_refused_by_name_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(dir.path(), 3.0, 2);
    let ex = exporter(&s);
    let timelapse = ExportRequest {
        encode: Some(EncodeArgs::timelapse()),
        ..request(&s, s.start_s(), s.end_s())
    };
    let e = ex.virtual_mp4(&timelapse, &CancelToken::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotServable, "{e}");
    let e = ex
        .virtual_mp4(
            &request(&s, s.start_s() - 500.0, s.start_s() - 100.0),
            &CancelToken::new(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoRecordings, "{e}");
    let e = ex
        .virtual_mp4(&request(&s, s.end_s(), s.start_s()), &CancelToken::new())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRange, "{e}");
    let v = ex
        .virtual_mp4(&request(&s, s.start_s(), s.end_s()), &CancelToken::new())
        .unwrap();
    assert!(!v.is_empty());
    // No export folder, no row, no thumbnail.
    assert!(!s.media_dir.join("exports").exists());
    assert!(!s.media_dir.join("clips").join("export").exists());
    assert!(export_rows(&s).is_empty());
}
