//! Sample packs: pre-binned input spike trains with labels, decoded
//! zero-copy (for firmware that replays real samples from flash).
//!
//! # Layout
//!
//! ```text
//! magic *b"SLYS" · version u16 (= 1)
//! inputs u32 · bins u32 · count u32 · index_bytes u8 (2 or 4)
//! count × { label u16, bins × { byte blob: active input indices, LE } }
//! crc32 u32 little-endian over every byte before it
//! ```
//!
//! (integers postcard varints, blobs a varint length then raw bytes).
//! [`SamplePack::decode`] checks everything once (CRC, structure, every
//! index `< inputs`), so reading samples afterwards cannot fail.

#[cfg(feature = "alloc")]
mod builder;
mod error;

#[cfg(feature = "alloc")]
pub use builder::SamplePackBuilder;
pub use error::SampleError;

use serde::{Deserialize, Serialize};

/// First four bytes of every sample pack.
pub const MAGIC: [u8; 4] = *b"SLYS";

/// The sample-pack version this crate reads and writes.
pub const VERSION: u16 = 1;

/// The header fields after magic and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub inputs: u32,
    pub bins: u32,
    pub count: u32,
    pub index_bytes: u8,
}

/// A validated sample pack borrowing its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplePack<'a> {
    header: Header,
    /// The samples, from the first label to the CRC.
    body: &'a [u8],
}

/// Reads one postcard value from the front of `rest`.
fn take<'a, T: Deserialize<'a>>(rest: &mut &'a [u8]) -> Result<T, SampleError> {
    let (v, tail) = postcard::take_from_bytes::<T>(rest)?;
    *rest = tail;
    Ok(v)
}

impl<'a> SamplePack<'a> {
    /// Decodes and validates a pack (magic, version, CRC, structure, indices).
    pub fn decode(bytes: &'a [u8]) -> Result<Self, SampleError> {
        let (_, mut rest) = crate::crc32::open(bytes, MAGIC, &[VERSION])?;
        take::<u16>(&mut rest)?;
        let header: Header = take(&mut rest)?;
        if !matches!(header.index_bytes, 2 | 4)
            || (header.index_bytes == 2 && header.inputs > 1 << 16)
        {
            return Err(SampleError::Malformed);
        }
        let body = rest;
        for _ in 0..header.count {
            take::<u16>(&mut rest)?;
            for _ in 0..header.bins {
                let blob: &[u8] = take(&mut rest)?;
                check_bin(blob, header)?;
            }
        }
        if !rest.is_empty() {
            return Err(SampleError::TrailingBytes);
        }
        Ok(Self { header, body })
    }

    /// Number of input neurons the indices address.
    pub fn inputs(&self) -> u32 {
        self.header.inputs
    }

    /// Number of bins of every sample.
    pub fn bins(&self) -> u32 {
        self.header.bins
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.header.count as usize
    }

    /// True when the pack holds no sample.
    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// Sample `i` (walks the samples before it: `O(i·bins)`).
    pub fn sample(&self, i: usize) -> Result<Sample<'a>, SampleError> {
        self.iter().nth(i).ok_or(SampleError::NoSuchSample {
            index: i,
            count: self.len(),
        })
    }

    /// The samples in order.
    pub fn iter(&self) -> SampleIter<'a> {
        SampleIter {
            header: self.header,
            rest: self.body,
            left: self.header.count,
        }
    }
}

impl<'a> IntoIterator for &SamplePack<'a> {
    type Item = Sample<'a>;
    type IntoIter = SampleIter<'a>;
    fn into_iter(self) -> SampleIter<'a> {
        self.iter()
    }
}

/// Checks one bin's blob: whole indices, each `< inputs`.
fn check_bin(blob: &[u8], h: Header) -> Result<(), SampleError> {
    let width = usize::from(h.index_bytes);
    if blob.len() % width != 0 {
        return Err(SampleError::Malformed);
    }
    if Indices::new(blob, h.index_bytes).any(|i| i >= h.inputs) {
        return Err(SampleError::IndexRange);
    }
    Ok(())
}

/// Iterator over the samples of a pack.
#[derive(Debug, Clone)]
pub struct SampleIter<'a> {
    header: Header,
    rest: &'a [u8],
    left: u32,
}

impl<'a> Iterator for SampleIter<'a> {
    type Item = Sample<'a>;

    fn next(&mut self) -> Option<Sample<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let start = self.rest;
        let label = take::<u16>(&mut self.rest).ok()?;
        let data = self.rest;
        for _ in 0..self.header.bins {
            take::<&[u8]>(&mut self.rest).ok()?;
        }
        let used = start.len() - self.rest.len();
        let label_len = start.len() - data.len();
        Some(Sample {
            label,
            bins: self.header.bins,
            index_bytes: self.header.index_bytes,
            data: &start[label_len..used],
        })
    }
}

/// One sample: a label and `bins` lists of active input indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    /// Class label.
    pub label: u16,
    bins: u32,
    index_bytes: u8,
    data: &'a [u8],
}

impl<'a> Sample<'a> {
    /// Number of bins.
    pub fn len(&self) -> usize {
        self.bins as usize
    }

    /// True when the sample has no bins.
    pub fn is_empty(&self) -> bool {
        self.bins == 0
    }

    /// The bins in order.
    pub fn bins(&self) -> BinIter<'a> {
        BinIter {
            rest: self.data,
            left: self.bins,
            index_bytes: self.index_bytes,
        }
    }
}

/// Iterator over the bins of a sample.
#[derive(Debug, Clone)]
pub struct BinIter<'a> {
    rest: &'a [u8],
    left: u32,
    index_bytes: u8,
}

impl<'a> Iterator for BinIter<'a> {
    type Item = Bin<'a>;

    fn next(&mut self) -> Option<Bin<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let data = take::<&[u8]>(&mut self.rest).ok()?;
        Some(Bin {
            data,
            index_bytes: self.index_bytes,
        })
    }
}

/// The active input indices of one bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin<'a> {
    data: &'a [u8],
    index_bytes: u8,
}

impl<'a> Bin<'a> {
    /// Number of active inputs.
    pub fn len(&self) -> usize {
        self.data.len() / usize::from(self.index_bytes.max(1))
    }

    /// True when no input is active.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The indices, in stored order.
    pub fn iter(&self) -> Indices<'a> {
        Indices::new(self.data, self.index_bytes)
    }

    /// Copies the indices into `buf` and returns the filled part (at most
    /// `buf.len()` indices: size `buf` for the pack's `inputs` to get all).
    pub fn fill<'b>(&self, buf: &'b mut [u32]) -> &'b [u32] {
        let mut n = 0;
        for (slot, i) in buf.iter_mut().zip(self.iter()) {
            *slot = i;
            n += 1;
        }
        &buf[..n]
    }
}

/// Iterator over the little-endian indices of a bin.
#[derive(Debug, Clone)]
pub struct Indices<'a> {
    chunks: core::slice::ChunksExact<'a, u8>,
}

impl<'a> Indices<'a> {
    fn new(data: &'a [u8], index_bytes: u8) -> Self {
        Self {
            chunks: data.chunks_exact(usize::from(index_bytes.max(1))),
        }
    }
}

impl Iterator for Indices<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let c = self.chunks.next()?;
        let mut b = [0u8; 4];
        let n = c.len().min(4);
        b[..n].copy_from_slice(&c[..n]);
        Some(u32::from_le_bytes(b))
    }
}
