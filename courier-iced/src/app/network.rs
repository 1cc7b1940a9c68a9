//! What the app looks up on the network in tasks and subscriptions: the connection
//! check and the browse for hubs.

use std::path::PathBuf;

use courier_core::identity::{Identity, PinStore};
use courier_core::proto::Profile;

use super::Message;

/// The connection check ([`courier_core::doctor`]) of `hub` as the device whose files
/// are in `dir`, with a link test to `peer` (a contact's id) if given: each step as it is
/// found, then `None`.
pub(super) fn connection_check(
    dir: PathBuf,
    (hub, password, profile): (String, String, Profile),
    discover: bool,
    peer: Option<String>,
) -> impl futures::Stream<Item = Option<courier_core::doctor::Finding>> {
    use courier_core::doctor::{self, Check, Finding};
    iced::stream::channel(16, async move |mut found| {
        use futures::SinkExt as _;
        let at = dir.clone();
        match smol::unblock(move || Identity::load_or_create(&at)).await {
            Ok(identity) => {
                let check = Check {
                    hub: Some(hub.clone()),
                    fallback: hub,
                    identity,
                    pins: PinStore::new(&dir),
                    password: (!password.is_empty())
                        .then(|| courier_core::auth::Password::new(&password)),
                    profile,
                    listen: std::net::SocketAddr::from(([0, 0, 0, 0], 0)),
                    port_hint: String::new(),
                    discover,
                    peer,
                    run: courier_core::limits::LINK_TEST_RUN,
                };
                let (tx, rx) = async_channel::unbounded();
                let run = doctor::run(check, move |f| {
                    let _ = tx.try_send(f);
                });
                let forward = async {
                    while let Ok(f) = rx.recv().await {
                        let _ = found.send(Some(f)).await;
                    }
                };
                futures::join!(run, forward);
            }
            Err(e) => {
                let finding = Finding {
                    step: "identity",
                    ok: false,
                    text: format!("this computer's identity: {e}"),
                };
                let _ = found.send(Some(finding)).await;
            }
        }
        let _ = found.send(None).await;
    })
}

/// Browses the network for hubs as long as the subscription runs (the login screen
/// shows); nothing when mDNS cannot run here. Public for the end-to-end test of the
/// Join list, which feeds it to the app as the runtime does.
pub fn discover() -> impl futures::Stream<Item = Message> {
    use futures::StreamExt as _;
    futures::stream::once(smol::unblock(courier_core::discovery::Browser::start))
        .filter_map(|started| async move { started.ok() })
        .flat_map(|browser| {
            futures::stream::unfold(browser, |mut b| async move {
                b.next_async()
                    .await
                    .map(|seen| (Message::Discovered(seen), b))
            })
        })
}
