//! Real-time pacing: with a replay speed `F`, bin `k` is released when the
//! wall clock reaches its end, `(k + ½)·Ts / F` after the first event, as
//! if the events arrived at `t / F`; and the figures a paced run reports
//! ([`Paced`]).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::histogram::Quantiles;

/// Lag and latency of a paced run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Paced {
    /// Replay speed (1 = recording speed).
    pub speed: f64,
    /// Events per second of wall time at which the events arrived.
    pub arrival_events_per_s: f64,
    /// How late each bin's processing started after its end, µs: the
    /// backlog (0 while the stream keeps up).
    pub lag: Quantiles,
    /// Lag of the last bin, µs.
    pub final_lag_us: f64,
    /// Mean lag over the first [`LAG_EDGE_BINS`](super::LAG_EDGE_BINS)
    /// bins, µs.
    pub lag_first_bins_mean_us: f64,
    /// Mean lag over the last [`LAG_EDGE_BINS`](super::LAG_EDGE_BINS) bins,
    /// µs (a growing backlog shows as a last mean well above the first).
    pub lag_last_bins_mean_us: f64,
    /// From a bin's end (wall clock) to its decision, µs.
    pub end_to_end: Quantiles,
}

/// When each bin is due on the wall clock (nothing when not paced).
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Replay speed; `None`: as fast as possible.
    speed: Option<f64>,
    /// Busy-wait for deadlines instead of sleeping.
    spin: bool,
    /// Bin length, µs of stream time.
    ts_us: f64,
    /// The wall-clock instant of stream time 0, set by the first event.
    wall_zero: Option<Instant>,
}

impl Pacer {
    /// A pacer for bins of `ts_us` µs replayed at `speed` (`None`: not
    /// paced); `spin` busy-waits for each deadline.
    pub fn new(speed: Option<f64>, spin: bool, ts_us: f64) -> Self {
        Self {
            speed,
            spin,
            ts_us,
            wall_zero: None,
        }
    }

    /// The replay speed, when paced.
    pub fn speed(&self) -> Option<f64> {
        self.speed
    }

    /// Whether deadlines are busy-waited for.
    pub fn spin(&self) -> bool {
        self.spin
    }

    /// Anchors the wall clock at the first accepted event, which lies at
    /// stream time `stream_us`: the stream's time 0 was `stream_us / F`
    /// ago. Later calls change nothing.
    #[inline]
    pub fn start(&mut self, stream_us: i64) {
        if self.wall_zero.is_none() {
            if let Some(speed) = self.speed {
                let lead = stream_us.max(0) as f64 / speed;
                self.wall_zero = Some(Instant::now() - Duration::from_secs_f64(lead * 1e-6));
            }
        }
    }

    /// When bin `k` ends on the wall clock (`None` when not paced, or
    /// before the first event).
    pub fn deadline(&self, k: u64) -> Option<Instant> {
        match (self.speed, self.wall_zero) {
            (Some(speed), Some(z)) => {
                let end_us = (k as f64 + 0.5) * self.ts_us / speed;
                Some(z + Duration::from_secs_f64(end_us.max(0.0) * 1e-6))
            }
            _ => None,
        }
    }
}

/// Sleeps, then spins, until `deadline` (only spins with `spin`).
pub fn wait_until(deadline: Instant, spin: bool) {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        let rem = deadline - now;
        if !spin && rem > Duration::from_micros(400) {
            std::thread::sleep(rem - Duration::from_micros(250));
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unpaced_stream_has_no_deadlines() {
        let mut p = Pacer::new(None, false, 1000.0);
        p.start(5_000);
        assert_eq!(p.deadline(0), None);
        assert_eq!(p.speed(), None);
    }

    #[test]
    fn bins_are_due_at_their_end_scaled_by_the_speed() {
        let mut p = Pacer::new(Some(2.0), false, 1000.0);
        assert_eq!(p.deadline(3), None, "no deadline before the first event");
        let before = Instant::now();
        // The first event at stream time 4 ms: time 0 was 2 ms ago at 2×.
        p.start(4_000);
        let after = Instant::now();
        let d0 = p.deadline(0).unwrap();
        // Bin 0 ends at 0.5 ms of stream time, 0.25 ms of wall time.
        assert!(
            d0 + Duration::from_micros(1751) >= before,
            "{d0:?} {before:?}"
        );
        assert!(d0 + Duration::from_micros(1750) <= after + Duration::from_micros(1));
        // Bin k + 1 is due Ts / F after bin k, whatever the anchor.
        let step = p.deadline(11).unwrap() - p.deadline(10).unwrap();
        assert!(step.abs_diff(Duration::from_micros(500)) <= Duration::from_nanos(1));
        // A second event does not move the anchor.
        p.start(1_000_000);
        assert_eq!(p.deadline(0), Some(d0));
    }

    #[test]
    fn waiting_ends_at_the_deadline_sleeping_or_spinning() {
        for spin in [false, true] {
            let deadline = Instant::now() + Duration::from_millis(2);
            wait_until(deadline, spin);
            assert!(Instant::now() >= deadline, "spin {spin}");
        }
        // A deadline already past returns at once.
        wait_until(Instant::now() - Duration::from_millis(1), false);
    }
}
