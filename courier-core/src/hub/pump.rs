//! One connection's pump: the TLS and WebSocket handshakes, then frames in (decoded and
//! handed to the serve loop) and out (written from its outbox) until either side ends; or,
//! for a relay, bytes to and from its partner.

use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_net::TcpStream;
use async_tungstenite::tungstenite::protocol::CloseFrame;
use async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use async_tungstenite::tungstenite::{self, Bytes, Message as WsMessage};
use futures::{SinkExt, StreamExt};
use futures_rustls::TlsAcceptor;

use super::outbox::{Drain, Lines, Pipe};
use super::{BadInput, CloseReason, ConnId};
use crate::proto::{self, ClientFrame, ClientId};
use crate::{limits, net};

/// What a pump tells the serve loop.
pub(super) enum FromConn {
    Connected {
        conn: ConnId,
        client: ClientId,
        channel: [u8; 32],
        allowance: net::Allowance,
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
    /// Its outbox drained after the hub asked ([`super::Transmit::WhenDrained`]).
    Drained {
        conn: ConnId,
    },
}

/// What ended a pump's normal life.
enum End {
    Gone,
    Close(CloseReason),
    Relay(Pipe),
}

/// How long a connection the hub has closed may take to receive its last frames and the
/// close frame; after that it is dropped whatever the peer does.
const GOODBYE: Duration = Duration::from_secs(1);

/// Where the test hook sends copies of relayed messages.
pub(super) type Tap = Sender<(ConnId, Vec<u8>)>;

/// A pump's channels to and from the serve loop.
pub(super) struct Io {
    pub(super) to_hub: Sender<FromConn>,
    pub(super) lines: Lines,
    /// Test hook: a copy of every relayed message.
    pub(super) tap: Option<Tap>,
    /// Where relayed bytes are counted.
    pub(super) counted: std::sync::Arc<super::observe::Shared>,
}

/// The connection under the WebSocket: TLS over TCP, reads drawing on its allowance.
type HubIo = net::Coalesce<net::Allowed<futures_rustls::server::TlsStream<TcpStream>>>;
type HubSink = async_tungstenite::WebSocketSender<HubIo>;
type HubSource = async_tungstenite::WebSocketReceiver<HubIo>;

/// One connection: handshakes, then frames in and out until either side ends (or, for
/// a relay, bytes to and from its partner).
pub(super) async fn run(
    conn: ConnId,
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    deadline: Instant,
    io: Io,
) {
    let Io {
        to_hub,
        lines,
        tap,
        counted,
    } = io;
    let to_hub = &to_hub;
    // Boxed: the handshake's large state is freed once it is done, instead of sizing the
    // pump future (which lives as long as the connection) for it.
    let handshake = Box::pin(net::until(deadline, net::accept(tcp, acceptor))).await;
    if let Ok((ws, accepted)) = handshake {
        let connected = FromConn::Connected {
            conn,
            client: accepted.client,
            channel: accepted.channel,
            allowance: accepted.allowance,
        };
        if to_hub.send(connected).await.is_ok() {
            let (mut sink, mut stream) = ws.split();
            let end = {
                #[cfg(feature = "stage-trace")]
                let reader = async {
                    read_loop(conn, accepted.client, &mut stream, to_hub).await;
                    End::Gone
                };
                #[cfg(not(feature = "stage-trace"))]
                let reader = async {
                    read_loop(conn, &mut stream, to_hub).await;
                    End::Gone
                };
                let writer = async {
                    write_loop(conn, &mut sink, &lines.frames, &lines.drain, to_hub).await;
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
                        tap.as_ref().map(|t| (conn, t)),
                        &counted,
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
/// ends or nothing moves for [`limits::PROGRESS_DEADLINE`].
async fn relay(
    sink: &mut HubSink,
    stream: &mut HubSource,
    frames: &Receiver<Bytes>,
    pipe: Pipe,
    tap: Option<(ConnId, &Tap)>,
    counted: &super::observe::Shared,
) {
    // First what the hub queued before the pipe (the `RelayReady` frame).
    while let Ok(frame) = frames.try_recv() {
        if sink.feed(WsMessage::Binary(frame)).await.is_err() {
            return;
        }
    }
    if sink.flush().await.is_err() {
        return;
    }
    let idle = limits::PROGRESS_DEADLINE;
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
                    counted.relayed(bytes.len());
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
    frames: &Receiver<Bytes>,
    reason: CloseReason,
) -> Result<(), net::Error> {
    if reason != CloseReason::SlowConsumer {
        while let Ok(frame) = frames.try_recv() {
            sink.feed(WsMessage::Binary(frame)).await?;
        }
    }
    let frame = CloseFrame {
        code: CloseCode::from(reason.code()),
        reason: reason.text().into(),
    };
    sink.close(Some(frame)).await?;
    Ok(())
}

async fn read_loop(
    conn: ConnId,
    #[cfg(feature = "stage-trace")] client: ClientId,
    stream: &mut HubSource,
    to_hub: &Sender<FromConn>,
) {
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
                if pings.1 <= limits::MAX_PINGS_PER_SEC {
                    continue;
                }
                BadInput::PingFlood
            }
            Ok(WsMessage::Binary(bytes)) => match proto::decode_client(&bytes) {
                Ok(frame) => {
                    #[cfg(feature = "stage-trace")]
                    if let ClientFrame::Send { id, .. } = &frame {
                        super::stages::stamp(&client, *id, super::stages::Stage::Read);
                    }
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
            Err(tungstenite::Error::Io(e)) if net::Allowance::is_exhausted(&e) => BadInput::TooBig,
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

async fn write_loop(
    conn: ConnId,
    sink: &mut HubSink,
    frames: &Receiver<Bytes>,
    drain: &Drain,
    to_hub: &Sender<FromConn>,
) {
    while let Ok(first) = frames.recv().await {
        // Feed everything already queued, then flush once: fewer TLS records and syscalls.
        let (mut count, mut bytes) = (0, 0);
        let mut next = Some(first);
        #[cfg(feature = "stage-trace")]
        let mut fed = Vec::new();
        while let Some(frame) = next.take() {
            count += 1;
            bytes += frame.len();
            #[cfg(feature = "stage-trace")]
            if super::stages::on() {
                super::stages::stamp_bytes(&frame, super::stages::Stage::Taken);
                fed.push(frame.clone());
            }
            if sink.feed(WsMessage::Binary(frame)).await.is_err() {
                return;
            }
            next = frames.try_recv().ok();
        }
        if sink.flush().await.is_err() {
            return;
        }
        #[cfg(feature = "stage-trace")]
        for frame in fed {
            super::stages::stamp_bytes(&frame, super::stages::Stage::Flushed);
        }
        if drain.written(count, bytes) && to_hub.send(FromConn::Drained { conn }).await.is_err() {
            return;
        }
    }
}
