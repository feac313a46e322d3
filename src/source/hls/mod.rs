//! The HLS source: an export read from the NVR's own VOD server instead of
//! its media folder (deployments where the recordings are not on the
//! exporting host).
//!
//! * [`playlist`]: the playlists, parsed into groups of fMP4 fragments that
//!   share an init segment and a timeline (the format facts are there).
//! * [`http`]: the client (allowlist, timeouts, retries, caps, cancel).
//! * [`fetch`]: fragments fetched ahead of the writer, a few at a time.
//!
//! The bytes go to libav's MP4 demuxer through a custom AVIO context
//! (`media::ffi::open_reader_input`), never to a file or to libav's own
//! HLS demuxer; `remux::hls` writes the output.

pub mod fetch;
pub mod http;
pub mod playlist;
