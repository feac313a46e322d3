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

include!("hw_encoders.rs");

/// The licence of the linked libav (a build with libx264 is GPL).
pub fn libav_license() -> String {
    crate::media::ffi::libav_license()
}

/// Hardware encoders registered in the libav loaded at run time.
pub fn available_encoders() -> Vec<&'static str> {
    crate::media::init();
    HW_ENCODERS
        .iter()
        .copied()
        .filter(|n| ffmpeg::encoder::find_by_name(n).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_and_run_time_lists_name_known_encoders() {
        assert!(LIBAV_VERSION.starts_with("libavformat "), "{LIBAV_VERSION}");
        let licence = libav_license();
        assert!(licence.contains("GPL version"), "{licence}");
        for name in BUILD_HW_ENCODERS.split(',').filter(|s| !s.is_empty()) {
            assert!(HW_ENCODERS.contains(&name), "{name}");
        }
        for name in available_encoders() {
            assert!(HW_ENCODERS.contains(&name));
            assert!(ffmpeg::encoder::find_by_name(name).is_some());
        }
    }
}
