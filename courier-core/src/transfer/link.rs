//! A link on the wire: [`wire`] frames over the end-to-end TLS stream, with nothing in
//! between (no WebSocket framing, no masking: both ends are authenticated by their pinned
//! certificates, then the ticket). A frame's payload is allocated only after its header
//! passed [`wire::header`] for the link's phase: until the knock is accepted
//! ([`Link::admit`]) a peer cannot make us reserve more than
//! [`crate::limits::MAX_LINK_KNOCK`], then more than [`crate::limits::MAX_LINK_CONTROL`]
//! for a control frame or [`crate::limits::MAX_LINK_MESSAGE`] for data. Frames go out as
//! they are queued, with no copy into a frame buffer on our side.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::peer::Io;
use super::wire;

/// A connected link: the byte stream, and the frame being read from it.
pub(crate) struct Link {
    io: Box<dyn Io>,
    /// The header of the frame being read, filled up to `head_got`.
    head: [u8; wire::HEADER],
    head_got: usize,
    /// Once the header is whole: the frame (header and payload), filled up to
    /// `body_got`.
    body: Vec<u8>,
    body_got: usize,
    /// What the reader accepts: tiny control frames until the knock is accepted.
    phase: wire::Phase,
}

impl Link {
    /// A link over `io` (the end-to-end TLS stream, after its handshake), before the
    /// knock: it reads only frames of [`wire::Phase::Knock`] until [`Link::admit`].
    pub(crate) fn new(io: Box<dyn Io>) -> Self {
        Self {
            io,
            head: [0; wire::HEADER],
            head_got: 0,
            body: Vec::new(),
            body_got: 0,
            phase: wire::Phase::Knock,
        }
    }

    /// The knock was accepted: from the next frame on, control frames and file data
    /// are read up to their own caps.
    pub(crate) fn admit(&mut self) {
        self.phase = wire::Phase::Open;
    }

    /// The next whole frame (header and payload); `Ok(None)` when the peer closed the
    /// stream between two frames.
    ///
    /// A header that [`wire::header`] refuses for the link's phase (unknown type, file
    /// data before the knock, length over the cap for its type) is an `InvalidData`
    /// error carrying the [`crate::proto::DecodeError`], before anything is allocated
    /// for its payload; an end in the middle of a frame is `UnexpectedEof`.
    pub(crate) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        loop {
            if self.head_got < wire::HEADER {
                let dst = self.head.get_mut(self.head_got..).unwrap_or_default();
                let n = ready!(Pin::new(&mut self.io).poll_read(cx, dst))?;
                if n == 0 {
                    return Poll::Ready(match self.head_got {
                        0 => Ok(None),
                        _ => Err(io::ErrorKind::UnexpectedEof.into()),
                    });
                }
                self.head_got += n;
                if self.head_got == wire::HEADER {
                    let len = wire::header(&self.head, self.phase)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    let mut body = super::spare::take_sized(wire::HEADER + len);
                    if let Some(h) = body.get_mut(..wire::HEADER) {
                        h.copy_from_slice(&self.head);
                    }
                    self.body = body;
                    self.body_got = wire::HEADER;
                }
                continue;
            }
            if self.body_got == self.body.len() {
                self.head_got = 0;
                self.body_got = 0;
                return Poll::Ready(Ok(Some(std::mem::take(&mut self.body))));
            }
            let dst = self.body.get_mut(self.body_got..).unwrap_or_default();
            let n = ready!(Pin::new(&mut self.io).poll_read(cx, dst))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            self.body_got += n;
        }
    }

    /// Writes what of `bytes` the stream takes now: how many it took.
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        match ready!(Pin::new(&mut self.io).poll_write(cx, bytes))? {
            0 if !bytes.is_empty() => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            n => Poll::Ready(Ok(n)),
        }
    }

    /// Pushes what was written out to the peer.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Writes one whole frame and flushes it.
    pub(crate) async fn send(&mut self, frame: &[u8]) -> io::Result<()> {
        self.io.write_all(frame).await?;
        self.io.flush().await
    }

    /// The next whole frame, as [`Link::poll_frame`].
    pub(crate) async fn next_frame(&mut self) -> io::Result<Option<Vec<u8>>> {
        futures::future::poll_fn(|cx| self.poll_frame(cx)).await
    }

    /// Ends the stream (TLS `close_notify`, then the socket's write side).
    pub(crate) async fn close(&mut self) -> io::Result<()> {
        self.io.close().await
    }
}

/// Test hook (fuzzing): a link's frame reader over any byte stream, exactly as a link
/// reads, for the fuzz target that feeds it hostile bytes. Not part of the API.
#[cfg(feature = "test-util")]
#[doc(hidden)]
pub struct LinkReader(Link);

#[cfg(feature = "test-util")]
impl LinkReader {
    /// A link over `io`, before the knock.
    pub fn new(io: impl AsyncRead + AsyncWrite + Send + Unpin + 'static) -> Self {
        Self(Link::new(Box::new(io)))
    }

    /// The knock was accepted: from the next frame on, the open link's caps.
    pub fn admit(&mut self) {
        self.0.admit();
    }

    /// The next whole frame, as a link reads it.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Vec<u8>>>> {
        self.0.poll_frame(cx)
    }

    /// Bytes allocated for the frame being read.
    pub fn reserved(&self) -> usize {
        self.0.body.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits;
    use crate::proto::DecodeError;
    use crate::transfer::wire::{Control, Incoming};

    /// A link that reads `bytes` (then the end of the stream) and writes into a sink.
    fn reading(bytes: Vec<u8>) -> Link {
        let mut link = knocking(bytes);
        link.admit();
        link
    }

    /// As [`reading`], before the knock is accepted.
    fn knocking(bytes: Vec<u8>) -> Link {
        let io = futures::io::Cursor::new(bytes);
        Link::new(Box::new(io))
    }

    fn frames(mut link: Link) -> (Vec<Vec<u8>>, io::Result<()>) {
        smol::block_on(async {
            let mut got = Vec::new();
            loop {
                match link.next_frame().await {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) => return (got, Ok(())),
                    Err(e) => return (got, Err(e)),
                }
            }
        })
    }

    #[test]
    fn frames_round_trip_through_a_stream() {
        let sent = [
            wire::encode(&Control::Start),
            wire::data(&vec![5u8; limits::CHUNK]),
            wire::data(&[]),
            wire::encode(&Control::Done),
        ];
        let (got, end) = frames(reading(sent.concat()));
        end.unwrap();
        assert_eq!(got, sent);
        assert_eq!(
            wire::decode(&got[1]),
            Ok(Incoming::Data(&vec![5u8; limits::CHUNK][..]))
        );
    }

    /// The peer announces a frame past the cap: refused from the header, before a byte
    /// of it is allocated or waited for.
    #[test]
    fn an_oversized_frame_is_refused_before_its_payload() {
        let mut head = vec![wire::DATA];
        head.extend_from_slice(&u32::MAX.to_be_bytes());
        let (got, end) = frames(reading(head));
        assert!(got.is_empty());
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    /// A bare frame header: `kind`, and a payload length of `len`.
    fn head(kind: u8, len: u32) -> Vec<u8> {
        let mut head = vec![kind];
        head.extend_from_slice(&len.to_be_bytes());
        head
    }

    /// The error reading `link` ends in, and whether it is the header's `TooLarge`.
    fn refusal(link: &mut Link) -> (io::Error, bool) {
        let err = smol::block_on(link.next_frame()).expect_err("the frame is refused");
        let too_large = matches!(
            err.get_ref().and_then(|e| e.downcast_ref::<DecodeError>()),
            Some(DecodeError::TooLarge { .. })
        );
        (err, too_large)
    }

    /// Before the knock is accepted, the peer is nobody yet: a knock claiming more than
    /// a knock needs is refused from its header, with nothing allocated for it.
    #[test]
    fn a_big_knock_is_refused_from_its_header() {
        let mut link = knocking(head(wire::CONTROL, 4096));
        let (err, too_large) = refusal(&mut link);
        assert!(too_large, "{err:?}");
        assert_eq!(link.body.capacity(), 0, "nothing allocated");
    }

    /// A control frame claiming far more than the largest control message (a `Hello`
    /// for a whole offer) is refused from its header, with nothing allocated for it.
    #[test]
    fn a_big_control_frame_is_refused_from_its_header() {
        let mut link = reading(head(wire::CONTROL, 400 * 1024));
        let (err, too_large) = refusal(&mut link);
        assert!(too_large, "{err:?}");
        assert_eq!(link.body.capacity(), 0, "nothing allocated");
    }

    #[test]
    fn an_unknown_type_byte_is_refused() {
        let mut bytes = wire::data(b"abc");
        bytes[0] = 9;
        let (got, end) = frames(reading(bytes));
        assert!(got.is_empty());
        assert!(end.is_err());
    }

    /// Spare buffers hold another transfer's bytes until they are read over: a frame is
    /// handed out only whole and exactly as long as announced, and a stream that ends
    /// inside one gives an error, never the spare's old bytes.
    #[test]
    fn a_spare_buffer_never_shows_its_old_bytes() {
        for _ in 0..8 {
            let mut old = Vec::with_capacity(wire::HEADER + limits::CHUNK);
            old.resize(wire::HEADER + limits::CHUNK, 0xAA);
            super::super::spare::give_back(old);
        }
        let big = wire::data(&vec![5u8; limits::CHUNK]);
        let shorter = wire::data(&vec![6u8; limits::CHUNK * 3 / 4]);
        let (got, end) = frames(reading([big.clone(), shorter.clone()].concat()));
        end.unwrap();
        assert_eq!(got, [big.clone(), shorter]);
        let (got, end) = frames(reading(big[..big.len() - 10].to_vec()));
        assert!(got.is_empty());
        assert_eq!(end.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A stream that ends inside a header or a payload is an error, not a short frame.
    #[test]
    fn a_truncated_frame_is_an_error() {
        let whole = wire::data(b"some file bytes");
        for cut in [1, wire::HEADER, whole.len() - 1] {
            let (got, end) = frames(reading(whole[..cut].to_vec()));
            assert!(got.is_empty());
            assert_eq!(
                end.unwrap_err().kind(),
                io::ErrorKind::UnexpectedEof,
                "{cut}"
            );
        }
    }

    /// Frames arrive whole however the stream cuts them: one byte at a time here.
    #[test]
    fn frames_arrive_whole_from_a_trickle() {
        struct Trickle(futures::io::Cursor<Vec<u8>>);
        impl AsyncRead for Trickle {
            fn poll_read(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let one = buf.get_mut(..1).unwrap_or_default();
                Pin::new(&mut self.0).poll_read(cx, one)
            }
        }
        impl AsyncWrite for Trickle {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                b: &[u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(b.len()))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let sent = [wire::encode(&Control::Got { bytes: 7 }), wire::data(b"xyz")];
        let mut link = Link::new(Box::new(Trickle(futures::io::Cursor::new(sent.concat()))));
        link.admit();
        let (got, end) = frames(link);
        end.unwrap();
        assert_eq!(got, sent);
    }

    #[test]
    fn a_sent_frame_is_written_whole() {
        use std::sync::{Arc, Mutex};
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl AsyncRead for Sink {
            fn poll_read(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                _: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                Poll::Ready(Ok(0))
            }
        }
        impl AsyncWrite for Sink {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                b: &[u8],
            ) -> Poll<io::Result<usize>> {
                // A few bytes at a time: the frame is still written whole.
                let n = b.len().min(3);
                self.0.lock().unwrap().extend_from_slice(&b[..n]);
                Poll::Ready(Ok(n))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let out = Arc::new(Mutex::new(Vec::new()));
        let frame = wire::data(&[1, 2, 3, 4, 5, 6, 7]);
        smol::block_on(Link::new(Box::new(Sink(out.clone()))).send(&frame)).unwrap();
        assert_eq!(*out.lock().unwrap(), frame);
    }
}
