//! Bounded fuzzing of the byte parsers that read untrusted files (segment
//! headers, codec configuration records), run by `make test` for a fixed
//! number of cases from a fixed seed: random mutations (bit flips, byte
//! overwrites, truncations, size fields set to extremes) of a real segment's
//! `moov` and of real `avcC`/`hvcC`/`esds` records, of the NVR's VOD
//! playlists (as captured from its server) and of whole MP4 files read from
//! memory (the HLS source's init segments), each through the entry point
//! the coverage-guided fuzzers use (`crate::fuzzing`, whose checks are the
//! promises: no panic, results within the input, what is packed reads back,
//! nothing unlisted accepted). `NVR_FUZZ_CASES` raises the count for a
//! longer run; `make fuzz` runs the same entry points under libFuzzer.

#[cfg(test)]
mod cases {
    use super::super::isobmff;
    use crate::sample::{self, SegmentSpec, VideoCodec};

    fn cases() -> usize {
        std::env::var("NVR_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3000)
    }

    fn mutate(rng: &mut fastrand::Rng, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..rng.usize(1..8) {
            if v.is_empty() {
                break;
            }
            let at = rng.usize(..v.len());
            match rng.u8(..5) {
                0 => v[at] ^= 1 << rng.u8(..8),
                1 => v[at] = rng.u8(..),
                2 => v.truncate(at),
                3 => {
                    // A box size or count field set to an extreme.
                    let x = [0u8, 1, 7, 8, 0xff][rng.usize(..5)];
                    let end = (at + 4).min(v.len());
                    v[at..end].fill(x);
                }
                _ => {
                    let n = rng.usize(..16);
                    let junk: Vec<u8> = (0..n).map(|_| rng.u8(..)).collect();
                    v.splice(at..at, junk);
                }
            }
        }
        v
    }

    #[test]
    fn parsers_survive_mutated_real_headers() {
        let dir = tempfile::tempdir().unwrap();
        let mut seeds = Vec::new();
        for codec in [VideoCodec::H264, VideoCodec::Hevc] {
            let path = dir.path().join(format!("{codec:?}.mp4"));
            let spec = SegmentSpec {
                codec,
                b_frames: 2,
                ..SegmentSpec::small(1.0)
            };
            sample::write_segment(&path, &spec).unwrap();
            seeds.push(isobmff::read_moov(&path).unwrap());
        }
        let mut rng = fastrand::Rng::with_seed(0x5eed_f022);
        for i in 0..cases() {
            // The coverage-guided target's checks (`crate::fuzzing::moov`):
            // track summaries, sample indexes, codec records, the probe's
            // sample times packed and read back.
            let moov = mutate(&mut rng, &seeds[i % seeds.len()]);
            crate::fuzzing::moov(&moov);
        }
    }

    #[test]
    fn playlists_and_in_memory_inits_survive_mutation() {
        use crate::source::hls::playlist::tests as captured;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.mp4");
        sample::write_segment(&path, &SegmentSpec::small(1.0)).unwrap();
        let file = std::fs::read(&path).unwrap();
        let seeds: Vec<Vec<u8>> = vec![
            captured::FULL.into(),
            captured::CLIP.into(),
            captured::MASTER.into(),
            file[..file.len().min(64 << 10)].to_vec(),
        ];
        let mut rng = fastrand::Rng::with_seed(0x0915_7a11);
        for i in 0..cases() {
            let k = i % seeds.len();
            let bytes = mutate(&mut rng, &seeds[k]);
            // Parsed or refused with a reason, every URL http(s); an init's
            // `moov` within the bytes (`crate::fuzzing`'s checks).
            if k < 3 {
                crate::fuzzing::playlist(&bytes);
            } else {
                crate::fuzzing::media_file(&bytes);
            }
        }
    }

    #[test]
    fn the_argument_validator_never_panics_and_lets_nothing_unlisted_through() {
        const PIECES: &[&str] = &[
            "-vf",
            "-af",
            "-filter",
            "-c:v",
            "-c:a",
            "-crf",
            "-r",
            "-b:v",
            "-preset",
            "-an",
            "-i",
            "-f",
            "-filter_complex",
            "-map",
            "-skip_frame",
            "-g",
            "setpts=0.04*PTS",
            "PTS/25",
            "scale=-2:720",
            "fps=30",
            "movie=x",
            "[in]",
            "..",
            "://",
            ";",
            ",",
            ":",
            "=",
            "/",
            "*",
            "libx264",
            "nokey",
            "30",
            "2M",
            "x",
            "-",
            "--",
            "tee:",
            "file:",
            "%",
            "$",
            "\\",
            "\u{0}",
            "é",
            "  ",
            "hflip",
            "crop=iw/2:ih/2",
            "transpose=9",
            "format=yuv420p",
            "1e999",
            "NaN",
        ];
        let mut rng = fastrand::Rng::with_seed(0xa11_0a11);
        for _ in 0..cases() {
            let n = rng.usize(1..10);
            let mut s = String::new();
            for _ in 0..n {
                s.push_str(PIECES[rng.usize(..PIECES.len())]);
                if rng.bool() {
                    s.push(' ');
                }
            }
            // Nothing unlisted in what is accepted (`crate::fuzzing`'s checks).
            crate::fuzzing::ffmpeg_args(s.as_bytes());
        }
    }
}

/// The coverage-guided fuzzers' findings (`fuzz/regressions/<target>/`,
/// one file per crash found, kept after the fix) and their seed corpora,
/// run through the same entry points (`crate::fuzzing`) by `make test`.
#[cfg(test)]
mod findings {
    use std::path::Path;

    #[test]
    fn coverage_guided_findings_and_seeds_stay_fixed() {
        use crate::fuzzing;
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
        type Entry = fn(&[u8]);
        let targets: [(&str, Entry); 6] = [
            ("moov", fuzzing::moov),
            ("sample_table", fuzzing::sample_table),
            ("media_file", fuzzing::media_file),
            ("playlist", fuzzing::playlist),
            ("ffmpeg_args", fuzzing::ffmpeg_args),
            ("catalogue", fuzzing::catalogue),
        ];
        let mut ran = 0;
        for (name, entry) in targets {
            for dir in ["regressions", "seeds"] {
                let Ok(files) = std::fs::read_dir(root.join(dir).join(name)) else {
                    continue;
                };
                for f in files {
                    let path = f.unwrap().path();
                    let bytes = std::fs::read(&path).unwrap();
                    entry(&bytes);
                    ran += 1;
                }
            }
        }
        assert!(
            ran >= 40,
            "only {ran} inputs found under {}",
            root.display()
        );
    }
}
