//! The output file's whole life, in one place.
//!
//! An export is written to a hidden temporary name in the export folder
//! (`.<export id>.<6 random>.part`, tied to its owner: see `export::owner`), locked with an advisory `flock` while it is
//! written. [`StagedFile::commit`] fsyncs it, renames it to its final name
//! and fsyncs the folder; dropping a [`StagedFile`] that was not committed
//! (error, cancellation, panic unwinding) removes it. The only other removal
//! of an export file is the export job's, of a file it has just committed
//! when its catalogue row cannot be marked done.
//!
//! Also here: the export's file name and the checks that keep user-supplied
//! names inside the export folder.

pub mod confine;
#[allow(unsafe_code)]
mod sys;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::timefmt::Zone;

pub use sys::{available_bytes, extent_sharing_block, mkfifo};

pub(crate) use sys::{
    clone_range, copy_file_range, in_page_cache, lock_exclusive, open_in, start_writeback,
    unlink_in, will_need,
};

/// Space kept free beyond the estimated output size (16 MiB).
pub const FREE_SPACE_MARGIN_BYTES: u64 = 16 << 20;

/// A file being written under a temporary name.
#[derive(Debug)]
pub struct StagedFile {
    temp: PathBuf,
    target: PathBuf,
    lock: Option<File>,
    /// The export folder itself, held open: cleanup removes the temporary
    /// file relative to it, so it goes even if the folder was renamed or
    /// moved while the export ran.
    dir: Option<File>,
}

impl StagedFile {
    /// Creates `.<owner>.<random>.part` beside `target`, locked (`owner`
    /// is the export id, without dots). Fails with
    /// [`Error::UnwritableExportDir`] or [`Error::DiskFull`].
    pub fn create(target: &Path, owner: &str) -> Result<StagedFile> {
        let dir = target.parent().unwrap_or(Path::new("."));
        // Unique per export: two exports that want the same final name (or a
        // retry after a crash left a temporary file) never share one.
        let name = format!(".{owner}.{}.part", random_suffix());
        let temp = dir.join(&name);
        // Created in the folder's handle, exclusively and never through a
        // symlink: nothing planted under the name is followed.
        let handle = File::open(dir).map_err(|e| classify_write_error(dir, e))?;
        let file = sys::open_in(&handle, Path::new(&name), true)
            .map_err(|e| classify_write_error(dir, e))?;
        sys::lock_exclusive(&file).map_err(|e| Error::io(&temp, e))?;
        Ok(StagedFile {
            temp,
            target: target.to_path_buf(),
            lock: Some(file),
            dir: Some(handle),
        })
    }

    /// Takes over the temporary file `name` (in `target`'s folder) a dead
    /// export of `owner` left: opened without following a symlink, locked.
    /// Its bytes are kept (the writer decides what of them it resumes).
    pub fn adopt(target: &Path, name: &str) -> Result<StagedFile> {
        let dir = target.parent().unwrap_or(Path::new("."));
        let temp = dir.join(name);
        let handle = File::open(dir).map_err(|e| classify_write_error(dir, e))?;
        let file = sys::open_in(&handle, Path::new(name), false)
            .map_err(|e| classify_write_error(dir, e))?;
        if !file.metadata().map(|m| m.is_file()).unwrap_or(false) {
            return Err(Error::io(
                &temp,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        sys::lock_exclusive(&file).map_err(|e| Error::io(&temp, e))?;
        Ok(StagedFile {
            temp,
            target: target.to_path_buf(),
            lock: Some(file),
            dir: Some(handle),
        })
    }

    /// Where the bytes go while the export runs.
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Makes the file durable and gives it its final name.
    pub fn commit(mut self) -> Result<PathBuf> {
        let dir = self.target.parent().unwrap_or(Path::new(".")).to_path_buf();
        File::open(&self.temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| classify_write_error(&dir, e))?;
        // Never replace: another export may have taken the name since the
        // "already exists" check (same camera, range and id suffix).
        sys::rename_no_replace(&self.temp, &self.target).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::InvalidName {
                    what: "export file",
                    value: self.target.display().to_string(),
                    reason:
                        "was created by another export while this one ran; nothing was replaced",
                }
            } else {
                Error::io(&self.target, e)
            }
        })?;
        // Durability of the rename itself; failure here is not data loss.
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        self.lock = None;
        Ok(self.target.clone())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if self.lock.take().is_some() {
            let by_dir = match (&self.dir, self.temp.file_name()) {
                (Some(d), Some(name)) => sys::unlink_in(d, Path::new(name)).is_ok(),
                _ => false,
            };
            if !by_dir {
                let _ = fs::remove_file(&self.temp);
            }
        }
    }
}

/// SHA-256 of bytes `[start, end)` of `file`, as hex, read in 1 MiB
/// pieces at explicit offsets (the file's position is left alone): an
/// export's manifest and the resume journal's checks.
pub fn sha256(file: &File, start: u64, end: u64) -> io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::os::unix::fs::FileExt;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; (end.saturating_sub(start) as usize).min(1 << 20)];
    let mut at = start;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hex(&h.finalize()))
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether an OS error number means the filesystem (or quota) is full.
pub fn is_disk_full(errno: i32) -> bool {
    errno == libc::ENOSPC || errno == libc::EDQUOT
}

/// [`Error::DiskFull`] for the folder holding the file `path`, with its free space now.
pub fn disk_full_at(path: &Path) -> Error {
    disk_full_in(path.parent().unwrap_or(Path::new(".")))
}

/// [`Error::DiskFull`] for `dir`, with its free space now.
pub fn disk_full_in(dir: &Path) -> Error {
    Error::DiskFull {
        path: dir.to_path_buf(),
        needed_bytes: 0,
        available_bytes: available_bytes(dir).unwrap_or(0),
    }
}

/// ENOSPC/EDQUOT become [`Error::DiskFull`]; anything else an unwritable folder.
pub fn classify_write_error(dir: &Path, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(n) if is_disk_full(n) => disk_full_in(dir),
        _ => Error::UnwritableExportDir {
            path: dir.to_path_buf(),
            source: e,
        },
    }
}

/// Fails with [`Error::DiskFull`] unless `dir` has `needed` bytes plus the margin free.
pub fn ensure_space(dir: &Path, needed: u64) -> Result<()> {
    let available = available_bytes(dir).map_err(|e| Error::UnwritableExportDir {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let needed = needed.saturating_add(FREE_SPACE_MARGIN_BYTES);
    if available < needed {
        return Err(Error::DiskFull {
            path: dir.to_path_buf(),
            needed_bytes: needed,
            available_bytes: available,
        });
    }
    Ok(())
}

/// Makes sure the export folder exists and is writable.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    let not_a_folder = |what: &str| Error::UnwritableExportDir {
        path: dir.to_path_buf(),
        source: io::Error::other(what.to_string()),
    };
    match fs::metadata(dir) {
        Ok(m) if !m.is_dir() => return Err(not_a_folder("it exists but is not a folder")),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(not_a_folder("it is a loop of symbolic links"))
        }
        // A symlink whose target is missing (not a folder another export
        // created between the two calls: that one is fine).
        Err(_)
            if fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink())
                && fs::metadata(dir).is_err() =>
        {
            return Err(not_a_folder(
                "it is a symbolic link to something that does not exist",
            ))
        }
        _ => {}
    }
    fs::create_dir_all(dir).map_err(|e| classify_write_error(dir, e))?;
    let meta = fs::metadata(dir).map_err(|e| classify_write_error(dir, e))?;
    if !meta.is_dir() {
        return Err(Error::UnwritableExportDir {
            path: dir.to_path_buf(),
            source: io::Error::other("not a directory"),
        });
    }
    Ok(())
}

/// `<camera>_<YYYYmmdd_HHMMSS>-<YYYYmmdd_HHMMSS>_<suffix>.mp4`, where the
/// suffix is the export id after its last `_` (the NVR's layout).
pub fn export_file_name(
    camera: &str,
    start_s: f64,
    end_s: f64,
    export_id: &str,
    zone: Zone,
) -> String {
    let f = "%Y%m%d_%H%M%S";
    // The id after its last '_' (the NVR's rule); an id ending in '_' keeps
    // all of it, so that `abc_` and `_` do not share one name.
    let suffix = match export_id.rsplit('_').next() {
        Some(s) if !s.is_empty() => s,
        _ => export_id,
    };
    format!(
        "{camera}_{}-{}_{suffix}.mp4",
        zone.format(start_s, f),
        zone.format(end_s, f)
    )
}

/// Longest export id: the catalogue's `export.id` is a 30-character field.
pub const MAX_ID_CHARS: usize = 30;

/// An export id fits the catalogue's column (at most [`MAX_ID_CHARS`]).
pub fn validate_id_length(id: &str) -> Result<()> {
    if id.chars().count() > MAX_ID_CHARS {
        return Err(Error::InvalidName {
            what: "export id",
            value: id.to_string(),
            reason: "must be at most 30 characters (the catalogue's export id field)",
        });
    }
    Ok(())
}

/// Camera names and export ids become path components: only
/// `[A-Za-z0-9_-]`, 1 to 100 characters (the NVR's camera-name rule).
pub fn validate_component(what: &'static str, value: &str) -> Result<()> {
    let bad = |reason| Error::InvalidName {
        what,
        value: value.to_string(),
        reason,
    };
    if value.is_empty() {
        return Err(bad("must not be empty"));
    }
    if value.len() > 100 {
        return Err(bad("must be at most 100 characters"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(bad(
            "may only contain letters, digits, '_' and '-' (it becomes part of a file path)",
        ));
    }
    Ok(())
}

/// The display name is stored in the catalogue and shown by the NVR; it
/// must not look like a path or carry control characters.
pub fn validate_display_name(name: &str) -> Result<()> {
    let bad = |reason| Error::InvalidName {
        what: "export name",
        value: name.to_string(),
        reason,
    };
    if name.trim().is_empty() {
        return Err(bad("must not be empty"));
    }
    if name.trim() != name {
        return Err(bad("must not begin or end with spaces"));
    }
    if name.chars().count() > 100 {
        return Err(bad("must be at most 100 characters"));
    }
    if name.contains('/') || name.contains('\\') || name.contains("..") {
        return Err(bad("must not contain '/', '\\' or '..'"));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(bad("must not contain control characters"));
    }
    // Bidirectional overrides and isolates make a name display as something
    // else than it is (U+202A-202E, U+2066-2069).
    if name
        .chars()
        .any(|c| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(bad("must not contain bidirectional override characters"));
    }
    Ok(())
}

/// Six random `[a-z0-9]`, as the NVR's ids.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_file_is_removed_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.mp4");
        let s = StagedFile::create(&target, "t").unwrap();
        let temp = s.temp_path().to_path_buf();
        fs::write(&temp, b"x").unwrap();
        drop(s);
        assert!(!temp.exists() && !target.exists());

        let s = StagedFile::create(&target, "t").unwrap();
        fs::write(s.temp_path(), b"y").unwrap();
        let done = s.commit().unwrap();
        assert_eq!(fs::read(done).unwrap(), b"y");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn names() {
        assert_eq!(
            export_file_name("front_door", 0.0, 60.0, "front_door_ab12cd", Zone::Utc),
            "front_door_19700101_000000-19700101_000100_ab12cd.mp4"
        );
        assert!(validate_component("camera", "../etc").is_err());
        assert!(validate_component("camera", "front-door_2").is_ok());
        assert!(validate_display_name("a/b").is_err());
        assert!(validate_display_name("Front door, morning").is_ok());
        assert!(validate_display_name(" Front door").is_err());
        assert!(validate_display_name("Front door\u{202e}gpj.exe").is_err());
        // Ids ending in '_' keep all of it: no two share a name.
        let n = |id| export_file_name("c", 0.0, 60.0, id, Zone::Utc);
        assert_eq!(n("abc_"), "c_19700101_000000-19700101_000100_abc_.mp4");
        assert_ne!(n("abc_"), n("xyz_"));
        assert_ne!(n("_"), n("__"));
    }

    #[test]
    fn commit_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.mp4");
        let first = StagedFile::create(&target, "t").unwrap();
        let second = StagedFile::create(&target, "t").unwrap();
        fs::write(first.temp_path(), b"first").unwrap();
        fs::write(second.temp_path(), b"second").unwrap();
        first.commit().unwrap();
        let e = second.commit().unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidName, "{e}");
        assert_eq!(fs::read(&target).unwrap(), b"first");
        // The loser's temporary file is gone too.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
