//! Encoding sample packs (`alloc`).

use alloc::vec::Vec;

use super::{Header, SampleError, MAGIC, VERSION};

/// Collects labelled, binned samples and encodes them as a pack.
///
/// ```
/// use slayer_core::{SamplePack, SamplePackBuilder};
/// let mut b = SamplePackBuilder::new(100, 3);
/// b.push(7, &[vec![1, 5], vec![], vec![99]]).unwrap();
/// let bytes = b.encode().unwrap();
/// let pack = SamplePack::decode(&bytes).unwrap();
/// let s = pack.sample(0).unwrap();
/// assert_eq!(s.label, 7);
/// let mut buf = [0u32; 100];
/// let bins: Vec<Vec<u32>> = s.bins().map(|b| b.fill(&mut buf).to_vec()).collect();
/// assert_eq!(bins, vec![vec![1, 5], vec![], vec![99]]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePackBuilder {
    inputs: u32,
    bins: u32,
    count: u32,
    body: Vec<u8>,
}

impl SamplePackBuilder {
    /// An empty pack for `inputs` input neurons and `bins` bins per sample.
    /// Indices are stored as `u16` when `inputs ≤ 65536`, else `u32`.
    pub fn new(inputs: u32, bins: u32) -> Self {
        Self {
            inputs,
            bins,
            count: 0,
            body: Vec::new(),
        }
    }

    fn index_bytes(&self) -> u8 {
        if self.inputs <= 1 << 16 {
            2
        } else {
            4
        }
    }

    /// Appends a sample: `bins[k]` lists the inputs active in bin `k`.
    /// Fails on a wrong number of bins or an index `≥ inputs` (nothing is
    /// appended then).
    pub fn push<B: AsRef<[u32]>>(
        &mut self,
        label: u16,
        bins: &[B],
    ) -> Result<&mut Self, SampleError> {
        if bins.len() != self.bins as usize {
            return Err(SampleError::BinCount {
                expected: self.bins,
                found: bins.len(),
            });
        }
        if bins
            .iter()
            .any(|b| b.as_ref().iter().any(|&i| i >= self.inputs))
        {
            return Err(SampleError::IndexRange);
        }
        let count = self.count.checked_add(1).ok_or(SampleError::Serialize)?;
        let wide = self.index_bytes() == 4;
        let mut body = core::mem::take(&mut self.body);
        body = postcard::to_extend(&label, body).map_err(|_| SampleError::Serialize)?;
        for b in bins {
            let mut blob = Vec::with_capacity(b.as_ref().len() * 4);
            for &i in b.as_ref() {
                if wide {
                    blob.extend_from_slice(&i.to_le_bytes());
                } else {
                    blob.extend_from_slice(&(i as u16).to_le_bytes());
                }
            }
            body =
                postcard::to_extend(blob.as_slice(), body).map_err(|_| SampleError::Serialize)?;
        }
        self.body = body;
        self.count = count;
        Ok(self)
    }

    /// Number of samples so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when no sample has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The encoded pack.
    pub fn encode(&self) -> Result<Vec<u8>, SampleError> {
        let header = Header {
            inputs: self.inputs,
            bins: self.bins,
            count: self.count,
            index_bytes: self.index_bytes(),
        };
        let mut out = Vec::from(MAGIC);
        out = postcard::to_extend(&VERSION, out).map_err(|_| SampleError::Serialize)?;
        out = postcard::to_extend(&header, out).map_err(|_| SampleError::Serialize)?;
        out.extend_from_slice(&self.body);
        crate::crc32::close(&mut out);
        Ok(out)
    }
}
