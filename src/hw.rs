//! What the linked libav can do: its version and its hardware encoders.
//!
//! `build.rs` records, at build time, the libav version found by pkg-config
//! and the hardware encoders whose names appear in the libavcodec it links
//! (`NVR_LIBAV_HW_ENCODERS`). At run time [`available_encoders`] asks libav
//! itself, which is what counts (a distribution may swap the library).

use ffmpeg_next as ffmpeg;

/// libavformat / libavcodec version seen by pkg-config at build time.
pub const LIBAV_VERSION: &str = env!("NVR_LIBAV_VERSION");

/// Hardware encoders found in libavcodec at build time (comma-separated).
pub const BUILD_HW_ENCODERS: &str = env!("NVR_LIBAV_HW_ENCODERS");

/// Hardware encoders the presets can ask for.
pub const HW_ENCODERS: &[&str] = &[
    "h264_vaapi",
    "hevc_vaapi",
    "h264_qsv",
    "hevc_qsv",
    "h264_nvenc",
    "hevc_nvenc",
    "h264_v4l2m2m",
    "hevc_v4l2m2m",
    "h264_rkmpp",
    "hevc_rkmpp",
    "h264_nvmpi",
    "hevc_nvmpi",
    "h264_amf",
    "hevc_amf",
];

/// Hardware encoders registered in the libav loaded at run time.
pub fn available_encoders() -> Vec<&'static str> {
    crate::media::init();
    HW_ENCODERS
        .iter()
        .copied()
        .filter(|n| ffmpeg::encoder::find_by_name(n).is_some())
        .collect()
}
