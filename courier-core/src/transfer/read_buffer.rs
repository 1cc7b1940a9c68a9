//! The read buffer under a direct link's TLS stream: small until the knock is accepted,
//! then large. TLS asks the socket for 4 KiB at a time; a large buffer makes a GiB
//! thousands of socket reads instead of hundreds of thousands. But a stranger who opens
//! connections to a transfer listener has proved nothing, so until [`Widen::widen`] a
//! connection holds only [`SMALL`] bytes of buffer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use futures::io::{AsyncRead, AsyncWrite};

/// The buffer before the knock is accepted: enough for the TLS handshake's records.
pub(crate) const SMALL: usize = 8 * 1024;
/// The buffer after: bytes read from the socket at once on a link that carries a file.
pub(crate) const LARGE: usize = 256 * 1024;

/// A byte stream with a read buffer in front ([`SMALL`] until widened); writes pass
/// straight through.
pub(crate) struct ReadBuffer<T> {
    inner: T,
    buf: Vec<u8>,
    /// Unread bytes are `buf[pos..filled]`.
    pos: usize,
    filled: usize,
    wide: Arc<AtomicBool>,
}

/// Widens a [`ReadBuffer`] to [`LARGE`] (at its next refill: nothing buffered is moved).
#[derive(Clone, Debug)]
pub(crate) struct Widen(Arc<AtomicBool>);

impl Widen {
    /// The peer is admitted: its link gets the large buffer.
    pub(crate) fn widen(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

impl<T> ReadBuffer<T> {
    /// `inner` behind a small buffer, and the handle that widens it.
    pub(crate) fn new(inner: T) -> (Self, Widen) {
        let wide = Arc::new(AtomicBool::new(false));
        let me = Self {
            inner,
            buf: vec![0; SMALL],
            pos: 0,
            filled: 0,
            wide: wide.clone(),
        };
        (me, Widen(wide))
    }

    /// Bytes of buffer this stream holds now.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The stream underneath.
    #[cfg(test)]
    pub(crate) fn get_ref(&self) -> &T {
        &self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadBuffer<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.pos == this.filled {
            if this.buf.len() < LARGE && this.wide.load(Ordering::Relaxed) {
                this.buf = vec![0; LARGE];
            }
            // A read at least as large as the buffer goes straight to the stream.
            if out.len() >= this.buf.len() {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.buf))?;
            this.pos = 0;
            this.filled = n;
        }
        let ahead = this.buf.get(this.pos..this.filled).unwrap_or_default();
        let n = ahead.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), ahead.get(..n)) {
            dst.copy_from_slice(src);
        }
        this.pos += n;
        Poll::Ready(Ok(n))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadBuffer<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::AsyncReadExt;

    /// A stream that gives at most `step` bytes per read.
    struct Steps(futures::io::Cursor<Vec<u8>>, usize);
    impl AsyncRead for Steps {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let step = self.1.min(buf.len());
            Pin::new(&mut self.0).poll_read(cx, &mut buf[..step])
        }
    }

    /// A connection holds the small buffer until it is widened (a stranger's costs
    /// [`SMALL`], not [`LARGE`]); then the large one, from its next refill on; every
    /// byte comes through in order across the change.
    #[test]
    fn the_buffer_is_small_until_widened_and_no_byte_is_lost() {
        let bytes: Vec<u8> = (0..3 * LARGE).map(|i| (i * 7 % 251) as u8).collect();
        let (mut stream, widen) =
            ReadBuffer::new(Steps(futures::io::Cursor::new(bytes.clone()), 3000));
        let small = |s: &ReadBuffer<Steps>| s.capacity() * 16 <= LARGE;
        assert!(small(&stream), "a new connection holds a small buffer");
        let mut got = vec![0u8; 1000];
        smol::block_on(stream.read_exact(&mut got)).unwrap();
        assert!(small(&stream), "not widened: still small");
        widen.widen();
        let mut rest = Vec::new();
        smol::block_on(async {
            let mut piece = [0u8; 4096];
            loop {
                match stream.read(&mut piece).await.unwrap() {
                    0 => break,
                    n => rest.extend_from_slice(&piece[..n]),
                }
            }
        });
        assert_eq!(stream.capacity(), LARGE);
        got.extend(rest);
        assert_eq!(got, bytes);
        assert_eq!(stream.get_ref().0.position(), bytes.len() as u64);
    }
}
