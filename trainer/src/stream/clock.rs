//! The stream's clock: which bin each event falls in, and how the stream
//! re-anchors its time when the recording's time jumps or goes back.
//!
//! * Stream time starts at the first event ([`Origin::FirstEvent`]) or at
//!   the file's 0 ([`Origin::Zero`], first segment only), and bin
//!   `k = round_half_even(t_ms / Ts)` ([`bin_of_us`]), as offline binning
//!   computes it.
//! * Each event is held until the next one arrives ([`Clock::hold`]): one
//!   that lies more than one bin ahead of its successor, while the
//!   successor agrees with the events before, is a corrupt timestamp.
//! * An event whose bin was already processed is late ([`Placement::Late`]);
//!   [`RESET_RUN`] late events in a row, each more than [`RESET_LATE_MS`]
//!   late, are a clock reset ([`Placement::Reset`]): the stream time is
//!   re-anchored so that the event falls in the open bin.
//! * An event more than `max_gap` ahead is a gap ([`Placement::Gap`]): the
//!   stream runs `max_gap` of empty bins, then re-anchors at the event.
//!
//! The clock only decides; the pipeline processes the bins it names and
//! calls [`Clock::advance`] after each.

use slayer_core::Event2d;

use super::map::Mapped;
use super::source::{Faults, Origin};

/// Events in a row more than [`RESET_LATE_MS`] late that re-anchor the
/// stream's clock.
pub const RESET_RUN: u32 = 64;

/// How late (stream time, ms) an event must be to count towards a clock reset.
pub const RESET_LATE_MS: f64 = 1000.0;

/// The bin of stream time `t_us` (µs): `round_half_even(t_ms / Ts)`, as
/// offline binning computes it (SLAYER.md §6); `None` before 0.
pub fn bin_of_us(t_us: i64, ts_us: f64) -> Option<u64> {
    if t_us < 0 {
        return None;
    }
    let k = (t_us as f64 / 1000.0 / (ts_us / 1000.0)).round_ties_even();
    (k.is_finite() && k >= 0.0).then_some(k as u64)
}

/// The first stream time (µs, ≥ 0) whose bin is at least `k`.
pub fn first_us_of_bin(k: u64, ts_us: f64) -> i64 {
    if k == 0 {
        return 0;
    }
    let mut t = (((k as f64 - 0.5) * ts_us).floor() as i64 - 2).max(0);
    while bin_of_us(t, ts_us).is_some_and(|b| b < k) {
        t += 1;
    }
    // Step back if the estimate overshot.
    while t > 0 && bin_of_us(t - 1, ts_us).is_some_and(|b| b >= k) {
        t -= 1;
    }
    t
}

/// What [`Clock::hold`] releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Nothing yet (the first event is held).
    Nothing,
    /// The previous event passed the check: place it.
    Accept(Event2d, Mapped),
    /// The previous event lies ahead of its successor and of the events
    /// before: a corrupt timestamp, to drop.
    Outlier(Event2d),
}

/// Where an accepted event goes ([`Clock::place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Its bin was already processed: drop it (counted as late).
    Late,
    /// Bin `b ≥` the open bin: process the bins before it, then bin it.
    Bin(u64),
    /// A clock reset (counted and reported): process the open bin, then
    /// [`Clock::anchor`] at the event, which falls in the next one.
    Reset,
    /// A gap longer than `max_gap` (counted): process the bins up to `end`
    /// (excluded), then [`Clock::anchor`] at the event.
    Gap {
        /// The first bin not processed before re-anchoring.
        end: u64,
    },
}

/// The clock of one stream.
#[derive(Debug, Clone)]
pub struct Clock {
    /// Where the first segment's time starts.
    origin: Origin,
    /// Bin length, µs.
    ts_us: f64,
    /// How far (µs) an event may lie behind its predecessor without
    /// making the predecessor an outlier (one bin).
    tol_us: u64,
    /// Longest run of empty bins kept as is.
    max_gap_bins: u64,
    /// The event held for the outlier check.
    pending: Option<(Event2d, Mapped)>,
    /// Recording time of the last accepted event in this segment.
    last: Option<u64>,
    /// Recording time at stream time `seg_base_us` (set by the segment's
    /// first event when `None`).
    seg_origin: Option<u64>,
    /// Stream time at which the segment starts, µs.
    seg_base_us: i64,
    /// The open bin.
    k_cur: u64,
    /// Whether an event was accepted yet.
    started: bool,
    /// Late events in a row, each more than [`RESET_LATE_MS`] late.
    late_run: u32,
    /// Stream times `[lo, hi)` that fall in bin `k_cur`.
    edges: (i64, i64),
}

impl Clock {
    /// A clock for bins of `ts_us` µs that cuts gaps longer than
    /// `max_gap_ms`, with its time base at `origin`.
    pub fn new(ts_us: f64, max_gap_ms: f64, origin: Origin) -> Self {
        let mut c = Self {
            origin,
            ts_us,
            tol_us: ts_us.ceil() as u64,
            max_gap_bins: ((max_gap_ms * 1000.0 / ts_us).ceil() as u64).max(1),
            pending: None,
            last: None,
            seg_origin: None,
            seg_base_us: 0,
            k_cur: 0,
            started: false,
            late_run: 0,
            edges: (0, 0),
        };
        c.set_edges();
        c
    }

    /// The open bin.
    #[inline]
    pub fn bin(&self) -> u64 {
        self.k_cur
    }

    /// Bin length, µs.
    pub fn ts_us(&self) -> f64 {
        self.ts_us
    }

    /// Whether an event was accepted yet (there is an open bin to process).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Holds `e` (mapped to `m`) until its successor arrives, and releases
    /// the event held before, checked against `e`.
    #[inline]
    pub fn hold(&mut self, e: Event2d, m: Mapped) -> Release {
        let Some((p, pm)) = self.pending.replace((e, m)) else {
            return Release::Nothing;
        };
        let accept = if e.t_us.saturating_add(self.tol_us) >= p.t_us {
            true
        } else {
            // A descent: either `p` jumped ahead (`e` agrees with the events
            // before it) or `e` fell behind (then `p` is kept).
            self.last
                .is_some_and(|l| e.t_us.saturating_add(self.tol_us) < l)
        };
        if accept {
            Release::Accept(p, pm)
        } else {
            Release::Outlier(p)
        }
    }

    /// The held event, unchecked (end of stream or segment).
    pub fn take_held(&mut self) -> Option<(Event2d, Mapped)> {
        self.pending.take()
    }

    /// The stream time (µs) of an accepted event at recording time `t_us`;
    /// the first event of a segment sets its origin. `segments` (the
    /// counter) is at least 1 once an event is accepted.
    #[inline]
    pub fn stream_time(&mut self, t_us: u64, segments: &mut u64) -> i64 {
        if !self.started {
            self.started = true;
            *segments = (*segments).max(1);
        }
        let origin = *self.seg_origin.get_or_insert(match self.origin {
            Origin::Zero if *segments <= 1 => 0,
            _ => t_us,
        });
        self.last = Some(t_us);
        t_us as i64 - origin as i64 + self.seg_base_us
    }

    /// Where the event at recording time `t_us`, stream time `stream_us`
    /// ([`Clock::stream_time`]), goes; late events, resets and gaps are
    /// counted (and resets reported) in `f`.
    #[inline]
    pub fn place(&mut self, stream_us: i64, t_us: u64, f: &mut Faults) -> Placement {
        match self.bin_of(stream_us) {
            Some(b) if b >= self.k_cur => {
                self.late_run = 0;
                if b > self.k_cur + self.max_gap_bins {
                    // A long silence: `max_gap` of it in the old time base,
                    // then this event opens the next bin.
                    f.counters.gaps_cut += 1;
                    Placement::Gap {
                        end: self.k_cur + self.max_gap_bins,
                    }
                } else {
                    Placement::Bin(b)
                }
            }
            _ => {
                let lateness_ms = (self.k_cur as f64 * self.ts_us - stream_us as f64) / 1000.0;
                if lateness_ms > RESET_LATE_MS {
                    self.late_run += 1;
                } else {
                    self.late_run = 0;
                }
                if self.late_run < RESET_RUN {
                    f.counters.late += 1;
                    return Placement::Late;
                }
                // The clock went back for good: a new segment from here,
                // after the open bin (which ends with the old one).
                self.late_run = 0;
                f.counters.segments += 1;
                f.report(|| format!("timestamps went back to {t_us} µs for {RESET_RUN} events: clock reset, stream time re-anchored"));
                Placement::Reset
            }
        }
    }

    /// Starts a new time base: the event at recording time `origin` (or
    /// the next accepted one) falls in the open bin.
    pub fn anchor(&mut self, origin: Option<u64>) {
        self.seg_origin = origin;
        self.seg_base_us = (self.k_cur as f64 * self.ts_us).round() as i64;
    }

    /// Starts a new segment (a file header in mid-stream): the next event
    /// sets the time base, in the open bin.
    pub fn new_segment(&mut self) {
        self.anchor(None);
        self.last = None;
    }

    /// The recording time (µs) of bin `k` of the current segment, once the
    /// segment has an origin.
    pub fn recording_us(&self, k: u64) -> Option<i64> {
        self.seg_origin
            .map(|origin| origin as i64 + (k as f64 * self.ts_us).round() as i64 - self.seg_base_us)
    }

    /// Opens the next bin (the open one was processed).
    #[inline]
    pub fn advance(&mut self) {
        self.k_cur += 1;
        self.set_edges();
    }

    /// The bin of stream time `stream_us` (`None` before 0): the offline
    /// rule `round_half_even(t_ms / Ts)`, with the open bin's edges cached
    /// so most events need no division.
    #[inline]
    fn bin_of(&self, stream_us: i64) -> Option<u64> {
        if (self.edges.0..self.edges.1).contains(&stream_us) {
            return Some(self.k_cur);
        }
        bin_of_us(stream_us, self.ts_us)
    }

    /// Recomputes the cached edges of bin `k_cur`.
    fn set_edges(&mut self) {
        self.edges = (
            first_us_of_bin(self.k_cur, self.ts_us),
            first_us_of_bin(self.k_cur + 1, self.ts_us),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_us: u64) -> Event2d {
        Event2d {
            x: 0,
            y: 0,
            polarity: 1,
            t_us,
        }
    }

    /// Accepts an event and processes the bins the clock names (counting
    /// them), as the pipeline does; the event's placement.
    fn feed(c: &mut Clock, t_us: u64, f: &mut Faults, bins: &mut u64) -> Placement {
        let s = c.stream_time(t_us, &mut f.counters.segments);
        let p = c.place(s, t_us, f);
        let mut run_to = |c: &mut Clock, end: u64| {
            while c.bin() < end {
                c.advance();
                *bins += 1;
            }
        };
        match p {
            Placement::Late => {}
            Placement::Bin(b) => run_to(c, b),
            Placement::Reset => {
                let end = c.bin() + 1;
                run_to(c, end);
                c.anchor(Some(t_us));
            }
            Placement::Gap { end } => {
                run_to(c, end);
                c.anchor(Some(t_us));
            }
        }
        p
    }

    #[test]
    fn bin_edges_follow_round_half_even() {
        for ts_us in [1000.0, 500.0, 333.3, 1500.0, 100_000.0] {
            for k in 0..200u64 {
                let lo = first_us_of_bin(k, ts_us);
                assert_eq!(bin_of_us(lo, ts_us), Some(k), "ts {ts_us} k {k}");
                if lo > 0 {
                    assert!(bin_of_us(lo - 1, ts_us).unwrap() < k, "ts {ts_us} k {k}");
                }
            }
        }
        // 1 ms bins: 500 µs → bin 0 (even), 1500 µs → bin 2 (even).
        assert_eq!(first_us_of_bin(1, 1000.0), 501);
        assert_eq!(first_us_of_bin(2, 1000.0), 1500);
        assert_eq!(bin_of_us(-1, 1000.0), None);
    }

    #[test]
    fn stream_time_starts_at_the_first_event_or_at_zero() {
        let mut f = Faults::new(0);
        let mut c = Clock::new(1000.0, 10_000.0, Origin::FirstEvent);
        assert!(!c.started());
        assert_eq!(c.stream_time(5_000_000, &mut f.counters.segments), 0);
        assert!(c.started());
        assert_eq!(f.counters.segments, 1);
        assert_eq!(c.stream_time(5_001_600, &mut f.counters.segments), 1600);
        assert_eq!(c.recording_us(2), Some(5_002_000));
        let mut c = Clock::new(1000.0, 10_000.0, Origin::Zero);
        assert_eq!(c.stream_time(1600, &mut f.counters.segments), 1600);
    }

    #[test]
    fn a_timestamp_ahead_of_both_neighbours_is_an_outlier() {
        let mut c = Clock::new(1000.0, 10_000.0, Origin::FirstEvent);
        let mut segments = 0;
        assert_eq!(c.hold(ev(100), Mapped::Cropped), Release::Nothing);
        assert_eq!(
            c.hold(ev(200), Mapped::Cropped),
            Release::Accept(ev(100), Mapped::Cropped)
        );
        c.stream_time(100, &mut segments);
        // 9,000 µs jumps ahead of 300 (more than one bin): dropped.
        assert_eq!(
            c.hold(ev(9000), Mapped::Cropped),
            Release::Accept(ev(200), Mapped::Cropped)
        );
        c.stream_time(200, &mut segments);
        assert_eq!(c.hold(ev(300), Mapped::Cropped), Release::Outlier(ev(9000)));
        // Less than a bin back is no descent.
        assert_eq!(
            c.hold(ev(0), Mapped::Cropped),
            Release::Accept(ev(300), Mapped::Cropped)
        );
        c.stream_time(300, &mut segments);
        // A successor far behind the events before: it is the late one,
        // the held event is kept.
        c.take_held();
        c.stream_time(4000, &mut segments);
        assert_eq!(c.hold(ev(5000), Mapped::Cropped), Release::Nothing);
        assert_eq!(
            c.hold(ev(10), Mapped::Cropped),
            Release::Accept(ev(5000), Mapped::Cropped)
        );
        assert_eq!(c.take_held(), Some((ev(10), Mapped::Cropped)));
        assert_eq!(c.take_held(), None);
    }

    #[test]
    fn late_events_are_dropped_and_a_run_of_them_resets_the_clock() {
        let mut f = Faults::new(5);
        let mut bins = 0;
        let mut c = Clock::new(1000.0, 10_000.0, Origin::FirstEvent);
        let t0 = 10_000_000;
        assert_eq!(feed(&mut c, t0, &mut f, &mut bins), Placement::Bin(0));
        assert_eq!(
            feed(&mut c, t0 + 3_000, &mut f, &mut bins),
            Placement::Bin(3)
        );
        assert_eq!(bins, 3);
        // A bin already processed.
        assert_eq!(feed(&mut c, t0 + 1_000, &mut f, &mut bins), Placement::Late);
        assert_eq!(f.counters.late, 1);
        // Time back by 5 s: RESET_RUN late events in a row reset the clock.
        for i in 0..RESET_RUN - 1 {
            let p = feed(&mut c, t0 - 5_000_000 + u64::from(i), &mut f, &mut bins);
            assert_eq!(p, Placement::Late);
        }
        assert_eq!(f.counters.late, u64::from(RESET_RUN));
        let t = t0 - 4_000_000;
        assert_eq!(feed(&mut c, t, &mut f, &mut bins), Placement::Reset);
        // The open bin 3 was processed; the event opens bin 4.
        assert_eq!((c.bin(), bins), (4, 4));
        assert_eq!(
            (f.counters.segments, f.counters.late),
            (2, u64::from(RESET_RUN))
        );
        assert_eq!(c.recording_us(4), Some(t as i64));
        let msgs = f.take_messages();
        assert!(msgs[0].contains("clock reset"), "{msgs:?}");
        // The new time base: 2 ms later is bin 6.
        assert_eq!(
            feed(&mut c, t + 2_000, &mut f, &mut bins),
            Placement::Bin(6)
        );
    }

    #[test]
    fn events_less_than_a_second_late_never_reset() {
        let mut f = Faults::new(5);
        let mut bins = 0;
        let mut c = Clock::new(1000.0, 10_000.0, Origin::FirstEvent);
        feed(&mut c, 0, &mut f, &mut bins);
        feed(&mut c, 900_000, &mut f, &mut bins);
        for i in 0..10 * RESET_RUN {
            assert_eq!(
                feed(&mut c, u64::from(i), &mut f, &mut bins),
                Placement::Late
            );
        }
        assert_eq!(f.counters.segments, 1);
    }

    #[test]
    fn a_long_gap_is_cut_to_max_gap() {
        let mut f = Faults::new(5);
        let mut bins = 0;
        // 1 ms bins, gaps over 10 ms cut.
        let mut c = Clock::new(1000.0, 10.0, Origin::FirstEvent);
        feed(&mut c, 1_000, &mut f, &mut bins);
        assert_eq!(feed(&mut c, 11_000, &mut f, &mut bins), Placement::Bin(10));
        assert_eq!(f.counters.gaps_cut, 0);
        let p = feed(&mut c, 60_000, &mut f, &mut bins);
        assert_eq!(p, Placement::Gap { end: 20 });
        assert_eq!((c.bin(), f.counters.gaps_cut), (20, 1));
        // Re-anchored: the event is in bin 20, 1 ms later is bin 21.
        assert_eq!(c.recording_us(20), Some(60_000));
        assert_eq!(feed(&mut c, 61_000, &mut f, &mut bins), Placement::Bin(21));
    }

    #[test]
    fn a_new_segment_starts_in_the_open_bin() {
        let mut f = Faults::new(5);
        let mut bins = 0;
        let mut c = Clock::new(1000.0, 10_000.0, Origin::Zero);
        assert_eq!(feed(&mut c, 2_000, &mut f, &mut bins), Placement::Bin(2));
        c.advance();
        c.new_segment();
        f.counters.segments += 1;
        // The next segment's first event is its origin, even with
        // `Origin::Zero`, and falls in the open bin 3.
        assert_eq!(feed(&mut c, 500_000, &mut f, &mut bins), Placement::Bin(3));
        assert_eq!(c.recording_us(3), Some(500_000));
    }
}
