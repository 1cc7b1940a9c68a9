//! A write-coalescing adapter: small writes collect in memory and reach the inner stream
//! in one write at flush time, so a burst of WebSocket frames becomes a few large TLS
//! records instead of one record and one syscall per frame. The buffer is released after a
//! large burst so an idle connection holds almost nothing.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::io::{AsyncRead, AsyncWrite};

/// Above this the buffer is written out before accepting more.
const HIGH_WATER: usize = 64 * 1024;
/// A buffer larger than this is freed once it has been written out.
const KEEP: usize = 1024;

/// See the module docs.
#[derive(Debug)]
pub struct Coalesce<S> {
    inner: S,
    buf: Vec<u8>,
    written: usize,
}

impl<S> Coalesce<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            written: 0,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncWrite + Unpin> Coalesce<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.buf.len() {
            let pending = self.buf.get(self.written..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.written = 0;
        if self.buf.capacity() > KEEP {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalesce<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.buf.len() + data.len() > HIGH_WATER {
            ready!(self.poll_drain(cx))?;
            if data.len() > HIGH_WATER {
                return Pin::new(&mut self.inner).poll_write(cx, data);
            }
        }
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalesce<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::AsyncWriteExt;

    #[test]
    fn writes_reach_the_inner_stream_only_at_flush_and_the_buffer_is_released() {
        futures_lite::future::block_on(async {
            let mut c = Coalesce::new(Vec::<u8>::new());
            c.write_all(b"hello ").await.unwrap();
            c.write_all(b"world").await.unwrap();
            assert!(c.inner.is_empty());
            c.flush().await.unwrap();
            assert_eq!(c.inner, b"hello world");
            c.write_all(&vec![7u8; 10_000]).await.unwrap();
            c.flush().await.unwrap();
            assert_eq!(c.buf.capacity(), 0, "large buffers are freed after use");
            c.write_all(&vec![1u8; 200_000]).await.unwrap(); // bigger than the high water
            c.flush().await.unwrap();
            assert_eq!(c.inner.len(), 11 + 10_000 + 200_000);
        });
    }
}
