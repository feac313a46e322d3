//! Extent sharing: exports on XFS (reflink) and btrfs loop filesystems made
//! by the test itself (root only; skipped, saying so, elsewhere). The
//! output has the same packets as on an ordinary filesystem, almost none of
//! its bytes are newly allocated, and it survives deleting the recordings.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use nvr_export::sample::{self, SampleStore, SegmentPlan, SegmentSpec};

/// A loop filesystem mounted under a temporary folder, unmounted on drop.
struct LoopFs {
    _dir: tempfile::TempDir,
    mount: PathBuf,
}

impl LoopFs {
    fn make(kind: &str) -> Result<LoopFs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let img = dir.path().join("fs.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).map_err(|e| e.to_string())?;
        let run = |c: &mut Command| -> Result<(), String> {
            let out = c.output().map_err(|e| format!("{c:?}: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{c:?}: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        run(Command::new("truncate").args(["-s", "600M"]).arg(&img))?;
        match kind {
            "xfs" => run(Command::new("mkfs.xfs")
                .args(["-q", "-m", "reflink=1"])
                .arg(&img))?,
            "xfs-noreflink" => run(Command::new("mkfs.xfs")
                .args(["-q", "-m", "reflink=0"])
                .arg(&img))?,
            _ => run(Command::new("mkfs.btrfs").arg("-q").arg(&img))?,
        }
        run(Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mount))?;
        Ok(LoopFs { _dir: dir, mount })
    }
}

impl LoopFs {
    /// [`LoopFs::make`], or `None` after saying why the test skips it.
    fn make_or_skip(kind: &str) -> Option<LoopFs> {
        LoopFs::make(kind)
            .map_err(|why| eprintln!("SKIPPED {kind}: {why}"))
            .ok()
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

/// Bytes of `path` in extents not shared with another file (FIEMAP, via filefrag).
fn unshared_bytes(path: &Path) -> u64 {
    let out = Command::new("filefrag")
        .args(["-v", "-b4096"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            l.trim_start()
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_digit())
        })
        .filter(|l| !l.contains("shared"))
        .filter_map(|l| {
            // "   0:        0..     538:     123..    661:    539:  ..."
            let cols: Vec<&str> = l.split(':').collect();
            cols.get(3)?.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum::<u64>()
        * 4096
}

fn store_in(root: &Path) -> SampleStore {
    // Camera-like bit rates, so that a clip is many blocks long.
    let spec = |seed| SegmentSpec {
        bitrate: 4_000_000,
        noise: 40,
        seed,
        ..SegmentSpec::small(3.0)
    };
    let plans: Vec<SegmentPlan> = (0..4)
        .map(|i| SegmentPlan {
            spec: spec(i),
            gap_before_s: 0.0,
        })
        .collect();
    sample::build_store(root, "front_door", T0, &plans).unwrap()
}

#[test]
fn exports_share_extents_on_xfs_and_btrfs() {
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = store_in(plain_dir.path());
    let reference = export(&plain, &request(&plain, plain.start_s(), plain.end_s())).unwrap();
    assert_eq!(reference.stats.shared_bytes, 0, "no sharing off XFS/btrfs");
    for kind in ["xfs", "btrfs"] {
        let Some(fs) = LoopFs::make_or_skip(kind) else {
            continue;
        };
        let s = store_in(&fs.mount.join("store"));
        let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
        let size = std::fs::metadata(&o.video_path).unwrap().len();
        eprintln!(
            "{kind}: {size} bytes, {} shared, {} copied; unshared extents {} bytes",
            o.stats.shared_bytes,
            o.stats.copied_bytes,
            unshared_bytes(&o.video_path)
        );
        assert_eq!(
            packets(&o.video_path),
            packets(&reference.video_path),
            "{kind}"
        );
        assert!(
            o.stats.shared_bytes * 10 > size * 9,
            "{kind}: {:?}",
            o.stats
        );
        assert!(
            unshared_bytes(&o.video_path) * 50 < size,
            "{kind}: more than 2 % newly allocated"
        );
        // Retention deletes the recordings: the export stands alone.
        std::fs::remove_dir_all(s.media_dir.join("recordings")).unwrap();
        assert_eq!(decode_errors(&o.video_path), "", "{kind}");
        assert_moov_first(&o.video_path);
    }
}

/// XFS made without reflink (older installs) has the type of a sharing
/// filesystem but shares nothing: the trial clone says so, and the export
/// is laid out exactly as on any filesystem (the same bytes, no padding),
/// reporting every byte as copied.
#[test]
fn xfs_without_reflink_is_written_as_anywhere_else() {
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = store_in(plain_dir.path());
    let reference = export(&plain, &request(&plain, plain.start_s(), plain.end_s())).unwrap();
    let Some(fs) = LoopFs::make_or_skip("xfs-noreflink") else {
        return;
    };
    let s = store_in(&fs.mount.join("store"));
    let o = export(&s, &request(&s, s.start_s(), s.end_s())).unwrap();
    assert_eq!(o.stats.shared_bytes, 0, "{:?}", o.stats);
    assert!(o.stats.copied_bytes > 0, "{:?}", o.stats);
    let (a, b) = (
        std::fs::read(&o.video_path).unwrap(),
        std::fs::read(&reference.video_path).unwrap(),
    );
    assert_eq!(a.len(), b.len(), "padded: not the ordinary layout");
    assert!(a == b, "the bytes differ from the ordinary layout");
}
