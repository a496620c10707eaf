//! The configuration loader on arbitrary text: an error that names the file, or a
//! configuration that passed every check; never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let path = std::path::Path::new("/nonexistent/fuzz.toml");
        match switchyard::config::load_text(path, text) {
            Err(e) => assert!(e.to_string().starts_with("/nonexistent/fuzz.toml: "), "{e}"),
            Ok(config) => {
                let builtins = ["round-robin", "least-request"];
                let _ = switchyard::config::check_policies(&config, &builtins, &["default-health"]);
            }
        }
    }
});
