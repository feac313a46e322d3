#![no_main]
// See `nvr_export::fuzzing::catalogue` for what is parsed and what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| nvr_export::fuzzing::catalogue(data));
