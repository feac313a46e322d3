//! Wall-clock formatting: unix seconds to the strings the NVR uses.
//!
//! The catalogue stores times as unix seconds (REAL). Names, titles and
//! chapter titles show them in the configured IANA timezone; export file names
//! and the name fallback use the same zone, or the process's local time when
//! no (known) zone is configured, as the reference exporter does.

use chrono::{DateTime, Local, TimeZone, Utc};
use chrono_tz::Tz;

/// Where wall-clock times are shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// A configured IANA zone.
    Named(Tz),
    /// The process's local zone (`TZ`, `/etc/localtime`).
    Local,
    /// UTC.
    Utc,
}

impl Zone {
    /// Parses an IANA name; `None` when unset or unknown.
    pub fn parse(name: Option<&str>) -> Option<Zone> {
        name.and_then(|n| n.parse::<Tz>().ok()).map(Zone::Named)
    }

    /// The configured zone, or the local zone when unset or unknown
    /// (export names and titles, as in the reference).
    pub fn or_local(name: Option<&str>) -> Zone {
        Zone::parse(name).unwrap_or(Zone::Local)
    }

    /// The configured zone, or UTC when unset or unknown (chapter titles).
    pub fn or_utc(name: Option<&str>) -> Zone {
        Zone::parse(name).unwrap_or(Zone::Utc)
    }

    /// Formats `unix_s` with a strftime pattern in this zone.
    pub fn format(self, unix_s: f64, pattern: &str) -> String {
        let utc = utc_datetime(unix_s);
        match self {
            Zone::Named(tz) => utc.with_timezone(&tz).format(pattern).to_string(),
            Zone::Local => utc.with_timezone(&Local).format(pattern).to_string(),
            Zone::Utc => utc.format(pattern).to_string(),
        }
    }

    /// ISO 8601 to the second with the zone's offset, e.g. `2024-03-10T03:00:05-07:00`.
    pub fn iso8601(self, unix_s: f64) -> String {
        let utc = utc_datetime(unix_s);
        let fmt = "%Y-%m-%dT%H:%M:%S%:z";
        match self {
            Zone::Named(tz) => utc.with_timezone(&tz).format(fmt).to_string(),
            Zone::Local => utc.with_timezone(&Local).format(fmt).to_string(),
            Zone::Utc => utc.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }
}

/// `unix_s` as a UTC date-time, truncated to microseconds; out-of-range
/// values clamp to the epoch rather than panic.
pub fn utc_datetime(unix_s: f64) -> DateTime<Utc> {
    let micros = (unix_s * 1_000_000.0).round() as i64;
    Utc.timestamp_micros(micros)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The `creation_time` metadata value libav expects: UTC ISO 8601 with microseconds.
pub fn creation_time(unix_s: f64) -> String {
    utc_datetime(unix_s)
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A range for messages: `2024-01-01 10:00:00 UTC .. 2024-01-01 10:05:00 UTC (unix 1704103200..1704103500)`.
pub fn fmt_range(start_s: f64, end_s: f64) -> String {
    let f = "%Y-%m-%d %H:%M:%S UTC";
    format!(
        "{} .. {} (unix {}..{})",
        utc_datetime(start_s).format(f),
        utc_datetime(end_s).format(f),
        start_s,
        end_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_zone_and_fallbacks() {
        let t = 1_710_054_005.0; // 2024-03-10 07:00:05 UTC
        assert_eq!(
            Zone::or_utc(Some("America/Denver")).iso8601(t),
            "2024-03-10T00:00:05-07:00"
        );
        assert_eq!(
            Zone::or_utc(Some("Not/AZone")).iso8601(t),
            "2024-03-10T07:00:05Z"
        );
        assert_eq!(
            Zone::or_utc(None).format(t, "%Y%m%d_%H%M%S"),
            "20240310_070005"
        );
        assert_eq!(creation_time(t), "2024-03-10T07:00:05.000000Z");
    }
}
