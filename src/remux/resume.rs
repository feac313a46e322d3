//! Exports that resume: the index-driven writer's journal.
//!
//! The index-driven writer's output is fully determined by its plan: the
//! same rows, the same segments (by identity) and the same request give the
//! same bytes at the same offsets. So while it writes, it keeps a journal
//! beside its staged file (`<staged>.resume`): the plan's identity, and how
//! far the file is durably written: whether the head is, how many runs (in
//! order), a hash of the whole head and of the last block of the last run
//! written (read back from the file when the checkpoint is taken, after
//! `fdatasync`). A process killed
//! part-way leaves the staged file and the journal; the next export of the
//! same request (recovery runs it) takes the staged file over, and the
//! writer keeps what the journal vouches for if the plan still holds and
//! the blocks still hash the same, writing only the rest. Anything else
//! (another plan, a block that changed, no journal) starts over, and says
//! why. Only this writer resumes: the libav, HLS and transcode writers
//! start over.
//!
//! The plan itself is saved beside too (`<staged>.resume.plan`, see
//! [`SavedPlan`]): the runs (which segment bytes go where), under a key
//! its caller makes from the plan's inputs (the request, the catalogue
//! rows, the segments' identities). A resume whose inputs have the same key
//! takes the runs from it and copies what is missing without reading a
//! segment header or laying the file out again (on an hour, ~15 ms of a
//! ~90 ms resume); any other goes the whole way, and its plan's identity
//! still decides what of the file is kept.
//!
//! Checkpoints are taken every [`CHECKPOINT_BYTES`] of runs (or
//! [`CHECKPOINT_INTERVAL`], for a paced export) and when the head is done;
//! a journal is replaced atomically (written beside, synced, renamed). A
//! writer that ends, well or with an error, removes its journal: one is
//! left only by a process that died.
//!
//! Durable progress trails the copy by what the disk has not written yet
//! (an hour killed at 90 % of its time had 76 % of its bytes synced). But a
//! process that dies does not take its completed writes with it: the page
//! cache keeps them until the machine stops. So a second record,
//! `<staged>.resume.now`, says what was *written* (after every run, no
//! sync), with the kernel's boot id: it is trusted only in the same boot
//! (`/proc/sys/kernel/random/boot_id`), where every write it names is in
//! the file whether or not it reached the disk, and ignored after a reboot
//! or power loss, where only the synced journal counts. Either way the
//! last block it names must still hash the same.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bytes of runs between two checkpoints...
pub const CHECKPOINT_BYTES: u64 = 16 << 20;
/// ...or this long, whichever comes first (a slow, paced export).
pub const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// The block whose hash vouches for a piece: its last bytes.
const BLOCK: u64 = 4096;

/// What a journal says.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Journal {
    /// The plan's identity: the same only for the same bytes at the same offsets.
    pub identity: String,
    /// The file's length when complete.
    pub len: u64,
    pub head_len: u64,
    /// The head is durably written; the hash of its last block.
    pub head: Option<String>,
    /// The first `runs` runs are durably written; the hash of the last
    /// block of the last of them.
    pub runs: usize,
    pub last_run: Option<String>,
}

/// `<staged><suffix>`: a file a writer keeps beside its staged file.
fn side(staged: &Path, suffix: &str) -> PathBuf {
    let mut p = staged.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// `<staged>.resume`.
pub fn journal_path(staged: &Path) -> PathBuf {
    side(staged, ".resume")
}

/// The journal beside `staged`, if there is a readable one (a regular
/// file: a symlink planted under its name is not followed).
pub fn read(staged: &Path) -> Option<Journal> {
    serde_json::from_slice(&read_side(&journal_path(staged))?).ok()
}

/// The bytes of a side file (at most 1 MiB), if it is a regular file (a
/// symlink planted under its name is not followed).
fn read_side(path: &Path) -> Option<Vec<u8>> {
    read_side_max(path, 1 << 20)
}

/// [`read_side`], at most `max` bytes (a longer file is not read).
fn read_side_max(path: &Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    if !std::fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    crate::output::confine::open_regular(path)
        .ok()?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}

/// Writes `j` beside `staged`, atomically and durably.
pub fn write(staged: &Path, j: &Journal) -> std::io::Result<()> {
    let path = journal_path(staged);
    let tmp = side(staged, ".resume.tmp");
    let bytes = serde_json::to_vec(j).map_err(std::io::Error::other)?;
    {
        // The export folder may be writable by others: the temporary name
        // is created exclusively (a file or symlink planted there is
        // removed, never followed) and renamed over the journal (a rename
        // replaces a symlink, it does not write through it).
        let mut f = create_fresh(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_data()?;
    }
    std::fs::rename(&tmp, &path)
}

/// Removes the journal beside `staged` (and a half-written one), and the
/// record of what was written.
pub fn remove(staged: &Path) {
    for suffix in SIDE_FILES {
        let _ = std::fs::remove_file(side(staged, suffix));
    }
}

/// Removes the files beside a staged file ([`remove`]) when dropped.
pub struct SideFiles(PathBuf);

impl SideFiles {
    pub fn of(staged: &Path) -> SideFiles {
        SideFiles(staged.to_path_buf())
    }
}

impl Drop for SideFiles {
    fn drop(&mut self) {
        remove(&self.0);
    }
}

/// The files a writer keeps beside its staged file, by suffix.
pub const SIDE_FILES: [&str; 4] = [".resume", ".resume.tmp", ".resume.now", ".resume.plan"];

/// What a caller saves with the plan: the key of the plan's inputs (the
/// same key, the same plan: the writer is deterministic) and what the
/// caller will want back when it resumes from the saved plan (what it
/// knew of the export before the writer ran: duration, warnings...).
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub key: String,
    pub summary: serde_json::Value,
}

/// `<staged>.resume.plan`: an index-driven export's byte layout, so that a
/// resume of the same inputs copies the rest without planning again.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedPlan {
    /// [`Inputs::key`].
    pub key: String,
    /// The journal's identity for this plan (checked against the runs).
    pub identity: String,
    /// What the head is made from besides the runs (part of `identity`).
    pub head_identity: u64,
    pub data_base: u64,
    pub payload_len: u64,
    /// The head's length with the chapter and timestamp samples after it.
    pub head_end: u64,
    /// The output's duration, in output ticks (progress).
    pub total: i64,
    pub runs: Vec<SavedRun>,
    /// The writer's statistics once the plan was laid out.
    pub stats: super::RemuxStats,
    /// [`Inputs::summary`].
    pub summary: serde_json::Value,
}

/// One run of a [`SavedPlan`]: which bytes of which segment file land
/// where in the payload, and which part of the output's time they are.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedRun {
    pub path: PathBuf,
    pub stamp: crate::source::FileStamp,
    pub start: i64,
    pub len: u64,
    pub payload_at: u64,
    pub align: Option<u64>,
    pub offset: i64,
    pub duration: i64,
}

/// `<staged>.resume.plan`.
fn plan_path(staged: &Path) -> PathBuf {
    side(staged, ".resume.plan")
}

/// The plan saved beside `staged`, if there is a readable one whose key
/// is `key`.
pub fn read_plan(staged: &Path, key: &str) -> Option<SavedPlan> {
    let bytes = read_side_max(&plan_path(staged), PLAN_MAX_BYTES)?;
    let plan: SavedPlan = serde_json::from_slice(&bytes).ok()?;
    (plan.key == key).then_some(plan)
}

/// A saved plan is at most this long (60 hours of 10 s segments take
/// about 5 MB).
const PLAN_MAX_BYTES: u64 = 64 << 20;

/// Writes `plan` beside `staged` (replacing any: created exclusively, a
/// file or symlink planted under its name is removed, never followed).
/// Neither synced nor atomic: a plan is only a shortcut, and one that a
/// power loss tore does not parse and is not used (the resume plans
/// again). Synced, it cost the export a journal commit.
fn write_plan(staged: &Path, plan: &SavedPlan) -> std::io::Result<()> {
    let mut f = create_fresh(&plan_path(staged))?;
    let bytes = serde_json::to_vec(plan).map_err(std::io::Error::other)?;
    f.write_all(&bytes)
}

/// `<staged>.resume.now`: what was written, in this boot.
fn written_path(staged: &Path) -> PathBuf {
    side(staged, ".resume.now")
}

/// This boot's id (`None` where the kernel does not say).
fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// What the record of writes beside `staged` says, if it was made in this
/// boot (see the module doc).
pub fn read_written(staged: &Path) -> Option<Journal> {
    let bytes = read_side(&written_path(staged))?;
    let (boot, j): (String, Journal) = serde_json::from_slice(&bytes).ok()?;
    (Some(boot) == boot_id()).then_some(j)
}

/// Bytes of the record of writes: one `pwrite` at offset 0 replaces it
/// whole (a write the process started is finished by the kernel even if
/// the process is killed, so within one boot the record is never torn),
/// padded with spaces to this fixed length.
const WRITTEN_LEN: usize = 1024;

/// Creates the record of writes beside `staged` (exclusively: whatever was
/// planted under its name is removed, never followed).
fn create_written(staged: &Path) -> std::io::Result<File> {
    create_fresh(&written_path(staged))
}

/// A new file at `path`, for writing: whatever was there (a file, or a
/// symlink planted under the name) is removed, never followed, and the
/// file is created exclusively.
fn create_fresh(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Records `j` as written in `record` (not synced: read only in this boot).
fn write_written(record: &File, boot: &str, j: &Journal) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut bytes = serde_json::to_vec(&(boot, j)).map_err(std::io::Error::other)?;
    if bytes.len() > WRITTEN_LEN {
        return Err(std::io::Error::other("record of writes too long"));
    }
    bytes.resize(WRITTEN_LEN, b' ');
    record.write_all_at(&bytes, 0)
}

/// The hash of bytes `[start, end)` of `file` (the head, whole: an hour's
/// is 2.4 MB, hashed in a few milliseconds).
pub fn hash(file: &File, start: u64, end: u64) -> std::io::Result<String> {
    crate::output::sha256(file, start, end)
}

/// The hash of the block of `file` that ends at `end` (the piece's last
/// `BLOCK` bytes, fewer for a short piece starting at `start`).
pub fn block_hash(file: &File, start: u64, end: u64) -> std::io::Result<String> {
    crate::output::sha256(file, end.saturating_sub(BLOCK).max(start), end)
}

/// A point the writer has reached, for the journal.
#[derive(Debug, Clone, Copy)]
pub enum Mark {
    /// The head is written.
    Head,
    /// The first `n` runs are written.
    Runs(usize),
}

/// What the writer sends the journal thread.
enum Msg {
    Mark(Mark),
    /// Start writing back the `n`th run (see [`Journaler::write_back`]).
    WriteBack(usize),
}

/// Keeps the journal on a thread of its own, so that the writer never waits
/// for a checkpoint's `fdatasync`: the writer marks what it has written,
/// the journal thread syncs the file, then records it (marks that arrive
/// meanwhile are taken together). Dropped when the writer ends (well or
/// not): the thread stops and the journal is removed.
pub struct Journaler {
    tx: Option<std::sync::mpsc::Sender<Msg>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    staged: PathBuf,
    /// What was written (not synced), recorded after each piece.
    written: Option<std::sync::Mutex<Written>>,
}

/// The record of writes and what it needs to hash the blocks it names.
struct Written {
    record: File,
    out: File,
    boot: String,
    journal: Journal,
    head_end: u64,
    runs: Vec<(u64, u64)>,
}

impl Journaler {
    /// Starts journaling `out` (at `staged`) from `(durable, written)`:
    /// what the file holds durably and what it holds in this boot (a
    /// resume may keep more than is synced; the synced journal claims only
    /// the first). `head_end`: the head's length; `runs`: each run's
    /// `(offset, length)` in the file; `plan`: saved beside first, when
    /// given (a plan already saved is left as it is).
    pub fn start(
        out: &File,
        staged: &Path,
        (journal, written): (Journal, Journal),
        head_end: u64,
        runs: Vec<(u64, u64)>,
        plan: Option<SavedPlan>,
    ) -> Journaler {
        use std::sync::atomic::Ordering;
        let written = match (boot_id(), out.try_clone(), create_written(staged)) {
            (Some(boot), Ok(out), Ok(record)) => {
                write_written(&record, &boot, &written).ok().map(|()| {
                    std::sync::Mutex::new(Written {
                        record,
                        out,
                        boot,
                        journal: written,
                        head_end,
                        runs: runs.clone(),
                    })
                })
            }
            _ => None,
        };
        let (tx, rx) = std::sync::mpsc::channel::<Msg>();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = out.try_clone().ok().and_then(|out| {
            let (path, stop) = (staged.to_path_buf(), stop.clone());
            std::thread::Builder::new()
                .name("nvr-export-journal".into())
                .spawn(move || {
                    let mut j = journal;
                    // A plan that cannot be saved: resumes plan again.
                    if let Some(plan) = plan {
                        if write_plan(&path, &plan).is_err() {
                            let _ = std::fs::remove_file(plan_path(&path));
                        }
                    }
                    if write(&path, &j).is_err() {
                        return;
                    }
                    while let Ok(first) = rx.recv() {
                        let (mut head, mut upto, mut checkpoint) = (false, 0, false);
                        for m in std::iter::once(first).chain(rx.try_iter()) {
                            match m {
                                Msg::Mark(Mark::Head) => (head, checkpoint) = (true, true),
                                Msg::Mark(Mark::Runs(n)) => {
                                    (upto, checkpoint) = (upto.max(n), true)
                                }
                                Msg::WriteBack(n) => {
                                    if let Some(&(at, len)) =
                                        n.checked_sub(1).and_then(|i| runs.get(i))
                                    {
                                        let _ = crate::output::start_writeback(&out, at, len);
                                    }
                                }
                            }
                        }
                        if !checkpoint {
                            continue;
                        }
                        if stop.load(Ordering::Relaxed) || out.sync_data().is_err() {
                            return;
                        }
                        let mut step = || -> std::io::Result<()> {
                            if head && j.head.is_none() {
                                j.head = Some(hash(&out, 0, head_end)?);
                            }
                            if let Some(&(at, len)) = upto.checked_sub(1).and_then(|i| runs.get(i))
                            {
                                if upto > j.runs {
                                    j.runs = upto;
                                    j.last_run = Some(block_hash(&out, at, at + len)?);
                                }
                            }
                            write(&path, &j)
                        };
                        if step().is_err() {
                            return;
                        }
                    }
                })
                .ok()
        });
        Journaler {
            tx: Some(tx),
            stop,
            thread,
            staged: staged.to_path_buf(),
            written,
        }
    }

    /// Records that the writer wrote this far (no sync; see the module
    /// doc). Costs a hash of one block (the head: of all of it) and a
    /// rename.
    pub fn wrote(&self, m: Mark) {
        let Some(Ok(mut w)) = self.written.as_ref().map(|w| w.lock()) else {
            return;
        };
        let w = &mut *w;
        let r = (|| -> std::io::Result<()> {
            match m {
                Mark::Head if w.journal.head.is_none() => {
                    w.journal.head = Some(hash(&w.out, 0, w.head_end)?);
                }
                Mark::Runs(n) if n > w.journal.runs => {
                    let Some(&(at, len)) = w.runs.get(n - 1) else {
                        return Ok(());
                    };
                    w.journal.runs = n;
                    w.journal.last_run = Some(block_hash(&w.out, at, at + len)?);
                }
                _ => return Ok(()),
            }
            write_written(&w.record, &w.boot, &w.journal)
        })();
        if r.is_err() {
            // A record that cannot be kept is no record.
            let _ = std::fs::remove_file(written_path(&self.staged));
        }
    }

    /// Tells the journal the writer got this far (never waits).
    pub fn mark(&self, m: Mark) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Mark(m));
        }
    }

    /// Asks the journal thread to start writing back the `n`th run, counted
    /// from one, as soon as it is copied (`sync_file_range`, waited for by
    /// no one): the disk then keeps closer to the copy, so a process killed
    /// part-way leaves less that its resume must sync, and the final
    /// `fsync` has less left. Measured on the hour, six alternating pairs:
    /// the resume 98 -> 87 ms, the whole export 590 -> 572 ms (medians).
    /// (Issued by the copying thread itself it slowed the export: it
    /// waits when the disk's queue is full.)
    pub fn write_back(&self, n: usize) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::WriteBack(n));
        }
    }
}

impl Drop for Journaler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        remove(&self.staged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_round_trips_and_its_blocks_hash_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join(".x.abc.part");
        std::fs::write(&staged, vec![7u8; 10_000]).unwrap();
        let f = File::open(&staged).unwrap();
        let j = Journal {
            identity: "1".into(),
            len: 10_000,
            head_len: 100,
            head: Some(block_hash(&f, 0, 100).unwrap()),
            runs: 1,
            last_run: Some(block_hash(&f, 100, 10_000).unwrap()),
        };
        write(&staged, &j).unwrap();
        assert_eq!(read(&staged), Some(j.clone()));
        // The same bytes hash the same wherever they are; others do not.
        assert_eq!(
            block_hash(&f, 0, 4096).unwrap(),
            block_hash(&f, 100, 4196).unwrap()
        );
        std::fs::write(&staged, vec![8u8; 10_000]).unwrap();
        let f = File::open(&staged).unwrap();
        assert_ne!(block_hash(&f, 0, 100).unwrap(), j.head.unwrap());
        remove(&staged);
        assert_eq!(read(&staged), None);
    }

    #[test]
    fn symlinks_planted_beside_the_staged_file_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"precious").unwrap();
        let staged = dir.path().join(".x.abc.part");
        std::fs::write(&staged, b"").unwrap();
        let j = Journal {
            identity: "1".into(),
            len: 1,
            head_len: 1,
            head: None,
            runs: 0,
            last_run: None,
        };
        // At the temporary name: removed, not written through.
        let tmp = dir.path().join(".x.abc.part.resume.tmp");
        std::os::unix::fs::symlink(&outside, &tmp).unwrap();
        write(&staged, &j).unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"precious");
        assert_eq!(read(&staged), Some(j));
        // At the journal's name: not read.
        remove(&staged);
        std::fs::write(&outside, serde_json::to_vec(&read_back()).unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, journal_path(&staged)).unwrap();
        assert_eq!(read(&staged), None);
        assert!(outside.exists());
    }

    #[test]
    fn the_record_of_writes_holds_only_in_the_boot_that_made_it() {
        let dir = tempfile::tempdir().unwrap();
        let staged = dir.path().join(".x.abc.part");
        std::fs::write(&staged, vec![5u8; 9000]).unwrap();
        let out = File::open(&staged).unwrap();
        let fresh = read_back();
        let j = Journaler::start(
            &out,
            &staged,
            (fresh.clone(), fresh.clone()),
            100,
            vec![(100, 4000), (4100, 4900)],
            None,
        );
        j.wrote(Mark::Runs(2));
        let seen = read_written(&staged).expect("this boot's record");
        assert_eq!(seen.runs, 2);
        assert_eq!(seen.last_run, Some(block_hash(&out, 4100, 9000).unwrap()));
        // Made in another boot: not trusted (the writes may be lost).
        let other = serde_json::to_vec(&("another-boot", &seen)).unwrap();
        std::fs::write(written_path(&staged), other).unwrap();
        assert_eq!(read_written(&staged), None);
        // The synced journal (written by its thread) never claims it.
        let t0 = std::time::Instant::now();
        while read(&staged).is_none() && t0.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(read(&staged).map(|d| d.runs), Some(0));
        drop(j);
        assert!(!written_path(&staged).exists() && !journal_path(&staged).exists());
    }

    fn read_back() -> Journal {
        Journal {
            identity: "2".into(),
            len: 2,
            head_len: 2,
            head: None,
            runs: 0,
            last_run: None,
        }
    }
}
