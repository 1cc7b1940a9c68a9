//! A small local endpoint beside the hub (metrics, status): each connection gets one
//! request and one answer, within a deadline, and only a few are served at once. A client
//! that holds its connection open is dropped at the deadline; past the cap, new ones are
//! closed at once, so a stuck or flooding client never stops the hub nor, for long, the
//! others.

use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use futures::StreamExt;
use futures::io::{AsyncRead, AsyncReadExt};
use futures::stream::FuturesUnordered;

/// Accepts connections on `listener` forever, running `answer` for each (at most `cap`
/// at once, each for at most `deadline`).
pub(super) async fn serve<F, Fut>(listener: TcpListener, cap: usize, deadline: Duration, answer: F)
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut running = FuturesUnordered::new();
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            if running.is_empty() {
                std::future::pending::<()>().await;
            }
            running.next().await;
            None
        })
        .await;
        match accepted {
            None => {}
            Some(Ok((stream, _))) if running.len() < cap => {
                let one = answer(stream);
                running.push(async move {
                    futures_lite::future::or(one, async {
                        smol::Timer::after(deadline).await;
                    })
                    .await;
                });
            }
            // Over the cap: closed at once (dropped).
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                // Out of file descriptors and the like: wait a little, keep serving.
                tracing::debug!("local endpoint: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads from `stream` until `end` is found, at most `max` bytes; `None` if the stream
/// ends or the bytes run out first.
pub(super) async fn read_until(
    stream: &mut (impl AsyncRead + Unpin),
    end: &[u8],
    max: usize,
) -> Option<Vec<u8>> {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
        if let Some(at) = buf.windows(end.len()).position(|w| w == end) {
            buf.truncate(at);
            return Some(buf);
        }
        if buf.len() > max {
            return None;
        }
    }
}
