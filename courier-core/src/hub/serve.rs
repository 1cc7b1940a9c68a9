//! The hub's async driver: owns a [`Hub`] and one pump per connection, all polled from
//! the one future [`serve`] returns (nothing is spawned; the caller picks the executor).

use std::collections::HashMap;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{self, Bytes, Message as WsMessage};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, SinkExt, StreamExt};
use futures_rustls::TlsAcceptor;

use super::{BadInput, CloseReason, Config, ConnId, Event, Hub, Transmit};
use crate::proto::{self, ClientFrame, ClientId, ServerFrame, Timestamp};
use crate::{net, tls};

/// Errors that stop the hub.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS configuration could not be built from the identity.
    #[error("building the hub's TLS configuration")]
    Tls(#[from] tls::Error),
}

/// A connection's lines from the serve loop: frames to send, and the hub's decision to
/// close it (separate, so it still gets through when the frame queue is stuck).
struct Outbox {
    frames: Sender<Arc<ServerFrame>>,
    close: Sender<CloseReason>,
    relay: Sender<Pipe>,
}

/// A relayed connection's two lines to its partner: binary messages in and out.
struct Pipe {
    to_partner: Sender<Bytes>,
    from_partner: Receiver<Bytes>,
}

/// What ended a pump's normal life.
enum End {
    Gone,
    Close(CloseReason),
    Relay(Pipe),
}

/// Messages buffered between the two halves of a relay, in each direction.
const RELAY_QUEUE: usize = 8;

/// How long a connection the hub has closed may take to receive its last frames and the
/// close frame; after that it is dropped whatever the peer does.
const GOODBYE: Duration = Duration::from_secs(1);

enum FromConn {
    Connected {
        conn: ConnId,
        client: ClientId,
        channel: [u8; 32],
    },
    Frame {
        conn: ConnId,
        frame: ClientFrame,
    },
    Bad {
        conn: ConnId,
        input: BadInput,
    },
    Gone {
        conn: ConnId,
    },
}

/// Runs a hub on `listener` until `shutdown` completes; then tells every client and
/// closes every connection.
///
/// # Errors
/// Only if the hub cannot start (bad identity). Per-connection failures close that
/// connection and never stop the hub.
///
/// # Examples
/// ```no_run
/// # use courier_core::{auth::{HubSecret, Password}, hub, identity::Identity};
/// smol::block_on(async {
///     let listener = async_net::TcpListener::bind("127.0.0.1:0").await?;
///     let secret = HubSecret::register(&mut rand::thread_rng(), &Password::new("pw"))?;
///     let config = hub::Config::new(Identity::generate()?, secret);
///     hub::serve(listener, config, futures::future::pending()).await?;
///     # Ok::<(), Box<dyn std::error::Error>>(())
/// });
/// ```
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let acceptor = TlsAcceptor::from(tls::server_config(&config.identity)?);
    let outbox_frames = config.outbox_frames.max(1);
    #[cfg(feature = "test-util")]
    let tap = config.relay_tap.clone();
    #[cfg(not(feature = "test-util"))]
    let tap: Option<Tap> = None;
    let login_deadline = config.login_deadline;
    let mut hub = Hub::new(config, Instant::now(), Timestamp::now());
    let (to_hub, from_conns) = async_channel::bounded::<FromConn>(4096);
    let mut outboxes: HashMap<ConnId, Outbox> = HashMap::new();
    let mut pumps = FuturesUnordered::new();
    let mut shutdown = pin!(shutdown.fuse());
    let mut timer = async_io::Timer::never();

    loop {
        if let Some(at) = hub.poll_timeout() {
            timer.set_at(at);
        }
        futures::select_biased! {
            () = shutdown => break,
            msg = from_conns.recv().fuse() => {
                let Ok(msg) = msg else { continue };
                let now = Instant::now();
                handle(&mut hub, msg, now);
                // Take what else is ready in one go, so a busy hub drains in batches.
                for _ in 0..256 {
                    match from_conns.try_recv() {
                        Ok(msg) => handle(&mut hub, msg, now),
                        Err(_) => break,
                    }
                }
            }
            accepted = listener.accept().fuse() => match accepted {
                Ok((tcp, peer)) => {
                    let now = Instant::now();
                    match hub.handle_accept(peer, now) {
                        Ok(conn) => {
                            // Unbounded channel, bounded by hand below: a bounded one would
                            // preallocate every slot for every idle client.
                            let (frames, frames_rx) = async_channel::unbounded();
                            let (close, close_rx) = async_channel::bounded(1);
                            let (relay, relay_rx) = async_channel::bounded(1);
                            outboxes.insert(conn, Outbox { frames, close, relay });
                            let deadline = now + login_deadline;
                            let lines = Lines { to_hub: to_hub.clone(), frames: frames_rx, close: close_rx, relay: relay_rx, tap: tap.clone() };
                            pumps.push(pump(conn, tcp, acceptor.clone(), deadline, lines));
                        }
                        Err(e) => tracing::debug!(%peer, "refused: {e}"),
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("accept failed: {e}");
                    async_io::Timer::after(Duration::from_millis(50)).await;
                }
            },
            () = pumps.select_next_some() => {}
            _ = FutureExt::fuse(&mut timer) => hub.handle_timeout(Instant::now()),
        }
        flush(&mut hub, &mut outboxes, outbox_frames);
    }

    hub.shutdown(Instant::now());
    flush(&mut hub, &mut outboxes, outbox_frames);
    // Let the pumps deliver the goodbyes, briefly.
    let drain = async { while pumps.next().await.is_some() {} };
    futures_lite::future::or(drain, async {
        async_io::Timer::after(Duration::from_secs(2)).await;
    })
    .await;
    Ok(())
}

fn handle(hub: &mut Hub, msg: FromConn, now: Instant) {
    match msg {
        FromConn::Connected {
            conn,
            client,
            channel,
        } => hub.handle_connect(conn, client, channel, now),
        FromConn::Frame { conn, frame } => hub.handle_frame(conn, frame, now),
        FromConn::Bad { conn, input } => hub.handle_bad_input(conn, input, now),
        FromConn::Gone { conn } => hub.handle_disconnect(conn, now),
    }
}

/// Carries out the hub's transmits; a full outbox drops that client.
fn flush(hub: &mut Hub, outboxes: &mut HashMap<ConnId, Outbox>, limit: usize) {
    loop {
        let mut slow = Vec::new();
        while let Some(t) = hub.poll_transmit() {
            match t {
                Transmit::Frame { conn, frame } => {
                    if let Some(out) = outboxes.get(&conn) {
                        if out.frames.len() >= limit {
                            slow.push(conn);
                        } else {
                            let _ = out.frames.try_send(frame);
                        }
                    }
                }
                Transmit::Close { conn, reason } => {
                    if let Some(out) = outboxes.remove(&conn) {
                        let _ = out.close.try_send(reason);
                    }
                }
                Transmit::Relay { a, b } => {
                    let (a_to_b, b_from_a) = async_channel::bounded(RELAY_QUEUE);
                    let (b_to_a, a_from_b) = async_channel::bounded(RELAY_QUEUE);
                    if let (Some(out_a), Some(out_b)) = (outboxes.remove(&a), outboxes.remove(&b)) {
                        let _ = out_a.relay.try_send(Pipe {
                            to_partner: a_to_b,
                            from_partner: a_from_b,
                        });
                        let _ = out_b.relay.try_send(Pipe {
                            to_partner: b_to_a,
                            from_partner: b_from_a,
                        });
                    }
                }
            }
        }
        if slow.is_empty() {
            break;
        }
        let now = Instant::now();
        for conn in slow {
            hub.handle_slow_consumer(conn, now);
        }
    }
    while let Some(event) = hub.poll_event() {
        match event {
            Event::LoggedIn { conn, client, name } => {
                tracing::info!("{conn} logged in as {client} {name:?}");
            }
            Event::Closed { conn, peer, reason } => {
                tracing::info!("{conn} {peer} closed: {reason}");
            }
            Event::Disconnected { conn, client } => {
                tracing::debug!("{conn} {client:?} disconnected");
            }
        }
    }
}

/// Where the test hook sends copies of relayed messages.
type Tap = Sender<(ConnId, Vec<u8>)>;

/// A pump's channels to and from the serve loop.
struct Lines {
    to_hub: Sender<FromConn>,
    frames: Receiver<Arc<ServerFrame>>,
    close: Receiver<CloseReason>,
    relay: Receiver<Pipe>,
    /// Test hook: a copy of every relayed message.
    tap: Option<Tap>,
}

type HubSink =
    async_tungstenite::WebSocketSender<net::Coalesce<futures_rustls::server::TlsStream<TcpStream>>>;
type HubSource = async_tungstenite::WebSocketReceiver<
    net::Coalesce<futures_rustls::server::TlsStream<TcpStream>>,
>;

/// One connection: handshakes, then frames in and out until either side ends (or, for
/// a relay, bytes to and from its partner).
async fn pump(
    conn: ConnId,
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    deadline: Instant,
    lines: Lines,
) {
    let to_hub = &lines.to_hub;
    // Boxed: the handshake's large state is freed once it is done, instead of sizing the
    // pump future (which lives as long as the connection) for it.
    let handshake = Box::pin(net::until(deadline, net::accept(tcp, acceptor))).await;
    if let Ok((ws, accepted)) = handshake {
        let connected = FromConn::Connected {
            conn,
            client: accepted.client,
            channel: accepted.channel,
        };
        if to_hub.send(connected).await.is_ok() {
            let (mut sink, mut stream) = ws.split();
            let end = {
                let reader = async {
                    read_loop(conn, &mut stream, to_hub).await;
                    End::Gone
                };
                let writer = async {
                    write_loop(&mut sink, &lines.frames).await;
                    End::Gone
                };
                // A closed line without a reason means the hub handed us to a relay.
                let hub_closes = async {
                    match lines.close.recv().await {
                        Ok(reason) => End::Close(reason),
                        Err(_) => std::future::pending().await,
                    }
                };
                let relayed = async {
                    match lines.relay.recv().await {
                        Ok(pipe) => End::Relay(pipe),
                        Err(_) => std::future::pending().await,
                    }
                };
                let hub = futures_lite::future::or(hub_closes, relayed);
                futures_lite::future::or(hub, futures_lite::future::or(reader, writer)).await
            };
            match end {
                End::Close(reason) => {
                    let goodbye = goodbye(&mut sink, &lines.frames, reason);
                    let _ = net::until(Instant::now() + GOODBYE, goodbye).await;
                }
                End::Relay(pipe) => {
                    relay(
                        &mut sink,
                        &mut stream,
                        &lines.frames,
                        pipe,
                        lines.tap.as_ref().map(|t| (conn, t)),
                    )
                    .await;
                }
                End::Gone => {}
            }
        }
    }
    let _ = to_hub.send(FromConn::Gone { conn }).await;
}

/// Pipes binary messages between this connection and its partner until either side
/// ends or nothing moves for [`crate::limits::PROGRESS_DEADLINE`].
async fn relay(
    sink: &mut HubSink,
    stream: &mut HubSource,
    frames: &Receiver<Arc<ServerFrame>>,
    pipe: Pipe,
    tap: Option<(ConnId, &Tap)>,
) {
    // First what the hub queued before the pipe (the `RelayReady` frame).
    while let Ok(frame) = frames.try_recv() {
        if sink
            .feed(WsMessage::Binary(proto::encode(&*frame).into()))
            .await
            .is_err()
        {
            return;
        }
    }
    if sink.flush().await.is_err() {
        return;
    }
    let idle = crate::limits::PROGRESS_DEADLINE;
    let up = async {
        loop {
            let next = futures_lite::future::or(stream.next(), async {
                async_io::Timer::after(idle).await;
                None
            });
            match next.await {
                Some(Ok(WsMessage::Binary(bytes))) => {
                    if let Some((conn, tap)) = tap {
                        let _ = tap.try_send((conn, bytes.to_vec()));
                    }
                    if pipe.to_partner.send(bytes).await.is_err() {
                        return;
                    }
                }
                Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {}
                _ => return,
            }
        }
    };
    let down = async {
        loop {
            let next =
                futures_lite::future::or(async { pipe.from_partner.recv().await.ok() }, async {
                    async_io::Timer::after(idle).await;
                    None
                });
            let Some(bytes) = next.await else { return };
            if sink.send(WsMessage::Binary(bytes)).await.is_err() {
                return;
            }
        }
    };
    futures_lite::future::or(up, down).await;
    let _ = net::until(Instant::now() + GOODBYE, async {
        sink.close(None).await.map_err(net::Error::from)
    })
    .await;
}

/// The hub closed this connection: send what was queued before the decision (a login
/// rejection, say; nothing for a slow consumer), then the close frame.
async fn goodbye(
    sink: &mut HubSink,
    frames: &Receiver<Arc<ServerFrame>>,
    reason: CloseReason,
) -> Result<(), net::Error> {
    if reason != CloseReason::SlowConsumer {
        while let Ok(frame) = frames.try_recv() {
            sink.feed(WsMessage::Binary(proto::encode(&*frame).into()))
                .await?;
        }
    }
    let frame = CloseFrame {
        code: CloseCode::from(reason.code()),
        reason: reason.text().into(),
    };
    sink.close(Some(frame)).await?;
    Ok(())
}

async fn read_loop(conn: ConnId, stream: &mut HubSource, to_hub: &Sender<FromConn>) {
    let mut pings = (Instant::now(), 0u32);
    while let Some(msg) = stream.next().await {
        let bad = match msg {
            Ok(WsMessage::Ping(_)) => {
                // tungstenite answers each ping; a flood would make us its echo server.
                let now = Instant::now();
                if now.duration_since(pings.0) >= Duration::from_secs(1) {
                    pings = (now, 0);
                }
                pings.1 += 1;
                if pings.1 <= crate::limits::MAX_PINGS_PER_SEC {
                    continue;
                }
                BadInput::PingFlood
            }
            Ok(WsMessage::Binary(bytes)) => match proto::decode_client(&bytes) {
                Ok(frame) => {
                    if to_hub.send(FromConn::Frame { conn, frame }).await.is_err() {
                        return;
                    }
                    continue;
                }
                Err(e) => BadInput::Malformed(e),
            },
            Ok(WsMessage::Text(_)) => BadInput::Text,
            Ok(WsMessage::Close(_)) => return,
            Ok(_) => continue, // ping/pong: tungstenite answers pings itself
            Err(tungstenite::Error::Capacity(_)) => BadInput::TooBig,
            Err(_) => return,
        };
        // Bad input: read nothing more. The hub answers with a close, which the writer
        // sends before the pump ends; returning here would race it.
        if to_hub
            .send(FromConn::Bad { conn, input: bad })
            .await
            .is_ok()
        {
            std::future::pending::<()>().await;
        }
        return;
    }
}

async fn write_loop(sink: &mut HubSink, frames: &Receiver<Arc<ServerFrame>>) {
    while let Ok(first) = frames.recv().await {
        // Feed everything already queued, then flush once: fewer TLS records and syscalls.
        let mut next = Some(first);
        while let Some(frame) = next.take() {
            let bytes = proto::encode(&*frame);
            if sink.feed(WsMessage::Binary(bytes.into())).await.is_err() {
                return;
            }
            next = frames.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
}
