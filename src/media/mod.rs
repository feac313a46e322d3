//! libav plumbing shared by the probe, the writers and the sample generator.
//!
//! `ffi` holds the few unsafe calls; `params` the codec parameter-set facts.

pub mod encode;
#[allow(unsafe_code)]
pub mod ffi;
mod fuzz;
#[allow(unsafe_code)]
pub mod hwctx;
pub mod image;
pub mod isobmff;
pub mod mux;
pub mod params;

use std::sync::Once;

use ffmpeg_next as ffmpeg;

/// Initialises libav once per process and routes its logging into `tracing`.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // ffmpeg::init only registers devices on old versions; it cannot fail
        // on the versions we build against, and an error would resurface on
        // the first open anyway.
        let _ = ffmpeg::init();
        ffi::route_logs_to_tracing();
    });
}
