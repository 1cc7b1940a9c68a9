//! The ways to open a peer connection: mutual TLS with both certificates pinned to the
//! fingerprints the hub relayed, then the ticket, then [`wire`] frames straight on the TLS
//! stream ([`Link`]). `listen` and `dial` connect the two machines directly (with a read
//! buffer under the TLS stream, so a GiB takes thousands of socket reads, not the
//! hundreds of thousands TLS asks for in 4 KiB steps; small until the knock is accepted,
//! see `read_buffer.rs`); `relay` goes through the hub (a
//! WebSocket, as every hub connection) and runs the same TLS end to end inside. Which
//! way wins is decided in `race.rs`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use async_net::{TcpListener, TcpStream};
use async_tungstenite::tungstenite::{Bytes, Message as WsMessage};
use futures::io::{AsyncRead, AsyncWrite};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use futures_rustls::{TlsAcceptor, TlsConnector};

pub(crate) use super::link::Link;
use super::read_buffer::ReadBuffer;
use super::wire::{self, AbortReason, Control, Incoming};
use crate::identity::Identity;
use crate::proto::CloseReason;
use crate::proto::{self, ClientFrame, ClientId, ServerFrame, Ticket};
use crate::session::Handle;
use crate::{limits, net, tls};

/// Any byte stream a link can run on.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Plaintext TLS takes in one write on a link before it must hand records to the socket
/// (rustls's default is 64 KiB): a whole data frame is encrypted and written at once.
const TLS_WRITE_BUFFER: usize = 512 * 1024;

/// Why one way of reaching the other side failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Neither side announced an address and the relay is off.
    #[error("no address to try")]
    NoAddress,
    /// TCP, TLS or (to the hub's relay) WebSocket setup failed.
    #[error(transparent)]
    Net(#[from] net::Error),
    /// A socket read or write failed.
    #[error("network error")]
    Io(#[from] io::Error),
    /// The WebSocket to the hub's relay failed.
    #[error("websocket error")]
    Ws(#[from] async_tungstenite::tungstenite::Error),
    /// The other side presented a wrong or expired ticket (or refused ours).
    #[error("wrong or expired ticket")]
    BadTicket,
    /// The other side did not follow the connection protocol.
    #[error("the peer did not follow the link protocol")]
    Protocol,
    /// The hub's certificate is not the one pinned at login.
    #[error("the hub's identity is unknown or changed")]
    HubChanged,
    /// The hub closed the relay request, with its reason when it gave a known one.
    #[error("the hub refused to relay ({})", .0.map_or("no reason given", |r| r.text()))]
    RelayRefused(Option<CloseReason>),
    /// The attempt did not finish in time.
    #[error("timed out")]
    Timeout,
    /// No way worked before the connect deadline; the last failure, if any.
    #[error("timed out{}", .0.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    GaveUp(Option<Box<Self>>),
    /// TLS could not be configured.
    #[error("TLS setup")]
    Tls(#[from] tls::Error),
}

/// Sends one control message.
pub(crate) async fn send(link: &mut Link, msg: &Control) -> Result<(), Error> {
    link.send(&wire::encode(msg)).await?;
    Ok(())
}

/// Reads the next control message, within `deadline`.
pub(crate) async fn recv_control(link: &mut Link, deadline: Instant) -> Result<Control, Error> {
    let next = net::until(deadline, async { Ok(link.next_frame().await?) }).await;
    match next {
        Err(net::Error::Timeout) => Err(Error::Timeout),
        // A header the link refused (over its cap, or file data before the knock).
        Err(net::Error::Io(e)) if e.kind() == io::ErrorKind::InvalidData => Err(Error::Protocol),
        Err(e) => Err(e.into()),
        Ok(Some(frame)) => match wire::decode(&frame) {
            Ok(Incoming::Control(msg)) => Ok(msg),
            _ => Err(Error::Protocol),
        },
        Ok(None) => Err(Error::Protocol),
    }
}

/// Tells the other side it broke the protocol (a wrong ticket, a message other than the
/// knock) and ends the link.
async fn refuse(link: &mut Link) {
    let _ = net::until(Instant::now() + Duration::from_secs(1), async {
        let abort = Control::Abort {
            reason: AbortReason::Protocol,
        };
        link.send(&wire::encode(&abort)).await?;
        Ok(link.close().await?)
    })
    .await;
}

/// The listening side of one incoming connection: TLS (a certificate other than the
/// peer's fails the handshake: nothing else is read), then the ticket.
async fn accept_one(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    pass: Pass,
    valid_until: Instant,
) -> Result<Link, Error> {
    let _ = tcp.set_nodelay(true);
    let deadline = Instant::now() + limits::LOGIN_DEADLINE;
    // A small read buffer until the knock is accepted: a stranger costs little.
    let (tcp, widen) = ReadBuffer::new(tcp);
    let mut tls = net::until(deadline, async { Ok(acceptor.accept(tcp).await?) }).await?;
    tls.get_mut().1.set_buffer_limit(Some(TLS_WRITE_BUFFER));
    let io: Box<dyn Io> = Box::new(tls);
    let link = server_knock(io, pass, valid_until, deadline).await?;
    widen.widen();
    Ok(link)
}

/// Waits on `io` for a valid `Knock`: nothing else is read before it.
async fn server_knock(
    io: Box<dyn Io>,
    pass: Pass,
    valid_until: Instant,
    deadline: Instant,
) -> Result<Link, Error> {
    let mut link = Link::new(io);
    match recv_control(&mut link, deadline).await {
        Ok(Control::Knock {
            ticket: given,
            digest,
        }) if given.matches(&pass.ticket)
            && digest == pass.digest
            && Instant::now() < valid_until =>
        {
            let welcome = wire::encode(&Control::Welcome);
            net::until(deadline, async { Ok(link.send(&welcome).await?) }).await?;
            link.admit();
            Ok(link)
        }
        Ok(Control::Knock { .. }) => {
            refuse(&mut link).await;
            Err(Error::BadTicket)
        }
        // Another message, or file bytes, before the knock.
        Ok(_) | Err(Error::Protocol) => {
            refuse(&mut link).await;
            Err(Error::Protocol)
        }
        Err(e) => Err(e),
    }
}

/// Presents the ticket on `io` and waits for the listener's `Welcome`: a refused knock
/// (a wrong or expired ticket, a pass already used) fails this way, so the race goes on
/// to the next.
async fn client_knock(io: Box<dyn Io>, pass: Pass, deadline: Instant) -> Result<Link, Error> {
    let mut link = Link::new(io);
    let knock = Control::Knock {
        ticket: pass.ticket,
        digest: pass.digest,
    };
    net::until(deadline, async {
        Ok(link.send(&wire::encode(&knock)).await?)
    })
    .await?;
    match recv_control(&mut link, deadline).await? {
        Control::Welcome => {
            link.admit();
            Ok(link)
        }
        Control::Abort { .. } => Err(Error::BadTicket),
        _ => Err(Error::Protocol),
    }
}

/// What the connecting side presents: the hub's ticket and the digest of the offer it
/// is for. A valid ticket with another offer's digest is refused like a wrong ticket.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pass {
    pub(crate) ticket: Ticket,
    pub(crate) digest: [u8; 32],
}

/// Handshakes a transfer listener runs at once for one address.
const LISTEN_PER_IP: usize = 4;

/// Accepts connections on `listener` until one presents the ticket; strangers and wrong
/// tickets are turned away one by one while the listener keeps listening.
pub(crate) async fn listen(
    listener: &TcpListener,
    acceptor: TlsAcceptor,
    pass: Pass,
    valid_until: Instant,
) -> Link {
    let mut pending = FuturesUnordered::new();
    // Handshakes under way by address: a stranger may not fill the listener and keep the
    // other side out (it still gets through from its own address).
    let mut per_ip: std::collections::HashMap<std::net::IpAddr, usize> = Default::default();
    loop {
        futures::select_biased! {
            done = pending.select_next_some() => {
                let (ip, done): (std::net::IpAddr, Result<Link, Error>) = done;
                if let Some(n) = per_ip.get_mut(&ip) {
                    *n = n.saturating_sub(1);
                }
                match done {
                    Ok(link) => return link,
                    Err(e) => tracing::debug!("refused a transfer connection: {e}"),
                }
            }
            accepted = listener.accept().fuse() => {
                if let Ok((tcp, peer)) = accepted {
                    let n = per_ip.entry(peer.ip()).or_default();
                    if *n < LISTEN_PER_IP && pending.len() < limits::MAX_PREAUTH_PER_IP {
                        *n += 1;
                        let ip = peer.ip();
                        let one = accept_one(tcp, acceptor.clone(), pass, valid_until);
                        pending.push(async move { (ip, one.await) });
                    }
                }
            }
        }
    }
}

/// Connects to every address at once and presents the ticket on the first that completes
/// TLS with the pinned peer; when that knock is refused, on the next, and so on.
pub(crate) async fn dial(
    addrs: &[SocketAddr],
    connector: TlsConnector,
    pass: Pass,
) -> Result<Link, Error> {
    let deadline = Instant::now() + limits::LOGIN_DEADLINE;
    let mut attempts: FuturesUnordered<_> = addrs
        .iter()
        .map(|addr| {
            let connector = connector.clone();
            async move {
                net::until(deadline, async {
                    let tcp = TcpStream::connect(addr).await?;
                    let _ = tcp.set_nodelay(true);
                    let (tcp, widen) = ReadBuffer::new(tcp);
                    Ok((connector.connect(tls::server_name(), tcp).await?, widen))
                })
                .await
            }
        })
        .collect();
    let mut last = Error::Timeout;
    while let Some(result) = attempts.next().await {
        match result {
            Ok((mut tls, widen)) => {
                tls.get_mut().1.set_buffer_limit(Some(TLS_WRITE_BUFFER));
                match client_knock(Box::new(tls), pass, deadline).await {
                    Ok(link) => {
                        widen.widen();
                        return Ok(link);
                    }
                    Err(e) => last = e,
                }
            }
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

/// Which end of the transfer we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Sender,
    Receiver,
}

/// Both ends connect to the hub with the ticket; once the hub pairs them, the sender is
/// the TLS server and the receiver the TLS client of an end-to-end TLS session inside.
pub(crate) async fn relay(
    handle: &Handle,
    role: Role,
    peer: ClientId,
    pass: Pass,
    valid_until: Instant,
) -> Result<Link, Error> {
    let deadline = Instant::now() + limits::LOGIN_DEADLINE;
    let (hub, pin) = handle.hub();
    let pin = pin.ok_or(Error::HubChanged)?;
    let identity: &Identity = handle.identity();
    let connector = TlsConnector::from(tls::client_config(identity)?);
    let (stream, info) = net::until(deadline, net::connect_tls(&hub, connector)).await?;
    if info.hub != pin {
        return Err(Error::HubChanged);
    }
    let mut ws = net::until(deadline, net::upgrade(stream)).await?;
    ws.send(WsMessage::Binary(
        proto::encode(&ClientFrame::Relay {
            ticket: pass.ticket,
        })
        .into(),
    ))
    .await?;
    loop {
        let next = net::until(deadline, async { Ok(ws.next().await) }).await;
        match next {
            Ok(Some(Ok(WsMessage::Binary(b)))) => match proto::decode_server(&b) {
                Ok(ServerFrame::RelayReady) => break,
                _ => return Err(Error::Protocol),
            },
            Ok(Some(Ok(WsMessage::Close(frame)))) => {
                let why = frame.and_then(|f| CloseReason::from_text(&f.reason));
                return Err(Error::RelayRefused(why));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err(Error::RelayRefused(None)),
            Err(_) => return Err(Error::Timeout),
        }
    }
    let pipe = WsBytes::new(ws);
    match role {
        Role::Sender => {
            let acceptor = TlsAcceptor::from(tls::pinned_server_config(identity, peer)?);
            let mut inner =
                net::until(deadline, async { Ok(acceptor.accept(pipe).await?) }).await?;
            inner.get_mut().1.set_buffer_limit(Some(TLS_WRITE_BUFFER));
            server_knock(Box::new(inner), pass, valid_until, deadline).await
        }
        Role::Receiver => {
            let connector = TlsConnector::from(tls::pinned_client_config(identity, peer)?);
            let mut inner = net::until(deadline, async {
                Ok(connector.connect(tls::server_name(), pipe).await?)
            })
            .await?;
            inner.get_mut().1.set_buffer_limit(Some(TLS_WRITE_BUFFER));
            client_knock(Box::new(inner), pass, deadline).await
        }
    }
}

/// Bytes over WebSocket binary messages: what the relay carries, so TLS can run inside.
pub(crate) struct WsBytes<S> {
    ws: S,
    read: Bytes,
    write: Vec<u8>,
}

/// Bytes buffered before a relay message goes out: fewer, larger messages through the
/// hub (its limit is [`limits::MAX_MESSAGE`]).
const RELAY_CHUNK: usize = 256 * 1024;

impl<S> WsBytes<S> {
    pub(crate) fn new(ws: S) -> Self {
        Self {
            ws,
            read: Bytes::new(),
            write: Vec::new(),
        }
    }
}

type WsResult = Result<WsMessage, async_tungstenite::tungstenite::Error>;

impl<S> WsBytes<S>
where
    S: Sink<WsMessage, Error = async_tungstenite::tungstenite::Error> + Unpin,
{
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.write.is_empty() {
            return Poll::Ready(Ok(()));
        }
        ready!(self.ws.poll_ready_unpin(cx)).map_err(io::Error::other)?;
        let chunk = std::mem::take(&mut self.write);
        self.ws
            .start_send_unpin(WsMessage::Binary(chunk.into()))
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(()))
    }
}

impl<S> AsyncRead for WsBytes<S>
where
    S: Stream<Item = WsResult> + Unpin,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if !self.read.is_empty() {
                let n = buf.len().min(self.read.len());
                let chunk = self.read.split_to(n);
                if let Some(dst) = buf.get_mut(..n) {
                    dst.copy_from_slice(&chunk);
                }
                return Poll::Ready(Ok(n));
            }
            match ready!(self.ws.poll_next_unpin(cx)) {
                Some(Ok(WsMessage::Binary(b))) => self.read = b,
                Some(Ok(WsMessage::Close(_))) | None => return Poll::Ready(Ok(0)),
                Some(Ok(WsMessage::Text(_))) => {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::InvalidData)));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

impl<S> AsyncWrite for WsBytes<S>
where
    S: Sink<WsMessage, Error = async_tungstenite::tungstenite::Error> + Unpin,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.write.len() >= RELAY_CHUNK {
            ready!(self.poll_send(cx))?;
        }
        let n = buf.len().min(RELAY_CHUNK - self.write.len());
        self.write
            .extend_from_slice(buf.get(..n).unwrap_or_default());
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_send(cx))?;
        self.ws.poll_flush_unpin(cx).map_err(io::Error::other)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        self.ws.poll_close_unpin(cx).map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    /// Whether the other side said we broke the protocol and then ended the link.
    async fn refused(link: &mut Link) -> bool {
        let said = recv_control(link, Instant::now() + Duration::from_secs(10)).await;
        let ended = matches!(link.next_frame().await, Ok(None) | Err(_));
        matches!(
            said,
            Ok(Control::Abort {
                reason: AbortReason::Protocol
            })
        ) && ended
    }

    /// A sender listening for a receiver on loopback, and the pass the receiver holds.
    struct Listening {
        sender: Identity,
        receiver: Identity,
        listener: TcpListener,
        addr: SocketAddr,
        acceptor: TlsAcceptor,
        pass: Pass,
    }

    async fn listening() -> Listening {
        let sender = Identity::generate().unwrap();
        let receiver = Identity::generate().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor =
            TlsAcceptor::from(tls::pinned_server_config(&sender, receiver.id()).unwrap());
        let pass = Pass {
            ticket: Ticket([7; 32]),
            digest: [1; 32],
        };
        Listening {
            sender,
            receiver,
            listener,
            addr,
            acceptor,
            pass,
        }
    }

    /// SECURITY D1, D2, D4 and a wrong server certificate, on real sockets.
    #[test]
    fn listener_admits_only_the_pinned_peer_with_the_live_ticket() {
        smol::block_on(async {
            let Listening {
                sender,
                receiver,
                listener,
                addr,
                acceptor,
                pass: ticket,
            } = listening().await;
            let stranger = Identity::generate().unwrap();
            let listening = listen(
                &listener,
                acceptor,
                ticket,
                Instant::now() + Duration::from_secs(60),
            );
            let connector = |me: &Identity, them: ClientId| {
                TlsConnector::from(tls::pinned_client_config(me, them).unwrap())
            };
            let attempts = async {
                // D1: a stranger's certificate fails the handshake (in TLS 1.3 the
                // dialer learns it on its first read, waiting for the `Welcome`).
                let c = connector(&stranger, sender.id());
                let stranger_in = dial(&[addr], c, ticket).await.err();
                assert!(
                    !matches!(stranger_in, None | Some(Error::Timeout)),
                    "{stranger_in:?}"
                );
                // The listener is someone other than the pinned sender.
                let c = connector(&receiver, stranger.id());
                assert!(dial(&[addr], c, ticket).await.is_err());
                // D2: the right peer with a wrong ticket is refused.
                let c = connector(&receiver, sender.id());
                let wrong = Pass {
                    ticket: Ticket([8; 32]),
                    ..ticket
                };
                let refused = dial(&[addr], c.clone(), wrong).await.err();
                assert!(matches!(refused, Some(Error::BadTicket)), "{refused:?}");
                // D5: the right ticket for another offer's files is refused too.
                let other = Pass {
                    digest: [2; 32],
                    ..ticket
                };
                let refused = dial(&[addr], c.clone(), other).await.err();
                assert!(matches!(refused, Some(Error::BadTicket)), "{refused:?}");
                // The listener kept listening: the real ticket gets through.
                dial(&[addr], c, ticket).await.unwrap()
            };
            let (mut accepted, _dialer) = futures::join!(listening, attempts);
            send(&mut accepted, &Control::Start).await.unwrap();
        });
    }

    /// SECURITY D6: a stranger that opens many connections and never finishes a
    /// handshake does not keep the real peer out of the listener.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_stranger_holding_connections_does_not_block_the_peer() {
        use rustix::net::{AddressFamily, SocketType};
        smol::block_on(async {
            let Listening {
                sender,
                receiver,
                listener,
                addr,
                acceptor,
                pass,
            } = listening().await;
            // The stranger, from another address (all of 127/8 is this machine), holds
            // more silent connections than the listener handshakes at once in total.
            let stranger_ip = std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(127, 0, 0, 2), 0);
            let held: Vec<std::net::TcpStream> = (0..limits::MAX_PREAUTH_PER_IP + 8)
                .map(|_| {
                    let fd =
                        rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
                    rustix::net::bind(&fd, &stranger_ip).unwrap();
                    rustix::net::connect(&fd, &addr).unwrap();
                    std::net::TcpStream::from(fd)
                })
                .collect();
            let listening = listen(
                &listener,
                acceptor,
                pass,
                Instant::now() + Duration::from_secs(60),
            );
            let attempt = async {
                // Let the listener take in the stranger's connections first.
                async_io::Timer::after(Duration::from_millis(200)).await;
                let c =
                    TlsConnector::from(tls::pinned_client_config(&receiver, sender.id()).unwrap());
                // A panic here ends the test (the listener would wait on forever).
                match dial(&[addr], c, pass).await {
                    Ok(ws) => ws,
                    Err(e) => unreachable!("the peer was kept out: {e}"),
                }
            };
            let (mut accepted, _dialed) = futures::join!(listening, attempt);
            send(&mut accepted, &Control::Start).await.unwrap();
            drop(held);
        });
    }

    /// A pinned peer that sends file bytes before its knock is refused with nothing of
    /// them taken, and the listener goes on to admit the real knock.
    #[test]
    fn data_before_the_knock_is_refused() {
        smol::block_on(async {
            let Listening {
                sender,
                receiver,
                listener,
                addr,
                acceptor,
                pass,
            } = listening().await;
            let listening = listen(
                &listener,
                acceptor,
                pass,
                Instant::now() + Duration::from_secs(60),
            );
            let attempts = async {
                let c =
                    TlsConnector::from(tls::pinned_client_config(&receiver, sender.id()).unwrap());
                let tcp = TcpStream::connect(addr).await.unwrap();
                let tls = c.connect(tls::server_name(), tcp).await.unwrap();
                let mut early = Link::new(Box::new(tls));
                early.send(&wire::data(b"not a knock")).await.unwrap();
                assert!(refused(&mut early).await);
                dial(&[addr], c, pass).await.unwrap()
            };
            let (mut accepted, _dialer) = futures::join!(listening, attempts);
            send(&mut accepted, &Control::Start).await.unwrap();
        });
    }

    #[test]
    fn expired_ticket_is_refused() {
        smol::block_on(async {
            let Listening {
                sender,
                receiver,
                listener,
                addr,
                acceptor,
                pass: ticket,
            } = listening().await;
            let listening = async {
                listen(&listener, acceptor, ticket, Instant::now()).await;
                unreachable!("an expired ticket was accepted");
            };
            let attempt = async {
                let c =
                    TlsConnector::from(tls::pinned_client_config(&receiver, sender.id()).unwrap());
                let refused = dial(&[addr], c, ticket).await.err();
                assert!(matches!(refused, Some(Error::BadTicket)), "{refused:?}");
            };
            futures_lite::future::or(attempt, listening).await;
        });
    }
}
