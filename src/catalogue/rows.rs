//! Rows of the tables the exporter reads and writes, with units in field names.

use std::path::PathBuf;

use rusqlite::Row;

/// One recording segment (`recordings`): a ~10 s MP4 on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    pub id: String,
    pub camera: String,
    pub path: PathBuf,
    pub start_s: f64,
    pub end_s: f64,
    pub duration_s: f64,
}

impl Recording {
    /// A row as the NVR wrote it, or why it cannot be used (a BLOB or
    /// empty path, a start, end or duration that is not a number): such a
    /// row is skipped and named, it does not fail the export. The path is
    /// taken as the bytes stored, so a non-UTF-8 path is kept as it is.
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<Recording, (String, String)>> {
        use rusqlite::types::ValueRef;
        let id = match r.get_ref(0)? {
            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            other => format!("{other:?}"),
        };
        let path = match r.get_ref(2)? {
            ValueRef::Text(t) if !t.is_empty() => {
                use std::os::unix::ffi::OsStrExt;
                PathBuf::from(std::ffi::OsStr::from_bytes(t))
            }
            ValueRef::Text(_) => {
                return Ok(Err((id, "the catalogue row has an empty path".into())))
            }
            _ => return Ok(Err((id, "the catalogue row's path is not text".into()))),
        };
        let number = |i: usize, what: &str| match r.get_ref(i) {
            Ok(ValueRef::Real(v)) => Ok(v),
            Ok(ValueRef::Integer(v)) => Ok(v as f64),
            _ => Err(format!("the catalogue row's {what} is not a number")),
        };
        let fields = (|| {
            Ok::<_, String>((
                number(3, "start_time")?,
                number(4, "end_time")?,
                number(5, "duration")?,
            ))
        })();
        let (start_s, end_s, duration_s) = match fields {
            Ok(f) => f,
            Err(why) => return Ok(Err((path.display().to_string(), why))),
        };
        Ok(Ok(Recording {
            id,
            camera: r.get(1)?,
            path,
            start_s,
            end_s,
            duration_s,
        }))
    }
}

/// One review item (`reviewsegment`); `end_s` is `None` while in progress.
/// `data` is kept as text: it may be malformed JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSegment {
    pub id: String,
    pub camera: String,
    pub start_s: f64,
    pub end_s: Option<f64>,
    pub severity: String,
    pub data: String,
}

impl ReviewSegment {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<ReviewSegment> {
        // `data` is declared JSON (text affinity) but an NVR bug could store
        // anything; read it as text and never fail the export over it.
        let data = match r.get_ref(5)? {
            rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                String::from_utf8_lossy(t).into_owned()
            }
            _ => String::new(),
        };
        Ok(ReviewSegment {
            id: r.get(0)?,
            camera: r.get(1)?,
            start_s: r.get(2)?,
            end_s: r.get(3)?,
            severity: r.get(4)?,
            data,
        })
    }
}

/// One export (`export`). `thumb_path` is an empty string when there is no
/// thumbnail (the column is NOT NULL).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRow {
    pub id: String,
    pub camera: String,
    pub name: String,
    pub date_s: f64,
    pub video_path: String,
    pub thumb_path: String,
    pub in_progress: bool,
    pub export_case_id: Option<String>,
}

impl ExportRow {
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<ExportRow> {
        Ok(ExportRow {
            id: r.get(0)?,
            camera: r.get(1)?,
            name: r.get(2)?,
            date_s: r.get(3)?,
            video_path: r.get(4)?,
            thumb_path: r.get(5)?,
            in_progress: r.get::<_, i64>(6)? != 0,
            export_case_id: r.get(7)?,
        })
    }

    /// A row as it comes: one that cannot be read (a text `date`, a
    /// number where text belongs) is `Err((id, reason))`, not a failure of
    /// the whole statement.
    pub(crate) fn from_row_or_reason(
        r: &Row<'_>,
    ) -> rusqlite::Result<std::result::Result<ExportRow, (String, String)>> {
        Ok(ExportRow::from_row(r).map_err(|e| {
            let id = match r.get_ref(0) {
                Ok(rusqlite::types::ValueRef::Text(t)) => String::from_utf8_lossy(t).into_owned(),
                Ok(other) => format!("{other:?}"),
                Err(_) => String::new(),
            };
            (id, format!("the catalogue row cannot be read: {e}"))
        }))
    }
}
