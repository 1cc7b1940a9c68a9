//! The receiver's bookkeeping, without I/O: which file comes next, from which offset, and
//! how many bytes it may still take. The driver asks it before touching the disk, so a
//! peer that sends the wrong file, too many bytes or too few is caught before any write.

use super::wire::Link;

/// One accepted file as the receiver expects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// Index in the manifest.
    pub index: u32,
    /// Declared size.
    pub size: u64,
    /// Bytes already on disk (the resume offset announced in `Hello`).
    pub offset: u64,
}

/// A protocol violation by the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A file other than the next one, or from another offset.
    #[error("the sender sent an unexpected file")]
    WrongFile,
    /// Data with no file started.
    #[error("the sender sent data outside a file")]
    StrayData,
    /// More bytes than declared (SECURITY X1).
    #[error("the sender sent more bytes than it declared")]
    TooMuch,
    /// A file ended before its declared size (X7).
    #[error("incomplete transfer: a file ended early")]
    Incomplete,
    /// `Done` before every accepted file arrived.
    #[error("incomplete transfer: files are missing")]
    Missing,
    /// A message that makes no sense in this state.
    #[error("the sender sent an unexpected message")]
    Unexpected,
}

/// What the driver should do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Open (or resume) file `index` at `offset`.
    Open(Expected),
    /// Write these bytes to the open file.
    Write,
    /// The open file is complete: verify it against this hash.
    Verify {
        /// The file.
        index: u32,
        /// The sender's hash.
        hash: [u8; 32],
    },
    /// Every file arrived.
    Done,
}

/// Receiver state. Feed it every message from the sender in order.
#[derive(Debug)]
pub struct Receiving {
    files: Vec<Expected>,
    next: usize,
    current: Option<(Expected, u64)>,
    done: bool,
}

impl Receiving {
    /// Expects `files`, in this order.
    pub fn new(files: Vec<Expected>) -> Self {
        Self {
            files,
            next: 0,
            current: None,
            done: false,
        }
    }

    /// The files, in order.
    pub fn files(&self) -> &[Expected] {
        &self.files
    }

    /// Bytes of the open file written so far (offset included).
    pub fn position(&self) -> Option<(u32, u64)> {
        self.current.map(|(e, at)| (e.index, at))
    }

    /// Whether `Done` has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// A control message from the sender.
    ///
    /// # Errors
    /// The [`Violation`] the message commits; the transfer must stop.
    pub fn control(&mut self, msg: &Link) -> Result<Step, Violation> {
        if self.done {
            return Err(Violation::Unexpected);
        }
        match *msg {
            Link::File { index, offset } => {
                let expected = *self.files.get(self.next).ok_or(Violation::WrongFile)?;
                if self.current.is_some() || expected.index != index || expected.offset != offset {
                    return Err(Violation::WrongFile);
                }
                self.current = Some((expected, offset));
                Ok(Step::Open(expected))
            }
            Link::End { index, hash } => {
                let (expected, at) = self.current.ok_or(Violation::Unexpected)?;
                if expected.index != index {
                    return Err(Violation::WrongFile);
                }
                if at != expected.size {
                    return Err(Violation::Incomplete);
                }
                self.current = None;
                self.next += 1;
                Ok(Step::Verify { index, hash })
            }
            Link::Done => {
                if self.current.is_some() {
                    return Err(Violation::Incomplete);
                }
                if self.next != self.files.len() {
                    return Err(Violation::Missing);
                }
                self.done = true;
                Ok(Step::Done)
            }
            _ => Err(Violation::Unexpected),
        }
    }

    /// `len` bytes of data for the open file.
    ///
    /// # Errors
    /// [`Violation::StrayData`] or [`Violation::TooMuch`].
    pub fn data(&mut self, len: usize) -> Result<Step, Violation> {
        let (expected, at) = self.current.as_mut().ok_or(Violation::StrayData)?;
        let end = at
            .checked_add(len as u64)
            .filter(|&end| end <= expected.size)
            .ok_or(Violation::TooMuch)?;
        *at = end;
        Ok(Step::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn two() -> Receiving {
        Receiving::new(vec![
            Expected {
                index: 0,
                size: 10,
                offset: 4,
            },
            Expected {
                index: 2,
                size: 0,
                offset: 0,
            },
        ])
    }

    #[test]
    fn happy_path_with_resume_and_empty_file() {
        let mut r = two();
        assert!(matches!(
            r.control(&Link::File {
                index: 0,
                offset: 4
            }),
            Ok(Step::Open(_))
        ));
        assert_eq!(r.data(3), Ok(Step::Write));
        assert_eq!(r.data(3), Ok(Step::Write));
        assert_eq!(r.position(), Some((0, 10)));
        let end = Link::End {
            index: 0,
            hash: [0; 32],
        };
        assert!(matches!(r.control(&end), Ok(Step::Verify { index: 0, .. })));
        r.control(&Link::File {
            index: 2,
            offset: 0,
        })
        .unwrap();
        r.control(&Link::End {
            index: 2,
            hash: [0; 32],
        })
        .unwrap();
        assert_eq!(r.control(&Link::Done), Ok(Step::Done));
        assert!(r.is_done());
        assert_eq!(r.control(&Link::Done), Err(Violation::Unexpected));
    }

    #[test]
    fn violations() {
        let mut r = two();
        assert_eq!(r.data(1), Err(Violation::StrayData));
        assert_eq!(
            r.control(&Link::File {
                index: 0,
                offset: 0
            }),
            Err(Violation::WrongFile),
            "resume offset must match"
        );
        assert_eq!(
            r.control(&Link::File {
                index: 2,
                offset: 0
            }),
            Err(Violation::WrongFile),
            "order must match"
        );
        assert_eq!(r.control(&Link::Done), Err(Violation::Missing));
        r.control(&Link::File {
            index: 0,
            offset: 4,
        })
        .unwrap();
        assert_eq!(r.data(7), Err(Violation::TooMuch));
        r.data(5).unwrap();
        assert_eq!(
            r.control(&Link::End {
                index: 0,
                hash: [0; 32]
            }),
            Err(Violation::Incomplete)
        );
        assert_eq!(r.control(&Link::Done), Err(Violation::Incomplete));
        assert_eq!(r.data(usize::MAX), Err(Violation::TooMuch));
    }

    proptest! {
        /// Whatever the sender does, no file ever takes more than its declared size.
        #[test]
        fn never_more_than_declared(ops in proptest::collection::vec((0u8..4, 0u32..3, 0u64..20), 0..64)) {
            let mut r = two();
            for (op, index, n) in ops {
                let _ = match op {
                    0 => r.control(&Link::File { index, offset: n }),
                    1 => r.data(n as usize),
                    2 => r.control(&Link::End { index, hash: [0; 32] }),
                    _ => r.control(&Link::Done),
                };
                if let Some((i, at)) = r.position() {
                    let size = r.files().iter().find(|e| e.index == i).map(|e| e.size);
                    prop_assert!(Some(at) <= size);
                }
            }
        }
    }
}
