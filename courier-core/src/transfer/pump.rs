//! The chosen peer connection, polled by hand: an outbound queue the drivers fill, written
//! as fast as the socket takes it, and inbound messages read whenever the driver wants
//! them. Reading never waits for writing, so a peer that stops reading cannot stop us
//! hearing it (or noticing that it went away), and the queue is the only buffer.

use std::collections::VecDeque;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use async_tungstenite::tungstenite::Bytes;

use super::link::Link;
use super::wire::{self, Control};
use crate::net;

/// What came in.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A link frame (control or data), still encoded.
    Message(Bytes),
    /// The connection closed or failed.
    Gone,
}

/// A peer connection with its outbound queue.
pub(crate) struct Pump {
    link: Link,
    /// Encoded frames to send; the front one is written from `at`.
    out: VecDeque<Vec<u8>>,
    at: usize,
    queued: usize,
    flushed: bool,
    sent_data: u64,
}

impl Pump {
    pub(crate) fn new(link: Link) -> Self {
        Self {
            link,
            out: VecDeque::new(),
            at: 0,
            queued: 0,
            flushed: true,
            sent_data: 0,
        }
    }

    /// Queues an encoded link message.
    pub(crate) fn push(&mut self, msg: Vec<u8>) {
        self.queued += msg.len();
        self.out.push_back(msg);
    }

    /// Queues a control message.
    pub(crate) fn push_control(&mut self, msg: &Control) {
        self.push(wire::encode(msg));
    }

    /// Bytes queued and not yet handed to the socket.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// File bytes handed to the socket since the last call.
    pub(crate) fn take_sent(&mut self) -> u64 {
        std::mem::take(&mut self.sent_data)
    }

    /// Writes what is queued. `Ready(Ok)` once everything is written and flushed,
    /// `Ready(Err)` when the connection failed.
    pub(crate) fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Some(front) = self.out.front() {
            let rest = front.get(self.at..).unwrap_or_default();
            self.at += ready!(self.link.poll_write(cx, rest))?;
            self.flushed = false;
            if self.at < front.len() {
                continue;
            }
            let len = front.len();
            let data = front.first() == Some(&wire::DATA);
            if data {
                self.sent_data += (len - wire::HEADER.min(len)) as u64;
            }
            if let Some(written) = self.out.pop_front()
                && data
            {
                // Its buffer takes the next file bytes.
                super::spare::give_back(written);
            }
            self.queued -= len;
            self.at = 0;
        }
        if !self.flushed {
            ready!(self.link.poll_flush(cx))?;
            self.flushed = true;
        }
        Poll::Ready(Ok(()))
    }

    /// The next link frame.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Inbound> {
        match ready!(self.link.poll_frame(cx)) {
            Ok(Some(frame)) => Poll::Ready(Inbound::Message(Bytes::from(frame))),
            Ok(None) | Err(_) => Poll::Ready(Inbound::Gone),
        }
    }

    /// Writes what is left (for at most `grace`) and closes the connection.
    pub(crate) async fn close(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let _ = net::until(deadline, async {
            futures::future::poll_fn(|cx| self.poll_write(cx)).await?;
            self.link.close().await?;
            Ok(())
        })
        .await;
    }

    /// After a failed write: the messages the peer sent before it went away, for at most
    /// `grace` (it may have said why).
    pub(crate) async fn leftovers(&mut self, grace: Duration) -> Vec<Bytes> {
        let deadline = Instant::now() + grace;
        let mut got = Vec::new();
        while let Ok(Some(msg)) = net::until(deadline, async {
            Ok(
                match futures::future::poll_fn(|cx| self.poll_read(cx)).await {
                    Inbound::Message(m) => Some(m),
                    Inbound::Gone => None,
                },
            )
        })
        .await
        {
            got.push(msg);
        }
        got
    }
}

/// A driver's wake-ups besides its connection and disk: its machine's deadline and the
/// user's cancel.
pub(crate) struct Alarms<'a> {
    timer: async_io::Timer,
    /// When the timer is set to go off. Deadlines mostly move later (every message from
    /// the peer pushes one out): the timer is only re-armed when one moves earlier, and
    /// an early alarm just asks the machine, which knows the real deadline.
    armed: Option<Instant>,
    cancel: std::pin::Pin<Box<futures::future::Fuse<async_channel::Recv<'a, ()>>>>,
}

/// Which alarm went off.
pub(crate) enum Alarm {
    /// The machine's deadline is due.
    Timer,
    /// The user cancelled.
    Cancel,
}

impl<'a> Alarms<'a> {
    pub(crate) fn new(cancel: &'a async_channel::Receiver<()>) -> Self {
        Self {
            timer: async_io::Timer::never(),
            armed: None,
            cancel: Box::pin(futures::FutureExt::fuse(cancel.recv())),
        }
    }

    /// The machine's next deadline, if it has one.
    pub(crate) fn set(&mut self, at: Option<Instant>) {
        if let Some(at) = at
            && self.armed.is_none_or(|armed| at < armed)
        {
            self.timer.set_at(at);
            self.armed = Some(at);
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Alarm> {
        if self.armed.is_some() && futures::FutureExt::poll_unpin(&mut self.timer, cx).is_ready() {
            self.armed = None;
            return Poll::Ready(Alarm::Timer);
        }
        if futures::FutureExt::poll_unpin(&mut self.cancel, cx).is_ready() {
            return Poll::Ready(Alarm::Cancel);
        }
        Poll::Pending
    }
}
