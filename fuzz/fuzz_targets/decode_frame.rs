//! Raw bytes from the network into both decoders: never a panic, and whatever decodes
//! re-encodes to something that decodes to the same frame.
#![no_main]

use courier_core::proto::{decode_client, decode_server, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = decode_client(data) {
        assert_eq!(decode_client(&encode(&frame)).ok(), Some(frame));
    }
    if let Ok(frame) = decode_server(data) {
        assert_eq!(decode_server(&encode(&frame)).ok(), Some(frame));
    }
});
