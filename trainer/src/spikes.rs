//! Spike tensors of one sample, time-major.
//!
//! Two forms of the same thing: [`SpikeRaster`], a dense byte per (bin,
//! neuron), convenient for building, binning and plotting; and [`SpikeTrain`],
//! the active neuron indices of each bin (CSR), which is what the layers
//! consume: every layer's input is a sparse spike train, so `W·s` is a gather
//! over the active inputs only.

use serde::{Deserialize, Serialize};

/// Dense binary spike raster of one sample: `bins × neurons`, time-major
/// (`data[k * neurons + n]`), each cell 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpikeRaster {
    bins: usize,
    neurons: usize,
    data: Vec<u8>,
}

impl SpikeRaster {
    /// An empty (silent) raster.
    pub fn new(bins: usize, neurons: usize) -> Self {
        Self {
            bins,
            neurons,
            data: vec![0; bins * neurons],
        }
    }

    /// Number of time bins.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Number of neurons (channels).
    pub fn neurons(&self) -> usize {
        self.neurons
    }

    /// Is there a spike at bin `k`, neuron `n`? Out-of-range cells are silent.
    pub fn get(&self, k: usize, n: usize) -> bool {
        k < self.bins && n < self.neurons && self.data[k * self.neurons + n] != 0
    }

    /// Sets a spike at bin `k`, neuron `n` ("OR" semantics: setting twice is one spike).
    /// Returns false (and changes nothing) when the cell is out of range.
    pub fn set(&mut self, k: usize, n: usize) -> bool {
        if k < self.bins && n < self.neurons {
            self.data[k * self.neurons + n] = 1;
            true
        } else {
            false
        }
    }

    /// The raw cells, time-major.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The spikes of bin `k` as a 0/1 row of `neurons` cells.
    pub fn row(&self, k: usize) -> &[u8] {
        &self.data[k * self.neurons..(k + 1) * self.neurons]
    }

    /// Total number of spikes.
    pub fn count(&self) -> usize {
        self.data.iter().filter(|&&v| v != 0).count()
    }

    /// Spike count of every neuron.
    pub fn counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.neurons];
        for row in self.data.chunks_exact(self.neurons.max(1)) {
            for (ci, &v) in c.iter_mut().zip(row) {
                *ci += u32::from(v != 0);
            }
        }
        c
    }

    /// The bins in which neuron `n` spikes, in increasing order.
    pub fn spike_bins(&self, n: usize) -> Vec<usize> {
        (0..self.bins).filter(|&k| self.get(k, n)).collect()
    }

    /// The cells as `f32` 0/1 values, time-major.
    pub fn to_f32(&self) -> Vec<f32> {
        self.data.iter().map(|&v| f32::from(v != 0)).collect()
    }
}

/// Sparse spike train of one sample: the active neurons of each bin.
///
/// Every spike carries the same value `gain` (1 for plain spikes; dropout
/// scales survivors by `1/(1−p)`).
#[derive(Debug, Clone, PartialEq)]
pub struct SpikeTrain {
    bins: usize,
    neurons: usize,
    offsets: Vec<u32>,
    index: Vec<u32>,
    gain: f32,
}

impl SpikeTrain {
    /// Builds the train from a dense raster (gain 1).
    pub fn from_raster(r: &SpikeRaster) -> Self {
        Self::from_rows(r.bins(), r.neurons(), |k| r.row(k))
    }

    /// Builds the train from a time-major 0/1 byte slice of `bins × neurons`.
    pub fn from_dense(bins: usize, neurons: usize, cells: &[u8]) -> Self {
        Self::from_rows(bins, neurons, |k| &cells[k * neurons..(k + 1) * neurons])
    }

    fn from_rows<'a>(bins: usize, neurons: usize, row: impl Fn(usize) -> &'a [u8]) -> Self {
        let mut offsets = Vec::with_capacity(bins + 1);
        let mut index = Vec::new();
        offsets.push(0);
        for k in 0..bins {
            // Spikes are sparse: skip silent runs eight cells at a time.
            let r = row(k);
            let mut chunks = r.chunks_exact(8);
            for (c, chunk) in chunks.by_ref().enumerate() {
                let word = u64::from_ne_bytes([
                    chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
                ]);
                if word != 0 {
                    for (o, &v) in chunk.iter().enumerate() {
                        if v != 0 {
                            index.push((c * 8 + o) as u32);
                        }
                    }
                }
            }
            let base = r.len() - chunks.remainder().len();
            for (o, &v) in chunks.remainder().iter().enumerate() {
                if v != 0 {
                    index.push((base + o) as u32);
                }
            }
            offsets.push(index.len() as u32);
        }
        Self {
            bins,
            neurons,
            offsets,
            index,
            gain: 1.0,
        }
    }

    /// Number of time bins.
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Number of neurons.
    pub fn neurons(&self) -> usize {
        self.neurons
    }

    /// The value every spike carries.
    pub fn gain(&self) -> f32 {
        self.gain
    }

    /// Active neurons of bin `k`.
    pub fn active(&self, k: usize) -> &[u32] {
        &self.index[self.offsets[k] as usize..self.offsets[k + 1] as usize]
    }

    /// Total number of spikes.
    pub fn count(&self) -> usize {
        self.index.len()
    }

    /// The dense 0/1 raster of this train (the gain is not kept).
    pub fn to_raster(&self) -> SpikeRaster {
        let mut r = SpikeRaster::new(self.bins, self.neurons);
        for k in 0..self.bins {
            for &n in self.active(k) {
                r.set(k, n as usize);
            }
        }
        r
    }

    /// Keeps only the neurons for which `keep` is true and sets the gain.
    pub fn masked(&self, keep: &[bool], gain: f32) -> Self {
        let mut offsets = Vec::with_capacity(self.bins + 1);
        let mut index = Vec::with_capacity(self.index.len());
        offsets.push(0);
        for k in 0..self.bins {
            index.extend(self.active(k).iter().copied().filter(|&n| keep[n as usize]));
            offsets.push(index.len() as u32);
        }
        Self {
            bins: self.bins,
            neurons: self.neurons,
            offsets,
            index,
            gain,
        }
    }

    /// The train with every neuron `n` delayed by `shift[n]` bins; spikes pushed
    /// past the last bin are lost.
    pub fn delayed(&self, shift: &[usize]) -> Self {
        let mut r = SpikeRaster::new(self.bins, self.neurons);
        for k in 0..self.bins {
            for &n in self.active(k) {
                r.set(k + shift[n as usize], n as usize);
            }
        }
        let mut out = Self::from_raster(&r);
        out.gain = self.gain;
        out
    }
}

#[cfg(test)]
impl SpikeTrain {
    /// The train as a dense `bins × neurons` f64 tensor, gain applied (for
    /// comparisons with slow reference implementations in tests).
    pub(crate) fn to_dense_f64(&self) -> Vec<f64> {
        let n = self.neurons();
        let mut d = vec![0.0; self.bins() * n];
        for k in 0..self.bins() {
            for &i in self.active(k) {
                d[k * n + i as usize] = f64::from(self.gain());
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_and_train_round_trip() {
        let mut r = SpikeRaster::new(4, 3);
        assert!(r.set(0, 2));
        assert!(r.set(3, 0));
        assert!(r.set(3, 0));
        assert!(!r.set(4, 0));
        assert!(!r.set(0, 3));
        assert_eq!(r.count(), 2);
        assert_eq!(r.counts(), vec![1, 0, 1]);
        let t = SpikeTrain::from_raster(&r);
        assert_eq!(t.active(0), &[2]);
        assert_eq!(t.active(1), &[] as &[u32]);
        assert_eq!(t.active(3), &[0]);
        assert_eq!(t.to_raster(), r);
    }

    #[test]
    fn delay_and_mask() {
        let mut r = SpikeRaster::new(5, 2);
        r.set(1, 0);
        r.set(1, 1);
        r.set(4, 1);
        let t = SpikeTrain::from_raster(&r).delayed(&[2, 1]);
        assert_eq!(t.to_raster().spike_bins(0), vec![3]);
        assert_eq!(t.to_raster().spike_bins(1), vec![2]); // the spike at 4 falls off the end
        let m = t.masked(&[false, true], 2.0);
        assert_eq!(m.count(), 1);
        assert_eq!(m.gain(), 2.0);
    }
}
