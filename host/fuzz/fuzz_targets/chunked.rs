//! The chunked body decoder, on arbitrary bytes split anywhere
//! (`switchyard::proxy::fuzz::chunked` says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::proxy::fuzz::chunked(data));
