//! `courier chat`: a line-based interactive chat.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Result;
use courier_core::proto::Target;
use courier_core::session::Event;
use futures::StreamExt;

use crate::args::ChatArgs;
use crate::client::Client;
use crate::cmd::listen::describe;
use crate::output::{self, safe};

enum Input {
    Line(String),
    Eof,
    /// Wakes the loop to check the leaving deadline.
    Tick,
}

/// How long leaving waits for the hub to answer messages still in flight.
const LEAVE_WAIT: Duration = Duration::from_secs(5);

fn target_name(client: &Client, t: Target) -> String {
    match t {
        Target::Everyone => "everyone".to_owned(),
        Target::Group(g) => client.group_label(g),
        Target::Client(id) => client.name_of(id),
    }
}

pub(crate) async fn run(args: ChatArgs) -> Result<ExitCode> {
    let mut client = Client::connect(&args.client.answering(&args.answer), true, true).await?;
    let mut to = match &args.who {
        Some(w) => client.target(w).await?,
        None => Target::Everyone,
    };
    eprintln!(
        "Chatting with {} — type a line to send; /to NAME, /who, /quit",
        safe(&target_name(&client, to))
    );
    // Blocking stdin on its own thread; lines arrive through a channel.
    let (tx, rx) = async_channel::bounded::<Input>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send_blocking(Input::Line(line)).is_err() {
                return;
            }
        }
        let _ = tx.send_blocking(Input::Eof);
    });
    // Messages sent but not yet answered by the hub: leaving waits for them.
    let mut unanswered = std::collections::HashSet::new();
    let mut leaving: Option<Instant> = None;
    loop {
        if let Some(deadline) = leaving {
            if unanswered.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "courier: leaving with {} message(s) unconfirmed",
                    unanswered.len()
                );
                return Ok(ExitCode::from(1));
            }
        }
        let input = async {
            if leaving.is_some() {
                std::future::pending().await
            } else {
                rx.recv().await.ok().map(Err)
            }
        };
        let update = async { client.updates.next().await.map(Ok) };
        let tick = async {
            smol::Timer::after(Duration::from_millis(200)).await;
            Some(Err(Input::Tick))
        };
        let next = futures_lite::future::or(update, futures_lite::future::or(input, tick)).await;
        match next {
            Some(Err(Input::Tick)) => {}
            None => return Ok(ExitCode::SUCCESS),
            Some(Err(Input::Eof)) => leaving = Some(Instant::now() + LEAVE_WAIT),
            Some(Err(Input::Line(line))) => {
                let line = line.trim_end();
                if line.is_empty() {
                    continue;
                }
                if line == "/quit" {
                    leaving = Some(Instant::now() + LEAVE_WAIT);
                } else if line == "/who" {
                    for c in client.contacts.sorted() {
                        eprintln!("{}", output::contact_line(c, client.name_is_shared(c)));
                    }
                } else if let Some(who) = line.strip_prefix("/to ") {
                    match client.resolve(who) {
                        Ok(t) => {
                            to = t;
                            eprintln!("now chatting with {}", safe(&target_name(&client, to)));
                        }
                        Err(e) => eprintln!("{e:#}"),
                    }
                } else {
                    match client.send(to, line.to_owned()).await {
                        Ok(id) => {
                            unanswered.insert(id);
                        }
                        Err(e) => eprintln!("not sent: {e}"),
                    }
                }
            }
            Some(Ok(update)) => {
                let Some(event) = client.absorb(update)? else {
                    continue;
                };
                if let Event::Message(m) = &event {
                    // Shown on screen: tell the sender it was read (the session sends
                    // one "read up to here" for a batch); in a group, read up to it.
                    match (m.to, m.seq) {
                        (Target::Client(_), _) => {
                            let _ = client.handle.mark_read(m.from, m.id).await;
                        }
                        (Target::Group(g), Some(seq)) => {
                            let _ = client.handle.mark_group_read(g, seq).await;
                        }
                        _ => {}
                    }
                }
                if let Event::Receipt { id, .. } = &event {
                    unanswered.remove(id);
                }
                if let Event::Read { by, .. } = &event {
                    eprintln!("(read by {})", safe(&client.name_of(*by)));
                }
                if let Some(line) = describe(&client, &event, false) {
                    crate::print(&format!("{line}\n"));
                }
            }
        }
    }
}
