#![no_main]
// See `nvr_export::fuzzing::ffmpeg_args` for what is parsed and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| nvr_export::fuzzing::ffmpeg_args(data));
