//! Arbitrary CBOR as a key bundle the hub handed out, then learned for the owner it
//! claims (its certificate's fingerprint) and for another device: never a panic, never
//! accepted (only the certificate's own key can sign a bundle, and nothing here has it).
#![no_main]

use courier_core::identity::{Identity, fingerprint};
use courier_core::proto::{ClientId, KeyBundle, Timestamp};
use courier_core::seal::{KeyPolicy, Keyring};
use libfuzzer_sys::fuzz_target;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

thread_local! {
    static KEYS: std::cell::RefCell<Keyring> = std::cell::RefCell::new(
        Keyring::in_memory(&Identity::generate().unwrap(), KeyPolicy::default(), NOW).unwrap(),
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = ciborium::from_reader::<KeyBundle, _>(data) else {
        return;
    };
    KEYS.with(|keys| {
        let mut keys = keys.borrow_mut();
        let claimed = fingerprint(&bundle.cert);
        assert!(
            keys.learn(claimed, std::slice::from_ref(&bundle), NOW)
                .is_err()
        );
        assert!(!keys.can_seal_to(claimed, NOW));
        let other = ClientId([7; 32]);
        assert!(keys.learn(other, &[bundle], NOW).is_err());
    });
});
