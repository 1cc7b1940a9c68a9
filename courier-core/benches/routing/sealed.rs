//! The `sealed` section (issue 24): the 1 000-client routing figure twice in one run,
//! once with bodies the size of a 100-byte plain text (what the hub routed before
//! messages were sealed) and once with a real envelope of that text from the
//! `seal::Keyring`, alternated over five rounds (the median ratio is the figure: one round
//! is at the mercy of whatever else the machine runs). The hub does no cryptographic work
//! per message, so the ratio should stay near 1 (goal: at least 0.9).

use courier_core::identity::Identity;
use courier_core::proto::{MsgId, Timestamp};
use courier_core::seal::{KeyPolicy, Keyring, Payload};

use crate::{BODY, MSG_BYTES, courier_throughput, run_with_child};

const CLIENTS: usize = 1000;

pub(crate) fn section(secs: f64, fd_limit: usize) {
    let envelope = sealed_text();
    println!(
        "\n## Sealed against plain: routed 1:1 msg/s at {CLIENTS} clients, bodies of a real \
         envelope of a {MSG_BYTES}-byte text ({} B) against the plain text ({MSG_BYTES} B), \
         alternated",
        envelope.len()
    );
    if CLIENTS * 2 + 64 > fd_limit {
        println!("skipped: raise `ulimit -n` above {}", CLIENTS * 2 + 64);
        return;
    }
    println!(
        "{:>6} {:>16} {:>16} {:>8}",
        "round", "plain msg/s", "sealed msg/s", "ratio"
    );
    let mut ratios = Vec::new();
    for round in 1..=5 {
        let plain = with_body(vec![b'.'; MSG_BYTES], secs);
        let sealed = with_body(envelope.clone(), secs);
        let ratio = sealed / plain;
        ratios.push(ratio);
        println!("{round:>6} {plain:>16.0} {sealed:>16.0} {ratio:>8.2}");
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio sealed / plain: {:.2} (goal >= 0.90)",
        ratios[ratios.len() / 2]
    );
}

/// The throughput at [`CLIENTS`] clients with every message's body `body`.
fn with_body(body: Vec<u8>, secs: f64) -> f64 {
    BODY.with(|b| *b.borrow_mut() = Some(body));
    let rate = run_with_child("hub", |addr| async move {
        courier_throughput(&addr, CLIENTS, secs).await
    });
    BODY.with(|b| *b.borrow_mut() = None);
    rate
}

/// A real direct envelope of a `MSG_BYTES` text, sealed by one keyring to another's
/// verified bundle, and checked to open.
fn sealed_text() -> Vec<u8> {
    let now = Timestamp::now();
    let (alice, bob) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let mut a = Keyring::in_memory(&alice, KeyPolicy::default(), now).unwrap();
    let mut b = Keyring::in_memory(&bob, KeyPolicy::default(), now).unwrap();
    a.learn(bob.id(), &[b.bundle(now).unwrap()], now).unwrap();
    b.learn(alice.id(), &[a.bundle(now).unwrap()], now).unwrap();
    let text = Payload::Text("x".repeat(MSG_BYTES));
    let sealed = a.seal_direct(bob.id(), MsgId(1), &text, now).unwrap();
    assert_eq!(
        b.open_direct(alice.id(), MsgId(1), &sealed, now).unwrap(),
        text
    );
    sealed.as_bytes().to_vec()
}
