//! The response head readers of the proxy's own HTTP/1.1 exchange and of the fast
//! path, on arbitrary bytes (`switchyard::proxy::fuzz::response_head` says what is
//! checked).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::proxy::fuzz::response_head(data));
