//! Entry points for coverage-guided fuzzing (`fuzz/`, `make fuzz`): one per
//! parser of untrusted bytes the engine wrote itself. Built only with the
//! `fuzzing` feature; not part of the library's API.
//!
//! Each function takes the fuzzer's bytes, runs the parser the way the
//! engine does, and panics only where a promise breaks (a panic inside the
//! parser is the finding; so is an accepted input whose result
//! contradicts itself). The promises checked are the ones the callers rely
//! on: offsets inside the input, sample tables that give back what was
//! packed, URLs that stay HTTP, filter graphs with nothing unlisted in them,
//! file names that cannot leave their folder.

use std::io::Cursor;

use crate::media::{image, isobmff, params};
use crate::probe::{SampleTable, SampleTime};

/// The `moov` reader and the sample-table packing behind the probe: a
/// segment's `moov` payload (as `isobmff::read_moov` returns it) read into
/// track summaries and sample indexes, each index packed as the probe
/// packs it and read back.
pub fn moov(data: &[u8]) {
    for t in isobmff::traks(data).into_iter().flatten() {
        let e = &t.sample_entry;
        if let Some(at) = t.esds_rates_at {
            assert!(at + isobmff::ESDS_RATES_LEN <= e.len());
        }
        let _ = t.decoder_view();
        let _ = isobmff::without_btrt(e, &t.handler);
        if e.len() > 86 + 8 {
            let rec = &e[86 + 8..];
            let _ = params::h264_inband(rec);
            let _ = params::hevc_inband(rec);
            if let Some(c) = params::hvcc_complete(rec) {
                assert_eq!(c.len(), rec.len());
            }
        }
        let _ = params::carries_parameter_sets(true, e);
        let _ = params::carries_parameter_sets(false, e);
        let _ = params::inband_sets(true, e);
        let _ = params::inband_sets(false, e);
    }
    let traks = isobmff::traks(data);
    for (i, idx) in isobmff::trak_indexes(data).into_iter().enumerate() {
        let Some(idx) = idx else { continue };
        assert!(idx.timescale > 0);
        assert!(!idx.samples.is_empty());
        let timing = traks.get(i).and_then(|t| t.as_ref()).map(|t| &t.timing);
        let offsets = timing.and_then(|t| t.offsets(idx.samples.len()));
        if let Some(o) = &offsets {
            assert_eq!(o.len(), idx.samples.len());
        }
        let times = crate::probe::sample_times(&idx.samples, offsets.as_deref(), timing);
        round_trip(&times);
    }
}

/// The packed sample table alone: samples decoded from the bytes (decode
/// times that mostly rise, as real ones do, and now and then do not),
/// packed, and read back whole, by range and by decode time.
pub fn sample_table(data: &[u8]) {
    let mut r = Reader(data);
    let mut dts = r.i64();
    let mut times = Vec::new();
    while !r.0.is_empty() && times.len() < 100_000 {
        let step = match r.u8() {
            0 => -(r.u8() as i64),
            1 => r.i64() >> 16,
            b => b as i64 * 37,
        };
        let duration = r.u16() as i64;
        let pos = match r.u8() {
            0 => r.i64() >> 20,
            b => b as i64 * 1000,
        };
        times.push(SampleTime {
            dts,
            duration,
            cts: r.i16() as i32,
            keyframe: r.u8() & 1 == 1,
            pos,
            size: r.u16() as u32 * 3,
        });
        dts = dts.saturating_add(step);
    }
    // Durations as the probe makes them: to the next decode time.
    for i in 0..times.len().saturating_sub(1) {
        times[i].duration = times[i + 1].dts.saturating_sub(times[i].dts).max(0);
    }
    round_trip(&times);
}

/// Packs `times` and checks that every way of reading the table gives them back.
fn round_trip(times: &[SampleTime]) {
    let Ok(table) = SampleTable::from_samples(times) else {
        return;
    };
    assert_eq!(table.len(), times.len());
    let back: Vec<SampleTime> = table.iter().collect();
    assert_eq!(back.len(), times.len());
    for (i, (got, want)) in back.iter().zip(times).enumerate() {
        assert_eq!(got.dts, want.dts, "dts of sample {i}");
        assert_eq!(got.cts, want.cts, "cts of sample {i}");
        assert_eq!(got.keyframe, want.keyframe, "keyframe flag of sample {i}");
        assert_eq!(got.pos, want.pos, "offset of sample {i}");
        assert_eq!(got.size, want.size, "size of sample {i}");
        assert_eq!(got.duration, want.duration, "duration of sample {i}");
        assert_eq!(table.get(i), *got);
    }
    let n = times.len();
    if n > 2 {
        let (a, b) = (n / 3, 2 * n / 3);
        let mid: Vec<SampleTime> = table.range(a..b).collect();
        assert_eq!(mid.as_slice(), &back[a..b]);
        let rev: Vec<SampleTime> = table.range(a..b).rev().collect();
        assert!(rev.iter().eq(back[a..b].iter().rev()));
        if let Some(s) = table.find_dts(times[a].dts) {
            assert_eq!(s.dts, times[a].dts);
        }
    }
}

/// Whole files the engine is handed (a bare file to migrate, a user's
/// thumbnail image, an HLS init segment): the completeness check, the `moov`
/// reader over a file, the in-memory `moov` finder and the image sniffing.
pub fn media_file(data: &[u8]) {
    let len = data.len() as u64;
    let complete = isobmff::is_complete_in(&mut Cursor::new(data), len).unwrap_or(false);
    if complete {
        // A complete file's boxes tile it, and one of them is a moov.
        assert!(isobmff::read_moov_in(&mut Cursor::new(data), len).is_ok());
    }
    if let Ok(m) = isobmff::read_moov_in(&mut Cursor::new(data), len) {
        assert!(m.len() <= data.len());
    }
    if let Some(m) = isobmff::moov_in(data) {
        assert!(m.len() <= data.len());
        let _ = isobmff::traks(m);
    }
    let kind = image::sniff_bytes(data);
    if kind == Some("webp_pipe") {
        assert!(data.len() >= 12 && &data[..4] == b"RIFF");
    }
}

/// The NVR's VOD playlists (both URL forms), with the range trim the HLS
/// source applies.
pub fn playlist(data: &[u8]) {
    use crate::source::hls::playlist::{self, Parsed};
    let Ok(base) =
        reqwest::Url::parse("http://127.0.0.1:5000/vod/cam/start/100/end/200/index.m3u8")
    else {
        return;
    };
    match playlist::parse(data, &base) {
        Ok(Parsed::Master(u)) => assert!(matches!(u.scheme(), "http" | "https")),
        Ok(Parsed::Media(mut p)) => {
            for g in &p.groups {
                assert!(!g.fragments.is_empty());
                assert!(matches!(g.init.scheme(), "http" | "https"));
                for f in &g.fragments {
                    assert!(matches!(f.url.scheme(), "http" | "https"));
                    assert!(f.duration_s.is_finite() && f.duration_s >= 0.0);
                    let _ = playlist::url_range(&f.url);
                }
            }
            assert!(p.duration_s().is_finite());
            let n = p.fragment_count();
            if p.has_wall_times() {
                let first = p.groups[0].fragments[0].wall_start_s.unwrap_or(0.0);
                if p.trim_to(first + 1.0, first + 25.0).is_ok() {
                    assert!(p.fragment_count() <= n);
                    assert!(p.groups.iter().all(|g| !g.fragments.is_empty()));
                }
            }
        }
        Err(why) => assert!(!why.is_empty()),
    }
}

/// The transcode argument allowlist: user "ffmpeg args" (input and output
/// halves split at the first byte 0).
pub fn ffmpeg_args(data: &[u8]) {
    use crate::transcode::args;
    let text = String::from_utf8_lossy(data);
    let (input, output) = text.split_once('\0').unwrap_or(("", &text));
    if let Ok(o) = args::parse(input, output) {
        let graph = o.video_graph();
        for bad in [
            "movie", "amovie", "[", "]", "..", "://", ";", "file", "tee", "\0",
        ] {
            assert!(!graph.contains(bad), "{text:?} -> {graph:?}");
        }
        assert!(o.time_factor().is_finite() && o.time_factor() > 0.0);
        if let Some(c) = &o.video_codec {
            assert!(c
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
        // What was accepted parses again to the same graph.
        if let Ok(g) = args::parse_graph(&graph) {
            let _ = g;
        }
    }
}

/// Catalogue rows as the NVR (or a bug in it, or someone with write access
/// to its database) may have stored them: any SQLite type in any column of
/// `recordings`, `previews`, `reviewsegment` and `export`, read by the
/// catalogue's own queries; review data made into chapter titles; export ids
/// checked as file names.
pub fn catalogue(data: &[u8]) {
    // One catalogue a thread, each input's rows inside a savepoint rolled
    // back after it (making the schema each time ran ~120 inputs a second).
    thread_local! {
        static CATALOGUE: Option<crate::catalogue::Catalogue> =
            crate::catalogue::Catalogue::in_memory().ok();
    }
    CATALOGUE.with(|cat| {
        let Some(cat) = cat else { return };
        if cat.raw_execute("SAVEPOINT fuzz", &[]).is_err() {
            return;
        }
        catalogue_rows(cat, data);
        let _ = cat.raw_execute("ROLLBACK TO fuzz", &[]);
        let _ = cat.raw_execute("RELEASE fuzz", &[]);
    })
}

fn catalogue_rows(cat: &crate::catalogue::Catalogue, data: &[u8]) {
    let mut r = Reader(data);
    let mut rows = 0;
    while !r.0.is_empty() && rows < 64 {
        rows += 1;
        let table = r.u8() % 4;
        // Each column's usual kind: t text, c the camera, n a number, i a flag.
        let (sql, kinds): (&str, &[u8]) = match table {
            0 => ("INSERT OR IGNORE INTO recordings (id, camera, path, start_time, end_time, \
                   duration, segment_size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)", b"tctnnn"),
            1 => ("INSERT OR IGNORE INTO previews (id, camera, path, start_time, end_time, \
                   duration) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", b"tctnnn"),
            2 => ("INSERT OR IGNORE INTO reviewsegment (id, camera, start_time, end_time, \
                   severity, data, thumb_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, '')", b"tcnntt"),
            _ => ("INSERT OR IGNORE INTO export (id, camera, name, date, video_path, \
                   thumb_path, in_progress, export_case_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  b"tctnttit"),
        };
        let values: Vec<rusqlite::types::Value> = kinds.iter().map(|&k| r.value(k)).collect();
        let _ = cat.raw_execute(sql, &values);
    }
    for camera in ["cam", ""] {
        if let Ok((good, bad)) = cat.recordings_overlapping(camera, 0.0, 1e6) {
            for rec in &good {
                assert!(!rec.path.as_os_str().is_empty());
                assert_eq!(rec.camera, camera);
            }
            for s in &bad {
                assert!(!s.reason.is_empty());
            }
        }
        let _ = cat.previews_overlapping(camera, 0.0, 1e6);
        if let Ok(reviews) = cat.reviews_overlapping(camera, 0.0, 1e6) {
            for rv in &reviews {
                let title = crate::plan::chapters::review_title(&rv.severity, &rv.data);
                assert!(
                    !title.contains('\0') || rv.severity.contains('\0') || rv.data.contains('\0')
                );
            }
        }
        let _ = cat.nearest_recordings(camera, 10.0, 20.0);
    }
    let _ = cat.cameras();
    let _ = cat.known_cameras();
    let _ = cat.export_video_paths();
    if let Ok(rows) = cat.exports_in_progress() {
        for row in rows {
            let id = match row {
                Ok(row) => {
                    assert!(row.in_progress);
                    let _ = cat.export(&row.id);
                    row.id
                }
                Err((id, why)) => {
                    assert!(!why.is_empty());
                    id
                }
            };
            if crate::output::validate_component("export id", &id).is_ok() {
                assert!(!id.is_empty() && !id.contains('/') && id != "." && id != "..");
                assert!(!id.contains('\0'));
            }
        }
    }
}

/// Reads fixed-size fields from the fuzzer's bytes (zeros past the end).
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn i16(&mut self) -> i16 {
        i16::from_le_bytes(self.take())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take())
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = (self.u8() as usize).min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a.to_vec()
    }
    /// One SQLite value of any type; most often of the `kind` the NVR
    /// stores in that column, so that the queries' conditions are reached.
    fn value(&mut self, kind: u8) -> rusqlite::types::Value {
        use rusqlite::types::Value;
        match self.u8() % 8 {
            0 => Value::Null,
            1 => Value::Integer(self.i64()),
            2 => Value::Real(f64::from_bits(self.i64() as u64)),
            3 => Value::Blob(self.bytes()),
            4 => Value::Text(String::from_utf8_lossy(&self.bytes()).into_owned()),
            _ => match kind {
                b'c' => Value::Text("cam".into()),
                b'n' => Value::Real(self.u16() as f64),
                b'i' => Value::Integer(1),
                _ => Value::Text(String::from_utf8_lossy(&self.bytes()).into_owned()),
            },
        }
    }
}
