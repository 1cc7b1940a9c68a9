//! A bot that answers direct messages. Usage: `chat_bot HOST:PORT` with the hub password
//! in `COURIER_PASSWORD`.

use std::path::Path;
use std::process::ExitCode;

use courier_core::auth::Password;
use courier_core::identity::{Identity, PinStore};
use courier_core::proto::{Profile, Target};
use courier_core::session::{self, Event, Update};
use courier_core::transfer;
use futures::StreamExt;

fn main() -> ExitCode {
    let hub = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8977".to_owned());
    let Ok(password) = std::env::var("COURIER_PASSWORD") else {
        eprintln!("chat_bot: set COURIER_PASSWORD to the hub password");
        return ExitCode::from(2);
    };
    let dir = Path::new("chat-bot-profile");
    let identity = match Identity::load_or_create(dir) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("chat_bot: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = session::Config::new(
        hub,
        identity,
        Password::new(password),
        Profile::with_name("echo-bot"),
    );
    config.pins = Some(PinStore::new(dir));

    smol::block_on(async {
        // Contacts' connection checks (`courier doctor --peer`) are answered too.
        let mut updates =
            transfer::answer_link_tests(session::connect(config), transfer::Options::default());
        let mut handle = None;
        let mut answered = 0u64;
        while let Some(update) = updates.next().await {
            match update {
                Update::Connected { handle: h, welcome } => {
                    println!("online; hub safety code {}", welcome.hub.safety_code());
                    handle = Some(h);
                }
                Update::Event(Event::Message(m)) if m.to != Target::Everyone => {
                    answered += 1;
                    if let Some(h) = &handle {
                        let reply = format!("echo #{answered}: {}", m.text);
                        if let Err(e) = h.send_message(Target::Client(m.from), reply).await {
                            eprintln!("chat_bot: could not answer: {e}");
                        }
                    }
                }
                Update::Event(Event::Contact(c)) if c.online => {
                    println!("{} is online", c.profile.name.escape_debug());
                }
                Update::Event(_) => {}
                Update::Disconnected {
                    reason,
                    retry_in: Some(wait),
                } => {
                    eprintln!("chat_bot: {reason}; retrying in {wait:?}");
                }
                Update::Disconnected {
                    reason,
                    retry_in: None,
                } => {
                    eprintln!("chat_bot: {reason}");
                    return ExitCode::from(2);
                }
            }
        }
        ExitCode::SUCCESS
    })
}
