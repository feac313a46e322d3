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

use std::time::Instant;

use reqwest::Url;

use super::{ExportOutcome, ExportRequest, Exporter, HlsSource, Prepared, Written};
use crate::error::{Error, Result};
use crate::output::StagedFile;
use crate::plan::chapters::{self, Chapter, ChapterMode};
use crate::plan::{Clip, Plan};
use crate::progress::{Reporter, Step};
use crate::remux::hls::{self, FragmentSpan, HlsJob};
use crate::source::hls::http::{HostAllowlist, HttpClient};
use crate::source::hls::playlist::{self, Parsed, VodPlaylist, MAX_PLAYLIST_BYTES};
use crate::time::OutTicks;
use crate::timefmt::Zone;
use ffmpeg_next::Rational;

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
pub(crate) fn fetch_playlist(
    client: &HttpClient,
    url: &Url,
    cancel: &crate::progress::CancelToken,
) -> Result<VodPlaylist> {
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

impl Exporter {
    pub(super) fn run_hls(
        &self,
        req: &ExportRequest,
        source: &HlsSource,
        p: &Prepared,
        reporter: &mut Reporter<'_>,
        started: Instant,
    ) -> Result<(ExportOutcome, bool)> {
        let cancel = reporter.cancel_token().clone();
        let url = playlist_url(req, source)?;
        let allow = HostAllowlist {
            extra: source.allow_hosts.clone(),
            only: self.hls_only_hosts.clone(),
        };
        let client =
            HttpClient::new(allow, self.hls_limits.clone()).map_err(|reason| Error::Vod {
                url: url.to_string(),
                reason,
                retryable: false,
            })?;
        let list = fetch_playlist(&client, &url, &cancel)?;
        let probed_s = started.elapsed().as_secs_f64();
        tracing::info!(
            stage = "playlist",
            url = %url,
            groups = list.groups.len(),
            fragments = list.fragment_count(),
            duration_s = list.duration_s(),
            "playlist read"
        );
        let staged = StagedFile::create(&p.video_path, &p.row.id)?;
        reporter.step(Step::Copying, 0.0)?;
        let (rows, reviews) = match req.chapters {
            ChapterMode::None => (Vec::new(), Vec::new()),
            mode => (
                p.catalogue
                    .recordings_overlapping(&req.camera, req.start_s, req.end_s)?
                    .0,
                if mode == ChapterMode::ReviewItems {
                    p.catalogue
                        .reviews_overlapping(&req.camera, req.start_s, req.end_s)?
                } else {
                    Vec::new()
                },
            ),
        };
        let unpaired = std::cell::Cell::new(None);
        let by_group = list.groups.len() > 1;
        let make_chapters = |spans: &[FragmentSpan]| -> Vec<Chapter> {
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
                if req.chapters == ChapterMode::RecordingSegments || !reviews.is_empty() {
                    unpaired.set(Some((units.len(), rows.len())));
                }
                return Vec::new();
            }
            let clips = units
                .iter()
                .zip(&rows)
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
            chapters::build(
                req.chapters,
                &plan,
                &reviews,
                Zone::or_utc(req.timezone.as_deref()),
            )
        };
        let job = HlsJob {
            playlist: &list,
            client,
            metadata: &p.metadata,
            creation_s: req.start_s,
            max_samples: self.max_samples,
            chapters: (req.chapters != ChapterMode::None).then_some(&make_chapters as _),
        };
        let written = hls::write(&job, staged.temp_path(), reporter)?;
        let mut warnings = written.warnings;
        if let Some((clips, rows)) = unpaired.get() {
            warnings.push(crate::error::Warning::ChaptersNotMade {
                reason: format!(
                    "the playlist has {clips} clip(s) and the catalogue {rows} recording(s) in \
                     the range: they cannot be paired to place the chapters"
                ),
            });
        }
        if !written.skipped.is_empty() {
            warnings.push(crate::error::Warning::SegmentsSkipped {
                skipped: written.skipped.clone(),
            });
        }
        let done = Written {
            duration_s: written.duration_s,
            skipped: written.skipped,
            warnings,
            chapters: written.chapters,
            stats: written.stats,
        };
        p.complete(staged, reporter, done, started, probed_s)
    }
}
