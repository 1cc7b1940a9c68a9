//! Avatar bytes as another client can send them (through the hub) into the desktop
//! app's decoder, and the same bytes as a user-chosen image file: no panic, no picture
//! larger than the limit, and what `from_image` makes is a small PNG that decodes again.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The app's avatar module on its own (courier-iced itself pulls in the GUI toolkit).
#[allow(dead_code, unreachable_pub)]
#[path = "../../courier-iced/src/avatar.rs"]
mod avatar;

fuzz_target!(|data: &[u8]| {
    if let Some(img) = avatar::decode(data) {
        assert!(img.width() <= avatar::MAX_SIDE && img.height() <= avatar::MAX_SIDE);
    }
    if let Ok(png) = avatar::from_image(data) {
        assert!(png.len() <= courier_core::limits::MAX_AVATAR);
        let back = avatar::decode(&png).expect("our own avatar decodes");
        assert_eq!((back.width(), back.height()), (avatar::SIZE, avatar::SIZE));
    }
});
