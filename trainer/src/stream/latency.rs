//! The latency statistics of a stream, in constant memory: every bin's
//! processing time and, when paced, its lag (how late its processing
//! started after its end) and its end-to-end latency (from its end to its
//! decision), each in a [`Histogram`]; the lag of the first and of the
//! last [`LAG_EDGE_BINS`] bins is also kept, to show a growing backlog.

use std::collections::VecDeque;

use super::histogram::{Histogram, Quantiles};
use super::pacer::Paced;

/// Bins at the start and at the end of a paced stream whose mean lags are
/// compared (a growing backlog).
pub const LAG_EDGE_BINS: usize = 1000;

/// Per-bin latencies, ns.
#[derive(Debug, Clone)]
pub struct LatencyStats {
    /// Engine step and decision of each bin.
    processing: Histogram,
    /// Lag of each paced bin.
    lag: Histogram,
    /// From each paced bin's end to its decision.
    end_to_end: Histogram,
    /// Lags of the first [`LAG_EDGE_BINS`] bins.
    lag_first: Vec<u64>,
    /// Lags of the last [`LAG_EDGE_BINS`] bins.
    lag_last: VecDeque<u64>,
    /// Lag of the last bin.
    final_lag_ns: u64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyStats {
    /// No samples yet.
    pub fn new() -> Self {
        Self {
            processing: Histogram::new(),
            lag: Histogram::new(),
            end_to_end: Histogram::new(),
            lag_first: Vec::with_capacity(LAG_EDGE_BINS),
            lag_last: VecDeque::with_capacity(LAG_EDGE_BINS),
            final_lag_ns: 0,
        }
    }

    /// Records how long a bin's processing took, ns.
    pub fn record_processing(&mut self, ns: u64) {
        self.processing.record(ns);
    }

    /// Records how late a paced bin's processing started, ns.
    pub fn record_lag(&mut self, ns: u64) {
        self.lag.record(ns);
        self.final_lag_ns = ns;
        if self.lag_first.len() < LAG_EDGE_BINS {
            self.lag_first.push(ns);
        }
        if self.lag_last.len() == LAG_EDGE_BINS {
            self.lag_last.pop_front();
        }
        self.lag_last.push_back(ns);
    }

    /// Records the time from a paced bin's end to its decision, ns.
    pub fn record_end_to_end(&mut self, ns: u64) {
        self.end_to_end.record(ns);
    }

    /// Quantiles of the processing times, µs.
    pub fn processing(&self) -> Quantiles {
        self.processing.quantiles()
    }

    /// Lag of the last paced bin, µs (0 before any).
    pub fn final_lag_us(&self) -> f64 {
        self.final_lag_ns as f64 / 1000.0
    }

    /// The figures of a paced run at `speed` whose events arrived at
    /// `arrival_events_per_s`.
    pub fn paced(&self, speed: f64, arrival_events_per_s: f64) -> Paced {
        let lag_last: Vec<u64> = self.lag_last.iter().copied().collect();
        Paced {
            speed,
            arrival_events_per_s,
            lag: self.lag.quantiles(),
            final_lag_us: self.final_lag_us(),
            lag_first_bins_mean_us: mean_us(&self.lag_first),
            lag_last_bins_mean_us: mean_us(&lag_last),
            end_to_end: self.end_to_end.quantiles(),
        }
    }
}

/// The mean of durations in ns, µs (0 for none).
fn mean_us(v: &[u64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edge_means_cover_the_first_and_the_last_bins() {
        let mut s = LatencyStats::new();
        let n = 3 * LAG_EDGE_BINS as u64;
        for k in 0..n {
            s.record_lag(k * 1000);
        }
        let p = s.paced(2.0, 1e6);
        assert_eq!((p.speed, p.arrival_events_per_s), (2.0, 1e6));
        let edge = LAG_EDGE_BINS as f64;
        // Lags k µs: the first bins' mean (0 + … + 999) / 1000, the last's
        // (2000 + … + 2999) / 1000.
        assert_eq!(p.lag_first_bins_mean_us, (edge - 1.0) / 2.0);
        assert_eq!(p.lag_last_bins_mean_us, 2.0 * edge + (edge - 1.0) / 2.0);
        assert_eq!(p.final_lag_us, (n - 1) as f64);
        assert_eq!(p.lag.count, n);
        assert_eq!(p.lag.max_us, (n - 1) as f64);
        assert_eq!(p.end_to_end.count, 0);
    }

    #[test]
    fn processing_and_end_to_end_are_kept_apart() {
        let mut s = LatencyStats::new();
        s.record_processing(2000);
        s.record_processing(4000);
        s.record_end_to_end(9000);
        let q = s.processing();
        assert_eq!((q.count, q.max_us, q.mean_us), (2, 4.0, 3.0));
        let p = s.paced(1.0, 0.0);
        assert_eq!((p.end_to_end.count, p.end_to_end.max_us), (1, 9.0));
        // No paced bins: no lag.
        assert_eq!((p.lag.count, p.final_lag_us), (0, 0.0));
        assert_eq!(
            (p.lag_first_bins_mean_us, p.lag_last_bins_mean_us),
            (0.0, 0.0)
        );
    }
}
