//! Chapters in output time, derived from the clip plan.
//!
//! Format fact that shapes this module: the MP4 chapter model (what libav's
//! mov muxer writes, as a QuickTime chapter track and a Nero `chpl` box, and
//! what every reader reads back) is a list of *start times*. Each chapter
//! lasts until the next one starts, and the first reads back as starting at
//! 0. Chapters written as 5-25 s, 30-35 s, 50-60 s read back as 0-30, 30-50,
//! 50-60. So that a review chapter starts *and ends* where its activity does,
//! the spans between reviews get chapters of their own, titled with their
//! wall-clock start; the list written is contiguous from 0 to the end of the
//! video and therefore reads back exactly as written.
//!
//! Rules (`frigate-model.md` step 3):
//! * `review_items`: one chapter per review overlapping the range, placed
//!   with [`Plan::wall_to_output`] (gaps collapse, the first clip's
//!   keyframe snap is honoured); title `"<Severity>: label1, label2"`
//!   (distinct labels in order of first appearance, each the part before the
//!   first `-`), or `"<Severity>"` without labels or with malformed `data`.
//!   A review with NULL end ends at the last recorded second. Reviews under
//!   one second of output (including those inside a gap) are dropped. Where
//!   reviews overlap, the one that started later takes over from its start;
//!   the earlier one resumes after it if it lasts longer.
//! * `recording_segments`: one chapter per clip, titled with the wall-clock
//!   time of the clip's first frame (ISO 8601 to the second in the
//!   configured zone, UTC when unset or unknown).

use crate::catalogue::ReviewSegment;
use crate::plan::Plan;
use crate::time::OutTicks;
use crate::timefmt::Zone;

/// Chapters shorter than this (1 s of output) are dropped or merged.
pub const MIN_CHAPTER: OutTicks = OutTicks(90_000);

/// One chapter as written into the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Chapter {
    pub start: OutTicks,
    pub end: OutTicks,
    pub title: String,
}

impl Chapter {
    /// Start, end and title, as the muxer takes them (`media::mux`).
    pub fn mark(&self) -> (OutTicks, OutTicks, &str) {
        (self.start, self.end, &self.title)
    }
}

/// Which chapters an export carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChapterMode {
    None,
    #[default]
    ReviewItems,
    RecordingSegments,
}

impl ChapterMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ChapterMode::None => "none",
            ChapterMode::ReviewItems => "review_items",
            ChapterMode::RecordingSegments => "recording_segments",
        }
    }
}

impl serde::Serialize for ChapterMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Accepts the NVR's spelling (`review_items`) and the CLI's (`review-items`).
impl<'de> serde::Deserialize<'de> for ChapterMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for ChapterMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.replace('_', "-").as_str() {
            "none" => Ok(ChapterMode::None),
            "review-items" => Ok(ChapterMode::ReviewItems),
            "recording-segments" => Ok(ChapterMode::RecordingSegments),
            _ => Err(format!(
                "unknown chapter mode {s:?}: use none, review-items or recording-segments"
            )),
        }
    }
}

/// Builds the chapters of `plan` in `mode`.
pub fn build(
    mode: ChapterMode,
    plan: &Plan,
    reviews: &[ReviewSegment],
    zone: Zone,
) -> Vec<Chapter> {
    match mode {
        ChapterMode::None => Vec::new(),
        ChapterMode::RecordingSegments => plan
            .clips
            .iter()
            .map(|c| Chapter {
                start: c.offset,
                end: c.end(),
                title: zone.iso8601(c.wall_start_s),
            })
            .collect(),
        ChapterMode::ReviewItems => review_chapters(plan, reviews, zone),
    }
}

/// `"Alert: person, car"` from a review's severity and `data` JSON.
pub fn review_title(severity: &str, data: &str) -> String {
    let mut title = capitalize(severity);
    let mut labels: Vec<String> = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(data) {
        if let Some(objs) = v.get("objects").and_then(|o| o.as_array()) {
            for o in objs {
                let s = match o.as_str() {
                    Some(s) => s.to_string(),
                    None => o.to_string(),
                };
                let label = s.split('-').next().unwrap_or("").to_string();
                if !label.is_empty() && !labels.contains(&label) {
                    labels.push(label);
                }
            }
        }
    }
    if !labels.is_empty() {
        title.push_str(": ");
        title.push_str(&labels.join(", "));
    }
    title
}

/// Python's `str.capitalize`: first character upper, the rest lower.
fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f
            .to_uppercase()
            .chain(c.flat_map(|x| x.to_lowercase()))
            .collect(),
        None => String::new(),
    }
}

struct Span {
    start: OutTicks,
    end: OutTicks,
    title: String,
}

fn review_chapters(plan: &Plan, reviews: &[ReviewSegment], zone: Zone) -> Vec<Chapter> {
    let titled: Vec<Titled> = reviews
        .iter()
        .map(|r| Titled {
            start_s: r.start_s,
            end_s: r.end_s,
            title: review_title(&r.severity, &r.data),
        })
        .collect();
    titled_chapters(plan, &titled, zone)
}

/// A review item with its chapter title.
#[derive(Debug, Clone, PartialEq)]
pub struct Titled {
    pub start_s: f64,
    /// `None`: still going (ends at the last recorded second).
    pub end_s: Option<f64>,
    pub title: String,
}

/// The review-item chapters of items already titled (a multi-camera
/// export's, titled with their camera), by the rules of the module doc.
pub fn titled_chapters(plan: &Plan, items: &[Titled], zone: Zone) -> Vec<Chapter> {
    let total = plan.duration();
    let Some(last_end_s) = plan.last_wall_end_s() else {
        return Vec::new();
    };
    // 1. Each review in output time; drop those under a second.
    let mut spans: Vec<Span> = items
        .iter()
        .filter_map(|r| {
            let end_s = r.end_s.unwrap_or(last_end_s);
            let start = plan.wall_to_output(r.start_s);
            let end = plan.wall_to_output(end_s).min(total);
            (end - start >= MIN_CHAPTER).then(|| Span {
                start,
                end,
                title: r.title.clone(),
            })
        })
        .collect();
    if spans.is_empty() {
        return Vec::new();
    }
    spans.sort_by_key(|s| (s.start, s.end));

    // 2. Flatten overlaps: at any instant the active review that started last wins.
    let mut cuts: Vec<OutTicks> = spans.iter().flat_map(|s| [s.start, s.end]).collect();
    cuts.push(OutTicks::ZERO);
    cuts.push(total);
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces: Vec<(OutTicks, OutTicks, Option<usize>)> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b <= a || a >= total {
            continue;
        }
        let owner = spans.iter().rposition(|s| s.start <= a && s.end >= b);
        match pieces.last_mut() {
            Some(last) if last.2 == owner => last.1 = b,
            _ => pieces.push((a, b, owner)),
        }
    }

    // 3. Merge pieces under a second into the one before; a short first
    //    piece is absorbed by the one after it.
    let mut merged: Vec<(OutTicks, OutTicks, Option<usize>)> = Vec::new();
    for p in pieces {
        if let Some(last) = merged.last_mut() {
            if p.1 - p.0 < MIN_CHAPTER || last.2 == p.2 {
                last.1 = p.1;
                continue;
            }
            if last.1 - last.0 < MIN_CHAPTER {
                *last = (last.0, p.1, p.2);
                continue;
            }
        }
        merged.push(p);
    }

    // 4. Titles: reviews keep theirs, the spans between get their wall-clock start.
    merged
        .into_iter()
        .map(|(start, end, owner)| Chapter {
            start,
            end,
            title: match owner {
                Some(i) => spans[i].title.clone(),
                None => zone.iso8601(output_to_wall(plan, start)),
            },
        })
        .collect()
}

/// Marks where the output skips time no camera recorded (`holes`: the
/// output instant and the wall-clock stretch skipped): the chapter that
/// holds the instant is cut there, and the part after it is titled with
/// what was skipped (a chapter already starting within a second of it is
/// retitled instead).
pub fn mark_holes(chapters: &mut Vec<Chapter>, holes: &[(OutTicks, f64, f64)], zone: Zone) {
    for &(at, from_s, to_s) in holes {
        let title = format!(
            "{} (no camera recorded {} to {})",
            zone.iso8601(to_s),
            zone.iso8601(from_s),
            zone.iso8601(to_s)
        );
        let Some(i) = chapters.iter().position(|c| c.start <= at && at < c.end) else {
            continue;
        };
        if at - chapters[i].start < MIN_CHAPTER {
            chapters[i].title = title;
        } else if chapters[i].end - at < MIN_CHAPTER {
            if let Some(next) = chapters.get_mut(i + 1) {
                next.title = title;
            }
        } else {
            let end = chapters[i].end;
            chapters[i].end = at;
            chapters.insert(
                i + 1,
                Chapter {
                    start: at,
                    end,
                    title,
                },
            );
        }
    }
}

/// Wall-clock time shown at an output instant (inverse of `wall_to_output`).
pub fn output_to_wall(plan: &Plan, t: OutTicks) -> f64 {
    for c in &plan.clips {
        if t < c.end() {
            return c.wall_start_s + (t - c.offset).max(OutTicks::ZERO).seconds();
        }
    }
    plan.last_wall_end_s().unwrap_or(plan.end_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{rec, timing};
    use crate::plan::PlanSegment;

    fn review(start: f64, end: Option<f64>, sev: &str, data: &str) -> ReviewSegment {
        ReviewSegment {
            id: format!("r{start}"),
            camera: "cam".into(),
            start_s: start,
            end_s: end,
            severity: sev.into(),
            data: data.into(),
        }
    }

    /// Two 10 s segments at 1000 and 1030 (20 s gap), keyframe every second.
    fn gapped_plan(start: f64, end: f64) -> Plan {
        let t = timing(10.0, 10, 10);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1030.0, 1040.0)];
        let segs: Vec<_> = recs
            .iter()
            .map(|(id, start_s)| PlanSegment {
                id,
                start_s: *start_s,
                timing: &t,
            })
            .collect();
        Plan::build(start, end, &segs)
    }

    #[test]
    fn titles() {
        assert_eq!(
            review_title(
                "alert",
                r#"{"objects":["person","car-verified","person-x"]}"#
            ),
            "Alert: person, car"
        );
        assert_eq!(review_title("detection", r#"{"objects":[]}"#), "Detection");
        assert_eq!(review_title("alert", "{not json"), "Alert");
        assert_eq!(review_title("ALERT", r#"{"zones":[]}"#), "Alert");
    }

    #[test]
    fn review_spanning_gap_is_shortened_and_fillers_cover_the_rest() {
        let p = gapped_plan(1000.0, 1040.0);
        // 1005..1035 spans the 20 s gap: 5 s + 5 s = 10 s of output, from 5 s.
        let r = [review(
            1005.0,
            Some(1035.0),
            "alert",
            r#"{"objects":["person"]}"#,
        )];
        let ch = build(ChapterMode::ReviewItems, &p, &r, Zone::Utc);
        let got: Vec<(i64, i64, &str)> = ch
            .iter()
            .map(|c| (c.start.0, c.end.0, c.title.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 450_000, "1970-01-01T00:16:40Z"),
                (450_000, 1_350_000, "Alert: person"),
                (1_350_000, 1_800_000, "1970-01-01T00:17:15Z"),
            ]
        );
    }

    #[test]
    fn review_inside_gap_disappears_and_in_progress_ends_at_last_recording() {
        let p = gapped_plan(1000.0, 1040.0);
        let r = [
            review(1012.0, Some(1025.0), "alert", "{}"),
            review(1032.0, None, "detection", r#"{"objects":["dog"]}"#),
        ];
        let ch = build(ChapterMode::ReviewItems, &p, &r, Zone::Utc);
        assert_eq!(ch.len(), 2);
        assert_eq!(ch[1].title, "Detection: dog");
        assert_eq!((ch[1].start.0, ch[1].end.0), (1_080_000, 1_800_000));
        assert!(ch.iter().all(|c| !c.title.starts_with("Alert")));
    }

    #[test]
    fn overlapping_reviews_do_not_overlap_and_short_ones_drop() {
        let p = gapped_plan(1000.0, 1040.0);
        let r = [
            review(1001.0, Some(1008.0), "detection", r#"{"objects":["car"]}"#),
            review(1003.0, Some(1005.0), "alert", r#"{"objects":["person"]}"#),
            review(1009.0, Some(1009.5), "alert", "{}"), // 0.5 s: dropped
        ];
        let ch = build(ChapterMode::ReviewItems, &p, &r, Zone::Utc);
        let got: Vec<(i64, i64, &str)> = ch
            .iter()
            .map(|c| (c.start.0 / 90_000, c.end.0 / 90_000, c.title.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 1, "1970-01-01T00:16:40Z"),
                (1, 3, "Detection: car"),
                (3, 5, "Alert: person"),
                (5, 8, "Detection: car"),
                (8, 20, "1970-01-01T00:16:48Z"),
            ]
        );
        for w in ch.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert_eq!(ch.last().unwrap().end, p.duration());
    }

    #[test]
    fn recording_segment_chapters_use_snapped_start_in_zone() {
        let p = gapped_plan(1003.5, 1040.0);
        let ch = build(
            ChapterMode::RecordingSegments,
            &p,
            &[],
            Zone::or_utc(Some("Europe/Paris")),
        );
        assert_eq!(ch.len(), 2);
        // Snapped back to the keyframe at 1003 s.
        assert_eq!(ch[0].title, "1970-01-01T01:16:43+01:00");
        assert_eq!((ch[1].start.0, ch[1].end.0), (630_000, 1_530_000));
    }

    #[test]
    fn output_to_wall_inverts_wall_to_output() {
        let p = gapped_plan(1000.0, 1040.0);
        for t in [1000.0, 1004.5, 1030.0, 1039.0] {
            let o = p.wall_to_output(t);
            assert!((output_to_wall(&p, o) - t).abs() < 1e-6, "{t}");
        }
    }
}
