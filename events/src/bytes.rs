//! A fixed-capacity read buffer over any byte stream that can look ahead,
//! skip, and step back to a mark (for resynchronising on corrupt data).

use std::io::{self, Read};

/// A window of at most `capacity` bytes of a stream, with absolute offsets.
#[derive(Debug)]
pub(crate) struct ByteBuf<R> {
    inner: R,
    buf: Box<[u8]>,
    /// First unconsumed byte.
    pos: usize,
    /// End of the filled part.
    end: usize,
    /// Absolute stream offset of `buf[0]`.
    base: u64,
    eof: bool,
    /// A position compaction must keep (for [`ByteBuf::rewind_to_mark`]).
    mark: Option<usize>,
}

impl<R: Read> ByteBuf<R> {
    /// A buffer of `capacity` bytes (allocated once).
    pub(crate) fn new(inner: R, capacity: usize) -> Self {
        Self {
            inner,
            buf: vec![0; capacity.max(64)].into_boxed_slice(),
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
            mark: None,
        }
    }

    /// The bytes read but not consumed.
    pub(crate) fn avail(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Absolute offset of the first unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Bytes read from the stream so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.base + self.end as u64
    }

    /// True once the stream has ended (the buffer may still hold bytes).
    pub(crate) fn at_eof(&self) -> bool {
        self.eof
    }

    /// Consumes `n` bytes (at most what is available).
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
    }

    /// Reads until at least `n` bytes are available (`n` must not exceed
    /// half the capacity), the stream ends or the buffer is full; true when
    /// `n` bytes are available.
    pub(crate) fn ensure(&mut self, n: usize) -> io::Result<bool> {
        while self.end - self.pos < n && !self.eof {
            if self.end == self.buf.len() {
                self.compact();
                if self.end == self.buf.len() {
                    break;
                }
            }
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.pos >= n)
    }

    /// Moves the kept bytes (from the mark, or the read position) to the front.
    fn compact(&mut self) {
        let from = self.mark.map_or(self.pos, |m| m.min(self.pos));
        if from == 0 {
            return;
        }
        self.buf.copy_within(from..self.end, 0);
        self.base += from as u64;
        self.pos -= from;
        self.end -= from;
        if let Some(m) = self.mark.as_mut() {
            *m -= from;
        }
    }

    /// Marks absolute offset `at` as a place to return to; false (and no
    /// mark) when the buffer no longer holds it.
    pub(crate) fn set_mark_at(&mut self, at: u64) -> bool {
        let ok = at >= self.base && at <= self.base + self.end as u64;
        self.mark = ok.then(|| (at - self.base) as usize);
        ok
    }

    /// True when a mark is set.
    pub(crate) fn has_mark(&self) -> bool {
        self.mark.is_some()
    }

    /// Forgets the mark.
    pub(crate) fn clear_mark(&mut self) {
        self.mark = None;
    }

    /// Returns to the mark (and forgets it); nothing happens without one.
    pub(crate) fn rewind_to_mark(&mut self) {
        if let Some(m) = self.mark.take() {
            self.pos = m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 7 bytes per call.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(7).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn keeps_offsets_across_compaction_and_rewinds_to_marks() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let mut b = ByteBuf::new(Trickle(&data), 64);
        let mut seen = Vec::new();
        while b.ensure(10).unwrap() {
            assert_eq!(b.avail()[0], data[b.offset() as usize]);
            seen.push(b.avail()[0]);
            let start = b.offset();
            assert!(b.set_mark_at(start));
            b.consume(10);
            if b.offset() % 50 == 0 {
                // A mark survives the compaction of later reads.
                assert!(b.ensure(20).unwrap() || b.at_eof());
                b.rewind_to_mark();
                assert_eq!(b.offset(), start);
                assert_eq!(b.avail()[0], data[start as usize]);
                b.consume(10);
            }
            b.clear_mark();
        }
        assert!(b.at_eof());
        assert_eq!(seen.len(), 100);
        assert_eq!(b.bytes_read(), 1000);
    }
}
