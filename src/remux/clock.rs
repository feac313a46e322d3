//! The wall-clock timestamp track (`plan::timestamps`) through a libav
//! muxer, for the writers that write through one (the libav packet loop,
//! the transcoder): a `mov_text` stream whose sample description is the one
//! the index-driven writer writes (`mp4::TX3G_DESCRIPTION`), and one packet
//! per cue, written as the output's video reaches it so that the muxer
//! interleaves them.

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::context::Output;
use ffmpeg_next::{Dictionary, Packet, Rational};

use super::mp4;
use crate::media::ffi;
use crate::media::mux::{add_stream, StreamSpec};
use crate::plan::timestamps::Cue;
use crate::time::OutTicks;

/// The cues of one output and where they are written.
pub struct TimestampFeed<'a> {
    cues: &'a [Cue],
    next: usize,
    stream: usize,
    time_base: Rational,
    /// Output time = cue time x `scale` (a timelapse's speed-up; 1 otherwise).
    scale: f64,
}

impl<'a> TimestampFeed<'a> {
    /// Adds the stream to `octx` (before its header) when there are cues.
    pub fn add(
        octx: &mut Output,
        cues: &'a [Cue],
        scale: f64,
    ) -> Result<Option<Self>, ffmpeg::Error> {
        if cues.is_empty() {
            return Ok(None);
        }
        let spec = StreamSpec {
            parameters: ffi::mov_text_parameters(&mp4::TX3G_DESCRIPTION)?,
            time_base: Rational(1, 1000),
            tag: None,
        };
        let stream = add_stream(octx, spec)?;
        if let Some(mut st) = octx.stream_mut(stream) {
            let mut meta = Dictionary::new();
            meta.set("handler_name", "Wall clock");
            st.set_metadata(meta);
        }
        Ok(Some(TimestampFeed {
            cues,
            next: 0,
            stream,
            time_base: Rational(1, 1000),
            scale,
        }))
    }

    /// Takes the stream's time base as the muxer set it (after the header).
    pub fn header_written(&mut self, time_bases: &[Rational]) {
        if let Some(&tb) = time_bases.get(self.stream) {
            self.time_base = tb;
        }
    }

    /// Writes the cues that start at or before output time `t`.
    pub fn until(&mut self, t: OutTicks, octx: &mut Output) -> Result<(), ffmpeg::Error> {
        while let Some(c) = self.cues.get(self.next) {
            let (start, end) = (self.scaled(c.start), self.scaled(c.end));
            if start > t {
                break;
            }
            let mut p = Packet::copy(&mp4::tx3g_sample(&c.text));
            let ts = |x: OutTicks| crate::time::rescale(x.0, OutTicks::BASE, self.time_base);
            p.set_stream(self.stream);
            p.set_pts(Some(ts(start)));
            p.set_dts(Some(ts(start)));
            p.set_duration((ts(end) - ts(start)).max(0));
            p.set_flags(ffmpeg::packet::Flags::KEY);
            p.write_interleaved(octx)?;
            self.next += 1;
        }
        Ok(())
    }

    /// Writes the cues left (before the trailer).
    pub fn finish(&mut self, octx: &mut Output) -> Result<(), ffmpeg::Error> {
        self.until(OutTicks(i64::MAX), octx)
    }

    fn scaled(&self, t: OutTicks) -> OutTicks {
        if self.scale == 1.0 {
            t
        } else {
            OutTicks((t.0 as f64 * self.scale).round() as i64)
        }
    }
}
