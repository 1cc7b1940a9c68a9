//! Issue 12: the Join screen's list of hubs, end to end on a real network. A hub
//! advertises in one network namespace; the app runs in another (this test runs itself
//! again inside it), with its own discovery stream feeding its `update` as the iced
//! runtime would; the hub is clicked in the list and joined. Namespaces need root (as
//! CI has); elsewhere the test says it did not run.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Driver, TestHub, in_chat};
use courier_iced::app::{Message, Screen};
use courier_iced::screen::login::{Message as LoginMessage, Mode};
use courier_testkit::netns::Pair;
use courier_testkit::{TempDir, not_run};
use futures::StreamExt;

const PASSWORD: &str = "join list password";
/// Set in the run inside the app's namespace: the hub's namespace.
const INNER: &str = "COURIER_JOIN_LIST_HUB_NS";
const TEST: &str = "a_hub_on_the_network_is_listed_clicked_and_joined";

#[test]
fn a_hub_on_the_network_is_listed_clicked_and_joined() {
    if let Ok(hub_ns) = std::env::var(INNER) {
        return inside(&hub_ns);
    }
    let pair = match Pair::new(79) {
        Ok(pair) => pair,
        Err(why) => return not_run(TEST, &why),
    };
    let status = pair
        .b
        .exec(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(INNER, pair.a.name())
        .status();
    drop(pair);
    assert!(
        status.unwrap().success(),
        "the run inside the namespace failed"
    );
}

fn inside(hub_ns: &str) {
    let scratch = TempDir::new("iced-join-list");
    let hub = TestHub::start_advertised(hub_ns, &scratch.subdir("hub"), PASSWORD, "Lab hub");
    let mut app = Driver::new(scratch.subdir("ada"));
    assert!(app.shows("Looking… (none yet: type its address below)"));

    // The app's own discovery stream, fed to it as its subscription would be.
    let mut stream = Box::pin(courier_iced::app::discover());
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = |app: &Driver| matches!(&app.app.screen, Screen::Login(l) if l.found.iter().any(|(h, _)| h.name == "Lab hub"));
    while !listed(&app) {
        let left = deadline.saturating_duration_since(Instant::now());
        // What browsing saw, and what the app's tasks answered (it reads its pins off
        // the window's thread before it lists a hub).
        let next = smol::block_on(futures_lite::future::or(
            futures_lite::future::or(async { stream.next().await }, app.recv()),
            async {
                smol::Timer::after(left).await;
                None
            },
        ));
        match next {
            Some(message) => app.send(message),
            None => panic!("the hub never showed in the Join list"),
        }
    }
    let expected = format!("10.79.0.1:{}", hub.addr.port());
    assert!(app.shows("Lab hub"));
    let Screen::Login(login) = &app.app.screen else {
        unreachable!()
    };
    let (found, checked) = &login.found[0];
    assert_eq!(found.addresses[0].to_string(), expected, "{found:?}");
    assert_eq!(found.fingerprint, Some(hub.fingerprint));
    assert!(!checked.standing.is_known(), "never met");
    let line = format!("{expected} · safety code {}", hub.fingerprint.safety_code());
    assert!(app.shows(&line), "the list shows {line:?}");

    // A click on it fills the address; name and password, and in.
    app.send(Message::Login(LoginMessage::Mode(Mode::Join)));
    app.send(Message::Login(LoginMessage::Name("Ada".into())));
    app.interact(|ui| {
        let _ = ui.click("Lab hub");
    });
    let Screen::Login(login) = &app.app.screen else {
        unreachable!()
    };
    assert_eq!(login.address, expected);
    app.send(Message::Login(LoginMessage::Password(PASSWORD.into())));
    app.send(Message::Login(LoginMessage::Submit));
    app.until("asked to confirm the new hub", |a| a.confirm.is_some());
    app.send(Message::ConfirmHub(true));
    app.until("joined", in_chat);
    assert_eq!(app.chat().hub().fingerprint, hub.fingerprint);
    hub.stop();
}
