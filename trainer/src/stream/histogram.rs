//! A constant-memory latency histogram: HDR-style log-linear buckets of
//! nanosecond durations, with exact count, maximum and mean.
//!
//! Kept in-house rather than taken from the `hdrhistogram` crate: that
//! crate sets its precision in significant decimal digits, which gives 16
//! or 128 sub-buckets per octave, never this histogram's 32, and it
//! reports the maximum and the mean from bucket values, while a
//! [`Quantiles`] holds the exact maximum and mean (the stream report's
//! figures and the tests below pin both).

use serde::Serialize;

/// Sub-buckets per power of two (2^5 = 32: quantiles within ~3 %).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: values below `SUB` exactly, then 32 per octave up to 2^64.
const BUCKETS: usize = ((64 - SUB_BITS + 1) as usize) * SUB as usize;

/// A fixed-size histogram of nanosecond durations (HDR-style log-linear
/// buckets, about 2,000 counters whatever the number of samples), with exact
/// minimum, maximum and mean.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    n: u64,
    sum: u128,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// Quantiles of a [`Histogram`], in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Quantiles {
    /// Number of samples.
    pub count: u64,
    /// Median (µs).
    pub p50_us: f64,
    /// 99th percentile (µs).
    pub p99_us: f64,
    /// Largest sample (µs, exact).
    pub max_us: f64,
    /// Mean (µs, exact).
    pub mean_us: f64,
}

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // ≥ SUB_BITS
    let shift = e - SUB_BITS;
    let sub = (v >> shift) - SUB; // 0..SUB
    ((u64::from(shift) + 1) * SUB + sub) as usize
}

/// The largest value that falls in bucket `b`.
fn bucket_high(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let shift = b / SUB - 1;
    let sub = b % SUB;
    let lo = (SUB + sub) << shift;
    lo.saturating_add((1u64 << shift) - 1)
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            n: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Records one duration in nanoseconds.
    pub fn record(&mut self, ns: u64) {
        self.counts[bucket_of(ns).min(BUCKETS - 1)] += 1;
        self.n += 1;
        self.sum += u128::from(ns);
        self.max = self.max.max(ns);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The value (ns) below or at which a fraction `q` of the samples lie
    /// (the upper edge of its bucket, at most the exact maximum).
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.n == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_high(b).min(self.max);
            }
        }
        self.max
    }

    /// p50, p99, max and mean in microseconds.
    pub fn quantiles(&self) -> Quantiles {
        let us = |ns: u64| ns as f64 / 1000.0;
        Quantiles {
            count: self.n,
            p50_us: us(self.quantile_ns(0.5)),
            p99_us: us(self.quantile_ns(0.99)),
            max_us: us(self.max),
            mean_us: if self.n == 0 {
                0.0
            } else {
                self.sum as f64 / self.n as f64 / 1000.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for v in [
            0u64,
            1,
            31,
            32,
            33,
            63,
            64,
            65,
            1000,
            123_456,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let b = bucket_of(v);
            assert!(b < BUCKETS, "{v}");
            assert!(b >= last, "{v}");
            last = b;
            assert!(bucket_high(b) >= v, "{v}: high {}", bucket_high(b));
            // Relative width ≤ 1/32.
            if v >= SUB {
                assert!((bucket_high(b) - v) as f64 <= v as f64 / 32.0 + 1.0, "{v}");
            }
        }
    }

    #[test]
    fn quantiles_are_close_to_the_exact_ones() {
        let mut h = Histogram::new();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let q = h.quantiles();
        assert_eq!(q.count, 10_000);
        assert!((q.p50_us - 500.0).abs() / 500.0 < 0.04, "{q:?}");
        assert!((q.p99_us - 990.0).abs() / 990.0 < 0.04, "{q:?}");
        assert_eq!(q.max_us, 1000.0);
        assert!((q.mean_us - 500.05).abs() < 1e-6, "{q:?}");
        assert_eq!(Histogram::new().quantiles().p99_us, 0.0);
    }
}
