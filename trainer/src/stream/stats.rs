//! Constant-memory statistics of a stream: event and fault counters, and a
//! log-linear latency histogram.

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
    ((shift as u64 + 1) * SUB + sub) as usize
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

/// What a stream read, used, dropped and could not parse. Every event the
/// source decoded (`events_in`) ends in exactly one of `binned`, `invalid`,
/// `out_of_range`, `cropped`, `late` or `time_outliers`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Bytes read from the source.
    pub bytes: u64,
    /// Packets (AEDAT) whose header was accepted.
    pub packets: u64,
    /// Packets of other event types (skipped whole).
    pub other_packets: u64,
    /// Events decoded from the source (valid bit set, or formats without one).
    pub events_in: u64,
    /// Events that went into a time bin (including OR-merged duplicates).
    pub binned: u64,
    /// Binned events whose input cell was already set in their bin ("OR" binning).
    pub merged: u64,
    /// AEDAT 3.1 events whose valid bit is 0 (skipped).
    pub invalid: u64,
    /// Events with coordinates outside the sensor (malformed; dropped).
    pub out_of_range: u64,
    /// Events inside the sensor but outside the model's crop (dropped).
    pub cropped: u64,
    /// Events whose bin had already been processed (dropped).
    pub late: u64,
    /// Events whose timestamp jumps ahead of both neighbours (dropped as corrupt).
    pub time_outliers: u64,
    /// Implausible packet headers (the reader resynchronised after each).
    pub bad_packets: u64,
    /// Runs of implausible events inside a packet that made the reader give
    /// up on the packet and resynchronise.
    pub desyncs: u64,
    /// Bytes skipped while looking for the next valid packet header.
    pub skipped_bytes: u64,
    /// Events announced by packet headers but never decoded (truncated or
    /// abandoned packets).
    pub lost_events: u64,
    /// Segments: the stream's first, plus one per mid-stream file header or
    /// clock reset (each re-anchors the stream time).
    pub segments: u64,
    /// Forward gaps longer than `max_gap` that were shortened.
    pub gaps_cut: u64,
    /// Reconnections of a network source after its server went away (each
    /// a gap in the stream and a new segment).
    pub reconnects: u64,
    /// Time bins processed by the engine.
    pub bins: u64,
    /// Output spikes of the model.
    pub output_spikes: u64,
}

impl Counters {
    /// Events dropped for any reason (bad or useless data).
    pub fn dropped(&self) -> u64 {
        self.invalid + self.out_of_range + self.cropped + self.late + self.time_outliers
    }

    /// Malformed data: implausible headers, invalid or out-of-range events,
    /// timestamp outliers and events of truncated or abandoned packets.
    pub fn malformed(&self) -> u64 {
        self.bad_packets
            + self.desyncs
            + self.invalid
            + self.out_of_range
            + self.time_outliers
            + self.lost_events
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
