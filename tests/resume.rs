//! Exports that resume: the CLI killed (`SIGKILL`) part-way through an
//! index-driven export, then `recover`: the export is finished from where
//! it durably was, its file has the packets an uninterrupted export has,
//! and the bytes kept are reported, from the plan the dead run saved. A
//! saved plan whose inputs changed, or that names a file outside the media
//! folders, is not taken: the export plans again (and keeps what its own
//! plan vouches for). A partial file whose head no longer holds is started
//! over, and the report says why.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use nvr_export::sample::SampleStore;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nvr-export"))
}

/// Starts a paced export and kills it when its copy reaches `percent`.
fn kill_at(s: &SampleStore, percent: f64) {
    kill_at_with(s, percent, &[]);
}

/// [`kill_at`], the export given `extra` arguments.
fn kill_at_with(s: &SampleStore, percent: f64, extra: &[&str]) {
    let mut child = bin()
        .arg("export")
        .arg("--db")
        .arg(&s.db_path)
        .arg("--media-dir")
        .arg(&s.media_dir)
        .args(["--camera", &s.camera, "--chapters", "none", "--json"])
        .args([
            "--start",
            &s.start_s().to_string(),
            "--end",
            &s.end_s().to_string(),
        ])
        // ~6 s for the store: checkpoints every second.
        .args(["--max-rate", &rate(s).to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    for line in BufReader::new(out).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if v["event"] == "progress"
            && v["step"] == "copying"
            && v["percent"].as_f64() >= Some(percent)
        {
            break;
        }
        assert_ne!(v["event"], "done", "the export finished before {percent} %");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Bytes a second that make the store's export last about 6 s.
fn rate(s: &SampleStore) -> u64 {
    let bytes: u64 = s
        .recordings
        .iter()
        .map(|r| std::fs::metadata(&r.path).unwrap().len())
        .sum();
    (bytes / 6).max(16 << 10)
}

fn recover(s: &SampleStore) -> Value {
    store_command_json(s, "recover")
}

fn partials(s: &SampleStore) -> Vec<String> {
    files_under(&s.media_dir.join("exports"))
        .into_iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn delete_rows(s: &SampleStore) {
    let c = rusqlite::Connection::open(&s.db_path).unwrap();
    c.execute("DELETE FROM export", []).unwrap();
}

fn packets_of(path: &Path) -> (Vec<String>, Vec<String>) {
    (video_packet_hashes(path), audio_packet_hashes(path))
}

/// The packets of the store's export run whole (the export then removed).
fn uninterrupted_packets(s: &SampleStore) -> (Vec<String>, Vec<String>) {
    let reference = export(s, &request(s, s.start_s(), s.end_s())).unwrap();
    let want = packets_of(&reference.video_path);
    std::fs::remove_file(&reference.video_path).unwrap();
    delete_rows(s);
    want
}

#[test]
fn a_killed_export_resumes_from_where_it_was_and_ends_as_if_never_killed() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 10.0, 6);
    let want = uninterrupted_packets(&s);
    for percent in [30.0, 70.0] {
        kill_at(&s, percent);
        assert!(
            partials(&s).iter().any(|n| n.ends_with(".part.resume")),
            "no journal left at {percent} %: {:?}",
            partials(&s)
        );
        let report = recover(&s);
        let resumed = report["resumed"].as_array().unwrap();
        assert_eq!(resumed.len(), 1, "{report}");
        let r = &resumed[0];
        let (kept, total) = (
            r["bytes_kept"].as_u64().unwrap(),
            r["bytes_total"].as_u64().unwrap(),
        );
        assert!(
            kept > 0 && kept < total,
            "{percent} %: kept {kept} of {total}"
        );
        assert!(r["reason"].is_null(), "{r}");
        // From the plan the dead run saved: no header read again.
        assert_eq!(r["from_saved_plan"], true, "{r}");
        let path = Path::new(r["video_path"].as_str().unwrap());
        assert_eq!(
            packets_of(path),
            want,
            "{percent} %: the resumed file's packets differ"
        );
        assert_eq!(decode_errors(path), "");
        assert_moov_first(path);
        assert!(partials(&s).is_empty(), "left: {:?}", partials(&s));
        // The row is the export's, finished.
        let rows = export_rows(&s);
        assert!(
            rows.iter().any(|(_, in_progress)| *in_progress == 0),
            "{rows:?}"
        );
        std::fs::remove_file(path).unwrap();
        delete_rows(&s);
    }
}

#[test]
fn a_partial_file_that_no_longer_holds_is_started_over_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 10.0, 6);
    kill_at(&s, 50.0);
    // The partial file's head is damaged (a disk, another process).
    let part = partials(&s)
        .into_iter()
        .find(|n| n.ends_with(".part"))
        .unwrap();
    let path = s.media_dir.join("exports").join(&part);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[0xff; 64], 200).unwrap();
    }
    let report = recover(&s);
    let r = &report["resumed"][0];
    assert_eq!(r["bytes_kept"], 0, "{report}");
    assert!(
        r["reason"].as_str().unwrap_or("").contains("head"),
        "{report}"
    );
    let reference = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(
        packets_of(Path::new(r["video_path"].as_str().unwrap())),
        packets_of(&reference.video_path)
    );
}

/// The saved plan beside the partial file.
fn plan_file(s: &SampleStore) -> std::path::PathBuf {
    let name = partials(s)
        .into_iter()
        .find(|n| n.ends_with(".part.resume.plan"))
        .expect("a saved plan beside the partial file");
    s.media_dir.join("exports").join(name)
}

#[test]
fn a_saved_plan_is_taken_only_for_the_same_inputs_and_files_inside_the_media_folders() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 10.0, 6);
    let want = uninterrupted_packets(&s);
    let outside = dir.path().join("outside.bin");
    // Each case: what is done to the dead export's leftovers, whether the
    // resume still keeps bytes, and the reason it must give if it cannot.
    type Meddle<'a> = Box<dyn Fn(&SampleStore) + 'a>;
    let cases: Vec<(&str, Meddle, bool, Option<&str>)> = vec![
        (
            "the saved plan removed",
            Box::new(|s| std::fs::remove_file(plan_file(s)).unwrap()),
            true,
            None,
        ),
        (
            "a run pointed at a file outside the media folders",
            Box::new(|s| {
                let outside = &outside;
                let path = plan_file(s);
                let mut plan: Value =
                    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
                let run = &mut plan["runs"][0];
                let len = std::fs::metadata(run["path"].as_str().unwrap())
                    .unwrap()
                    .len();
                std::fs::write(outside, vec![0xAB; len as usize]).unwrap();
                run["path"] = Value::from(outside.to_str().unwrap());
                std::fs::write(&path, serde_json::to_vec(&plan).unwrap()).unwrap();
            }),
            true,
            None,
        ),
        (
            "a source segment rewritten (same bytes, new identity)",
            Box::new(|s| {
                let seg = &s.recordings[0].path;
                let bytes = std::fs::read(seg).unwrap();
                std::fs::remove_file(seg).unwrap();
                std::fs::write(seg, bytes).unwrap();
            }),
            false,
            Some("plan changed"),
        ),
    ];
    for (what, meddle, keeps, reason) in cases {
        kill_at(&s, 50.0);
        meddle(&s);
        let report = recover(&s);
        let r = &report["resumed"][0];
        assert_eq!(r["from_saved_plan"], false, "{what}: {report}");
        let kept = r["bytes_kept"].as_u64().unwrap();
        assert_eq!(kept > 0, keeps, "{what}: {report}");
        match reason {
            Some(why) => assert!(
                r["reason"].as_str().unwrap_or("").contains(why),
                "{what}: {report}"
            ),
            None => assert!(r["reason"].is_null(), "{what}: {report}"),
        }
        let path = Path::new(r["video_path"].as_str().unwrap());
        assert_eq!(packets_of(path), want, "{what}: the packets differ");
        assert!(partials(&s).is_empty(), "{what}: left {:?}", partials(&s));
        std::fs::remove_file(path).unwrap();
        delete_rows(&s);
    }
}

#[test]
fn a_resumed_export_with_a_manifest_describes_its_sources_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let s = back_to_back(&dir.path().join("store"), 10.0, 6);
    kill_at_with(&s, 50.0, &["--manifest"]);
    let report = recover(&s);
    let r = &report["resumed"][0];
    assert_eq!(r["from_saved_plan"], true, "{report}");
    assert!(r["bytes_kept"].as_u64().unwrap() > 0, "{report}");
    let path = Path::new(r["video_path"].as_str().unwrap());
    let v = nvr_export::verify(path, None).unwrap();
    assert_eq!(v.exit_code(), 0, "{v:?}");
    let m: nvr_export::Manifest =
        serde_json::from_slice(&std::fs::read(nvr_export::manifest_path(path)).unwrap()).unwrap();
    let mut named: Vec<_> = m.sources.iter().map(|d| d.path.clone()).collect();
    let mut recorded: Vec<_> = s.recordings.iter().map(|r| r.path.clone()).collect();
    named.sort();
    recorded.sort();
    assert_eq!(named, recorded);
}
