//! Exports that prove themselves: `--manifest` / `--sign`, `keygen`,
//! `verify`. The hashes are checked against `sha256sum` (the independent
//! oracle); every kind of tampering the issue names is tried: a flipped byte
//! anywhere in the export, an edited manifest, a replaced or removed source
//! segment, a wrong key; and the HLS and transcode writers write manifests
//! too.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::http::Server;
use common::*;
use nvr_export::sample::hls::{vod_responses, VodForm};
use nvr_export::{
    keygen, verify, CancelToken, EncodeArgs, ErrorKind, ExportRequest, HlsSource, Manifest, Source,
    WriterKind,
};

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn manifest_of(export: &Path) -> Manifest {
    let bytes = std::fs::read(nvr_export::manifest_path(export)).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn keys(dir: &Path) -> (PathBuf, PathBuf) {
    keygen(dir).unwrap()
}

fn flip(path: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, at).unwrap();
    b[0] ^= 0x40;
    f.write_all_at(&b, at).unwrap();
}

#[test]
fn a_signed_manifest_names_every_byte_and_verify_catches_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(&dir.path().join("store"));
    let keydir = dir.path().join("keys");
    std::fs::create_dir(&keydir).unwrap();
    let (secret, public) = keys(&keydir);
    let req = ExportRequest {
        sign_key: Some(secret.clone()),
        ..request(&s, s.start_s(), s.end_s())
    };
    let out = export(&s, &req).unwrap();
    let video = out.video_path.clone();
    assert_eq!(
        out.manifest_path.as_deref(),
        Some(nvr_export::manifest_path(&video).as_path())
    );
    // What the manifest says, against sha256sum and the catalogue.
    let m = manifest_of(&video);
    assert_eq!(m.export.sha256, sha256sum(&video));
    assert_eq!(m.export.size, std::fs::metadata(&video).unwrap().len());
    assert_eq!(m.writer, "fast");
    assert!(m.libav.starts_with("libavformat"), "{}", m.libav);
    let rows: Vec<&str> = s.recordings.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        m.sources.iter().map(|x| x.id.as_str()).collect::<Vec<_>>(),
        rows
    );
    for (src, row) in m.sources.iter().zip(&s.recordings) {
        assert_eq!(src.sha256, sha256sum(&row.path));
        assert_eq!((src.start_s, src.end_s), (row.start_s, row.end_s));
    }
    assert_eq!(m.request["camera"], s.camera.as_str());

    let v = verify(&video, Some(&public)).unwrap();
    assert_eq!(
        (v.exit_code(), v.signature),
        (0, Some(true)),
        "{:?}",
        v.problems
    );

    // A flipped byte anywhere: in the head, in the media, the last byte.
    let len = std::fs::metadata(&video).unwrap().len();
    for at in [40, len / 2, len - 1] {
        flip(&video, at);
        let v = verify(&video, Some(&public)).unwrap();
        assert_eq!(v.exit_code(), 1, "byte {at}: {:?}", v.problems);
        assert!(!v.export_matches);
        flip(&video, at);
    }
    assert_eq!(verify(&video, Some(&public)).unwrap().exit_code(), 0);

    // An edited manifest: the signature no longer holds; without the key
    // the hash it names no longer matches.
    let mpath = nvr_export::manifest_path(&video);
    let original = std::fs::read_to_string(&mpath).unwrap();
    let edited = original.replacen(&m.export.sha256, &"0".repeat(64), 1);
    std::fs::write(&mpath, &edited).unwrap();
    let v = verify(&video, Some(&public)).unwrap();
    assert_eq!((v.exit_code(), v.signature), (1, Some(false)));
    assert_eq!(verify(&video, None).unwrap().exit_code(), 1);
    std::fs::write(&mpath, &original).unwrap();

    // A wrong key.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let (_, wrong) = keys(&other);
    let v = verify(&video, Some(&wrong)).unwrap();
    assert_eq!((v.exit_code(), v.signature), (1, Some(false)));

    // A source segment rewritten, then one removed: the export still holds.
    let first = &s.recordings[0].path;
    flip(first, 100);
    let v = verify(&video, Some(&public)).unwrap();
    assert_eq!(v.exit_code(), 3, "{:?}", v.problems);
    assert!(v.export_matches);
    assert_eq!(v.sources[0].state, "changed");
    std::fs::remove_file(&s.recordings[2].path).unwrap();
    let v = verify(&video, None).unwrap();
    assert_eq!(v.exit_code(), 3);
    assert_eq!(
        v.sources.iter().map(|x| x.state).collect::<Vec<_>>(),
        ["changed", "same", "gone"]
    );

    // The CLI says the same with its exit codes.
    let cli = |key: &Path| {
        Command::new(env!("CARGO_BIN_EXE_nvr-export"))
            .args(["verify"])
            .arg(&video)
            .arg("--key")
            .arg(key)
            .output()
            .unwrap()
    };
    let o = cli(&public);
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 changed, 1 gone"));
    assert_eq!(cli(&wrong).status.code(), Some(1));
}

#[test]
fn the_hls_and_transcode_writers_write_manifests_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(&dir.path().join("store"));
    let server = Server::start();
    let prefix = format!("/vod/{}/start/{}/end/{}/", s.camera, s.start_s(), s.end_s());
    server.serve(&prefix, &vod_responses(&s, VodForm::VodClip).unwrap());
    let hls = ExportRequest {
        manifest: true,
        source: Source::Hls(HlsSource {
            url: Some(server.url(&format!("{prefix}index.m3u8"))),
            ..Default::default()
        }),
        ..request(&s, s.start_s(), s.end_s())
    };
    let timelapse = ExportRequest {
        manifest: true,
        encode: Some(EncodeArgs::timelapse()),
        ..request(&s, s.start_s(), s.end_s())
    };
    for (req, writer) in [(hls, WriterKind::Hls), (timelapse, WriterKind::Transcode)] {
        let out = export(&s, &req).unwrap();
        assert_eq!(out.stats.writer, writer);
        let m = manifest_of(&out.video_path);
        assert_eq!(m.export.sha256, sha256sum(&out.video_path), "{writer:?}");
        assert_eq!(m.writer, writer.as_str());
        assert_eq!(m.sources.len(), s.recordings.len(), "{writer:?}");
        assert_eq!(verify(&out.video_path, None).unwrap().exit_code(), 0);
    }
}

#[test]
fn a_key_that_cannot_sign_fails_first_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = two_then_gap_then_one(&dir.path().join("store"));
    let bad = dir.path().join("not-a-key");
    std::fs::write(&bad, "hello\n").unwrap();
    let req = ExportRequest {
        sign_key: Some(bad),
        ..request(&s, s.start_s(), s.end_s())
    };
    let e = exporter(&s)
        .export(&req, &CancelToken::new(), |_| {})
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Manifest, "{e}");
    assert!(e.to_string().contains("keygen"), "{e}");
    assert_nothing_left(&s);
    // keygen never replaces a key.
    let keydir = dir.path().join("k");
    std::fs::create_dir(&keydir).unwrap();
    keys(&keydir);
    assert_eq!(keygen(&keydir).unwrap_err().kind(), ErrorKind::Manifest);
}
