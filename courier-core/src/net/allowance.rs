//! A read allowance: a connection may read only so many bytes until it is lifted. The
//! hub gives a new connection enough for the HTTP upgrade and the login frames (which
//! carry no picture), and lifts it once the client has logged in, so a stranger cannot
//! make the hub take in (and keep in memory) large messages before proving anything.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};

use futures::io::{AsyncRead, AsyncWrite};

/// Bytes a connection may read before it has logged in.
pub const BEFORE_LOGIN: usize = 16 * 1024;

/// The shared budget: lift it to let the connection read freely.
#[derive(Debug, Clone)]
pub struct Allowance(Arc<AtomicUsize>);

impl Allowance {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(AtomicUsize::new(bytes)))
    }

    /// No limit from now on.
    pub fn lift(&self) {
        self.0.store(usize::MAX, Ordering::Relaxed);
    }

    /// Bytes that may still be read.
    pub fn left(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    /// Whether `err` is this allowance running out.
    pub fn is_exhausted(err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::FileTooLarge
    }
}

/// A stream whose reads draw on an [`Allowance`]; writes pass through.
#[derive(Debug)]
pub struct Allowed<S> {
    inner: S,
    allowance: Allowance,
}

impl<S> Allowed<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, allowance: Allowance) -> Self {
        Self { inner, allowance }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Allowed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let left = self.allowance.left();
        if left == 0 {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::FileTooLarge,
                "too much data before login",
            )));
        }
        let max = buf.len().min(left);
        let n = ready!(
            Pin::new(&mut self.inner).poll_read(cx, buf.get_mut(..max).unwrap_or_default())
        )?;
        if left != usize::MAX {
            // Only this connection's reader draws on it; a lift in between wins.
            let _ = self
                .allowance
                .0
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                    (l != usize::MAX).then(|| l.saturating_sub(n))
                });
        }
        Poll::Ready(Ok(n))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Allowed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::AsyncReadExt;

    #[test]
    fn reads_stop_at_the_allowance_until_it_is_lifted() {
        smol::block_on(async {
            let data = vec![7u8; 100];
            let allowance = Allowance::new(10);
            let mut r = Allowed::new(futures::io::Cursor::new(data), allowance.clone());
            let mut buf = [0u8; 64];
            assert_eq!(r.read(&mut buf).await.unwrap(), 10);
            let err = r.read(&mut buf).await.unwrap_err();
            assert!(Allowance::is_exhausted(&err));
            allowance.lift();
            assert_eq!(r.read(&mut buf).await.unwrap(), 64);
            assert_eq!(
                allowance.left(),
                usize::MAX,
                "a lifted allowance stays lifted"
            );
        });
    }
}
