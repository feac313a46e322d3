//! Untrusted "ffmpeg args" (the NVR's custom-export input and output
//! argument strings) turned into typed [`EncodeOptions`].
//!
//! The NVR accepts only an allowlist (see `frigate-model.md`, step 5):
//!
//! * value-less flags `-an -sn -dn`;
//! * filter flags `-vf -af -filter` whose graph is a chain of `setpts fps
//!   scale format transpose hflip vflip crop pad setsar setdar`, with no
//!   `[`, `]`, `..`, `://`, `movie=`, `textfile=`, `filename=`, `fontfile=`;
//! * value flags `-c -codec -b -crf -qp -q -qscale -preset -tune -profile
//!   -level -pix_fmt -r -g -keyint_min -sc_threshold -bf -refs -qmin -qmax
//!   -maxrate -minrate -bufsize -movflags -threads -aspect -fps_mode -vsync
//!   -skip_frame` (stream specifiers such as `-c:v` allowed) whose value
//!   matches `^[A-Za-z0-9_.:+][A-Za-z0-9_.:+-]*$`.
//!
//! Anything else (a bare token, a missing value, another flag) is refused
//! with an [`Error::ForbiddenArgument`] naming the token. This goes further
//! than the NVR: every accepted flag and filter is parsed into a typed field
//! (numbers as numbers, a `setpts` only as a constant factor), and the
//! encoder is configured from those fields alone. No option string from
//! the user ever reaches libav.

use std::sync::OnceLock;

use regex::Regex;

use crate::error::{Error, Result};

/// Value-less flags.
const BARE_FLAGS: &[&str] = &["an", "sn", "dn"];
/// Flags whose value is a filter graph.
const FILTER_FLAGS: &[&str] = &["vf", "af", "filter"];
/// Flags whose value matches [`value_ok`]'s pattern.
const VALUE_FLAGS: &[&str] = &[
    "c",
    "codec",
    "b",
    "crf",
    "qp",
    "q",
    "qscale",
    "preset",
    "tune",
    "profile",
    "level",
    "pix_fmt",
    "r",
    "g",
    "keyint_min",
    "sc_threshold",
    "bf",
    "refs",
    "qmin",
    "qmax",
    "maxrate",
    "minrate",
    "bufsize",
    "movflags",
    "threads",
    "aspect",
    "fps_mode",
    "vsync",
    "skip_frame",
];
/// Filters a graph may use.
const FILTERS: &[&str] = &[
    "setpts",
    "fps",
    "scale",
    "format",
    "transpose",
    "hflip",
    "vflip",
    "crop",
    "pad",
    "setsar",
    "setdar",
];
/// Substrings refused anywhere in a filter graph.
const GRAPH_FORBIDDEN: &[&str] = &[
    "[",
    "]",
    "..",
    "://",
    "movie=",
    "textfile=",
    "filename=",
    "fontfile=",
];

/// Whether `text` matches the constant `pattern` (compiled once; a pattern
/// that did not compile matches nothing, so it refuses rather than admits).
fn matches(cell: &'static OnceLock<Option<Regex>>, pattern: &str, text: &str) -> bool {
    cell.get_or_init(|| Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|r| r.is_match(text))
}

fn value_ok(v: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    matches(&RE, r"^[A-Za-z0-9_.:+][A-Za-z0-9_.:+-]*$", v)
}

/// A filter argument: a number or a short arithmetic expression over the
/// filter's own variables (`iw/2`, `-2`, `ih*9/16`).
fn expr_chars_ok(a: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    matches(&RE, r"^[A-Za-z0-9_.*/+()-]{1,32}$", a)
}

/// Names a filter expression may use: the scale/crop/pad variables and a
/// few functions. Anything else (a word that could name a file, a
/// variable of another filter) is refused.
const EXPR_NAMES: &[&str] = &[
    "iw", "ih", "ow", "oh", "in_w", "in_h", "out_w", "out_h", "w", "h", "a", "sar", "dar", "x",
    "y", "hsub", "vsub", "n", "t", "min", "max", "trunc", "floor", "ceil", "round", "PI", "E",
];

/// A filter expression: [`expr_chars_ok`]'s characters, and only [`EXPR_NAMES`]
/// as words (every run of letters, wherever it starts: `720tee` is refused).
fn is_expr(a: &str) -> bool {
    static WORD: OnceLock<Option<Regex>> = OnceLock::new();
    let Some(word) = WORD
        .get_or_init(|| Regex::new(r"[A-Za-z_][A-Za-z0-9_]*").ok())
        .as_ref()
    else {
        return false;
    };
    // (An expression never starts with '/' nor holds "//": refused, so that
    // no rebuilt graph can join ':' and "//" into a URL's "://".)
    !a.starts_with('/')
        && !a.contains("//")
        && expr_chars_ok(a)
        && word.find_iter(a).all(|w| EXPR_NAMES.contains(&w.as_str()))
}

/// A pixel format libav knows (`yuv420p`, `nv12`...).
fn is_pix_fmt(name: &str) -> bool {
    crate::media::init();
    name.parse::<ffmpeg_next::format::Pixel>()
        .is_ok_and(|p| p != ffmpeg_next::format::Pixel::None)
}

/// Which stream a flag applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Video,
    Audio,
    /// No specifier, or one naming all streams.
    All,
}

/// One filter of the chain, typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `setpts=F*PTS` (also `PTS*F`, `PTS/D`, `PTS`): timestamps times `factor`.
    Setpts {
        factor: f64,
    },
    Fps {
        rate: f64,
    },
    Scale {
        width: String,
        height: String,
    },
    Format {
        pix_fmt: String,
    },
    Transpose {
        dir: u8,
    },
    Hflip,
    Vflip,
    Crop {
        args: Vec<String>,
    },
    Pad {
        args: Vec<String>,
    },
    Setsar {
        ratio: String,
    },
    Setdar {
        ratio: String,
    },
}

impl Filter {
    /// The filter as libav's graph syntax, rebuilt from the typed fields.
    pub fn to_graph(&self) -> String {
        match self {
            Filter::Setpts { factor } => format!("setpts={factor}*PTS"),
            Filter::Fps { rate } => format!("fps={rate}"),
            Filter::Scale { width, height } => format!("scale={width}:{height}"),
            Filter::Format { pix_fmt } => format!("format={pix_fmt}"),
            Filter::Transpose { dir } => format!("transpose={dir}"),
            Filter::Hflip => "hflip".into(),
            Filter::Vflip => "vflip".into(),
            Filter::Crop { args } => format!("crop={}", args.join(":")),
            Filter::Pad { args } => format!("pad={}", args.join(":")),
            Filter::Setsar { ratio } => format!("setsar={ratio}"),
            Filter::Setdar { ratio } => format!("setdar={ratio}"),
        }
    }
}

/// Everything the allowlist can say, typed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodeOptions {
    pub no_audio: bool,
    pub no_subtitles: bool,
    pub no_data: bool,
    pub video_codec: Option<String>,
    pub audio_codec: Option<String>,
    /// Video bit rate, bits a second.
    pub bitrate: Option<u64>,
    pub crf: Option<f32>,
    pub qp: Option<u32>,
    pub qscale: Option<f32>,
    pub preset: Option<String>,
    pub tune: Option<String>,
    pub profile: Option<String>,
    pub level: Option<String>,
    pub pix_fmt: Option<String>,
    /// Output frame rate (`-r`).
    pub rate: Option<f64>,
    pub gop: Option<u32>,
    pub keyint_min: Option<u32>,
    pub sc_threshold: Option<i32>,
    pub b_frames: Option<u32>,
    pub refs: Option<u32>,
    pub qmin: Option<u32>,
    pub qmax: Option<u32>,
    pub maxrate: Option<u64>,
    pub minrate: Option<u64>,
    pub bufsize: Option<u64>,
    /// `-movflags` (only `faststart` means anything: the output is always fast-start).
    pub movflags: Option<String>,
    pub threads: Option<u32>,
    pub aspect: Option<String>,
    pub fps_mode: Option<String>,
    /// `-skip_frame` on the input (`nokey`: decode keyframes only).
    pub skip_frame: Option<String>,
    pub video_filters: Vec<Filter>,
    pub audio_filters: Vec<Filter>,
}

impl EncodeOptions {
    /// The product of every `setpts` factor (1 without one): the output
    /// timeline is the input's times this.
    pub fn time_factor(&self) -> f64 {
        self.video_filters
            .iter()
            .filter_map(|f| match f {
                Filter::Setpts { factor } => Some(*factor),
                _ => None,
            })
            .product()
    }

    /// The video filter chain for libav, rebuilt from the typed filters.
    pub fn video_graph(&self) -> String {
        self.video_filters
            .iter()
            .map(Filter::to_graph)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The NVR's default timelapse arguments (25x, 30 fps).
pub const DEFAULT_TIMELAPSE_ARGS: &str = "-vf setpts=0.04*PTS -r 30";

/// Parses input and output argument strings into one [`EncodeOptions`].
pub fn parse(input_args: &str, output_args: &str) -> Result<EncodeOptions> {
    let mut o = EncodeOptions::default();
    parse_into(input_args, &mut o)?;
    parse_into(output_args, &mut o)?;
    if let Some(name) = &o.video_codec {
        check_video_encoder(name)?;
    }
    // What reaches libav is rebuilt from typed values; it passes the same
    // check as what was typed.
    let graph = o.video_graph();
    if let Some(bad) = GRAPH_FORBIDDEN.iter().find(|b| graph.contains(**b)) {
        return Err(refuse(
            &graph,
            format!("filter graphs may not contain {bad:?}"),
        ));
    }
    Ok(o)
}

/// A video encoder the export can use: one this libav has, for a codec an
/// MP4 carries for players. Checked here so that `validate-args` and the
/// export give one verdict.
fn check_video_encoder(name: &str) -> Result<()> {
    use ffmpeg_next::codec::Id;
    if name == "copy" {
        return Err(refuse(
            name,
            "copy is not an encode: export without encode arguments to copy the recordings",
        ));
    }
    crate::media::init();
    let codec = ffmpeg_next::encoder::find_by_name(substitute(name))
        .ok_or_else(|| refuse(name, "no such encoder in this libav"))?;
    if !codec.is_video() {
        return Err(refuse(name, "not a video encoder"));
    }
    match codec.id() {
        Id::H264 | Id::HEVC | Id::AV1 | Id::VP9 => Ok(()),
        other => Err(refuse(
            name,
            format!("encodes {other:?}: an MP4 export is H.264, HEVC, AV1 or VP9"),
        )),
    }
}

/// The encoder that stands in for `name` in this libav: OpenH264 for
/// libx264 where the build has no GPL code (NVR users' arguments name
/// libx264); else `name` itself.
pub fn substitute(name: &str) -> &str {
    if name == "libx264" {
        crate::media::encode::software_h264()
    } else {
        name
    }
}

fn refuse(arg: &str, reason: impl Into<String>) -> Error {
    Error::ForbiddenArgument {
        arg: arg.to_string(),
        reason: reason.into(),
    }
}

/// Parses one argument string into `o`.
pub fn parse_into(args: &str, o: &mut EncodeOptions) -> Result<()> {
    let mut tokens = args.split_whitespace();
    while let Some(tok) = tokens.next() {
        let Some(flag) = tok
            .strip_prefix('-')
            .filter(|f| !f.is_empty() && !f.starts_with('-'))
        else {
            return Err(refuse(
                tok,
                "a bare value without a flag: only allowed flags and their values",
            ));
        };
        let (base, spec) = match flag.split_once(':') {
            Some((b, s)) => (b, Some(s)),
            None => (flag, None),
        };
        let kind = match spec {
            None => StreamKind::All,
            Some("v") | Some("v:0") | Some("0:v") => StreamKind::Video,
            Some("a") | Some("a:0") | Some("0:a") => StreamKind::Audio,
            Some(_) => return Err(refuse(tok, "stream specifier: only :v or :a")),
        };
        if BARE_FLAGS.contains(&base) {
            if spec.is_some() {
                return Err(refuse(tok, "takes no stream specifier"));
            }
            match base {
                "an" => o.no_audio = true,
                "sn" => o.no_subtitles = true,
                _ => o.no_data = true,
            }
            continue;
        }
        let is_filter = FILTER_FLAGS.contains(&base);
        if !is_filter && !VALUE_FLAGS.contains(&base) {
            return Err(refuse(tok, "not an allowed argument (input and output files, protocols and other flags are not accepted)"));
        }
        let Some(value) = tokens.next() else {
            return Err(refuse(tok, "is missing its value"));
        };
        if is_filter {
            let filters = parse_graph(value)?;
            let audio = base == "af" || kind == StreamKind::Audio;
            if audio {
                if !filters.is_empty() {
                    // No audio filter of the allowlist applies to audio the
                    // export keeps (audio is dropped when re-encoding).
                    o.audio_filters.extend(filters);
                }
            } else {
                o.video_filters.extend(filters);
            }
            continue;
        }
        if !value_ok(value) {
            return Err(refuse(value, format!("not an allowed value for -{base}")));
        }
        set_value(o, base, kind, tok, value)?;
    }
    Ok(())
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| refuse(value, format!("-{flag} needs a number")))
}

/// `2M`, `500k`, `1500000`: bits a second.
fn rate_value(flag: &str, value: &str) -> Result<u64> {
    let (num, mul) = match value.chars().last() {
        Some('k' | 'K') => (&value[..value.len() - 1], 1e3),
        Some('M') => (&value[..value.len() - 1], 1e6),
        Some('G') => (&value[..value.len() - 1], 1e9),
        _ => (value, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * mul < 1e12 => Ok((v * mul) as u64),
        _ => Err(refuse(
            value,
            format!("-{flag} needs a rate such as 2M or 500k"),
        )),
    }
}

/// `30`, `29.97`, `30000/1001`.
fn frame_rate(flag: &str, value: &str) -> Result<f64> {
    let r = match value.split_once('/') {
        Some((n, d)) => n
            .parse::<f64>()
            .ok()
            .zip(d.parse::<f64>().ok())
            .map(|(n, d)| n / d),
        None => value.parse::<f64>().ok(),
    };
    match r {
        Some(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(refuse(
            value,
            format!("-{flag} needs a frame rate between 0 and 1000"),
        )),
    }
}

fn set_value(
    o: &mut EncodeOptions,
    base: &str,
    kind: StreamKind,
    tok: &str,
    value: &str,
) -> Result<()> {
    let s = || Some(value.to_string());
    match base {
        "c" | "codec"
            if !value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') =>
        {
            return Err(refuse(value, "an encoder name (letters, digits, '_')"))
        }
        "c" | "codec" => match kind {
            StreamKind::Audio => o.audio_codec = s(),
            _ => o.video_codec = s(),
        },
        "b" => {
            if kind != StreamKind::Audio {
                o.bitrate = Some(rate_value(base, value)?)
            }
        }
        "crf" => o.crf = Some(number(base, value)?),
        "qp" => o.qp = Some(number(base, value)?),
        "q" | "qscale" => o.qscale = Some(number(base, value)?),
        "preset" => o.preset = s(),
        "tune" => o.tune = s(),
        "profile" => o.profile = s(),
        "level" => o.level = s(),
        "pix_fmt" if !is_pix_fmt(value) => return Err(refuse(value, "not a pixel format")),
        "pix_fmt" => o.pix_fmt = s(),
        "r" => o.rate = Some(frame_rate(base, value)?),
        "g" => o.gop = Some(number(base, value)?),
        "keyint_min" => o.keyint_min = Some(number(base, value)?),
        "sc_threshold" => o.sc_threshold = Some(number(base, value)?),
        "bf" => o.b_frames = Some(number(base, value)?),
        "refs" => o.refs = Some(number(base, value)?),
        "qmin" => o.qmin = Some(number(base, value)?),
        "qmax" => o.qmax = Some(number(base, value)?),
        "maxrate" => o.maxrate = Some(rate_value(base, value)?),
        "minrate" => o.minrate = Some(rate_value(base, value)?),
        "bufsize" => o.bufsize = Some(rate_value(base, value)?),
        "movflags" => o.movflags = s(),
        "threads" => o.threads = Some(number(base, value)?),
        "aspect" => o.aspect = s(),
        "fps_mode" | "vsync" => o.fps_mode = s(),
        "skip_frame" => match value {
            "nokey" | "default" | "noref" | "bidir" | "nointra" | "all" | "none" => {
                o.skip_frame = s()
            }
            _ => {
                return Err(refuse(
                    value,
                    "-skip_frame: nokey, noref, bidir, nointra, default, all or none",
                ))
            }
        },
        _ => return Err(refuse(tok, "not an allowed argument")),
    }
    Ok(())
}

/// Parses a filter chain (`setpts=0.04*PTS,scale=-2:720`).
pub fn parse_graph(graph: &str) -> Result<Vec<Filter>> {
    if let Some(bad) = GRAPH_FORBIDDEN.iter().find(|b| graph.contains(**b)) {
        return Err(refuse(
            graph,
            format!("filter graphs may not contain {bad:?}"),
        ));
    }
    if graph.contains(';') {
        return Err(refuse(graph, "one filter chain only (no ';')"));
    }
    graph.split(',').map(parse_filter).collect()
}

fn parse_filter(text: &str) -> Result<Filter> {
    let (name, args) = match text.split_once('=') {
        Some((n, a)) => (n, Some(a)),
        None => (text, None),
    };
    if !FILTERS.contains(&name) {
        return Err(refuse(
            text,
            format!(
                "filter {name:?} is not allowed (only {})",
                FILTERS.join(", ")
            ),
        ));
    }
    // Arguments by slot: positional ones fill the slots in order, named
    // ones (`key=value`, libav's option names) the slot of their key; an
    // unknown or repeated key, or a positional argument after a named one
    // (libav refuses it too), is refused. Values are checked for the slot's
    // filter. Found by fuzzing: keys used to be dropped and their values
    // taken positionally (`scale=h=720:w=1280` was 720 wide).
    let slots = |keys: &[&[&str]]| -> Result<Vec<Option<String>>> {
        let mut out: Vec<Option<String>> = vec![None; keys.len()];
        let mut next = 0usize;
        let mut named = false;
        for a in args.unwrap_or("").split(':').filter(|a| !a.is_empty()) {
            let (slot, value) = match a.split_once('=') {
                Some((key, value)) => {
                    named = true;
                    let slot = keys
                        .iter()
                        .position(|k| k.contains(&key))
                        .ok_or_else(|| refuse(a, format!("{name} has no option {key:?}")))?;
                    (slot, value)
                }
                None if named => {
                    return Err(refuse(
                        a,
                        format!("{name}: a positional argument after a named one"),
                    ))
                }
                None => {
                    next += 1;
                    (next - 1, a)
                }
            };
            let ok = match name {
                "scale" | "crop" | "pad" => is_expr(value),
                "format" => is_pix_fmt(value),
                "transpose" => value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                _ => value
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '/' || c == '.'),
            };
            if !ok || value.is_empty() {
                return Err(refuse(value, format!("not an allowed {name} argument")));
            }
            match out.get_mut(slot) {
                Some(s @ None) => *s = Some(value.to_string()),
                Some(Some(_)) => {
                    return Err(refuse(a, format!("{name}: {} given twice", keys[slot][0])))
                }
                None => {
                    return Err(refuse(
                        text,
                        format!("{name} takes at most {} arguments", keys.len()),
                    ))
                }
            }
        }
        if out.iter().all(Option::is_none) {
            return Err(refuse(text, format!("{name} takes an argument")));
        }
        Ok(out)
    };
    // One required value.
    let single = |keys: &[&str]| -> Result<String> {
        slots(&[keys])?
            .remove(0)
            .ok_or_else(|| refuse(text, format!("{name} takes one argument")))
    };
    // The slots as libav reads them: the leading filled ones positional,
    // the others by name.
    let pieces = |keys: &[&[&str]]| -> Result<Vec<String>> {
        let filled = slots(keys)?;
        let lead = filled.iter().take_while(|s| s.is_some()).count();
        Ok(filled
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.map(|v| {
                    if i < lead {
                        v
                    } else {
                        format!("{}={v}", keys[i][0])
                    }
                })
            })
            .collect())
    };
    Ok(match name {
        "setpts" => Filter::Setpts {
            factor: setpts_factor(args.unwrap_or("")).ok_or_else(|| {
                refuse(
                    text,
                    "setpts: only a constant factor (e.g. 0.04*PTS, PTS/25)",
                )
            })?,
        },
        "fps" => Filter::Fps {
            rate: frame_rate("fps", &single(&["fps"])?)?,
        },
        "scale" => {
            let mut a = slots(&[&["w", "width"], &["h", "height"]])?;
            // The side not given keeps the aspect ratio.
            Filter::Scale {
                width: a[0].take().unwrap_or_else(|| "-2".into()),
                height: a[1].take().unwrap_or_else(|| "-2".into()),
            }
        }
        "format" => Filter::Format {
            pix_fmt: single(&["pix_fmts"])?,
        },
        "transpose" => {
            let a = single(&["dir"])?;
            let dir = match a.as_str() {
                "0" | "cclock_flip" => 0,
                "1" | "clock" => 1,
                "2" | "cclock" => 2,
                "3" | "clock_flip" => 3,
                _ => {
                    return Err(refuse(
                        text,
                        "transpose: 0-3 or clock, cclock, clock_flip, cclock_flip",
                    ))
                }
            };
            Filter::Transpose { dir }
        }
        "hflip" | "vflip" if args.is_some() => {
            return Err(refuse(text, format!("{name} takes no arguments")))
        }
        "hflip" => Filter::Hflip,
        "vflip" => Filter::Vflip,
        "crop" => Filter::Crop {
            args: pieces(&[&["w", "out_w"], &["h", "out_h"], &["x"], &["y"]])?,
        },
        "pad" => Filter::Pad {
            args: pieces(&[
                &["w", "width"],
                &["h", "height"],
                &["x"],
                &["y"],
                &["color"],
            ])?,
        },
        "setsar" => Filter::Setsar {
            ratio: single(&["sar", "r"])?,
        },
        _ => Filter::Setdar {
            ratio: single(&["dar", "r"])?,
        },
    })
}

/// The factor of `F*PTS`, `PTS*F`, `PTS/D` or `PTS`.
fn setpts_factor(expr: &str) -> Option<f64> {
    let e: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    let num = |s: &str| {
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0 && *v <= 1000.0)
    };
    let f = if e == "PTS" {
        Some(1.0)
    } else if let Some(f) = e.strip_suffix("*PTS") {
        num(f)
    } else if let Some(f) = e.strip_prefix("PTS*") {
        num(f)
    } else if let Some(d) = e.strip_prefix("PTS/") {
        num(d).map(|d| 1.0 / d)
    } else {
        None
    }?;
    (f > 0.0).then_some(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(args: &str) -> String {
        match parse("", args) {
            Err(Error::ForbiddenArgument { arg, reason }) => format!("{arg}: {reason}"),
            other => panic!("{args:?} accepted: {other:?}"),
        }
    }

    #[test]
    fn the_default_timelapse_and_the_allowlist_cases() {
        let o = parse("", DEFAULT_TIMELAPSE_ARGS).unwrap();
        assert_eq!(o.video_filters, vec![Filter::Setpts { factor: 0.04 }]);
        assert_eq!(o.rate, Some(30.0));
        assert!((o.time_factor() - 0.04).abs() < 1e-12);
        assert_eq!(o.video_graph(), "setpts=0.04*PTS");
        let o = parse(
            "-an -sn -dn -skip_frame nokey",
            "-c:v libx264 -preset veryfast -tune zerolatency -crf 28 -profile:v high -level 4.1 \
             -pix_fmt yuv420p -r 29.97 -g 60 -keyint_min 30 -sc_threshold 0 -bf 0 -refs 1 \
             -qmin 10 -qmax 51 -maxrate 2M -minrate 100k -bufsize 4M -movflags +faststart \
             -threads 2 -aspect 16:9 -fps_mode cfr -b:v 1500k \
             -vf setpts=PTS/25,fps=30,scale=-2:720,format=yuv420p,transpose=clock,hflip,vflip,crop=iw/2:ih/2,pad=1280:720:0:0,setsar=1,setdar=16/9",
        )
        .unwrap();
        assert!(o.no_audio && o.no_subtitles && o.no_data);
        assert_eq!(o.skip_frame.as_deref(), Some("nokey"));
        assert_eq!(o.video_codec.as_deref(), Some("libx264"));
        assert_eq!(o.crf, Some(28.0));
        assert_eq!(o.maxrate, Some(2_000_000));
        assert_eq!(o.bitrate, Some(1_500_000));
        assert!((o.rate.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(o.video_filters.len(), 11);
        assert!((o.time_factor() - 0.04).abs() < 1e-12);
        assert_eq!(
            o.video_filters[2],
            Filter::Scale {
                width: "-2".into(),
                height: "720".into()
            }
        );
        assert_eq!(o.video_filters[4], Filter::Transpose { dir: 1 });
        // -codec, -q, -qscale, -vsync, -filter:v, -c:a
        let o = parse(
            "",
            "-codec libx265 -q 3 -vsync vfr -filter:v setpts=2*PTS -c:a aac",
        )
        .unwrap();
        assert_eq!(o.video_codec.as_deref(), Some("libx265"));
        assert_eq!(o.audio_codec.as_deref(), Some("aac"));
        assert_eq!(o.time_factor(), 2.0);
        assert_eq!(parse("", "").unwrap(), EncodeOptions::default());
    }

    #[test]
    fn injections_and_everything_else_are_refused_by_name() {
        for (args, names) in [
            ("-i /etc/passwd", "-i"),
            ("-f mp4", "-f"),
            ("-filter_complex null", "-filter_complex"),
            ("-lavfi null", "-lavfi"),
            ("-filter_script x", "-filter_script"),
            ("-y", "-y"),
            ("-map 0", "-map"),
            ("-vstats_file /tmp/x", "-vstats_file"),
            ("/tmp/out.mp4", "/tmp/out.mp4"),
            ("out.mp4", "out.mp4"),
            ("-c:v libx264 extra", "extra"),
            ("-crf", "-crf"),
            ("-c:v tee:x", "tee:x"),
            ("-preset ../x", "../x"),
            ("-preset /x", "/x"),
            ("-c:v http://evil/x", "http://evil/x"),
            ("-preset -fast", "-fast"),
            ("-vf movie=/etc/passwd", "movie=/etc/passwd"),
            ("-vf textfile=x", "textfile=x"),
            ("-vf [in]scale=1:1[out]", "[in]scale=1:1[out]"),
            ("-vf drawtext=fontfile=x", "drawtext=fontfile=x"),
            ("-vf drawtext=text=hi", "drawtext=text=hi"),
            ("-vf scale=1:1;movie=x", "scale=1:1;movie=x"),
            ("-vf setpts=N/(25*TB)", "setpts=N/(25*TB)"),
            ("-vf scale=iw/2:ih/2:flags=x$y", "flags=x$y"),
            ("-vf scale=iw/2:x$y", "x$y"),
            ("-vf crop=iw/2:ih/2:file", "file"),
            ("-vf pad=1280:720:secret", "secret"),
            ("-vf scale=-2:720tee", "720tee"),
            ("-vf setsar=a", "a"),
            ("-vf format=yuv420pfile", "yuv420pfile"),
            ("-pix_fmt nope", "nope"),
            ("-vf hflip=1", "hflip=1"),
            ("-c:s mov_text", "-c:s"),
            ("-an:v", "-an:v"),
            ("--crf 20", "--crf"),
            ("-", "-"),
            ("-crf abc", "abc"),
            ("-r 0", "0"),
            ("-r 30000/1001", "30000/1001"),
            ("-b:v 1e400", "1e400"),
            ("-skip_frame everything", "everything"),
        ] {
            let why = refused(args);
            assert!(why.starts_with(names), "{args:?}: {why}");
        }
    }

    #[test]
    fn named_filter_options_keep_their_meaning() {
        // Found by fuzzing: keys were dropped and values taken by position.
        let graph = |a: &str| parse("", a).unwrap().video_graph();
        assert_eq!(graph("-vf scale=h=720:w=1280"), "scale=1280:720");
        assert_eq!(graph("-vf scale=h=720"), "scale=-2:720");
        assert_eq!(graph("-vf crop=x=10:w=iw/2"), "crop=iw/2:x=10");
        assert_eq!(graph("-vf crop=iw/2:ih/2:y=4"), "crop=iw/2:ih/2:y=4");
        assert_eq!(
            graph("-vf pad=w=iw+20:h=ih+20:x=10:y=10"),
            "pad=iw+20:ih+20:10:10"
        );
        for (args, named) in [
            ("-vf crop==iw/1:obx=//5w/w/2/", "=iw/1"),
            ("-vf crop=obx=4", "obx=4"),
            ("-vf scale=w=1:640", "640"),
            ("-vf scale=w=1:width=2", "width=2"),
            // Rebuilt positionally this would read "crop=iw/1://5".
            ("-vf crop=w=iw/1:h=//5", "//5"),
        ] {
            let why = refused(args);
            assert!(why.starts_with(named), "{args:?}: {why}");
        }
    }

    #[test]
    fn what_reaches_libav_is_rebuilt_from_typed_values() {
        let o = parse("", "-vf  setpts=0.5*PTS,scale=w=640:h=-2 ").unwrap();
        assert_eq!(o.video_graph(), "setpts=0.5*PTS,scale=640:-2");
    }
}
