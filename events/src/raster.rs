//! A dense spike tensor of one sample: [`SpikeRaster`], a byte per (bin,
//! neuron), time-major: what the binning of events builds.

/// Dense binary spike raster of one sample: `bins × neurons`, time-major
/// (`data[k * neurons + n]`), each cell 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_or_set_and_counted() {
        let mut r = SpikeRaster::new(4, 3);
        assert!(r.set(0, 2));
        assert!(r.set(3, 0));
        assert!(r.set(3, 0));
        assert!(!r.set(4, 0));
        assert!(!r.set(0, 3));
        assert_eq!(r.count(), 2);
        assert_eq!(r.counts(), vec![1, 0, 1]);
        assert_eq!(r.spike_bins(0), vec![3]);
        assert_eq!(r.row(3), &[1, 0, 0]);
        assert!(r.get(0, 2) && !r.get(9, 9));
    }
}
