//! Binning events into dense spike rasters (SLAYER.md §6).
//!
//! Rules, as in the reference framework:
//!
//! * bin `k = round_half_even(t_ms / Ts)` with `t_ms = t_us / 1000`, in f64
//!   (numpy's `round`; about 0.1% of N-MNIST events sit exactly on .5);
//! * events whose bin falls outside `[0, bins)` or whose address falls outside
//!   the sensor are dropped;
//! * polarity is re-based so that the smallest polarity present in the sample
//!   (over all its events, dropped or not) is 0; the caller fixes the number
//!   of polarity channels (`polarities`, normally 1 or 2), and events whose
//!   re-based polarity is `≥ polarities` are dropped;
//! * several events in one bin and cell count once ("OR" binning).
//!
//! Channel layout (flatten order) of the raster's neurons:
//!
//! * 1-D: `p·N + n` (`polarities × N` neurons);
//! * 2-D: `p·H·W + y·W + x` (`polarities × H × W` neurons).
//!
//! So a `.bs1` file whose events all carry polarity 1 (the Oxford task,
//! N-TIDIGITS) binned with `polarities = 1` gives `N` channels, and N-MNIST
//! (polarities 0/1) binned with `polarities = 2` gives `2·34·34` channels,
//! OFF first.

use slayer_core::{Event1d, Event2d};

use crate::raster::SpikeRaster;

/// Time grid of a raster: bin width and number of bins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Binning {
    /// Bin width `Ts` in ms.
    pub ts_ms: f64,
    /// Number of bins `T`.
    pub bins: usize,
}

impl Binning {
    /// The bin of an event at `t_us` µs: `round_half_even((t_us/1000) / Ts)`,
    /// or `None` when it falls outside `[0, bins)` (or `Ts` is not a positive
    /// finite number).
    pub fn bin_of(&self, t_us: u64) -> Option<usize> {
        let t_ms = t_us as f64 / 1000.0;
        let k = (t_ms / self.ts_ms).round_ties_even();
        // A NaN `k` (0/0) fails the range test too.
        if (0.0..self.bins as f64).contains(&k) {
            Some(k as usize)
        } else {
            None
        }
    }
}

/// A binned sample and what binning left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binned {
    /// The 0/1 raster, `bins × neurons`.
    pub raster: SpikeRaster,
    /// Events dropped: bin outside the window, address outside the sensor, or
    /// re-based polarity `≥ polarities`.
    pub dropped: usize,
    /// Events kept but merged into a cell that was already set ("OR" binning).
    pub merged: usize,
}

/// Sets `(k, n)`, counting whether the cell was already set.
fn or_set(raster: &mut SpikeRaster, k: usize, n: usize, merged: &mut usize) {
    if raster.get(k, n) {
        *merged += 1;
    } else {
        raster.set(k, n);
    }
}

/// Bins 1-D events into a `b.bins × (polarities·neurons)` raster, neuron
/// index `p·neurons + n`, and counts what was dropped or merged. See the
/// module documentation for the rules.
pub fn bin_1d_counted(
    events: &[Event1d],
    neurons: usize,
    polarities: usize,
    b: &Binning,
) -> Binned {
    let p0 = events.iter().map(|e| e.polarity).min().unwrap_or(0);
    let mut raster = SpikeRaster::new(b.bins, polarities * neurons);
    let (mut dropped, mut merged) = (0, 0);
    for e in events {
        let p = usize::from(e.polarity - p0);
        let n = usize::from(e.neuron);
        match b.bin_of(e.t_us) {
            Some(k) if n < neurons && p < polarities => {
                or_set(&mut raster, k, p * neurons + n, &mut merged);
            }
            _ => dropped += 1,
        }
    }
    Binned {
        raster,
        dropped,
        merged,
    }
}

/// Bins 1-D events into a `b.bins × (polarities·neurons)` raster, neuron
/// index `p·neurons + n`. See [`bin_1d_counted`] for the drop counts.
pub fn bin_1d(events: &[Event1d], neurons: usize, polarities: usize, b: &Binning) -> SpikeRaster {
    bin_1d_counted(events, neurons, polarities, b).raster
}

/// Bins 2-D events into a `b.bins × (polarities·height·width)` raster, neuron
/// index `p·H·W + y·W + x`, and counts what was dropped or merged. See the
/// module documentation for the rules.
pub fn bin_2d_counted(
    events: &[Event2d],
    width: usize,
    height: usize,
    polarities: usize,
    b: &Binning,
) -> Binned {
    let p0 = events.iter().map(|e| e.polarity).min().unwrap_or(0);
    let plane = width * height;
    let mut raster = SpikeRaster::new(b.bins, polarities * plane);
    let (mut dropped, mut merged) = (0, 0);
    for e in events {
        let p = usize::from(e.polarity - p0);
        let (x, y) = (usize::from(e.x), usize::from(e.y));
        match b.bin_of(e.t_us) {
            Some(k) if x < width && y < height && p < polarities => {
                or_set(&mut raster, k, p * plane + y * width + x, &mut merged);
            }
            _ => dropped += 1,
        }
    }
    Binned {
        raster,
        dropped,
        merged,
    }
}

/// Bins 2-D events into a `b.bins × (polarities·height·width)` raster, neuron
/// index `p·H·W + y·W + x`. See [`bin_2d_counted`] for the drop counts.
pub fn bin_2d(
    events: &[Event2d],
    width: usize,
    height: usize,
    polarities: usize,
    b: &Binning,
) -> SpikeRaster {
    bin_2d_counted(events, width, height, polarities, b).raster
}

/// The spikes of a raster as 1-D events (the inverse of [`bin_1d`] with one
/// polarity): each spike at bin `k`, neuron `n` becomes
/// `Event1d { neuron: n, polarity: 0, t_us: round(k·Ts·1000) }`, in time-major
/// order (by bin, then neuron). Neurons beyond `u16::MAX` cannot be addressed
/// and are skipped. Binning the result again with the same `Ts` gives the same
/// raster whenever `Ts·1000` is a whole number of µs.
pub fn raster_to_events_1d(r: &SpikeRaster, ts_ms: f64) -> Vec<Event1d> {
    let neurons = r.neurons().min(usize::from(u16::MAX) + 1);
    let mut out = Vec::new();
    for k in 0..r.bins() {
        let t_us = (k as f64 * ts_ms * 1000.0).round().max(0.0) as u64;
        for (n, &v) in r.row(k)[..neurons].iter().enumerate() {
            if v != 0 {
                out.push(Event1d {
                    neuron: n as u16,
                    polarity: 0,
                    t_us,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bs::{read_bs1, read_bs2};
    use crate::test_data::data_dir;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn e1(neuron: u16, polarity: u8, t_us: u64) -> Event1d {
        Event1d {
            neuron,
            polarity,
            t_us,
        }
    }

    fn e2(x: u16, y: u16, polarity: u8, t_us: u64) -> Event2d {
        Event2d {
            x,
            y,
            polarity,
            t_us,
        }
    }

    #[test]
    fn bins_round_half_to_even() {
        let b = Binning {
            ts_ms: 1.0,
            bins: 10,
        };
        assert_eq!(b.bin_of(2500), Some(2));
        assert_eq!(b.bin_of(3500), Some(4));
        assert_eq!(b.bin_of(499), Some(0));
        assert_eq!(b.bin_of(500), Some(0));
        assert_eq!(b.bin_of(1500), Some(2));
        assert_eq!(b.bin_of(9499), Some(9));
        assert_eq!(b.bin_of(9500), None, "rounds to bin 10 = T");
        let r = bin_1d(&[e1(0, 0, 2500), e1(1, 0, 3500)], 2, 1, &b);
        assert_eq!(r.spike_bins(0), vec![2]);
        assert_eq!(r.spike_bins(1), vec![4]);
        let b2 = Binning {
            ts_ms: 2.0,
            bins: 10,
        };
        assert_eq!(b2.bin_of(5000), Some(2)); // 2.5 → 2
        assert_eq!(b2.bin_of(7000), Some(4)); // 3.5 → 4
        let bad = Binning {
            ts_ms: 0.0,
            bins: 10,
        };
        assert_eq!(bad.bin_of(0), None); // 0/0 = NaN
        assert_eq!(bad.bin_of(1), None); // inf
    }

    #[test]
    fn or_binning_counts_once() {
        let b = Binning {
            ts_ms: 1.0,
            bins: 5,
        };
        let ev = [
            e1(1, 0, 1000),
            e1(1, 0, 1200),
            e1(1, 0, 800),
            e1(0, 0, 1000),
        ];
        let out = bin_1d_counted(&ev, 2, 1, &b);
        assert_eq!(out.raster.count(), 2);
        assert_eq!(out.raster.spike_bins(1), vec![1]);
        assert_eq!(out.dropped, 0);
        assert_eq!(out.merged, 2);
        let ev2 = [e2(3, 2, 1, 4000), e2(3, 2, 1, 4400), e2(3, 2, 0, 4000)];
        let out = bin_2d_counted(&ev2, 4, 3, 2, &b);
        assert_eq!(out.raster.count(), 2);
        assert_eq!(out.merged, 1);
        assert!(out.raster.get(4, 2 * 4 + 3));
        assert!(out.raster.get(4, 12 + 2 * 4 + 3));
    }

    #[test]
    fn drops_outside_window_and_sensor() {
        let b = Binning {
            ts_ms: 1.0,
            bins: 3,
        };
        let ev = [
            e1(0, 0, 0),
            e1(1, 0, 2499),
            e1(1, 0, 2500), // bin 2, kept
            e1(1, 0, 2501), // bin 3, dropped
            e1(2, 0, 1000), // neuron outside
            e1(0, 1, 1000), // re-based polarity 1 ≥ 1 channel
        ];
        let out = bin_1d_counted(&ev, 2, 1, &b);
        assert_eq!(out.dropped, 3);
        assert_eq!(out.raster.neurons(), 2);
        assert_eq!(out.raster.spike_bins(0), vec![0]);
        assert_eq!(out.raster.spike_bins(1), vec![2]);

        let ev = [
            e2(0, 0, 0, 0),
            e2(4, 0, 0, 0),
            e2(0, 3, 0, 0),
            e2(3, 2, 0, 10_000),
            e2(3, 2, 0, 1000),
        ];
        let out = bin_2d_counted(&ev, 4, 3, 2, &b);
        assert_eq!(out.dropped, 3);
        assert_eq!(out.raster.neurons(), 2 * 12);
        assert_eq!(out.raster.count(), 2);
        assert!(out.raster.get(0, 0) && out.raster.get(1, 11));
        // An empty sample gives a silent raster.
        let out = bin_2d_counted(&[], 4, 3, 2, &b);
        assert_eq!((out.raster.count(), out.dropped), (0, 0));
    }

    #[test]
    fn polarity_is_rebased() {
        let b = Binning {
            ts_ms: 1.0,
            bins: 4,
        };
        // All polarity 1 (as in the Oxford and N-TIDIGITS files): channel 0.
        let r = bin_1d(&[e1(0, 1, 0), e1(1, 1, 1000)], 2, 1, &b);
        assert_eq!(r.count(), 2);
        assert!(r.get(0, 0) && r.get(1, 1));
        // Polarities {1, 2} become {0, 1}.
        let r = bin_1d(&[e1(0, 1, 0), e1(0, 2, 1000)], 2, 2, &b);
        assert!(r.get(0, 0) && r.get(1, 2));
        // 2-D: a sample with only ON events lands in plane 0.
        let r = bin_2d(&[e2(1, 1, 1, 0)], 2, 2, 2, &b);
        assert!(r.get(0, 3));
        assert_eq!(r.count(), 1);
    }

    #[test]
    fn oxford_input_binned() {
        let ev = read_bs1(&data_dir().join("slayer-reference/oxford/input.bs1")).expect("bs1");
        let b = Binning {
            ts_ms: 1.0,
            bins: 1900,
        };
        let out = bin_1d_counted(&ev, 200, 1, &b);
        assert_eq!(out.raster.neurons(), 200);
        assert_eq!(out.dropped, 0);
        assert_eq!(out.raster.count() + out.merged, 1889);
        // Round trip through events (whole-ms timestamps).
        let back = raster_to_events_1d(&out.raster, 1.0);
        assert_eq!(back.len(), out.raster.count());
        assert_eq!(bin_1d(&back, 200, 1, &b), out.raster);
    }

    #[test]
    fn nmnist_binned_300_bins() {
        let ev = read_bs2(&data_dir().join("nmnist-small/1.bs2")).expect("bs2");
        let b = Binning {
            ts_ms: 1.0,
            bins: 300,
        };
        let out = bin_2d_counted(&ev, 34, 34, 2, &b);
        assert_eq!(out.raster.neurons(), 2 * 34 * 34);
        let late = ev.iter().filter(|e| b.bin_of(e.t_us).is_none()).count();
        assert!(late > 0, "sample 1 runs past 300 ms");
        assert_eq!(out.dropped, late);
        assert_eq!(out.raster.count() + out.merged + out.dropped, ev.len());
        // Both polarity planes are used.
        let c = out.raster.counts();
        assert!(c[..34 * 34].iter().any(|&v| v > 0));
        assert!(c[34 * 34..].iter().any(|&v| v > 0));
        // With one polarity channel the ON events are dropped.
        let on_in_window = ev
            .iter()
            .filter(|e| e.polarity == 1 && b.bin_of(e.t_us).is_some())
            .count();
        let one = bin_2d_counted(&ev, 34, 34, 1, &b);
        assert_eq!(one.dropped, late + on_in_window);
    }

    #[test]
    fn seeded_raster_round_trip() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for ts_ms in [1.0, 0.5, 0.1, 2.0] {
            let mut r = SpikeRaster::new(200, 37);
            for _ in 0..1000 {
                r.set(rng.random_range(0..200), rng.random_range(0..37));
            }
            let ev = raster_to_events_1d(&r, ts_ms);
            assert!(ev.windows(2).all(|w| w[0].t_us <= w[1].t_us));
            let b = Binning { ts_ms, bins: 200 };
            let out = bin_1d_counted(&ev, 37, 1, &b);
            assert_eq!(out.raster, r, "Ts {ts_ms}");
            assert_eq!((out.dropped, out.merged), (0, 0));
        }
    }
}
