//! A [`Read`] with a running byte offset, "read as much as there is"
//! semantics and put-back, shared by the AEDAT readers.

use std::collections::VecDeque;
use std::io::{self, Read};

use crate::error::AedatError;

/// A [`Read`] with a running byte offset and "read as much as there is"
/// semantics, retrying on [`io::ErrorKind::Interrupted`].
#[derive(Debug)]
pub(crate) struct Counted<R> {
    inner: R,
    /// Bytes consumed so far.
    pub(crate) offset: u64,
    /// Bytes put back ([`Counted::unread`]), read again before `inner`.
    back: VecDeque<u8>,
}

impl<R: Read> Counted<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            back: VecDeque::new(),
        }
    }

    /// Puts `bytes` back in front of the stream (the offset moves back).
    pub(crate) fn unread(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().rev() {
            self.back.push_front(b);
        }
        self.offset -= bytes.len() as u64;
    }

    /// Fills `buf` as far as the stream goes; returns the bytes read (less
    /// than `buf.len()` only at end of stream).
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<usize, AedatError> {
        let mut n = 0;
        while n < buf.len() && !self.back.is_empty() {
            buf[n] = self.back.pop_front().unwrap_or_default();
            n += 1;
            self.offset += 1;
        }
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    self.offset += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(AedatError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            }
        }
        Ok(n)
    }

    /// Skips up to `n` bytes; returns how many were there.
    pub(crate) fn skip(&mut self, n: u64) -> Result<u64, AedatError> {
        let mut buf = [0u8; 8192];
        let mut done = 0;
        while done < n {
            let want = (n - done).min(buf.len() as u64) as usize;
            let k = self.fill(&mut buf[..want])?;
            done += k as u64;
            if k < want {
                break;
            }
        }
        Ok(done)
    }

    /// Reads `n` bytes into `out` (cleared first), growing it as the bytes
    /// arrive rather than trusting `n` up front; returns the bytes read.
    pub(crate) fn read_vec(&mut self, n: u64, out: &mut Vec<u8>) -> Result<u64, AedatError> {
        out.clear();
        let mut buf = [0u8; 8192];
        let mut done = 0;
        while done < n {
            let want = (n - done).min(buf.len() as u64) as usize;
            let k = self.fill(&mut buf[..want])?;
            out.extend_from_slice(&buf[..k]);
            done += k as u64;
            if k < want {
                break;
            }
        }
        Ok(done)
    }
}
