//! The NVR's SQLite catalogue: recordings, previews, review segments, exports.
//!
//! Table and column names are exactly those of the NVR's own schema
//! (`schema.sql`, produced by its 35 migrations). Times are unix seconds
//! stored as REAL. The NVR writes the same file concurrently in WAL mode, so:
//!
//! * a statement that meets a lock is retried with backoff for up to
//!   [`BUSY_TIMEOUT`] (configurable) instead of failing, and the wait stops
//!   at once when the export is cancelled ([`Catalogue::with_cancel`]): a
//!   busy catalogue never makes Ctrl-C wait. SQLite itself only waits
//!   [`STATEMENT_WAIT`] per try, so the loop here stays in control;
//! * every write is one short statement (its own transaction), so a busy
//!   failure means nothing was applied and the retry is safe;
//! * the journal mode is never changed (a fresh store made by
//!   [`Catalogue::create`] is switched to WAL once, like the NVR's).
//!
//! This module knows nothing of libav.

mod rows;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{named_params, Connection, OpenFlags, OptionalExtension};

pub use rows::{ExportRow, Recording, ReviewSegment};

use crate::error::{Error, NearbyRecording, Result, SkippedSegment};
use crate::progress::CancelToken;

/// How long a statement is retried while another connection holds a lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long SQLite waits for a lock within one try.
pub const STATEMENT_WAIT: Duration = Duration::from_millis(25);

/// How long removing a failed export's row may wait for a lock.
pub const CLEANUP_WAIT: Duration = Duration::from_secs(5);

/// Longest pause between two tries.
const MAX_BACKOFF: Duration = Duration::from_millis(400);

/// The NVR's schema, as its migrations create it.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// "A row overlaps `[start, end]` when its start or end lies inside the
/// range, or it spans the whole range" (the NVR's own predicate).
const OVERLAP: &str = "((start_time BETWEEN :start AND :end) \
     OR (end_time BETWEEN :start AND :end) \
     OR (:start > start_time AND :end < end_time))";

/// An open catalogue.
pub struct Catalogue {
    conn: Connection,
    path: PathBuf,
    /// The `export` table has `export_case_id` (NVR 0.16+; older catalogues
    /// do not, and are written without it).
    has_case_id: bool,
    /// Stops a wait for a lock.
    cancel: CancelToken,
    busy_timeout: Duration,
}

impl Catalogue {
    /// Opens an existing catalogue read-write. A missing file or one that is
    /// not an SQLite database is an [`Error::Database`] naming the path.
    pub fn open(path: &Path) -> Result<Catalogue> {
        Catalogue::open_with(path, &CancelToken::new(), BUSY_TIMEOUT)
    }

    /// [`Catalogue::open`] whose lock waits (from the first one) stop on
    /// `cancel` and give up after `busy_timeout`.
    pub fn open_with(
        path: &Path,
        cancel: &CancelToken,
        busy_timeout: Duration,
    ) -> Result<Catalogue> {
        match std::fs::metadata(path) {
            Err(_) => {
                return Err(Error::database(
                    path,
                    "no such database file; pass the NVR's frigate.db with --db",
                ))
            }
            Ok(m) if m.is_dir() => {
                return Err(Error::database(
                    path,
                    "is a directory; pass the NVR's frigate.db file inside it with --db",
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(Error::database(
                    path,
                    "is not a regular file (a FIFO, device or socket); pass the NVR's frigate.db with --db",
                ))
            }
            Ok(_) => {}
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(|e| sqlite_error(path, e))?;
        let cat = Catalogue::with_conn(conn, path, cancel.clone(), busy_timeout)?;
        cat.check_schema()?;
        Ok(cat)
    }

    /// Checks that the tables the exporter needs are there, so that an
    /// unreadable or foreign file fails here with a clear message rather
    /// than half-way through an export.
    pub fn check_schema(&self) -> Result<()> {
        for table in ["recordings", "reviewsegment", "export", "previews"] {
            let sql = format!("SELECT 1 FROM \"{table}\" LIMIT 0");
            match self.retry("reading the schema", |c| c.prepare(&sql).map(|_| ())) {
                Err(Error::Database {
                    message,
                    busy: false,
                    ..
                }) if message.contains("no such table") || message.contains("not a database") => {
                    return Err(Error::database(
                        &self.path,
                        format!("not an NVR catalogue ({message})"),
                    ))
                }
                other => other?,
            }
        }
        Ok(())
    }

    /// Runs `op`, retrying while another connection holds a lock, for up to
    /// the busy timeout; the wait stops at once on cancellation. `what`
    /// names the operation in the error.
    fn retry<T>(
        &self,
        what: &str,
        op: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.retry_with(what, &self.cancel, self.busy_timeout, op)
    }

    fn retry_with<T>(
        &self,
        what: &str,
        cancel: &CancelToken,
        busy_timeout: Duration,
        mut op: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            match op(&self.conn) {
                Ok(v) => return Ok(v),
                Err(e) if is_busy(&e) => {
                    cancel.check()?;
                    let waited = started.elapsed();
                    if waited >= busy_timeout {
                        return Err(Error::catalogue_busy(&self.path, what, waited));
                    }
                    // Sleep in short slices so that a cancel is seen quickly.
                    let until = Instant::now() + pause.min(busy_timeout - waited);
                    while Instant::now() < until {
                        cancel.check()?;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    pause = (pause * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(self.err(e)),
            }
        }
    }

    /// Creates a fresh store with the NVR's schema (demo, tests). Fails if
    /// the file already exists.
    pub fn create(path: &Path) -> Result<Catalogue> {
        if path.exists() {
            return Err(Error::database(
                path,
                "already exists; refusing to overwrite",
            ));
        }
        let conn = Connection::open(path).map_err(|e| sqlite_error(path, e))?;
        conn.pragma_update(None, "journal_mode", "wal")
            .map_err(|e| sqlite_error(path, e))?;
        conn.execute_batch(SCHEMA_SQL)
            .map_err(|e| sqlite_error(path, e))?;
        Catalogue::with_conn(conn, path, CancelToken::new(), BUSY_TIMEOUT)
    }

    fn with_conn(
        conn: Connection,
        path: &Path,
        cancel: CancelToken,
        busy_timeout: Duration,
    ) -> Result<Catalogue> {
        conn.busy_timeout(STATEMENT_WAIT)
            .map_err(|e| sqlite_error(path, e))?;
        let mut cat = Catalogue {
            conn,
            path: path.to_path_buf(),
            has_case_id: false,
            cancel,
            busy_timeout,
        };
        cat.has_case_id = cat.retry("reading the schema", |c| {
            match c.prepare("SELECT export_case_id FROM export LIMIT 0") {
                Ok(_) => Ok(true),
                Err(e) if is_busy(&e) => Err(e),
                Err(_) => Ok(false),
            }
        })?;
        Ok(cat)
    }

    /// An empty catalogue in memory with the NVR's schema (fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn in_memory() -> Result<Catalogue> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| sqlite_error(path, e))?;
        conn.execute_batch(SCHEMA_SQL)
            .map_err(|e| sqlite_error(path, e))?;
        Catalogue::with_conn(conn, path, CancelToken::new(), BUSY_TIMEOUT)
    }

    /// Runs one statement as given (fuzzing: rows of any type).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn raw_execute(
        &self,
        sql: &str,
        values: &[rusqlite::types::Value],
    ) -> rusqlite::Result<usize> {
        self.conn.execute(sql, rusqlite::params_from_iter(values))
    }

    /// The catalogue file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        sqlite_error(&self.path, e)
    }

    /// Rows of `camera` overlapping `[start_s, end_s]` selected by `sql`
    /// (which uses `:camera`, `:start`, `:end`), mapped by `from_row`.
    fn overlapping<T>(
        &self,
        sql: &str,
        camera: &str,
        start_s: f64,
        end_s: f64,
        from_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        self.retry("reading rows", |c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(
                named_params! {":camera": camera, ":start": start_s, ":end": end_s},
                from_row,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Recordings of `camera` overlapping `[start_s, end_s]`, by start time,
    /// and the rows that could not be read (named, with why).
    pub fn recordings_overlapping(
        &self,
        camera: &str,
        start_s: f64,
        end_s: f64,
    ) -> Result<(Vec<Recording>, Vec<SkippedSegment>)> {
        self.media_overlapping("recordings", camera, start_s, end_s)
    }

    /// Recordings of every camera that start in `[start_s - 1 h, end_s)`
    /// and end after `start_s` (a recording is a segment of seconds to
    /// minutes), newest first by camera: one range scan of the
    /// `start_time` index whatever the catalogue's size, for reading
    /// indexes ahead (where a row missed costs only a later probe). Rows
    /// that cannot be read are left out.
    pub fn recent_recordings(&self, start_s: f64, end_s: f64) -> Result<Vec<Recording>> {
        let rows = self.retry("reading recent rows", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, camera, path, start_time, end_time, duration FROM recordings \
                 WHERE start_time >= :from AND start_time < :end AND end_time > :start \
                 ORDER BY camera, start_time DESC",
            )?;
            let rows = stmt.query_map(
                named_params! {":from": start_s - 3600.0, ":start": start_s, ":end": end_s},
                Recording::from_row,
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(rows.into_iter().filter_map(|r| r.ok()).collect())
    }

    /// Hourly previews (`previews`: the same columns as `recordings`) of
    /// `camera` overlapping `[start_s, end_s]`, by start time, and the rows
    /// that could not be read.
    pub fn previews_overlapping(
        &self,
        camera: &str,
        start_s: f64,
        end_s: f64,
    ) -> Result<(Vec<Recording>, Vec<SkippedSegment>)> {
        self.media_overlapping("previews", camera, start_s, end_s)
    }

    /// Adds a preview row (sample stores and tests; the NVR writes its own).
    pub fn insert_preview(&self, p: &Recording) -> Result<()> {
        self.retry("inserting a preview", |c| {
            c.execute(
                "INSERT INTO previews (id, camera, path, start_time, end_time, duration) \
                 VALUES (:id, :camera, :path, :start, :end, :duration)",
                named_params! {
                    ":id": p.id,
                    ":camera": p.camera,
                    ":path": p.path.to_string_lossy(),
                    ":start": p.start_s,
                    ":end": p.end_s,
                    ":duration": p.duration_s,
                },
            )
        })?;
        Ok(())
    }

    /// Rows of `table` (`recordings` or `previews`) overlapping the range.
    fn media_overlapping(
        &self,
        table: &'static str,
        camera: &str,
        start_s: f64,
        end_s: f64,
    ) -> Result<(Vec<Recording>, Vec<SkippedSegment>)> {
        let sql = format!(
            "SELECT id, camera, path, start_time, end_time, duration FROM {table} \
             WHERE camera = :camera AND {OVERLAP} ORDER BY start_time ASC"
        );
        let rows = self.overlapping(&sql, camera, start_s, end_s, Recording::from_row)?;
        let mut good = Vec::with_capacity(rows.len());
        let mut bad = Vec::new();
        for row in rows {
            match row {
                Ok(r) => good.push(r),
                Err((what, reason)) => bad.push(SkippedSegment {
                    path: what.into(),
                    reason,
                }),
            }
        }
        Ok((good, bad))
    }

    /// Review segments of `camera` overlapping `[start_s, end_s]`, by start time.
    pub fn reviews_overlapping(
        &self,
        camera: &str,
        start_s: f64,
        end_s: f64,
    ) -> Result<Vec<ReviewSegment>> {
        // A review still in progress has a NULL end: it overlaps when it
        // started before the end of the range.
        let sql = format!(
            "SELECT id, camera, start_time, end_time, severity, data FROM reviewsegment \
             WHERE camera = :camera AND ({OVERLAP} OR (end_time IS NULL AND start_time <= :end)) \
             ORDER BY start_time ASC"
        );
        self.overlapping(&sql, camera, start_s, end_s, ReviewSegment::from_row)
    }

    /// Distinct cameras that have recordings.
    pub fn cameras(&self) -> Result<Vec<String>> {
        self.retry("listing cameras", |c| {
            let mut stmt =
                c.prepare_cached("SELECT DISTINCT camera FROM recordings ORDER BY camera")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Every camera the catalogue knows of: with recordings, previews,
    /// review items or exports (a camera whose recordings retention has
    /// removed still has its old exports).
    pub fn known_cameras(&self) -> Result<Vec<String>> {
        self.retry("listing cameras", |c| {
            let mut stmt = c.prepare_cached(
                "SELECT camera FROM recordings UNION SELECT camera FROM previews \
                 UNION SELECT camera FROM reviewsegment UNION SELECT camera FROM export \
                 ORDER BY 1",
            )?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// The last recording ending before `start_s` and the first starting
    /// after `end_s`, to explain an empty range.
    pub fn nearest_recordings(
        &self,
        camera: &str,
        start_s: f64,
        end_s: f64,
    ) -> Result<(Option<NearbyRecording>, Option<NearbyRecording>)> {
        let get = |sql: &str, t: f64| -> Result<Option<NearbyRecording>> {
            self.retry("reading nearby recordings", |c| {
                c.query_row(sql, named_params! {":camera": camera, ":t": t}, |r| {
                    Ok(NearbyRecording {
                        start_s: r.get(0)?,
                        end_s: r.get(1)?,
                    })
                })
                .optional()
            })
        };
        let before = get(
            "SELECT start_time, end_time FROM recordings WHERE camera = :camera \
             AND end_time < :t ORDER BY end_time DESC LIMIT 1",
            start_s,
        )?;
        let after = get(
            "SELECT start_time, end_time FROM recordings WHERE camera = :camera \
             AND start_time > :t ORDER BY start_time ASC LIMIT 1",
            end_s,
        )?;
        Ok((before, after))
    }

    /// Inserts an export row (the NVR shows it as in progress while `in_progress = 1`).
    pub fn insert_export(&self, row: &ExportRow) -> Result<()> {
        if !self.has_case_id && row.export_case_id.is_some() {
            return Err(Error::database(
                &self.path,
                "this catalogue's export table has no export_case_id column (an NVR older \
                 than 0.16): export without a case, or upgrade the NVR",
            ));
        }
        let sql = if self.has_case_id {
            "INSERT INTO export (id, camera, name, date, video_path, thumb_path, in_progress, export_case_id) \
             VALUES (:id, :camera, :name, :date, :video_path, :thumb_path, :in_progress, :case)"
        } else {
            "INSERT INTO export (id, camera, name, date, video_path, thumb_path, in_progress) \
             VALUES (:id, :camera, :name, :date, :video_path, :thumb_path, :in_progress)"
        };
        let case = row.export_case_id.as_deref();
        let in_progress = row.in_progress as i64;
        let all = named_params! {
            ":id": row.id,
            ":camera": row.camera,
            ":name": row.name,
            ":date": row.date_s,
            ":video_path": row.video_path,
            ":thumb_path": row.thumb_path,
            ":in_progress": in_progress,
            ":case": case,
        };
        let params = &all[..if self.has_case_id { 8 } else { 7 }];
        self.retry("inserting the export row", |c| c.execute(sql, params))
            .map_err(|e| match e {
                // Two exports with one id started at once: the second one's
                // row hits the primary key.
                Error::Database { ref message, .. } if message.contains("UNIQUE constraint") => {
                    Error::InvalidName {
                        what: "export id",
                        value: row.id.clone(),
                        reason: "an export with this id already exists",
                    }
                }
                e => e,
            })?;
        Ok(())
    }

    /// Marks an export finished (`in_progress = 0`) and records its thumbnail.
    pub fn finish_export(&self, id: &str, thumb_path: &str) -> Result<()> {
        let n = self.retry("marking the export done", |c| {
            c.execute(
                "UPDATE export SET in_progress = 0, thumb_path = :thumb WHERE id = :id",
                named_params! {":id": id, ":thumb": thumb_path},
            )
        })?;
        if n == 0 {
            return Err(Error::database(
                &self.path,
                format!("export row {id:?} vanished while the export ran"),
            ));
        }
        Ok(())
    }

    /// Removes an export row (failure, cancellation). This wait is not
    /// cancellable (it is the cleanup of a cancel) but bounded by
    /// [`CLEANUP_WAIT`]: past it the row is left for recovery.
    pub fn delete_export(&self, id: &str) -> Result<()> {
        let wait = CLEANUP_WAIT.min(self.busy_timeout);
        self.retry_with("deleting the export row", &CancelToken::new(), wait, |c| {
            c.execute(
                "DELETE FROM export WHERE id = :id",
                named_params! {":id": id},
            )
        })?;
        Ok(())
    }

    /// One export row, if present.
    pub fn export(&self, id: &str) -> Result<Option<ExportRow>> {
        let sql = if self.has_case_id {
            "SELECT id, camera, name, date, video_path, thumb_path, in_progress, export_case_id \
                     FROM export WHERE id = :id"
        } else {
            "SELECT id, camera, name, date, video_path, thumb_path, in_progress, NULL \
                     FROM export WHERE id = :id"
        };
        self.retry("reading the export row", |c| {
            c.query_row(sql, named_params! {":id": id}, ExportRow::from_row)
                .optional()
        })
    }

    /// Export rows in progress; rows that cannot be read come back as
    /// `Err((id, reason))`.
    #[allow(clippy::type_complexity)]
    pub fn exports_in_progress(
        &self,
    ) -> Result<Vec<std::result::Result<ExportRow, (String, String)>>> {
        let sql = if self.has_case_id {
            "SELECT id, camera, name, date, video_path, thumb_path, in_progress, export_case_id \
             FROM export WHERE in_progress = 1 ORDER BY id"
        } else {
            "SELECT id, camera, name, date, video_path, thumb_path, in_progress, NULL \
             FROM export WHERE in_progress = 1 ORDER BY id"
        };
        self.retry("listing exports in progress", |c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map([], ExportRow::from_row_or_reason)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// The `video_path` of every export row.
    pub fn export_video_paths(&self) -> Result<Vec<String>> {
        self.retry("listing export files", |c| {
            let mut stmt = c.prepare_cached("SELECT video_path FROM export")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Whether an export row with this id exists.
    pub fn export_exists(&self, id: &str) -> Result<bool> {
        Ok(self.export(id)?.is_some())
    }

    /// Adds a recording row (sample stores and tests; the NVR writes its own).
    pub fn insert_recording(&self, rec: &Recording, segment_size_mb: f64) -> Result<()> {
        self.retry("inserting a recording", |c| {
            c.execute(
                "INSERT INTO recordings (id, camera, path, start_time, end_time, duration, \
                 objects, motion, segment_size, dBFS, regions) \
                 VALUES (:id, :camera, :path, :start, :end, :duration, 0, 0, :size, 0, 0)",
                named_params! {
                    ":id": rec.id,
                    ":camera": rec.camera,
                    ":path": rec.path.to_string_lossy(),
                    ":start": rec.start_s,
                    ":end": rec.end_s,
                    ":duration": rec.duration_s,
                    ":size": segment_size_mb,
                },
            )
        })?;
        Ok(())
    }

    /// Adds a review segment row (sample stores and tests).
    pub fn insert_review(&self, r: &ReviewSegment, data_json: &str) -> Result<()> {
        self.retry("inserting a review segment", |c| c
            .execute(
                "INSERT INTO reviewsegment (id, camera, start_time, end_time, severity, thumb_path, data) \
                 VALUES (:id, :camera, :start, :end, :severity, '', :data)",
                named_params! {
                    ":id": r.id,
                    ":camera": r.camera,
                    ":start": r.start_s,
                    ":end": r.end_s,
                    ":severity": r.severity,
                    ":data": data_json,
                },
            ))?;
        Ok(())
    }

    /// Runs many inserts in one transaction (sample stores).
    pub fn in_transaction<T>(&mut self, f: impl FnOnce(&Catalogue) -> Result<T>) -> Result<T> {
        self.retry("starting a transaction", |c| {
            c.execute_batch("BEGIN IMMEDIATE")
        })?;
        match f(self) {
            Ok(v) => {
                self.retry("committing", |c| c.execute_batch("COMMIT"))?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// SQLite's "another connection holds a lock".
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// An SQLite error; busy and locked are marked (a retry may work), a
/// full filesystem is [`Error::DiskFull`] naming the catalogue's folder.
pub(crate) fn sqlite_error(path: impl Into<PathBuf>, err: rusqlite::Error) -> Error {
    let path = path.into();
    if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
        return crate::output::disk_full_at(&path);
    }
    if matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
    ) {
        return Error::Database {
            message: format!(
                "cannot be written ({err}): an export writes its row there, and a catalogue \
                 in WAL mode (the NVR's) also needs its folder writable for the -wal and \
                 -shm files; run as a user who may write both, or check that the folder \
                 is not mounted read-only"
            ),
            path,
            busy: false,
        };
    }
    let busy = matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    Error::Database {
        path,
        message: err.to_string(),
        busy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> ExportRow {
        ExportRow {
            id: "front_door_abc123".into(),
            camera: "front_door".into(),
            name: "n".into(),
            date_s: 1.0,
            video_path: "/m/exports/x.mp4".into(),
            thumb_path: String::new(),
            in_progress: true,
            export_case_id: None,
        }
    }

    #[test]
    fn a_second_row_with_one_id_is_a_named_refusal_not_raw_sql() {
        let dir = tempfile::tempdir().unwrap();
        let cat = Catalogue::create(&dir.path().join("frigate.db")).unwrap();
        let row = row();
        cat.insert_export(&row).unwrap();
        let e = cat.insert_export(&row).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidName);
        assert!(e.to_string().contains("already exists"), "{e}");
    }

    #[test]
    fn an_older_catalogue_without_export_case_id_still_takes_exports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("frigate.db");
        drop(Catalogue::create(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("DROP INDEX IF EXISTS export_export_case_id; ALTER TABLE export DROP COLUMN export_case_id")
            .unwrap();
        drop(conn);
        let cat = Catalogue::open(&path).unwrap();
        let mut row = row();
        cat.insert_export(&row).unwrap();
        assert!(cat.export_exists(&row.id).unwrap());
        row.id = "front_door_def456".into();
        row.export_case_id = Some("case1".into());
        let e = cat.insert_export(&row).unwrap_err();
        assert!(e.to_string().contains("no export_case_id column"), "{e}");
    }

    #[test]
    fn busy_catalogue_is_retryable_corrupt_is_not() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e = sqlite_error("/c/frigate.db", busy);
        assert!(e.retryable());
        assert!(
            e.to_string().contains("another process holds a lock"),
            "{e}"
        );
        let corrupt = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
            None,
        );
        assert!(!sqlite_error("/c/frigate.db", corrupt).retryable());
        assert!(!Error::Cancelled.retryable());
        // A full catalogue filesystem is a full disk, naming its folder.
        let full = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        );
        match sqlite_error("/c/frigate.db", full) {
            Error::DiskFull { path, .. } => assert_eq!(path, std::path::Path::new("/c")),
            other => panic!("not disk_full: {other}"),
        }
    }
}
