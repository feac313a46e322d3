//! HLS playlists, as the NVR's VOD server (nginx-vod-module) writes them,
//! parsed with m3u8-rs into the shape an export needs: groups of fMP4
//! fragments that share one init segment and one timeline.
//!
//! Facts relied on (see `../shared/fixtures/nginx-vod-capture/README.md`):
//!
//! * The master playlist has one variant (`index-v1-a1.m3u8`); its media
//!   information is the *last* clip's.
//! * Media playlists are VOD (`#EXT-X-ENDLIST`), fMP4: `#EXT-X-MAP` names
//!   the init segment (`ftyp` + `moov` with `mvex`), fragments are
//!   `moof`+`mdat`, both tracks at 90 kHz.
//! * On `/vod/...` there is one `EXT-X-MAP` for the whole range, made from
//!   the last clip, and no `EXT-X-DISCONTINUITY`, even across a gap or a
//!   resolution change: one group, whose init may not describe every
//!   fragment. On `/vod/clip/...` every clip after the first starts with
//!   `EXT-X-DISCONTINUITY` and its own `EXT-X-MAP`: one group per clip.
//! * A tag applies from where it appears: a new `EXT-X-MAP`, or a
//!   discontinuity, starts a new group (a new init and a new timeline to
//!   rebase, like a new clip of the file source).
//!
//! MPEG-TS playlists (no `EXT-X-MAP`; what older NVRs serve for H.264) and
//! live playlists are refused by name.

use reqwest::Url;

/// Largest playlist accepted (a day of 10 s fragments is ~1 MB).
pub const MAX_PLAYLIST_BYTES: u64 = 8 << 20;

/// One fragment of a media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Fragment {
    pub url: Url,
    /// `#EXTINF` duration.
    pub duration_s: f64,
    /// Wall-clock start (unix seconds), where the playlist says it: the
    /// fragment's `#EXT-X-PROGRAM-DATE-TIME`, or the last one before it
    /// plus the durations since (within its group).
    pub wall_start_s: Option<f64>,
}

/// Fragments sharing one init segment and one timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub init: Url,
    pub fragments: Vec<Fragment>,
}

/// A parsed VOD media playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct VodPlaylist {
    pub groups: Vec<Group>,
}

impl VodPlaylist {
    /// Sum of the `#EXTINF` durations.
    pub fn duration_s(&self) -> f64 {
        self.groups
            .iter()
            .flat_map(|g| &g.fragments)
            .map(|f| f.duration_s)
            .sum()
    }

    pub fn fragment_count(&self) -> usize {
        self.groups.iter().map(|g| g.fragments.len()).sum()
    }
}

impl VodPlaylist {
    /// Whether every fragment says where it lies in wall-clock time.
    pub fn has_wall_times(&self) -> bool {
        self.groups
            .iter()
            .flat_map(|g| &g.fragments)
            .all(|f| f.wall_start_s.is_some())
    }

    /// Keeps the fragments that overlap `[start_s, end_s]` (only where
    /// [`VodPlaylist::has_wall_times`]); `Err` says what the playlist
    /// holds when nothing of it is in the range.
    pub fn trim_to(&mut self, start_s: f64, end_s: f64) -> Result<(), String> {
        let span = |f: &Fragment| {
            let s = f.wall_start_s.unwrap_or(f64::NAN);
            (s, s + f.duration_s)
        };
        let all: Vec<(f64, f64)> = self
            .groups
            .iter()
            .flat_map(|g| &g.fragments)
            .map(span)
            .collect();
        let (first, last) = (
            all.iter().map(|s| s.0).fold(f64::INFINITY, f64::min),
            all.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max),
        );
        for g in &mut self.groups {
            g.fragments.retain(|f| {
                let (s, e) = span(f);
                e > start_s && s < end_s
            });
        }
        self.groups.retain(|g| !g.fragments.is_empty());
        if self.groups.is_empty() {
            return Err(format!(
                "the playlist holds nothing of the range: its program date-times run from \
                 {first:.3} to {last:.3} (unix seconds)"
            ));
        }
        Ok(())
    }
}

/// The range a VOD URL names (`.../start/<s>/end/<e>/...`, both forms of
/// the NVR's routes), in unix seconds.
pub fn url_range(url: &Url) -> Option<(f64, f64)> {
    let parts: Vec<&str> = url.path_segments()?.collect();
    let after = |key: &str| {
        parts
            .windows(2)
            .find(|w| w[0] == key)
            .and_then(|w| w[1].parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    Some((after("start")?, after("end")?))
}

/// What a playlist URL held.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A master playlist: the variant to fetch (highest bandwidth).
    Master(Url),
    Media(VodPlaylist),
}

/// Parses `bytes`, fetched from `url` (relative URIs resolve against it).
/// `Err` says what is wrong, for the user.
pub fn parse(bytes: &[u8], url: &Url) -> Result<Parsed, String> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(format!(
            "not a playlist: byte {} is not UTF-8 text (an HLS playlist is)",
            e.valid_up_to()
        ));
    }
    let playlist = m3u8_rs::parse_playlist_res(bytes)
        .map_err(|_| "not an HLS playlist (m3u8-rs could not parse it)".to_string())?;
    // Every URI stays on the web: a line that joins to another scheme (a
    // tag missing its `#` reads as `EXTINF:...`, a URI; found by fuzzing)
    // is refused here, not left for the fetch to refuse.
    let join = |uri: &str| {
        let joined = url
            .join(uri)
            .map_err(|e| format!("bad URI {uri:?} in the playlist: {e}"))?;
        match joined.scheme() {
            "http" | "https" => Ok(joined),
            other => Err(format!(
                "URI {uri:?} in the playlist is not an http URL (scheme {other:?}): a tag missing its '#'?"
            )),
        }
    };
    match playlist {
        m3u8_rs::Playlist::MasterPlaylist(m) => {
            let best = m
                .variants
                .iter()
                .filter(|v| !v.is_i_frame)
                .max_by_key(|v| v.bandwidth)
                .ok_or("a master playlist without variants")?;
            Ok(Parsed::Master(join(&best.uri)?))
        }
        m3u8_rs::Playlist::MediaPlaylist(m) => {
            if !m.end_list {
                return Err(
                    "a live playlist (no #EXT-X-ENDLIST): only VOD ranges are exported".into(),
                );
            }
            let mut groups: Vec<Group> = Vec::new();
            let mut map: Option<Url> = None;
            for seg in &m.segments {
                if seg
                    .key
                    .as_ref()
                    .is_some_and(|k| k.method != m3u8_rs::KeyMethod::None)
                {
                    return Err("encrypted fragments (#EXT-X-KEY) are not supported".into());
                }
                if seg.byte_range.is_some() {
                    return Err("byte-range fragments (#EXT-X-BYTERANGE) are not supported".into());
                }
                let new_map = match &seg.map {
                    Some(mp) => Some(join(&mp.uri)?),
                    None => None,
                };
                let starts_group = seg.discontinuity
                    || groups.is_empty()
                    || new_map.as_ref().is_some_and(|n| Some(n) != map.as_ref());
                if let Some(n) = new_map {
                    map = Some(n);
                }
                let Some(init) = map.clone() else {
                    return Err("fragments without #EXT-X-MAP: an MPEG-TS playlist; \
                                ask for fMP4 (the NVR's VOD server serves it since 0.17)"
                        .into());
                };
                if !(seg.duration.is_finite() && seg.duration >= 0.0) {
                    return Err(format!("fragment {:?} has no usable duration", seg.uri));
                }
                let wall_start_s = match &seg.program_date_time {
                    Some(t) => Some(t.timestamp_millis() as f64 / 1000.0),
                    None if starts_group && seg.discontinuity => None,
                    None => groups
                        .last()
                        .and_then(|g| g.fragments.last())
                        .and_then(|f| Some(f.wall_start_s? + f.duration_s)),
                };
                let fragment = Fragment {
                    url: join(&seg.uri)?,
                    duration_s: seg.duration as f64,
                    wall_start_s,
                };
                if starts_group {
                    groups.push(Group {
                        init,
                        fragments: vec![fragment],
                    });
                } else if let Some(g) = groups.last_mut() {
                    g.fragments.push(fragment);
                }
            }
            if groups.is_empty() {
                return Err("the playlist lists no fragments".into());
            }
            Ok(Parsed::Media(VodPlaylist { groups }))
        }
    }
}

/// The NVR's VOD URL for `camera` from `start_s` to `end_s` under `base`
/// (e.g. `http://127.0.0.1:5000`): `/vod/clip/...`, the form with an init
/// per clip, so a camera restart with new parameters exports cleanly.
pub fn vod_url(base: &Url, camera: &str, start_s: f64, end_s: f64) -> Result<Url, String> {
    let path = format!(
        "vod/clip/{camera}/start/{}/end/{}/index.m3u8",
        fmt_time(start_s),
        fmt_time(end_s)
    );
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        let p = format!("{}/", base.path());
        base.set_path(&p);
    }
    base.join(&path)
        .map_err(|e| format!("cannot build the VOD URL: {e}"))
}

/// Seconds as the NVR's routes take them: integers without a fraction.
fn fmt_time(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}", s as i64)
    } else {
        format!("{s:.3}")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    // As the NVR's VOD server sent them (`nginx-vod-capture/full`, `clip_full`).
    pub(crate) const FULL: &str = r#"#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-ALLOW-CACHE:YES
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-VERSION:6
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-v1-a1.mp4"
#EXTINF:10.027,
seg-1-v1-a1.m4s
#EXTINF:10.011,
seg-2-v1-a1.m4s
#EXTINF:10.016,
seg-3-v1-a1.m4s
#EXTINF:10.000,
seg-4-v1-a1.m4s
#EXTINF:10.006,
seg-5-v1-a1.m4s
#EXTINF:10.011,
seg-6-v1-a1.m4s
#EXTINF:10.027,
seg-7-v1-a1.m4s
#EXT-X-ENDLIST
"#;
    pub(crate) const CLIP: &str = r#"#EXTM3U
#EXT-X-TARGETDURATION:10
#EXT-X-ALLOW-CACHE:YES
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-VERSION:6
#EXT-X-MEDIA-SEQUENCE:1
#EXT-X-MAP:URI="init-c1-v1-a1.mp4"
#EXTINF:10.027,
seg-1-v1-a1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-c2-v1-a1.mp4"
#EXTINF:10.011,
seg-3-v1-a1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-c3-v1-a1.mp4"
#EXTINF:10.016,
seg-5-v1-a1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-c4-v1-a1.mp4"
#EXTINF:10.000,
seg-7-v1-a1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-c5-v1-a1.mp4"
#EXTINF:10.006,
seg-8-v1-a1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-c6-v1-a1.mp4"
#EXTINF:10.011,
seg-10-v1-a1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init-c7-v1-a1.mp4"
#EXTINF:10.027,
seg-12-v1-a1.m4s
#EXT-X-ENDLIST
"#;
    pub(crate) const MASTER: &str = r#"#EXTM3U
#EXT-X-STREAM-INF:PROGRAM-ID=1,BANDWIDTH=603740,RESOLUTION=640x360,FRAME-RATE=21.913,CODECS="avc1.4d4016,mp4a.40.2"
index-v1-a1.m3u8

"#;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn vod_and_vod_clip_playlists_make_one_group_and_one_group_per_clip() {
        let full = FULL.as_bytes();
        let base = url("http://127.0.0.1:5000/vod/test_cam/start/1/end/2/index.m3u8");
        let Parsed::Media(p) = parse(full, &base).unwrap() else {
            panic!("media playlist expected")
        };
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.fragment_count(), 7);
        assert!(
            (p.duration_s() - 70.098).abs() < 0.001,
            "{}",
            p.duration_s()
        );
        assert_eq!(
            p.groups[0].init.as_str(),
            "http://127.0.0.1:5000/vod/test_cam/start/1/end/2/init-v1-a1.mp4"
        );
        let Parsed::Media(p) = parse(CLIP.as_bytes(), &base).unwrap() else {
            panic!("media playlist expected")
        };
        assert_eq!(p.groups.len(), 7);
        assert!(p.groups[6].init.as_str().ends_with("init-c7-v1-a1.mp4"));
        assert!(p.groups[6].fragments[0]
            .url
            .as_str()
            .ends_with("seg-12-v1-a1.m4s"));
        assert_eq!(
            parse(MASTER.as_bytes(), &base).unwrap(),
            Parsed::Master(url(
                "http://127.0.0.1:5000/vod/test_cam/start/1/end/2/index-v1-a1.m3u8"
            ))
        );
    }

    #[test]
    fn what_is_not_a_vod_fmp4_playlist_is_refused_by_name() {
        let base = url("http://127.0.0.1/x/index.m3u8");
        let live =
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MAP:URI=\"i.mp4\"\n#EXTINF:10,\na.m4s\n";
        assert!(parse(live, &base).unwrap_err().contains("live"));
        let ts = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\na.ts\n#EXT-X-ENDLIST\n";
        assert!(parse(ts, &base).unwrap_err().contains("MPEG-TS"));
        assert!(parse(b"<html>", &base)
            .unwrap_err()
            .contains("not an HLS playlist"));
    }

    #[test]
    fn the_nvr_vod_path() {
        let u = vod_url(
            &url("http://127.0.0.1:5000"),
            "front_door",
            1_700_000_000.0,
            1_700_000_060.5,
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:5000/vod/clip/front_door/start/1700000000/end/1700000060.500/index.m3u8"
        );
    }

    #[test]
    fn program_date_times_place_and_trim_the_fragments() {
        let mut text = String::from(
            "#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:4\n\
             #EXT-X-MAP:URI=\"init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-15T12:00:00.000Z\n",
        );
        for i in 0..10 {
            text.push_str(&format!("#EXTINF:4.0,\nseg-{i}.m4s\n"));
        }
        text.push_str("#EXT-X-ENDLIST\n");
        let url = Url::parse("http://127.0.0.1/vod/x/index.m3u8").unwrap();
        let Parsed::Media(mut list) = parse(text.as_bytes(), &url).unwrap() else {
            panic!("a media playlist")
        };
        assert!(list.has_wall_times());
        let t0 = 1_768_478_400.0; // 2026-01-15 12:00:00 UTC
                                  // 12:00:09-12:00:17 overlaps fragments 2 (8-12), 3 (12-16), 4 (16-20).
        list.trim_to(t0 + 9.0, t0 + 17.0).unwrap();
        let kept: Vec<String> = list.groups[0]
            .fragments
            .iter()
            .map(|f| f.url.path().rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(kept, ["seg-2.m4s", "seg-3.m4s", "seg-4.m4s"]);
        let e = list.clone().trim_to(t0 + 100.0, t0 + 110.0).unwrap_err();
        assert!(e.contains("holds nothing of the range"), "{e}");
        // Without program date-times nothing says where it is.
        let plain = text.replace("#EXT-X-PROGRAM-DATE-TIME:2026-01-15T12:00:00.000Z\n", "");
        let Parsed::Media(list) = parse(plain.as_bytes(), &url).unwrap() else {
            panic!()
        };
        assert!(!list.has_wall_times());
        assert_eq!(
            url_range(
                &Url::parse("http://h/vod/clip/cam/start/1768478415.5/end/1768478445/index.m3u8")
                    .unwrap()
            ),
            Some((1_768_478_415.5, 1_768_478_445.0))
        );
        assert_eq!(url_range(&url), None);
    }

    #[test]
    fn a_playlist_that_is_not_utf8_is_named_as_such() {
        let url = Url::parse("http://127.0.0.1/x.m3u8").unwrap();
        let e = parse(
            b"#EXTM3U\n#EXTINF:4.0,\nseg\xff.m4s\n#EXT-X-ENDLIST\n",
            &url,
        )
        .unwrap_err();
        assert!(e.contains("not UTF-8"), "{e}");
    }
}
