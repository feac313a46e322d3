//! Who owns an export, across processes.
//!
//! An export owns its id through a lock file in the export folder,
//! `.<id>.lock`, held with an exclusive `flock` from before its catalogue
//! row is inserted until the row is final (marked done or deleted). The
//! kernel drops the lock when the process dies however it dies (`SIGKILL`
//! included), so "the lock file exists and nobody holds it" means "its
//! export died": that is the only thing recovery acts on. A live export is
//! never taken for a dead one, whichever process runs it.
//!
//! The file holds an [`OwnerRecord`] (JSON): the process and the request,
//! so recovery can say what it cleaned and re-queue the export if asked.
//!
//! Lock files are removed only while locked, and a lock is trusted only if
//! the path still names the locked inode afterwards (otherwise someone
//! removed it in between and the lock is on a dead file): the usual
//! lock-file discipline that keeps two claimants from both winning.
//!
//! Partial files of an export are named `.<id>.<random>.part`
//! ([`part_owner`] parses them back), so they too are tied to their owner.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::request::ExportRequest;
use crate::error::{Error, Result};
use crate::output;

/// How long [`ExportOwner::acquire`] waits for an id that is briefly held
/// (by a recovery looking at it) before calling it taken.
const ACQUIRE_WAIT: Duration = Duration::from_secs(2);

/// Turns of [`Locked::try_take`] before a lock file that keeps changing
/// is an error.
const TAKE_ATTEMPTS: usize = 100;

/// Opens (or with `create`, creates exclusively) the lock file `path`, in
/// its folder's handle: never through a symlink (`O_NOFOLLOW`; a planted
/// link is refused, its target never touched), never blocking (a FIFO),
/// only a regular file.
fn open_lock(path: &Path, create: bool) -> io::Result<File> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a lock file path",
        ));
    };
    let dir = File::open(dir)?;
    let file = match output::open_in(&dir, Path::new(name), create) {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symlink: lock files are never followed (remove it)",
                    path.display()
                ),
            ))
        }
        other => other?,
    };
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} is not a regular file: not a lock file (remove it)",
                path.display()
            ),
        ));
    }
    Ok(file)
}

/// What a lock file says about its export.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OwnerRecord {
    pub pid: u32,
    /// Unix seconds when the export started.
    pub started_s: f64,
    pub request: ExportRequest,
}

/// The lock file of export `id` in `dir`.
pub fn lock_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!(".{id}.lock"))
}

/// The export id a partial file `.<id>.<random>.part` belongs to.
pub fn part_owner(file_name: &str) -> Option<&str> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".part")?;
    let (id, random) = inner.rsplit_once('.')?;
    (!id.is_empty() && !random.is_empty() && !id.contains('.')).then_some(id)
}

/// The partial file (`.<id>.<random>.part`) a dead export of `id` left in
/// `dir` with a resume journal beside it (`<partial>.resume`), by name; the
/// newest name when there are several.
pub fn resumable_part(dir: &Path, id: &str) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| part_owner(n) == Some(id))
        .filter(|n| dir.join(format!("{n}.resume")).is_file())
        .max()
}

/// The id of a lock file name `.<id>.lock`.
pub fn lock_owner(file_name: &str) -> Option<&str> {
    let id = file_name.strip_prefix('.')?.strip_suffix(".lock")?;
    (!id.is_empty() && !id.contains('.')).then_some(id)
}

/// A held lock file (see the module docs).
#[derive(Debug)]
pub struct Locked {
    file: File,
    path: PathBuf,
    /// The folder, held open: removal goes through it, so the lock file
    /// goes even if the folder was renamed meanwhile.
    dir: Option<File>,
    /// The file was there before we opened it.
    pub existed: bool,
}

impl Locked {
    /// Takes the lock of `path` if nobody holds it: `Ok(None)` when a live
    /// process does. With `create`, a missing file is created (and locked).
    fn try_take(path: &Path, create: bool) -> io::Result<Option<Locked>> {
        // Bounded: each turn follows a change made by another process
        // (created, removed, replaced) in between; a name that keeps
        // changing is an error, not a spin.
        for _ in 0..TAKE_ATTEMPTS {
            let (file, existed) = match open_lock(path, false) {
                Ok(f) => (f, true),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    match open_lock(path, true) {
                        Ok(f) => (f, false),
                        // Someone created it in between: open theirs.
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            match output::lock_exclusive(&file) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => return Ok(None),
                Err(e) => return Err(e),
            }
            // Still the file at `path`? If it was removed (by its owner,
            // finishing) in between, our lock is on a dead inode: retry.
            let ours = file.metadata()?;
            match std::fs::symlink_metadata(path) {
                Ok(now) if now.ino() == ours.ino() && now.dev() == ours.dev() => {
                    return Ok(Some(Locked {
                        file,
                        path: path.to_path_buf(),
                        dir: path.parent().and_then(|d| File::open(d).ok()),
                        existed,
                    }))
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if create {
                        continue;
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!(
            "{}: the lock file kept changing while it was taken ({TAKE_ATTEMPTS} tries)",
            path.display()
        )))
    }

    /// The record written by the file's owner, if it wrote one.
    pub fn record(&mut self) -> Option<OwnerRecord> {
        let mut text = String::new();
        self.file.read_to_string(&mut text).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_record(&mut self, record: &OwnerRecord) -> io::Result<()> {
        let text = serde_json::to_vec(record).map_err(io::Error::other)?;
        self.file.set_len(0)?;
        self.file.write_all(&text)?;
        self.file.flush()
    }

    /// Removes the lock file (while still holding it), then releases it.
    pub fn remove(self) -> io::Result<()> {
        match (&self.dir, self.path.file_name()) {
            (Some(dir), Some(name)) => output::unlink_in(dir, Path::new(name)),
            _ => std::fs::remove_file(&self.path),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Export `id`'s ownership, held for the export's life.
#[derive(Debug)]
pub struct ExportOwner {
    lock: Option<Locked>,
}

impl ExportOwner {
    /// Takes ownership of export `id` in `dir` (the export folder), writing
    /// `record` into the lock file. Fails with [`Error::InvalidName`] when a
    /// live export holds the id.
    pub fn acquire(dir: &Path, id: &str, record: &OwnerRecord) -> Result<ExportOwner> {
        let path = lock_path(dir, id);
        let deadline = Instant::now() + ACQUIRE_WAIT;
        loop {
            match Locked::try_take(&path, true) {
                Ok(Some(mut lock)) => {
                    lock.write_record(record)
                        .map_err(|e| output::classify_write_error(dir, e))?;
                    return Ok(ExportOwner { lock: Some(lock) });
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) => {
                    return Err(Error::InvalidName {
                        what: "export id",
                        value: id.to_string(),
                        reason: "an export with this id is running (its lock file is held)",
                    })
                }
                Err(e) => return Err(output::classify_write_error(dir, e)),
            }
        }
    }

    /// The export is final (row done or deleted): the lock file goes.
    pub fn finish(mut self) {
        if let Some(lock) = self.lock.take() {
            let _ = lock.remove();
        }
    }

    /// The export ended with its row not final (the catalogue could not be
    /// updated): the lock is released but the file stays, so recovery
    /// finishes the row.
    pub fn abandon(mut self) {
        self.lock = None;
    }
}

impl Drop for ExportOwner {
    /// Dropped without [`ExportOwner::finish`] (a panic unwinding): keep the
    /// lock file for recovery.
    fn drop(&mut self) {
        self.lock = None;
    }
}

/// Tries to claim export `id` for recovery: `Ok(Some)` when no live process
/// owns it (the lock file may not have existed: see [`Locked::existed`]),
/// `Ok(None)` when one does. A claim that created the file should
/// [`Locked::remove`] it when done.
pub fn claim(dir: &Path, id: &str) -> io::Result<Option<Locked>> {
    // Ids come from the catalogue and from file names: only a valid one
    // becomes a path (`/../../x` would lock and remove `x.lock` anywhere).
    output::validate_component("export id", id)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Locked::try_take(&lock_path(dir, id), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> OwnerRecord {
        OwnerRecord {
            pid: std::process::id(),
            started_s: 1.0,
            request: ExportRequest::new("cam", 1_700_000_000.0, 1_700_000_060.0),
        }
    }

    #[test]
    fn names_parse_back() {
        assert_eq!(part_owner(".cam_abc123.x1y2z3.part"), Some("cam_abc123"));
        assert_eq!(part_owner(".cam_abc123.part"), None);
        assert_eq!(part_owner("cam.x.part"), None);
        assert_eq!(part_owner(".a.b.c.part"), None);
        assert_eq!(lock_owner(".cam_abc123.lock"), Some("cam_abc123"));
        assert_eq!(lock_owner(".lock"), None);
    }

    #[test]
    fn a_held_id_cannot_be_claimed_or_acquired_and_a_released_one_can() {
        let dir = tempfile::tempdir().unwrap();
        let owner = ExportOwner::acquire(dir.path(), "cam_1", &record()).unwrap();
        assert!(claim(dir.path(), "cam_1").unwrap().is_none());
        let t = Instant::now();
        let e = ExportOwner::acquire(dir.path(), "cam_1", &record()).unwrap_err();
        assert!(e.to_string().contains("is running"), "{e}");
        assert!(t.elapsed() >= ACQUIRE_WAIT);
        // Abandoned (the process died or the row could not be finished):
        // the file stays, claimable, with its record.
        owner.abandon();
        let mut c = claim(dir.path(), "cam_1").unwrap().expect("claimable");
        assert!(c.existed);
        assert_eq!(c.record().unwrap().request.camera, "cam");
        c.remove().unwrap();
        assert!(!lock_path(dir.path(), "cam_1").exists());
        // Finished: nothing left.
        ExportOwner::acquire(dir.path(), "cam_2", &record())
            .unwrap()
            .finish();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
