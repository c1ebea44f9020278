#![no_main]
//! HTTP/1.1 responses: head parsing and body framing, any bytes in any pieces.

libfuzzer_sys::fuzz_target!(|data: &[u8]| traffic_hooks::fuzzing::wire(data));
