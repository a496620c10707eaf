//! The configuration loader on arbitrary text: an error that names the file, or a
//! configuration that passed every check; never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = std::path::Path::new("/nonexistent/fuzz.toml");
        if let Err(e) = switchyard::config::load_text(path, text) {
            assert!(e.to_string().starts_with("/nonexistent/fuzz.toml: "), "{e}");
        }
    }
});
