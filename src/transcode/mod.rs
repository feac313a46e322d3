//! Re-encoding exports (timelapse, custom encode): the third writer beside
//! the two stream-copy writers, over the same plan.
//!
//! * [`args`]: the NVR's untrusted "ffmpeg args" strings, parsed through its
//!   allowlist into typed [`args::EncodeOptions`]; nothing else reaches libav.

pub mod args;
pub mod gops;
pub mod label;
pub mod mosaic;
pub mod preset;
pub mod slideshow;
pub mod writer;
