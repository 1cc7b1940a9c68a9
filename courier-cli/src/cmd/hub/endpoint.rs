//! A small local endpoint beside the hub (metrics, status): each connection gets one
//! request and one answer, within a deadline, and only a few are served at once. The
//! request must come within [`REQUEST_DEADLINE`] (a scraper, or `courier hub status`,
//! sends it at once). When all the places are taken, the oldest connection that has not
//! sent its request yet gives its place to the newcomer; only when every place is busy
//! answering is the newcomer closed at once. So idle connections, however many, never
//! keep a real asker out, and a stuck or flooding client never stops the hub.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use futures::StreamExt;
use futures::channel::oneshot;
use futures::io::{AsyncRead, AsyncReadExt};
use futures::stream::FuturesUnordered;

/// How long a connection may take to send its whole request.
pub(super) const REQUEST_DEADLINE: Duration = Duration::from_secs(1);

/// What the endpoint reads before it answers: the request ends with `end` and has at most
/// `max` bytes.
pub(super) struct Request {
    /// The bytes that end a request.
    pub(super) end: &'static [u8],
    /// The longest request.
    pub(super) max: usize,
}

/// A connection in a place: whether its request came, and its cancel (dropped to evict it).
struct Place {
    id: u64,
    asked: Arc<AtomicBool>,
    _cancel: oneshot::Sender<()>,
}

/// What the accept loop woke up for.
enum Next {
    Accepted(std::io::Result<(TcpStream, std::net::SocketAddr)>),
    /// The connection in that place is done.
    Done(u64),
}

/// Accepts connections on `listener` forever: reads each one's request and runs `answer`
/// with it (`None`: too long, or the connection ended first), at most `cap` at once, each
/// for at most `deadline` in all.
pub(super) async fn serve<F, Fut>(
    listener: TcpListener,
    cap: usize,
    deadline: Duration,
    request: Request,
    answer: F,
) where
    F: Fn(TcpStream, Option<Vec<u8>>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut running = FuturesUnordered::new();
    let mut places: VecDeque<Place> = VecDeque::new();
    let mut next_id = 0u64;
    loop {
        // The connections in their places first: a queue of newcomers waiting to be
        // accepted must not keep them from reading their requests (and so from keeping
        // their places).
        let next = futures_lite::future::or(
            async {
                match running.next().await {
                    Some(done) => Next::Done(done),
                    None => std::future::pending().await,
                }
            },
            async { Next::Accepted(listener.accept().await) },
        )
        .await;
        let stream = match next {
            Next::Accepted(Ok((stream, _))) => stream,
            Next::Done(done) => {
                places.retain(|p| p.id != done);
                continue;
            }
            Next::Accepted(Err(e)) => {
                // Out of file descriptors and the like: wait a little, keep serving.
                tracing::debug!("local endpoint: accept failed: {e}");
                smol::Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        if places.len() >= cap {
            // The oldest that has not asked yet gives way; if all are answering, the
            // newcomer is closed at once (dropped).
            let Some(at) = places.iter().position(|p| !p.asked.load(Ordering::Relaxed)) else {
                continue;
            };
            // Dropping its cancel ends its future at the next poll.
            places.remove(at);
        }
        let id = next_id;
        next_id += 1;
        let asked = Arc::new(AtomicBool::new(false));
        let (cancel, cancelled) = oneshot::channel::<()>();
        places.push_back(Place {
            id,
            asked: asked.clone(),
            _cancel: cancel,
        });
        let work = one(stream, &request, asked, &answer);
        running.push(async move {
            let limited = futures_lite::future::or(work, async {
                smol::Timer::after(deadline).await;
            });
            futures_lite::future::or(limited, async {
                let _ = cancelled.await;
            })
            .await;
            id
        });
    }
}

/// One connection: its request (within [`REQUEST_DEADLINE`]), then its answer.
async fn one<F, Fut>(mut stream: TcpStream, request: &Request, asked: Arc<AtomicBool>, answer: &F)
where
    F: Fn(TcpStream, Option<Vec<u8>>) -> Fut,
    Fut: Future<Output = ()>,
{
    let read = async { Some(read_until(&mut stream, request.end, request.max).await) };
    let late = async {
        smol::Timer::after(REQUEST_DEADLINE).await;
        None
    };
    let Some(head) = futures_lite::future::or(read, late).await else {
        return;
    };
    asked.store(true, Ordering::Relaxed);
    answer(stream, head).await;
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
