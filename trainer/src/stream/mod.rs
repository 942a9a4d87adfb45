//! Real-time inference on an event-camera stream with the fixed-point core
//! engine (`slayer stream`).
//!
//! ```text
//! bytes ──► Source ──► clock check ──► InputMap ──► bin (OR) ──► Engine::step ──► Decider ──► Sink
//!          (AEDAT 3.1 resync,   (outlier /       (sensor →     (one call per      (sliding-window
//!           AEDAT 4.0, .bs2)     late events)     model input)  Ts bin)            argmax)
//! ```
//!
//! Everything runs in constant memory, whatever the stream's length: the
//! source parses through a fixed buffer, a bin is a bitset plus the list of
//! its active inputs, the engine state is allocated once, the decision
//! window is a ring of `window × outputs` bits, latencies go into a
//! fixed-size histogram and only the first few fault messages are kept.
//!
//! # Time
//!
//! Stream time starts at the first event (AEDAT; `.bs2` samples keep their
//! own time, which starts near 0), and bin `k = round_half_even(t_ms / Ts)`
//! exactly as offline binning does (SLAYER.md §6), so a time-sorted file
//! gives bin-for-bin the same input, and the same output spikes, as
//! [`crate::infer::CoreRunner`] on the whole file. A bin is processed as
//! soon as an event of a later bin arrives (and the last one at the end of
//! the stream); empty bins in between are processed too, since the network
//! evolves in every bin. Choices for imperfect streams:
//!
//! * **Late events** (whose bin was already processed) are **dropped and
//!   counted** (`late`), never merged into the current bin: every processed
//!   bin stays a function of its own events.
//! * **Timestamp outliers**: each event is held until the next one arrives.
//!   An event that lies more than one bin ahead of its successor, while the
//!   successor agrees with the events before, is a corrupt timestamp and is
//!   dropped (`time_outliers`); a single bad timestamp never drags the
//!   stream's clock forward.
//! * **Clock resets**: [`RESET_RUN`] events in a row that are more than a
//!   second late re-anchor the stream time (a new segment), as does a file
//!   header in mid-stream (files concatenated on a pipe). The network is
//!   not reset; stream time continues with the next bin.
//! * **Gaps** longer than `max_gap_ms` are cut to that length (the network
//!   has long settled by then).
//!
//! # Pacing
//!
//! With a speed `F` (`--realtime` is `F = 1`, `--speed F`), bin `k` is
//! released when the wall clock reaches its end, `(k + ½)·Ts / F` after the
//! first event, as if the events arrived at `t / F`; the lag of each bin
//! (how late its processing starts) and its end-to-end latency are
//! recorded. Without pacing, bins are processed as fast as they can be.
//!
//! # Two cores
//!
//! With [`StreamOptions::threads`] 2 the network is cut into a head and a
//! tail that run as a two-stage pipeline on two threads (`split.rs`): the
//! reading thread runs the head on bin `k + 1` while a worker runs the tail
//! on bin `k`; decisions are taken on the reading thread as the tail's
//! bins come back, in order. The spikes are the one-thread spikes, bit for
//! bit.

pub mod bin_buffer;
pub mod clock;
mod decider;
pub mod histogram;
mod labels;
pub mod latency;
pub mod map;
pub mod pacer;
pub mod source;
mod split;
pub mod stats;

use std::time::{Duration, Instant};

use serde::Serialize;
use std::sync::mpsc::{Receiver, SyncSender};

use slayer_core::{scratch_words, state_words, Engine, Event2d, Layer, Model, Phase};

use split::{Done, ToTail};

pub use clock::{RESET_LATE_MS, RESET_RUN};
pub use histogram::{Histogram, Quantiles};
pub use latency::LAG_EDGE_BINS;
pub use map::{InputMap, Mapped};
pub use pacer::Paced;
pub use source::{Chunk, Faults, Format, Origin, Source};
pub use stats::Counters;

use bin_buffer::{Added, BinBuffer};
use clock::{Clock, Placement, Release};
use decider::Decider;
use labels::Labels;
use latency::LatencyStats;
use pacer::{wait_until, Pacer};

use crate::data::LabelWindow;
use crate::error::{Error, Result};
use crate::infer::MAX_STATE_WORDS;

/// How to run a stream.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Bins of the sliding decision window (at least 1).
    pub window_bins: usize,
    /// Report the decision every this many bins (0: never).
    pub report_bins: u64,
    /// Also report whenever the decision changes.
    pub on_change: bool,
    /// Replay speed: `Some(1.0)` paces at recording speed, `Some(F)` `F`
    /// times faster; `None` runs as fast as possible.
    pub speed: Option<f64>,
    /// Longest gap between events kept as is, ms.
    pub max_gap_ms: f64,
    /// Sensor size; the stream's header (or the model's input) when `None`.
    pub sensor: Option<(u32, u32)>,
    /// Label windows (recording time) to score decisions against.
    pub labels: Vec<LabelWindow>,
    /// Time the parts of each bin (reading, binning, each layer's update,
    /// scatter and delay).
    pub profile: bool,
    /// Fault messages to pass on (the rest are only counted).
    pub max_fault_reports: usize,
    /// When paced, busy-wait for each bin's end instead of sleeping (lower
    /// and steadier latency; one core at 100 %).
    pub spin: bool,
    /// Threads running the network: 1, or 2 to cut it into two stages
    /// that run on two cores as a pipeline (same spikes, bit for bit; see
    /// `split.rs`). Not with `profile`.
    pub threads: usize,
    /// With two threads: the first layer of the tail stage, instead of
    /// timing the first bins on one core to choose it.
    pub cut: Option<usize>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            window_bins: 1,
            report_bins: 0,
            on_change: false,
            speed: None,
            max_gap_ms: 10_000.0,
            sensor: None,
            labels: Vec::new(),
            profile: false,
            max_fault_reports: source::DEFAULT_FAULT_REPORTS,
            spin: false,
            threads: 1,
            cut: None,
        }
    }
}

/// The running decision after a bin.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The bin just processed.
    pub bin: u64,
    /// Stream time of the bin's centre, ms (`bin · Ts`).
    pub t_ms: f64,
    /// Argmax of the output spike counts over the window (lowest index on
    /// ties); `None` while the window holds no output spike.
    pub class: Option<usize>,
    /// Output spike counts over the window.
    pub counts: &'a [u32],
    /// True when the class differs from the previous bin's.
    pub changed: bool,
    /// The label window the bin falls in, if labels were given.
    pub label: Option<usize>,
}

/// How the decisions went during one label window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WindowResult {
    /// Index of the window in the label file.
    pub index: usize,
    /// Its class (0-based).
    pub label: usize,
    /// Window start and end, recording time in µs.
    pub start_us: u64,
    /// End (exclusive).
    pub end_us: u64,
    /// The most frequent per-bin decision in the window (`None`: no output
    /// spikes for most of it).
    pub majority: Option<usize>,
    /// Fraction of the window's bins whose decision equals the label.
    pub agreement: f64,
    /// Bins of the window that were processed.
    pub bins: u64,
}

/// Receives what a stream produces, as it happens.
pub trait Sink {
    /// The output spikes of one bin (ascending output indices).
    fn on_bin(&mut self, _bin: u64, _outputs: &[u32]) {}
    /// A decision to report (every `report_bins`, or on change).
    fn on_decision(&mut self, _d: &Decision<'_>) {}
    /// A label window has ended.
    fn on_window(&mut self, _w: &WindowResult) {}
    /// One of the first few faults (bad packets, resynchronisation, ...).
    fn on_fault(&mut self, _msg: &str) {}
    /// Live statistics, about once per second of wall time.
    fn on_progress(&mut self, _p: &Progress) {}
}

/// A snapshot of the live statistics.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Wall time since the start, seconds.
    pub wall_s: f64,
    /// Stream time processed, seconds.
    pub stream_s: f64,
    /// The counters so far.
    pub counters: Counters,
    /// Events decoded per second since the last snapshot.
    pub events_per_s_in: f64,
    /// Events binned per second since the last snapshot.
    pub events_per_s_processed: f64,
    /// Per-bin processing latency so far, µs.
    pub latency: Quantiles,
    /// Lag of the last bin (paced runs), µs.
    pub lag_us: Option<f64>,
}

/// Wall time between two [`Progress`] snapshots.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// A sink that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {}

/// Spikes of one layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerActivity {
    /// Layer index.
    pub layer: usize,
    /// Layer kind.
    pub kind: &'static str,
    /// Its neurons (its width for delay layers).
    pub neurons: u64,
    /// Mean spikes per bin.
    pub spikes_per_bin: f64,
}

/// Where the time of a bin goes (mean µs per bin).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Profile {
    /// Reading and parsing the source.
    pub read_us: f64,
    /// Clock checks, mapping and binning of the events.
    pub bin_us: f64,
    /// The engine's input checks and output reporting.
    pub engine_io_us: f64,
    /// Neuron updates (all populations).
    pub update_us: f64,
    /// Synaptic input (scatter of spikes into accumulators).
    pub scatter_us: f64,
    /// Delay layers.
    pub delay_us: f64,
    /// Decisions, labels, sink.
    pub decide_us: f64,
    /// Per layer: update, scatter, delay µs per bin.
    pub layers: Vec<LayerProfile>,
}

/// One layer's share of [`Profile`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerProfile {
    /// Layer index.
    pub layer: usize,
    /// Layer kind.
    pub kind: &'static str,
    /// Neuron updates, µs per bin.
    pub update_us: f64,
    /// Scatter, µs per bin.
    pub scatter_us: f64,
    /// Delay, µs per bin.
    pub delay_us: f64,
}

/// Score of the decisions against the label windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LabelSummary {
    /// Windows scored.
    pub windows: u64,
    /// Windows whose majority decision equals the label.
    pub majority_correct: u64,
    /// `majority_correct / windows`.
    pub fraction: f64,
}

/// Everything a finished stream measured.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    /// Event, packet and fault counters.
    #[serde(flatten)]
    pub counters: Counters,
    /// Events dropped (see [`Counters::dropped`]).
    pub dropped: u64,
    /// Malformed data (see [`Counters::malformed`]).
    pub malformed: u64,
    /// Faults seen (each bad header, resync, truncation, ...).
    pub faults: u64,
    /// The first fault messages.
    pub first_faults: Vec<String>,
    /// The sensor → input mapping.
    pub input_map: String,
    /// Stream time covered (bins × Ts), seconds.
    pub stream_s: f64,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    /// Stream time / wall time.
    pub realtime_factor: f64,
    /// Events decoded per second of wall time.
    pub events_per_s_in: f64,
    /// Events binned per second of wall time.
    pub events_per_s_processed: f64,
    /// With two threads: the first layer of the tail stage (see
    /// [`StreamOptions::threads`]); `None` on one thread.
    pub cut_at: Option<usize>,
    /// Per-bin processing time (engine step, decision), µs.
    pub latency: Quantiles,
    /// Lag and end-to-end latency when paced.
    pub paced: Option<Paced>,
    /// Spikes per bin of every layer.
    pub activity: Vec<LayerActivity>,
    /// How often the decision changed.
    pub decision_changes: u64,
    /// The decision after the last bin.
    pub final_class: Option<usize>,
    /// Output spike counts over the whole stream.
    pub output_counts: Vec<u64>,
    /// Score against the label windows.
    pub labels: Option<LabelSummary>,
    /// Time per part of a bin (with `profile`).
    pub profile: Option<Profile>,
    /// Peak resident memory of the process (Linux `VmHWM`), KiB.
    pub max_rss_kib: Option<u64>,
}

/// Peak resident set size of this process, KiB (Linux only).
pub fn max_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Accumulated profile times, ns.
#[derive(Debug, Default)]
struct ProfileNs {
    read: u64,
    bin: u64,
    io: u64,
    decide: u64,
    /// Per layer: update, scatter, delay.
    layers: Vec<[u64; 3]>,
}

/// Who runs the network.
enum Runner<'m, 'a, 's> {
    /// One engine on this thread.
    One(Box<Engine<'m, 'a, 's>>),
    /// The head here, the tail on a worker thread (`split.rs`).
    Two(Box<TwoStages<'m, 'a, 's>>),
}

/// The head engine and the line to the worker running the tail.
struct TwoStages<'m, 'a, 's> {
    head: Engine<'m, 'a, 's>,
    /// Layers in the head.
    at: usize,
    tx: SyncSender<ToTail<'m, 'a, 's>>,
    rx: Receiver<Done>,
    /// Bins sent and not back yet.
    in_flight: std::collections::VecDeque<Bin>,
    /// Input lists returned by the worker, for reuse.
    free: Vec<Vec<u32>>,
}

/// A bin on its way through the engine.
#[derive(Debug, Clone, Copy)]
struct Bin {
    k: u64,
    /// When its processing began.
    start: Instant,
    /// When it was due (paced streams).
    deadline: Option<Instant>,
    /// Its recording time (µs), for the label windows; taken when the bin
    /// closes, as a new segment may re-anchor the clock before it is done.
    abs_us: Option<i64>,
}

/// Buffers and the worker line kept for the cut (see `run`).
struct Spare<'m, 'a, 's> {
    parts: &'m std::sync::OnceLock<(Model<'a>, Model<'a>)>,
    head_state: &'s mut [i32],
    head_scratch: &'s mut [i32],
    tail_state: &'s mut [i32],
    tail_scratch: &'s mut [i32],
    tx: SyncSender<ToTail<'m, 'a, 's>>,
    rx: Receiver<Done>,
}

/// The running pipeline (everything but the source): the clock places
/// each event in a bin, the bin buffer collects the bin's inputs, the
/// runner steps the network once per bin, the decider and the label
/// windows judge its outputs, the pacer holds each bin to the wall clock
/// and the latency statistics record how long it all took.
struct Pipeline<'e, 'm, 'a, 's> {
    /// Who runs the network.
    runner: Runner<'m, 'a, 's>,
    /// What a second thread needs, until the stream cuts the network.
    spare: Option<Spare<'m, 'a, 's>>,
    /// Layer times of the first bins (while `spare` waits).
    calibration: split::Calibration,
    /// Where to cut it (`StreamOptions::cut`).
    forced_cut: Option<usize>,
    /// ns of reading, binning and deciding (the reading thread's share).
    io_ns: u64,
    /// ns spent waiting for paced bins.
    wait_ns: u64,
    model: &'e Model<'a>,
    /// Sensor pixels → model inputs.
    map: InputMap,
    /// Which bin each event falls in.
    clock: Clock,
    /// The open bin's active inputs.
    bin: BinBuffer,
    /// Output spikes of the last bin (one thread).
    outs: Vec<u32>,
    /// The sliding-window decision.
    decider: Decider,
    /// Decisions scored against label windows.
    labels: Option<Labels>,
    report_bins: u64,
    on_change: bool,
    /// When each bin is due (paced streams).
    pacer: Pacer,
    /// Processing time, lag and end-to-end latency of the bins.
    latency: LatencyStats,
    output_counts: Vec<u64>,
    layer_spikes: Vec<u64>,
    profile: Option<ProfileNs>,
    engine_ns: u64,
    t_run: Instant,
    last_progress: (Instant, u64, u64),
}

impl Pipeline<'_, '_, '_, '_> {
    /// Handles one decoded event (held one event back for the clock check).
    fn event(&mut self, e: Event2d, f: &mut Faults, sink: &mut dyn Sink) {
        let m = self.map.map(&e);
        if m == Mapped::OutOfRange {
            f.counters.out_of_range += 1;
            return;
        }
        match self.clock.hold(e, m) {
            Release::Nothing => {}
            Release::Accept(p, pm) => self.accept(p, pm, f, sink),
            Release::Outlier(p) => {
                f.counters.time_outliers += 1;
                let (t, next) = (p.t_us, e.t_us);
                f.report(|| {
                    format!("event at t = {t} µs lies ahead of its successor (t = {next} µs): dropped as a corrupt timestamp")
                });
            }
        }
    }

    /// Accepts the held event (end of stream or segment).
    fn flush_pending(&mut self, f: &mut Faults, sink: &mut dyn Sink) {
        if let Some((p, pm)) = self.clock.take_held() {
            self.accept(p, pm, f, sink);
        }
    }

    /// Starts a new segment: the next event's time base begins one bin
    /// after the current one.
    fn new_segment(&mut self, f: &mut Faults, sink: &mut dyn Sink) {
        self.flush_pending(f, sink);
        if self.clock.started() {
            f.counters.segments += 1;
            // The open bin ends with its recording.
            self.step(f, sink);
            self.clock.new_segment();
        }
    }

    /// Places an accepted event: processes the bins before its own (as the
    /// clock says), then adds it to the open bin.
    fn accept(&mut self, p: Event2d, pm: Mapped, f: &mut Faults, sink: &mut dyn Sink) {
        let stream_us = self.clock.stream_time(p.t_us, &mut f.counters.segments);
        self.pacer.start(stream_us);
        match self.clock.place(stream_us, p.t_us, f) {
            Placement::Late => return,
            Placement::Bin(b) => {
                while self.clock.bin() < b {
                    self.step(f, sink);
                }
            }
            Placement::Reset => {
                self.step(f, sink);
                self.clock.anchor(Some(p.t_us));
            }
            Placement::Gap { end } => {
                while self.clock.bin() < end {
                    self.step(f, sink);
                }
                self.clock.anchor(Some(p.t_us));
            }
        }
        match pm {
            Mapped::Input(i) => {
                f.counters.binned += 1;
                if self.bin.add(i) == Added::Merged {
                    f.counters.merged += 1;
                }
            }
            Mapped::Cropped => f.counters.cropped += 1,
            Mapped::OutOfRange => f.counters.out_of_range += 1,
        }
    }

    /// Processes the open bin and opens the next.
    fn step(&mut self, f: &mut Faults, sink: &mut dyn Sink) {
        let k = self.clock.bin();
        let deadline = self.pacer.deadline(k);
        if let Some(d) = deadline {
            self.wait(d, f, sink);
        }
        let start = Instant::now();
        if let Some(d) = deadline {
            self.latency
                .record_lag(ns(start.saturating_duration_since(d)));
        }
        let bin = Bin {
            k,
            start,
            deadline,
            abs_us: self.clock.recording_us(k),
        };
        match &mut self.runner {
            Runner::One(engine) => {
                self.outs.clear();
                let outs = &mut self.outs;
                let timed = self.profile.is_some() || self.spare.is_some();
                if timed {
                    let mut t = start;
                    let mut prof = self.profile.as_mut();
                    let calibration = &mut self.calibration;
                    engine.step_observed(
                        self.bin.active(),
                        |j| outs.push(j),
                        |l, phase| {
                            let now = Instant::now();
                            let d = ns(now - t);
                            t = now;
                            let slot = match phase {
                                Phase::Input | Phase::Output => None,
                                Phase::Update => Some(0),
                                Phase::Scatter => Some(1),
                                Phase::Delay => Some(2),
                            };
                            if slot.is_some() {
                                calibration.add(l, d);
                            }
                            if let Some(prof) = prof.as_mut() {
                                match (slot, prof.layers.get_mut(l)) {
                                    (Some(s), Some(row)) => row[s] += d,
                                    _ => prof.io += d,
                                }
                            }
                        },
                    );
                } else {
                    engine.step(self.bin.active(), |j| outs.push(j));
                }
                for (c, n) in self
                    .layer_spikes
                    .iter_mut()
                    .zip(split::spike_counts(engine))
                {
                    *c += u64::from(n);
                }
                if self.spare.is_some() {
                    self.calibration.end_bin(self.bin.active().len());
                }
            }
            Runner::Two(two) => {
                let mut spikes = two.free.pop().unwrap_or_default();
                spikes.clear();
                two.head.step(self.bin.active(), |j| spikes.push(j));
                // (The head's layers are the first ones.)
                for (c, n) in self
                    .layer_spikes
                    .iter_mut()
                    .zip(split::spike_counts(&two.head))
                {
                    *c += u64::from(n);
                }
                two.in_flight.push_back(bin);
                if two.tx.send(ToTail::Bin { k, spikes }).is_err() {
                    // The worker died (it cannot panic on a valid model): stop
                    // waiting for it; the bin is lost.
                    two.in_flight.pop_back();
                }
            }
        }
        let t_engine = Instant::now();
        self.engine_ns += ns(t_engine - start);
        self.bin.clear();
        f.counters.bins += 1;
        match self.runner {
            Runner::One(_) => {
                let outs = std::mem::take(&mut self.outs);
                self.finish_bin(bin, &outs, f, sink);
                self.outs = outs;
            }
            Runner::Two(_) => self.collect(false, f, sink),
        }
        self.clock.advance();
        if self.clock.bin() == split::CALIBRATION_BINS && self.spare.is_some() {
            self.cut();
        }
        if k.is_multiple_of(64) {
            let end = Instant::now();
            let (t, ev_in, ev_binned) = self.last_progress;
            let dt = end.saturating_duration_since(t);
            if dt >= PROGRESS_EVERY {
                let c = f.counters;
                let secs = dt.as_secs_f64();
                sink.on_progress(&Progress {
                    wall_s: (end - self.t_run).as_secs_f64(),
                    stream_s: c.bins as f64 * self.clock.ts_us() * 1e-6,
                    counters: c,
                    events_per_s_in: (c.events_in - ev_in) as f64 / secs,
                    events_per_s_processed: (c.binned - ev_binned) as f64 / secs,
                    latency: self.latency.processing(),
                    lag_us: deadline.map(|_| self.latency.final_lag_us()),
                });
                self.last_progress = (end, c.events_in, c.binned);
            }
        }
    }

    /// Waits for a paced bin's end, taking the worker's results meanwhile.
    fn wait(&mut self, deadline: Instant, f: &mut Faults, sink: &mut dyn Sink) {
        let t0 = Instant::now();
        self.take_while(f, sink, |rx| split::recv_until(rx, deadline));
        wait_until(deadline, self.pacer.spin());
        self.wait_ns += ns(t0.elapsed());
    }

    /// Takes the worker's finished bins: those ready now, or (`all`) every
    /// bin in flight.
    fn collect(&mut self, all: bool, f: &mut Faults, sink: &mut dyn Sink) {
        if all {
            self.take_while(f, sink, |rx| rx.recv().ok());
        } else {
            self.take_while(f, sink, |rx| rx.try_recv().ok());
        }
    }

    /// Takes the worker's bins as `next` hands them out, while bins are in
    /// flight (nothing on one thread).
    fn take_while(
        &mut self,
        f: &mut Faults,
        sink: &mut dyn Sink,
        next: impl Fn(&Receiver<Done>) -> Option<Done>,
    ) {
        loop {
            let done = match &self.runner {
                Runner::Two(two) if !two.in_flight.is_empty() => next(&two.rx),
                _ => None,
            };
            let Some(done) = done else {
                return;
            };
            self.take(done, f, sink);
        }
    }

    /// One bin back from the worker.
    fn take(&mut self, mut done: Done, f: &mut Faults, sink: &mut dyn Sink) {
        let Runner::Two(two) = &mut self.runner else {
            return;
        };
        let Some(bin) = two.in_flight.pop_front() else {
            return;
        };
        debug_assert_eq!(bin.k, done.k);
        for (c, &n) in self.layer_spikes.iter_mut().skip(two.at).zip(&done.counts) {
            *c += u64::from(n);
        }
        two.free.push(std::mem::take(&mut done.spikes));
        self.finish_bin(bin, &done.outs, f, sink);
    }

    /// The decision and statistics of `bin`, whose output spikes are `outs`.
    fn finish_bin(&mut self, bin: Bin, outs: &[u32], f: &mut Faults, sink: &mut dyn Sink) {
        let Bin {
            k,
            start,
            deadline,
            abs_us,
        } = bin;
        let t_decide = Instant::now();
        f.counters.output_spikes += outs.len() as u64;
        for &o in outs {
            if let Some(c) = self.output_counts.get_mut(o as usize) {
                *c += 1;
            }
        }
        let changed = self.decider.push(outs);
        let label = match (self.labels.as_mut(), abs_us) {
            (Some(l), Some(abs)) => l.bin(abs, self.decider.class, sink),
            _ => None,
        };
        sink.on_bin(k, outs);
        let report = self.report_bins > 0 && (k + 1) % self.report_bins == 0;
        if report || (changed && self.on_change) {
            sink.on_decision(&Decision {
                bin: k,
                t_ms: k as f64 * self.clock.ts_us() / 1000.0,
                class: self.decider.class,
                counts: &self.decider.counts,
                changed,
                label,
            });
        }
        let end = Instant::now();
        self.latency.record_processing(ns(end - start));
        self.io_ns += ns(end - t_decide);
        if let Some(prof) = self.profile.as_mut() {
            prof.decide += ns(end - t_decide);
        }
        if let Some(d) = deadline {
            self.latency
                .record_end_to_end(ns(end.saturating_duration_since(d)));
        }
    }

    /// The first layer of the worker's stage, once the network is cut.
    fn cut_at(&self) -> Option<usize> {
        match &self.runner {
            Runner::One(_) => None,
            Runner::Two(two) => Some(two.at),
        }
    }

    /// After the calibration bins: cuts the network where the two stages
    /// take about equally long and hands the tail to the worker (or stays
    /// on one thread when no cut gains).
    fn cut(&mut self) {
        let Some(spare) = self.spare.take() else {
            return;
        };
        let io = self.calibration.io_share(self.io_ns);
        let Some(at) = self
            .forced_cut
            .or_else(|| split::choose_cut(&self.calibration.cost, io))
        else {
            return;
        };
        let Runner::One(whole) = &self.runner else {
            return;
        };
        let Some(parts) = self.model.split_at(at) else {
            return;
        };
        let (head_m, tail_m) = spare.parts.get_or_init(|| parts);
        let engines = Engine::with_scratch(head_m, spare.head_state, spare.head_scratch).and_then(
            |mut head| {
                head.load_state(whole, 0)?;
                let mut tail = Engine::with_scratch(tail_m, spare.tail_state, spare.tail_scratch)?;
                tail.load_state(whole, at)?;
                Ok((head, tail))
            },
        );
        // (Cannot fail: the parts come from this model and the buffers are
        // sized for the whole; if it did, the stream stays on one thread.)
        let Ok((head, tail)) = engines else {
            return;
        };
        if spare.tx.send(ToTail::Start(Box::new(tail))).is_err() {
            return;
        }
        self.runner = Runner::Two(Box::new(TwoStages {
            head,
            at,
            tx: spare.tx,
            rx: spare.rx,
            in_flight: std::collections::VecDeque::with_capacity(split::QUEUE_BINS + 1),
            free: Vec::new(),
        }));
    }
}

/// Bins a two-thread stream runs on one core, timing each layer, before it
/// cuts the network (see [`StreamOptions::threads`]).
pub fn split_calibration_bins() -> u64 {
    split::CALIBRATION_BINS
}

/// How long a stream may deliver no events before it says so (and again
/// after as long).
pub const IDLE_WARNING: std::time::Duration = std::time::Duration::from_secs(5);

/// Streams `source` through `model` until the source ends, reporting to
/// `sink` as it goes.
pub fn run(
    model: &Model<'_>,
    source: &mut Source,
    opts: &StreamOptions,
    sink: &mut dyn Sink,
) -> Result<StreamReport> {
    let t_run = Instant::now();
    let shape = model.input_shape();
    let sensor = opts
        .sensor
        .or(source.sensor())
        .unwrap_or((shape.w, shape.h));
    source.set_sensor(sensor.0, sensor.1);
    let map = InputMap::new(sensor, shape);
    let words = state_words(model);
    if words > MAX_STATE_WORDS {
        return Err(Error::Config(format!(
            "the model needs {words} state words, more than the host runner allows ({MAX_STATE_WORDS})"
        )));
    }
    if let Some(s) = opts.speed {
        if !(s.is_finite() && s > 0.0) {
            return Err(Error::Config(format!("speed {s} must be positive")));
        }
    }
    let mut state = vec![0i32; words];
    let scratch_len = scratch_words(model).min(MAX_STATE_WORDS);
    let mut scratch = vec![0i32; scratch_len];
    let engine = Engine::with_scratch(model, &mut state, &mut scratch)
        .map_err(|e| Error::Config(format!("core engine: {e}")))?;
    let two = match opts.threads {
        1 if opts.cut.is_some() => {
            return Err(Error::Config(
                "a cut needs two threads (--threads 2)".into(),
            ))
        }
        1 => false,
        2 if opts.profile => {
            return Err(Error::Config(
                "--profile times the layers on one core: use it with --threads 1".into(),
            ))
        }
        2 => {
            if let Some(at) = opts.cut {
                if at == 0 || at >= model.layers().len() {
                    return Err(Error::Config(format!(
                        "cut {at}: the tail stage must start at a layer from 1 to {} (the model has {} layers)",
                        model.layers().len().saturating_sub(1),
                        model.layers().len()
                    )));
                }
            }
            true
        }
        n => {
            return Err(Error::Config(format!(
                "--threads {n}: the stream runs on 1 or 2 threads"
            )))
        }
    };
    // Spare buffers for the head and tail engines of a cut (each as large
    // as the whole: the cut is chosen later).
    let spare_len = |n: usize| if two { n } else { 0 };
    let mut head_state = vec![0i32; spare_len(words)];
    let mut tail_state = vec![0i32; spare_len(words)];
    let mut head_scratch = vec![0i32; spare_len(scratch_len)];
    let mut tail_scratch = vec![0i32; spare_len(scratch_len)];
    let parts = std::sync::OnceLock::new();
    std::thread::scope(|scope| {
        let spare = two.then(|| {
            let (tx, worker_rx) = std::sync::mpsc::sync_channel(split::QUEUE_BINS);
            let (worker_tx, rx) = std::sync::mpsc::sync_channel(split::QUEUE_BINS);
            scope.spawn(move || split::tail_worker(worker_rx, worker_tx));
            Spare {
                parts: &parts,
                head_state: &mut head_state,
                head_scratch: &mut head_scratch,
                tail_state: &mut tail_state,
                tail_scratch: &mut tail_scratch,
                tx,
                rx,
            }
        });
        stream_in(model, source, opts, sink, engine, spare, map, t_run)
    })
}

/// The body of [`run`], inside the worker thread's scope.
#[allow(clippy::too_many_arguments)]
fn stream_in<'m, 'a, 's>(
    model: &'m Model<'a>,
    source: &mut Source,
    opts: &StreamOptions,
    sink: &mut dyn Sink,
    engine: Engine<'m, 'a, 's>,
    spare: Option<Spare<'m, 'a, 's>>,
    map: InputMap,
    t_run: Instant,
) -> Result<StreamReport> {
    let ts_us = f64::from(model.ts()) * 1000.0;
    let outputs = model.outputs() as usize;
    let n_layers = model.layers().len();
    let mut f = Faults::new(opts.max_fault_reports);
    let mut p = Pipeline {
        runner: Runner::One(Box::new(engine)),
        calibration: split::Calibration::new(if spare.is_some() { n_layers } else { 0 }),
        spare,
        forced_cut: opts.cut,
        io_ns: 0,
        wait_ns: 0,
        model,
        map,
        clock: Clock::new(ts_us, opts.max_gap_ms, source.origin()),
        bin: BinBuffer::new(model.inputs() as usize),
        outs: Vec::with_capacity(outputs),
        decider: Decider::new(outputs, opts.window_bins),
        labels: (!opts.labels.is_empty()).then(|| Labels::new(opts.labels.clone(), outputs)),
        report_bins: opts.report_bins,
        on_change: opts.on_change,
        pacer: Pacer::new(opts.speed, opts.spin, ts_us),
        latency: LatencyStats::new(),
        output_counts: vec![0; outputs],
        layer_spikes: vec![0; n_layers],
        profile: opts.profile.then(|| ProfileNs {
            layers: vec![[0; 3]; n_layers],
            ..ProfileNs::default()
        }),
        engine_ns: 0,
        t_run,
        last_progress: (t_run, 0, 0),
    };
    if p.forced_cut.is_some() {
        p.cut();
    }
    let mut events = Vec::with_capacity(source::CHUNK_EVENTS);
    let mut first_faults = Vec::new();
    // A stream that delivers no events for a while says so, every
    // IDLE_WARNING, with what it read and skipped meanwhile.
    let (mut idle_since, mut idle_events, mut idle_said) = (Instant::now(), 0u64, Instant::now());
    loop {
        let t0 = Instant::now();
        events.clear();
        let chunk = source
            .next(&mut events, &mut f)
            .map_err(|e| Error::Config(format!("reading the stream: {e}")))?;
        let t1 = Instant::now();
        let (engine_before, wait_before) = (p.engine_ns, p.wait_ns);
        match chunk {
            Chunk::End => break,
            Chunk::NewSegment => p.new_segment(&mut f, sink),
            Chunk::Events => {
                for &e in &events {
                    p.event(e, &mut f, sink);
                }
            }
        }
        if f.counters.events_in != idle_events {
            (idle_events, idle_since) = (f.counters.events_in, t0);
        } else if idle_since.elapsed() >= IDLE_WARNING && idle_said.elapsed() >= IDLE_WARNING {
            idle_said = Instant::now();
            let c = &f.counters;
            let (secs, read, skipped) = (idle_since.elapsed().as_secs(), c.bytes, c.skipped_bytes);
            f.report(|| {
                format!(
                    "no events for {secs} s: {read} bytes read, {skipped} skipped searching for packets"
                )
            });
        }
        for m in f.take_messages() {
            sink.on_fault(&m);
            first_faults.push(m);
        }
        let t2 = Instant::now();
        let engine = p.engine_ns - engine_before;
        let waited = p.wait_ns - wait_before;
        p.io_ns += ns(t2 - t0).saturating_sub(engine + waited);
        if let Some(prof) = p.profile.as_mut() {
            prof.read += ns(t1 - t0);
            prof.bin += ns(t2 - t1).saturating_sub(engine + waited);
        }
    }
    p.flush_pending(&mut f, sink);
    if p.clock.started() {
        p.step(&mut f, sink);
    }
    p.collect(true, &mut f, sink);
    if let Some(l) = p.labels.as_mut() {
        l.finish(sink);
    }
    for m in f.take_messages() {
        sink.on_fault(&m);
        first_faults.push(m);
    }
    let wall_s = t_run.elapsed().as_secs_f64().max(1e-9);
    let c = f.counters;
    let stream_s = c.bins as f64 * ts_us * 1e-6;
    let bins = c.bins.max(1) as f64;
    let paced = opts.speed.map(|speed| {
        p.latency
            .paced(speed, c.events_in as f64 / (stream_s / speed).max(1e-9))
    });
    let activity = model
        .layers()
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l, Layer::Flatten))
        .map(|(i, l)| LayerActivity {
            layer: i,
            kind: l.kind(),
            neurons: u64::from(p.model.width_after(i).unwrap_or(0)),
            spikes_per_bin: p.layer_spikes[i] as f64 / bins,
        })
        .collect();
    let profile = p.profile.as_ref().map(|prof| {
        let us = |v: u64| v as f64 / 1000.0 / bins;
        let layers: Vec<LayerProfile> = model
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| LayerProfile {
                layer: i,
                kind: l.kind(),
                update_us: us(prof.layers[i][0]),
                scatter_us: us(prof.layers[i][1]),
                delay_us: us(prof.layers[i][2]),
            })
            .collect();
        let sum = |s: usize| us(prof.layers.iter().map(|r| r[s]).sum());
        Profile {
            read_us: us(prof.read),
            bin_us: us(prof.bin),
            engine_io_us: us(prof.io),
            update_us: sum(0),
            scatter_us: sum(1),
            delay_us: sum(2),
            decide_us: us(prof.decide),
            layers,
        }
    });
    let labels = p.labels.as_ref().map(|l| LabelSummary {
        windows: l.scored,
        majority_correct: l.correct,
        fraction: if l.scored == 0 {
            0.0
        } else {
            l.correct as f64 / l.scored as f64
        },
    });
    Ok(StreamReport {
        counters: c,
        dropped: c.dropped(),
        malformed: c.malformed(),
        faults: f.total,
        first_faults,
        input_map: p.map.describe(),
        stream_s,
        wall_s,
        realtime_factor: stream_s / wall_s,
        events_per_s_in: c.events_in as f64 / wall_s,
        events_per_s_processed: c.binned as f64 / wall_s,
        latency: p.latency.processing(),
        paced,
        activity,
        decision_changes: p.decider.changes,
        final_class: p.decider.class,
        output_counts: p.output_counts.clone(),
        labels,
        profile,
        max_rss_kib: max_rss_kib(),
        cut_at: p.cut_at(),
    })
}

impl StreamReport {
    /// Spikes per bin of every layer, flatten layers included (as 0).
    pub fn activity_by_layer(&self) -> Vec<f64> {
        let n = self.activity.iter().map(|a| a.layer + 1).max().unwrap_or(0);
        let mut v = vec![0.0; n.max(self.profile.as_ref().map_or(0, |p| p.layers.len()))];
        for a in &self.activity {
            v[a.layer] = a.spikes_per_bin;
        }
        v
    }
}
