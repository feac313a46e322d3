//! An export from the NVR's HLS VOD server (`Source::Hls`): the playlist is
//! fetched and parsed, the fragments written by `remux::hls`, and the
//! result committed like any export (same row, same temporary file, same
//! cleanup). The server has already done what the file source's plan does:
//! the start snapped back to a keyframe, gaps collapsed. Chapters come from
//! the catalogue: the server makes one clip per recording row in the range
//! (a group of the `/vod/clip/` form, a fragment of the `/vod/` form), so
//! once the writer knows where each clip landed in the output, rows map
//! wall-clock times to output times as the file source's plan does. When
//! the clips and rows do not pair up, no chapters are made and a warning
//! says why.

use std::path::Path;

use ffmpeg_next::Rational;
use reqwest::Url;

use crate::error::{Error, Result, Warning};
use crate::plan::chapters::{self, ChapterMode};
use crate::plan::timestamps;
use crate::plan::{Clip, Plan};
use crate::progress::{CancelToken, Reporter, Step};
use crate::remux::hls::{self, FragmentSpan, HlsJob, Placed};
use crate::source::hls::http::{HostAllowlist, HttpClient};
use crate::source::hls::playlist::{self, Parsed, VodPlaylist, MAX_PLAYLIST_BYTES};
use crate::time::OutTicks;
use crate::timefmt::Zone;

use super::outcome::Written;
use super::reads::Reads;
use super::request::{ExportRequest, HlsSource, StartAt};
use super::settings::Settings;

/// The playlist's URL for `req`.
fn playlist_url(req: &ExportRequest, hls: &HlsSource) -> Result<Url> {
    let bad = |value: &str, reason: String| Error::Vod {
        url: value.to_string(),
        reason,
        retryable: false,
    };
    match (&hls.url, &hls.base) {
        (Some(u), None) => Url::parse(u).map_err(|e| bad(u, format!("not a URL: {e}"))),
        (None, Some(b)) => {
            let base = Url::parse(b).map_err(|e| bad(b, format!("not a URL: {e}")))?;
            playlist::vod_url(&base, &req.camera, req.start_s, req.end_s).map_err(|r| bad(b, r))
        }
        _ => Err(bad(
            "",
            "give exactly one of a playlist URL (--vod-url) or the NVR's address (--vod-base)"
                .into(),
        )),
    }
}

/// Fetches and parses the media playlist (following a master playlist once).
fn fetch_playlist(client: &HttpClient, url: &Url, cancel: &CancelToken) -> Result<VodPlaylist> {
    let mut url = url.clone();
    for _ in 0..2 {
        let body = client.get(&url, MAX_PLAYLIST_BYTES, cancel).map_err(|e| {
            if cancel.is_cancelled() {
                return Error::Cancelled;
            }
            let reason = if e.reason.contains("404") {
                format!(
                    "{}: the VOD server has no such playlist (an unknown camera, or no \
                     recordings in the range)",
                    e.reason
                )
            } else {
                e.reason
            };
            Error::Vod {
                url: e.url,
                reason,
                retryable: e.transient,
            }
        })?;
        match playlist::parse(&body, &url).map_err(|reason| Error::Vod {
            url: url.to_string(),
            reason,
            retryable: false,
        })? {
            Parsed::Media(p) => return Ok(p),
            Parsed::Master(next) => url = next,
        }
    }
    Err(Error::Vod {
        url: url.to_string(),
        reason: "a master playlist that points to another master playlist".into(),
        retryable: false,
    })
}

/// The VOD server's answer: its playlist, and the client that fetches the
/// fragments.
pub(super) struct Vod {
    list: VodPlaylist,
    client: HttpClient,
    /// What the playlist said of its place in time.
    warnings: Vec<Warning>,
}

/// Fetches the playlist of `req` (the input of an HLS export).
pub(super) fn open(
    settings: &Settings,
    req: &ExportRequest,
    source: &HlsSource,
    cancel: &CancelToken,
) -> Result<Vod> {
    let url = playlist_url(req, source)?;
    let allow = HostAllowlist {
        extra: source.allow_hosts.clone(),
        only: settings.hls_only_hosts.clone(),
    };
    let client =
        HttpClient::new(allow, settings.hls_limits.clone()).map_err(|reason| Error::Vod {
            url: url.to_string(),
            reason,
            retryable: false,
        })?;
    let mut list = fetch_playlist(&client, &url, cancel)?;
    let warnings = in_range(&mut list, &url, req)?;
    tracing::info!(
        stage = "playlist",
        url = %url,
        groups = list.groups.len(),
        fragments = list.fragment_count(),
        duration_s = list.duration_s(),
        "playlist read"
    );
    Ok(Vod {
        list,
        client,
        warnings,
    })
}

/// Longest a playlist may run past the range's length and still be taken
/// for it: the server starts at the keyframe before the start (up to a
/// long GOP earlier).
fn range_slack_s(range_s: f64) -> f64 {
    75.0_f64.max(0.1 * range_s)
}

/// Holds `list` to the range of `req` (whose times name the export): a
/// playlist with program date-times is trimmed to it; one that names its
/// range in its URL (the NVR's routes) holds that range; one that says
/// nothing of its place in time is taken with a warning if its length fits
/// the range, and refused if it cannot be the range.
fn in_range(list: &mut VodPlaylist, url: &Url, req: &ExportRequest) -> Result<Vec<Warning>> {
    let refuse = |reason: String| Error::Vod {
        url: url.to_string(),
        reason,
        retryable: false,
    };
    if list.has_wall_times() {
        list.trim_to(req.start_s, req.end_s).map_err(refuse)?;
        return Ok(Vec::new());
    }
    let range_s = req.end_s - req.start_s;
    let held_s = list.duration_s();
    if held_s > range_s + range_slack_s(range_s) {
        return Err(refuse(format!(
            "the playlist holds {held_s:.1} s for a range of {range_s:.1} s and does not say \
             where it lies in time (no program date-times): it cannot be trimmed to the \
             range; give the NVR's address (--vod-base) or the playlist of the range"
        )));
    }
    if playlist::url_range(url).is_some() {
        return Ok(Vec::new());
    }
    Ok(vec![Warning::PlaylistRange {
        reason: format!(
            "the playlist does not say where it lies in time (no range in its URL, no program \
             date-times): its {held_s:.1} s are named for the range asked for"
        ),
    }])
}

/// Writes the fragments of `vod` to `out`, with chapters placed by the
/// catalogue's rows (see the module doc).
pub(super) fn write(
    vod: Vod,
    settings: &Settings,
    req: &ExportRequest,
    reads: &Reads,
    out: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<Written> {
    reporter.step(Step::Copying, 0.0)?;
    let (rows, reviews) = (&reads.vod_rows, &reads.reviews);
    let list = vod.list;
    let mut range_warnings = vod.warnings;
    let unpaired = std::cell::Cell::new(None);
    let by_group = list.groups.len() > 1;
    let exact = req.start_at == StartAt::Exact;
    let make_chapters = |spans: &[FragmentSpan]| -> Placed {
        // One unit per clip: a group, or (one init) a fragment.
        let mut units: Vec<(OutTicks, OutTicks)> = Vec::new();
        let mut last_group = None;
        for sp in spans {
            match units.last_mut() {
                Some(u) if by_group && last_group == Some(sp.group) => u.1 = sp.end,
                _ => units.push((sp.start, sp.end)),
            }
            last_group = Some(sp.group);
        }
        if units.len() != rows.len() {
            if req.chapters == ChapterMode::RecordingSegments
                || !reviews.is_empty()
                || req.timestamps
                || exact
            {
                unpaired.set(Some((units.len(), rows.len())));
            }
            return Placed::default();
        }
        let clips = units
            .iter()
            .zip(rows)
            .enumerate()
            .map(|(i, (&(start, end), row))| {
                let dur = end - start;
                // A first clip cut at the requested start (snapped back
                // to a keyframe) ends where its row ends; any other clip
                // starts where its row starts.
                let wall_start_s = if i == 0 && req.start_s > row.start_s {
                    row.end_s.min(req.end_s) - dur.seconds()
                } else {
                    row.start_s
                };
                Clip {
                    segment: i,
                    segment_id: row.id.clone(),
                    time_base: Rational::new(1, 90_000),
                    first_dts: 0,
                    end_dts: 0,
                    origin_pts: 0,
                    end_pts: 0,
                    wall_start_s,
                    wall_end_s: wall_start_s + dur.seconds(),
                    offset: start,
                    duration: dur,
                    starts_mid_segment: false,
                    cut_at_end: false,
                    exact: false,
                    lift: None,
                }
            })
            .collect();
        let plan = Plan {
            start_s: req.start_s,
            end_s: req.end_s,
            clips,
        };
        let zone = Zone::or_utc(req.timezone.as_deref());
        let mut cues = if req.timestamps {
            timestamps::cues(&plan, zone)
        } else {
            Vec::new()
        };
        let mut chapters = chapters::build(req.chapters, &plan, reviews, zone);
        // An exact cut: the requested instants on this timeline; chapters
        // and cues move onto the visible one.
        let cut = exact
            .then(|| {
                (
                    plan.wall_to_output(req.start_s),
                    plan.wall_to_output(req.end_s),
                )
            })
            .filter(|(a, b)| b > a);
        if let Some((a, b)) = cut {
            let onto = |t: OutTicks| (t - a).clamp(OutTicks::ZERO, b - a);
            cues.retain(|c| c.end > a && c.start < b);
            for c in &mut cues {
                (c.start, c.end) = (onto(c.start), onto(c.end));
            }
            chapters.retain(|c| c.end > a && c.start < b);
            for c in &mut chapters {
                (c.start, c.end) = (onto(c.start), onto(c.end));
            }
        }
        Placed {
            chapters,
            cues,
            cut,
        }
    };
    let job = HlsJob {
        playlist: &list,
        client: vod.client,
        metadata: &reads.metadata,
        creation_s: req.start_s,
        max_samples: settings.max_samples,
        chapters: (req.chapters != ChapterMode::None || req.timestamps || exact)
            .then_some(&make_chapters as _),
    };
    let written = hls::write(&job, out, reporter)?;
    let mut warnings = written.warnings;
    warnings.append(&mut range_warnings);
    if let Some((clips, rows)) = unpaired.get() {
        warnings.push(Warning::ChaptersNotMade {
            reason: format!(
                "the playlist has {clips} clip(s) and the catalogue {rows} recording(s) in \
                     the range: they cannot be paired to place the chapters, the timestamps \
                     or an exact start (the export starts at the first keyframe)"
            ),
        });
    }
    if !written.skipped.is_empty() {
        warnings.push(Warning::SegmentsSkipped {
            skipped: written.skipped.clone(),
        });
    }
    Ok(Written {
        duration_s: written.duration_s,
        skipped: written.skipped,
        warnings,
        chapters: written.chapters,
        stats: written.stats,
    })
}
