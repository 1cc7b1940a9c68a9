//! Untrusted file names from offers: whatever the bytes, the result is a safe name
//! (no separator, control, bidi or invisible character, no dotfile, no device name,
//! ≤ 255 bytes, never empty), sanitizing is idempotent, and joined paths stay inside the
//! download folder.
#![no_main]

use std::path::Path;

use courier_core::transfer::name::{MAX_NAME_BYTES, is_reserved, sanitize_name, sanitize_path};
use libfuzzer_sys::fuzz_target;

fn check(name: &str) {
    assert!(!name.is_empty() && name.len() <= MAX_NAME_BYTES);
    assert!(!name.contains(['/', '\\', '\0']) && !name.chars().any(char::is_control));
    assert!(!name.starts_with('.') && !name.ends_with(['.', ' ']));
    assert!(!is_reserved(name));
    assert_eq!(sanitize_name(name), name, "not idempotent");
}

fuzz_target!(|raw: &str| {
    check(&sanitize_name(raw));
    let base = Path::new("/downloads");
    let mut path = base.to_path_buf();
    for part in sanitize_path(raw) {
        check(&part);
        let before = path.clone();
        path.push(&part);
        assert_eq!(path.parent(), Some(before.as_path()));
    }
    assert!(path.starts_with(base));
});
