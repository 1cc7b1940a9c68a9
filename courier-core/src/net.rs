//! Connection plumbing: TCP → TLS 1.3 → WebSocket, in both directions ([`accept`] for
//! the hub; [`connect_tls`] then [`upgrade`] for clients), with the WebSocket limits
//! ([`ws_config`]), a read [`Allowance`] before login, and writes coalesced into few TLS
//! records ([`Coalesce`]). The drivers (the hub's, the session's, the transfer's, the
//! discovery checks) open the sockets and call these; mDNS is [`crate::discovery`]'s.

mod allowance;
mod coalesce;

pub use allowance::{Allowance, Allowed, BEFORE_LOGIN};
pub use coalesce::Coalesce;

use std::io;
use std::time::Instant;

use async_net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use async_tungstenite::tungstenite::http::StatusCode;
use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_rustls::{TlsAcceptor, TlsConnector};

use crate::limits;
use crate::proto::{ClientId, WS_PATH};
use crate::tls;

/// A WebSocket over TLS over TCP, as the hub sees it.
pub type ServerStream =
    WebSocketStream<Coalesce<Allowed<futures_rustls::server::TlsStream<TcpStream>>>>;
/// A WebSocket over TLS over TCP, as a client sees it.
pub type ClientStream = WebSocketStream<Coalesce<futures_rustls::client::TlsStream<TcpStream>>>;

/// Errors setting up a connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// TCP connect, read or write failed.
    #[error("network error")]
    Io(#[from] io::Error),
    /// The WebSocket handshake or a WebSocket read/write failed.
    #[error("websocket error")]
    WebSocket(#[from] async_tungstenite::tungstenite::Error),
    /// The peer sent no certificate or the exporter is unavailable (not TLS 1.3).
    #[error("the TLS handshake did not yield an identity")]
    NoIdentity,
    /// The handshake did not finish before the deadline.
    #[error("handshake timed out")]
    Timeout,
    /// The computer answered, but nothing listens on that port.
    #[error("nothing listens at that address and port")]
    Refused(#[source] io::Error),
    /// The host name is not known on the network.
    #[error("no computer by that name was found")]
    NoSuchHost(#[source] io::Error),
}

/// The WebSocket limits used on hub links, in both directions.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(limits::WS_READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(limits::WS_MAX_WRITE_BUFFER)
        .max_message_size(Some(limits::MAX_MESSAGE))
        .max_frame_size(Some(limits::MAX_MESSAGE))
        .accept_unmasked_frames(false)
}

/// What the hub learned from a connection's handshakes.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The client's certificate fingerprint.
    pub client: ClientId,
    /// The TLS exporter value for channel binding.
    pub channel: [u8; 32],
    /// What the connection may still read; lift it once the client has logged in.
    pub allowance: Allowance,
}

/// Refuses browsers (any `Origin` header) and any path but [`WS_PATH`].
#[allow(clippy::result_large_err)]
fn check_request(request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    let refuse = |status: StatusCode, why: &str| {
        let mut r = ErrorResponse::new(Some(why.to_owned()));
        *r.status_mut() = status;
        r
    };
    if request.headers().contains_key("origin") {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "browser connections are not allowed",
        ));
    }
    if request.uri().path() != WS_PATH {
        return Err(refuse(StatusCode::NOT_FOUND, "unknown path"));
    }
    Ok(response)
}

/// Runs `fut` until `deadline`.
pub(crate) async fn until<T>(
    deadline: Instant,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    futures_lite::future::or(fut, async {
        async_io::Timer::at(deadline).await;
        Err(Error::Timeout)
    })
    .await
}

/// Hub side: TLS (client certificate required), then the WebSocket upgrade. What the
/// connection reads from then on draws on an allowance of [`BEFORE_LOGIN`] bytes, which
/// the caller lifts once the client has logged in.
///
/// # Errors
/// Any handshake failure.
pub async fn accept(tcp: TcpStream, tls: TlsAcceptor) -> Result<(ServerStream, Accepted), Error> {
    let _ = tcp.set_nodelay(true);
    let stream = tls.accept(tcp).await?;
    let (_, conn) = stream.get_ref();
    let client = tls::peer_id(conn).ok_or(Error::NoIdentity)?;
    let channel = tls::channel_binding(conn).ok_or(Error::NoIdentity)?;
    let allowance = Allowance::new(BEFORE_LOGIN);
    let ws = async_tungstenite::accept_hdr_async_with_config(
        Coalesce::new(Allowed::new(stream, allowance.clone())),
        check_request,
        Some(ws_config()),
    )
    .await?;
    Ok((
        ws,
        Accepted {
            client,
            channel,
            allowance,
        },
    ))
}

/// What a client learned from its handshakes.
#[derive(Debug, Clone, Copy)]
pub struct Connected {
    /// The hub's certificate fingerprint (to compare with the pin).
    pub hub: ClientId,
    /// The TLS exporter value for channel binding.
    pub channel: [u8; 32],
}

/// Client side: TCP connect, TLS with our certificate. The WebSocket upgrade is separate
/// ([`upgrade`]) so the caller can check the hub's pin first.
///
/// # Errors
/// Any connect or handshake failure.
pub async fn connect_tls(
    addr: &str,
    tls: TlsConnector,
) -> Result<(futures_rustls::client::TlsStream<TcpStream>, Connected), Error> {
    // Resolved first, so that a name nobody knows is told from a port nobody answers.
    let addrs = async_net::resolve(addr).await.map_err(|e| match e.kind() {
        io::ErrorKind::InvalidInput => Error::Io(e),
        _ => Error::NoSuchHost(e),
    })?;
    let tcp = TcpStream::connect(&addrs[..])
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::ConnectionRefused => Error::Refused(e),
            _ => Error::Io(e),
        })?;
    let _ = tcp.set_nodelay(true);
    let stream = tls.connect(tls::server_name(), tcp).await?;
    let (_, conn) = stream.get_ref();
    let hub = tls::peer_id(conn).ok_or(Error::NoIdentity)?;
    let channel = tls::channel_binding(conn).ok_or(Error::NoIdentity)?;
    Ok((stream, Connected { hub, channel }))
}

/// Client side: the WebSocket upgrade on [`WS_PATH`].
///
/// # Errors
/// If the hub refuses the upgrade.
pub async fn upgrade(
    stream: futures_rustls::client::TlsStream<TcpStream>,
) -> Result<ClientStream, Error> {
    let url = format!("wss://courier{WS_PATH}");
    let (ws, _) =
        async_tungstenite::client_async_with_config(url, Coalesce::new(stream), Some(ws_config()))
            .await?;
    Ok(ws)
}
