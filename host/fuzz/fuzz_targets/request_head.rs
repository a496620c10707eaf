//! The HTTP/1.1 fast path's request head parser and its rewrite for upstream, on
//! arbitrary bytes (`switchyard::proxy::fuzz::request_head` says what is checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::proxy::fuzz::request_head(data));
