//! Fuzz target: `traffic_hooks::fuzzing::config` must neither panic nor hang on any input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    traffic_hooks::fuzzing::config(data);
});
