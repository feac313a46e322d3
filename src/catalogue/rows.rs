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
    pub(crate) fn from_row(r: &Row<'_>) -> rusqlite::Result<Recording> {
        Ok(Recording {
            id: r.get(0)?,
            camera: r.get(1)?,
            path: PathBuf::from(r.get::<_, String>(2)?),
            start_s: r.get(3)?,
            end_s: r.get(4)?,
            duration_s: r.get(5)?,
        })
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
}
