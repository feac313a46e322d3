//! How an [`Exporter`](super::Exporter) runs its exports: the knobs its
//! builder methods set, read by the stages.

use std::net::IpAddr;
use std::time::Duration;

use crate::catalogue::BUSY_TIMEOUT;
use crate::progress::ProgressThrottle;
use crate::remux::WriterChoice;
use crate::source::hls::http::HttpLimits;

/// Default bound on the samples of one export: 16 million, some 60 hours
/// of a 1080p30 camera with 48 kHz AAC (6.6 million samples a day); an
/// export peaks near 200 MiB there. Longer ranges are refused with
/// [`Error::RangeTooLong`](crate::Error::RangeTooLong): export them in parts.
pub const MAX_SAMPLES: u64 = 16_000_000;

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub throttle: ProgressThrottle,
    /// Most samples (video and audio) one export may hold: memory is about
    /// 13 bytes a sample, so the default bounds an export near 200 MiB.
    pub max_samples: u64,
    pub writer: WriterChoice,
    /// How long a catalogue statement waits for another connection's lock.
    pub busy_timeout: Duration,
    /// Most bytes a second an export writes (`None`: unlimited).
    pub max_rate: Option<u64>,
    /// HLS source: HTTP timeouts and retries.
    pub hls_limits: HttpLimits,
    /// Timelapses: decode GOPs side by side.
    pub parallel_decode: bool,
    /// Read segment headers through a template learnt from the first one
    /// (`probe::Template`) instead of opening each with libav.
    pub probe_template: bool,
    /// HLS source: when set, the only addresses that may be contacted
    /// (tests narrow loopback to 127.0.0.1 with it).
    pub hls_only_hosts: Option<Vec<IpAddr>>,
    /// Segment indexes kept between exports (`probe::cache`); `None`:
    /// every export reads its segments' headers.
    pub index_cache: Option<std::sync::Arc<crate::probe::IndexCache>>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            throttle: ProgressThrottle::default(),
            max_samples: MAX_SAMPLES,
            writer: WriterChoice::Auto,
            busy_timeout: BUSY_TIMEOUT,
            max_rate: None,
            hls_limits: HttpLimits::default(),
            parallel_decode: true,
            probe_template: true,
            hls_only_hosts: None,
            index_cache: None,
        }
    }
}
