//! Spike tensors of one sample, time-major.
//!
//! Two forms of the same thing: [`SpikeRaster`], a dense byte per (bin,
//! neuron), convenient for building, binning and plotting; and [`SpikeTrain`],
//! the active neuron indices of each bin (CSR), which is what the layers
//! consume: every layer's input is a sparse spike train, so `W·s` is a gather
//! over the active inputs only.

pub use slayer_events::SpikeRaster;

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
        // (`SpikeRaster` itself is tested in the events crate.)
        let mut r = SpikeRaster::new(4, 3);
        r.set(0, 2);
        r.set(3, 0);
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
