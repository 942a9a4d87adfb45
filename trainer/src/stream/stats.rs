//! Constant-memory statistics of a stream: event and fault counters (the
//! latency histogram is in `histogram.rs`, the latency figures in
//! `latency.rs`).

use serde::Serialize;

pub use super::histogram::{Histogram, Quantiles};

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
