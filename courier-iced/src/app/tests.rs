//! `update` starts what touches files, ports and threads as tasks and returns at once:
//! a hub starts and stops, and pins are read and written, only in the tasks it returns;
//! answers that come late (the user went back) are ignored.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::net::TcpStream;
use std::path::PathBuf;

use courier_core::discovery::{FoundHub, Seen, Standing};
use courier_core::identity::{Identity, PinStore};
use futures::StreamExt as _;
use iced::Task;
use iced_test::runtime::Action;

use super::{Courier, Message, Screen};
use crate::screen::login::{Login, Message as LoginMessage, Mode};

/// A profile folder of its own, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "courier-iced-app-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn app(dir: &Scratch) -> Courier {
    let mut app = Courier::new(dir.0.clone());
    // No network but the test's own.
    app.settings.advertise = false;
    app.discovery = false;
    app
}

/// Runs `task` to its end as the runtime would, and gives the messages it produced.
fn run(task: Task<Message>) -> Vec<Message> {
    let Some(stream) = iced_test::runtime::task::into_stream(task) else {
        return Vec::new();
    };
    smol::block_on(
        stream
            .filter_map(|action| async move {
                match action {
                    Action::Output(message) => Some(message),
                    _ => None,
                }
            })
            .collect(),
    )
}

/// Handles `messages` and runs the tasks they return, until no message is left.
fn settle(app: &mut Courier, mut messages: Vec<Message>) {
    while !messages.is_empty() {
        let next = messages
            .drain(..)
            .flat_map(|m| run(app.update(m)))
            .collect();
        messages = next;
    }
}

fn login(app: &Courier) -> &Login {
    match &app.screen {
        Screen::Login(login) => login,
        Screen::Chat(_) => panic!("not on the login screen"),
    }
}

fn listens(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Fills the host form and presses "Host and join": the task that starts the hub.
fn press_host(app: &mut Courier) -> Task<Message> {
    for m in [
        LoginMessage::Mode(Mode::Host),
        LoginMessage::Name("Host".into()),
        LoginMessage::Password("a good hub password".into()),
        LoginMessage::Port("0".into()),
    ] {
        let _ = app.update(Message::Login(m));
    }
    app.update(Message::Login(LoginMessage::Submit))
}

/// The port of the hub a start answered.
fn started_port(messages: &[Message]) -> u16 {
    messages
        .iter()
        .find_map(|m| match m {
            Message::Hosted(_, started) => Some(started.hub.as_ref().unwrap().listen.port()),
            _ => None,
        })
        .unwrap()
}

#[test]
fn hosting_starts_the_hub_in_a_task_and_one_click_starts_one() {
    let dir = Scratch::new("host");
    let mut app = app(&dir);
    let start = press_host(&mut app);
    assert!(app.hosted.is_none(), "update started no hub");
    assert!(app.server.is_none(), "nothing to join yet");
    assert_eq!(login(&app).status.as_deref(), Some("Starting the hub…"));
    assert!(login(&app).busy(), "busy, with Cancel");
    // A second click while it starts does nothing.
    let again = app.update(Message::Login(LoginMessage::Submit));
    assert_eq!(again.units(), 0);

    let answers = run(start);
    let port = started_port(&answers);
    assert!(listens(port), "the task started the hub");
    settle(&mut app, answers);
    assert_eq!(app.hosted.as_ref().map(|h| h.listen.port()), Some(port));
    assert_eq!(
        login(&app).status.as_deref(),
        Some(format!("Starting the hub on port {port}…").as_str())
    );
    let server = app.server.as_ref().unwrap();
    assert_eq!(server.hub, format!("127.0.0.1:{port}"));
    assert_eq!(server.password, "a good hub password");
    // Its own hub is pinned, so joining it asks nothing.
    assert!(PinStore::new(&dir.0).get(&server.hub).unwrap().is_some());

    // Going back returns at once; the hub is stopped (and its thread joined) in the task.
    let stop = app.update(Message::Login(LoginMessage::Cancel));
    assert!(app.hosted.is_none() && app.server.is_none());
    assert!(app.stopping(), "stopping until the task says it stopped");
    settle(&mut app, run(stop));
    assert!(!app.stopping());
    assert!(!listens(port), "the hub no longer listens");
    // The hub has a password now: the form says so, without looking again.
    assert!(app.hub_has_password);
}

#[test]
fn a_hub_that_starts_after_the_user_went_back_is_stopped() {
    let dir = Scratch::new("late-host");
    let mut app = app(&dir);
    let start = press_host(&mut app);
    let cancel = app.update(Message::Login(LoginMessage::Cancel));
    assert!(!login(&app).busy());

    let answers = run(start);
    let port = started_port(&answers);
    let late = answers
        .into_iter()
        .map(|m| app.update(m))
        .collect::<Vec<_>>();
    assert!(app.hosted.is_none(), "a late hub is not taken");
    assert!(app.server.is_none(), "nor joined");
    assert!(login(&app).status.is_none() && login(&app).error.is_none());
    settle(&mut app, run(Task::batch(late.into_iter().chain([cancel]))));
    assert!(!app.stopping());
    assert!(!listens(port), "the late hub was stopped");

    // Started, given up and started again on that port at once: the first hub is
    // stopped before the second binds, and only the second is taken.
    let _ = app.update(Message::Login(LoginMessage::Port(port.to_string())));
    let first = app.update(Message::Login(LoginMessage::Submit));
    let cancel = app.update(Message::Login(LoginMessage::Cancel));
    let second = app.update(Message::Login(LoginMessage::Submit));
    settle(&mut app, run(Task::batch([first, cancel, second])));
    assert_eq!(app.hosted.as_ref().map(|h| h.listen.port()), Some(port));
    assert!(!app.stopping());
    assert!(listens(port));
    app.shut_down();
    assert!(!listens(port), "closing the app stops its hub");
}

#[test]
fn joining_without_a_password_reads_the_pin_in_a_task() {
    let dir = Scratch::new("pin");
    let mut app = app(&dir);
    let hub = "127.0.0.1:9";
    for m in [
        LoginMessage::Address(hub.into()),
        LoginMessage::Name("Ada".into()),
    ] {
        let _ = app.update(Message::Login(m));
    }
    let check = app.update(Message::Login(LoginMessage::Submit));
    assert!(app.server.is_none());
    assert!(login(&app).busy(), "busy while the pin is read");
    settle(&mut app, run(check));
    assert_eq!(
        login(&app).error.as_deref(),
        Some("Enter the hub's password.")
    );
    assert!(!login(&app).busy() && app.server.is_none());

    // Met before: joined without one.
    PinStore::new(&dir.0)
        .set(hub, Identity::generate().unwrap().id())
        .unwrap();
    let check = app.update(Message::Login(LoginMessage::Submit));
    assert!(app.server.is_none(), "not before the pin is read");
    settle(&mut app, run(check));
    let server = app.server.as_ref().unwrap();
    assert_eq!((server.hub.as_str(), server.password.as_str()), (hub, ""));

    // Given up before the pin was read: the late answer joins nothing.
    let _ = app.update(Message::Login(LoginMessage::Cancel));
    let check = app.update(Message::Login(LoginMessage::Submit));
    let _ = app.update(Message::Login(LoginMessage::Cancel));
    settle(&mut app, run(check));
    assert!(app.server.is_none());
    assert!(!login(&app).busy() && login(&app).error.is_none());
}

#[test]
fn a_hub_seen_on_the_network_is_listed_once_the_pins_are_read() {
    let dir = Scratch::new("listed");
    let mut app = app(&dir);
    let known = Identity::generate().unwrap().id();
    PinStore::new(&dir.0).set("10.0.0.7:8977", known).unwrap();
    let hub = FoundHub {
        instance: "lab".into(),
        name: "Lab hub".into(),
        addresses: vec!["10.0.0.7:8977".parse().unwrap()],
        fingerprint: Some(known),
        protocol: Some(courier_core::proto::PROTOCOL_VERSION),
    };
    let read = app.update(Message::Discovered(Seen::Found(hub)));
    assert!(login(&app).found.is_empty(), "not before the pins are read");
    let listed = run(read);
    assert!(matches!(listed.as_slice(), [Message::Listed(..)]));
    // Listed (its certificate check is not run here): it claims a pinned hub, so it
    // is not usable until checked.
    for m in listed {
        let _ = app.update(m);
    }
    let found = &login(&app).found;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1.standing, Standing::Unchecked);
}

/// Issue 22: a failed join leaves the hubs seen on the network listed (browsing goes
/// on and does not tell them again).
#[test]
fn a_failed_join_keeps_the_hubs_seen_on_the_network() {
    let dir = Scratch::new("failed-join");
    let mut app = app(&dir);
    let hub = FoundHub {
        instance: "lab".into(),
        name: "Lab hub".into(),
        addresses: vec!["10.0.0.7:8977".parse().unwrap()],
        fingerprint: None,
        protocol: Some(courier_core::proto::PROTOCOL_VERSION),
    };
    let listed = run(app.update(Message::Discovered(Seen::Found(hub))));
    for m in listed {
        let _ = app.update(m);
    }
    assert_eq!(login(&app).found.len(), 1);
    for m in [
        LoginMessage::Mode(Mode::Join),
        LoginMessage::Address("127.0.0.1:9".into()),
        LoginMessage::Name("Ada".into()),
        LoginMessage::Password("not the password".into()),
        LoginMessage::Submit,
    ] {
        let _ = app.update(Message::Login(m));
    }
    assert!(app.server.is_some(), "joining");
    let refused = courier_core::session::Update::Disconnected {
        reason: std::sync::Arc::new(courier_core::session::Error::WrongPassword),
        retry_in: None,
    };
    let _ = app.update(Message::Session(crate::session::Feed::Update(refused)));
    assert!(login(&app).error.is_some(), "refused");
    assert_eq!(login(&app).found.len(), 1, "still listed");
}

/// Saves run off the window's thread, and several may be under way at once (a trust,
/// a setting, an offer to resume): each file written is whole, and the state asked for
/// last is the one kept, whatever order the saves run in.
#[test]
fn overlapping_saves_keep_the_last_state_whole() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = Scratch::new("saves");
    let mut app = app(&dir);
    // Big enough that writing it takes a while.
    app.settings.trusted = (0..40_000).map(|n| format!("{n:064x}")).collect();
    let saves: Vec<Task<Message>> = (0..24)
        .map(|n| {
            app.settings.host_port = 10_000 + n;
            app.save_settings()
        })
        .collect();
    let done = AtomicBool::new(false);
    let path = dir.0.join(crate::settings::FILE);
    let torn = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut torn = 0;
            while !done.load(Ordering::SeqCst) {
                if let Ok(bytes) = std::fs::read(&path)
                    && serde_json::from_slice::<crate::settings::Settings>(&bytes).is_err()
                {
                    torn += 1;
                }
            }
            torn
        });
        let answers = run(Task::batch(saves));
        done.store(true, Ordering::SeqCst);
        for answer in &answers {
            assert!(matches!(answer, Message::Saved(Ok(()))), "{answer:?}");
        }
        reader.join().unwrap()
    });
    assert_eq!(torn, 0, "a load never catches half a file");
    let kept = crate::settings::Settings::load(&dir.0);
    assert_eq!(kept.host_port, 10_023, "the last state asked for wins");
    assert_eq!(kept, app.settings);
}

/// The connection check's session answers others' link tests as the user's 'Link
/// tests' setting says (as the app's own session does).
#[test]
fn the_connection_check_answers_link_tests_as_the_settings_say() {
    let dir = Scratch::new("check");
    let mut app = app(&dir);
    let identity = Identity::generate().unwrap();
    for answer in [true, false] {
        app.settings.answer_link_tests = answer;
        let asked = (
            "127.0.0.1:9".to_owned(),
            String::new(),
            courier_core::proto::Profile::with_name("Ada"),
        );
        let check = app.check_of(asked, None).check(identity.clone());
        assert_eq!(check.answer_link_tests, answer);
    }
}

/// A failure the session retries (the hub away, the network not up yet).
fn unreachable_for_now() -> Message {
    Message::Session(crate::session::Feed::Update(
        courier_core::session::Update::Disconnected {
            reason: std::sync::Arc::new(courier_core::session::Error::ConnectionLost),
            retry_in: Some(std::time::Duration::from_secs(1)),
        },
    ))
}

/// Issue 22 review: the hub joined in an earlier run is joined again at launch, and the
/// app keeps trying it (the Wi-Fi not up yet, the hub rebooting) rather than giving up
/// after a few tries as a first join from the form does.
#[test]
fn a_remembered_hub_is_retried_at_launch_past_the_first_join_s_limit() {
    let dir = Scratch::new("resume-retries");
    let hub = "127.0.0.1:9";
    PinStore::new(&dir.0)
        .set(hub, Identity::generate().unwrap().id())
        .unwrap();
    let mut app = app(&dir);
    app.settings.name = "Ada".into();
    app.settings.hub = hub.into();
    app.settings.resume = crate::settings::Resume::Join;
    let check = app.resume();
    settle(&mut app, run(check));
    assert!(app.server.is_some(), "joining the remembered hub");
    for _ in 0..super::JOIN_TRIES + 2 {
        let _ = app.update(unreachable_for_now());
    }
    assert!(app.server.is_some(), "still trying");
    assert_eq!(login(&app).error, None);
    assert!(login(&app).busy(), "with Cancel");
    assert!(
        login(&app).status.as_deref().unwrap().contains("Retrying"),
        "{:?}",
        login(&app).status
    );

    // Joining a hub never joined from the form still stops after a few tries.
    let _ = app.update(Message::Login(LoginMessage::Cancel));
    for m in [
        LoginMessage::Mode(Mode::Join),
        LoginMessage::Address("127.0.0.1:7".into()),
        LoginMessage::Name("Ada".into()),
        LoginMessage::Password("a good hub password".into()),
        LoginMessage::Submit,
    ] {
        let _ = app.update(Message::Login(m));
    }
    assert!(app.server.is_some(), "joining");
    for _ in 0..super::JOIN_TRIES {
        let _ = app.update(unreachable_for_now());
    }
    assert!(app.server.is_none(), "given up");
    assert!(
        login(&app)
            .error
            .as_deref()
            .unwrap()
            .contains("Tried 3 times")
    );
}
