//! The simulator's scenario loader on arbitrary text: an error that names the file,
//! or a scenario that passed every check; never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = switchyard::simulate::Scenario::parse("fuzz.toml", text) {
            assert!(e.to_string().starts_with("fuzz.toml: "), "{e}");
        }
    }
});
