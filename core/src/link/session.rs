//! The board's side of the link: frames in, bins stepped, decisions out.

use crate::engine::{state_words, Engine, EngineError};
use crate::model::Model;

use super::binner::{bin_of_us, Binner, Mapped, SensorMap};
use super::frame::FrameError;
use super::message::{
    Counters, ErrorCode, FromBoard, Identity, StepCost, ToBoard, WireEvent, MAX_OUTPUTS,
};
use super::DEFAULT_MAX_GAP_BINS;

/// Runs one engine step; the firmware times it, the host reference does not.
pub trait Stepper {
    /// Steps `engine` on the active `input` indices, adding output spikes
    /// to `counts`.
    fn step(&mut self, engine: &mut Engine<'_, '_, '_>, input: &[u32], counts: &mut [u32]);

    /// The cost of the steps since the last [`Stepper::reset`] and how many
    /// took longer than a bin (0 when not measured).
    fn cost(&self) -> (StepCost, u32) {
        (StepCost::default(), 0)
    }

    /// Forgets the measured cost (a new recording).
    fn reset(&mut self) {}
}

/// The plain engine step, unmeasured.
#[derive(Debug, Default, Clone, Copy)]
pub struct Untimed;

impl Stepper for Untimed {
    fn step(&mut self, engine: &mut Engine<'_, '_, '_>, input: &[u32], counts: &mut [u32]) {
        engine.step_counts(input, counts);
    }
}

/// Why a session cannot start; see [`SessionError::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionError {
    /// The wire code.
    pub code: ErrorCode,
    /// A number that goes with it (e.g. the state words needed).
    pub detail: u32,
}

impl From<EngineError> for SessionError {
    fn from(e: EngineError) -> Self {
        let detail = match e {
            EngineError::StateTooSmall { needed, .. } => u32::try_from(needed).unwrap_or(u32::MAX),
            _ => 0,
        };
        Self {
            code: ErrorCode::ArenaTooSmall,
            detail,
        }
    }
}

/// One board's link session over a model, its state arena and binning
/// buffers.
pub struct Session<'m, 'a, 's, 'b> {
    engine: Engine<'m, 'a, 's>,
    binner: Binner<'b>,
    map: SensorMap,
    identity: Identity,
    ts_us: u32,
    outputs: usize,
    max_gap_bins: u64,
    window: u32,
    /// The open bin.
    k_cur: u64,
    /// Stream time = event time + `shift_us` (moved when a gap is cut).
    shift_us: i64,
    started: bool,
    flushed: bool,
    next_seq: u32,
    window_counts: [u32; MAX_OUTPUTS],
    total: [u32; MAX_OUTPUTS],
    counters: Counters,
}

impl<'m, 'a, 's, 'b> Session<'m, 'a, 's, 'b> {
    /// A session for `model` (whose image has CRC `model_crc`), with its
    /// state in `state` and the binner over `seen` (bitset words) and
    /// `active` (index list). `target` names the board in its identity;
    /// `instructions_per_tick` converts its step cost under QEMU.
    pub fn new(
        model: &'m Model<'a>,
        model_crc: u32,
        state: &'s mut [i32],
        binner: Binner<'b>,
        target: &str,
        instructions_per_tick: u32,
    ) -> Result<Self, SessionError> {
        let err = |code, detail| SessionError { code, detail };
        let ts_us = model.ts() * 1000.0;
        let ts_int = libm::roundf(ts_us);
        if !(1.0..=1e9).contains(&ts_int) || ts_us != ts_int {
            return Err(err(ErrorCode::UnsupportedTs, 0));
        }
        if model.outputs() as usize > MAX_OUTPUTS {
            return Err(err(ErrorCode::TooManyOutputs, model.outputs()));
        }
        if (model.inputs() as usize) > binner.capacity() {
            return Err(err(ErrorCode::TooManyInputs, model.inputs()));
        }
        let arena_words = u32::try_from(state.len()).unwrap_or(u32::MAX);
        let engine = Engine::new(model, state)?;
        let shape = model.input_shape();
        let sensor = (
            shape.w.min(u32::from(u16::MAX)),
            shape.h.min(u32::from(u16::MAX)),
        );
        let mut name = heapless::String::new();
        for c in target.chars() {
            if name.push(c).is_err() {
                break;
            }
        }
        let identity = Identity {
            target: name,
            model_crc,
            inputs: model.inputs(),
            outputs: model.outputs(),
            ts_us: ts_int as u32,
            state_words: u32::try_from(state_words(model)).unwrap_or(u32::MAX),
            arena_words,
            instructions_per_tick,
            sensor: (sensor.0 as u16, sensor.1 as u16),
        };
        Ok(Self {
            engine,
            binner,
            map: SensorMap::new(sensor, shape),
            identity,
            ts_us: ts_int as u32,
            outputs: model.outputs() as usize,
            max_gap_bins: u64::from(DEFAULT_MAX_GAP_BINS),
            window: 1,
            k_cur: 0,
            shift_us: 0,
            started: false,
            flushed: false,
            next_seq: 0,
            window_counts: [0; MAX_OUTPUTS],
            total: [0; MAX_OUTPUTS],
            counters: Counters::default(),
        })
    }

    /// What the board runs.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The counters since the last reset.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a frame the reader dropped.
    pub fn frame_error(&mut self, e: FrameError) {
        let c = &mut self.counters;
        match e {
            FrameError::Crc => c.crc_errors = c.crc_errors.saturating_add(1),
            FrameError::Overflow => c.overflows = c.overflows.saturating_add(1),
            _ => c.bad_frames = c.bad_frames.saturating_add(1),
        }
    }

    /// Counts bytes the receive ring had no room for.
    pub fn rx_overrun(&mut self, bytes: u32) {
        self.counters.rx_overruns = self.counters.rx_overruns.saturating_add(bytes);
    }

    /// Handles one message, sending the answers through `send`.
    pub fn handle(
        &mut self,
        msg: &ToBoard,
        stepper: &mut impl Stepper,
        send: &mut impl FnMut(&FromBoard),
    ) {
        self.counters.frames = self.counters.frames.saturating_add(1);
        match msg {
            ToBoard::Ping { nonce } => send(&FromBoard::Pong {
                nonce: *nonce,
                identity: self.identity.clone(),
            }),
            ToBoard::Reset { width, height } => {
                self.reset(u32::from(*width), u32::from(*height), stepper);
                send(&FromBoard::Ready(self.identity.clone()));
            }
            ToBoard::SetWindow { bins } => {
                self.window = (*bins).max(1);
                self.window_counts = [0; MAX_OUTPUTS];
            }
            ToBoard::Events { seq, t_us, events } => {
                if self.sequence(*seq) {
                    self.flushed = false;
                    for e in events {
                        self.event(*t_us, e, stepper, send);
                    }
                }
                send(&FromBoard::Ack { seq: *seq });
            }
            ToBoard::Flush { seq } => {
                if *seq > self.next_seq {
                    self.count_lost(*seq - self.next_seq);
                    self.next_seq = *seq;
                }
                if !self.flushed {
                    self.flushed = true;
                    if self.started {
                        self.step(stepper, send);
                    }
                }
                let (cost, late) = stepper.cost();
                self.counters.bins_late = late;
                let mut counts = heapless::Vec::new();
                for &c in &self.total[..self.outputs] {
                    let _ = counts.push(c);
                }
                send(&FromBoard::Summary {
                    counts,
                    counters: self.counters,
                    cost,
                });
            }
        }
    }

    fn reset(&mut self, width: u32, height: u32, stepper: &mut impl Stepper) {
        self.engine.reset();
        self.binner.reset();
        stepper.reset();
        self.map = SensorMap::new((width, height), self.map.shape);
        self.identity.sensor = (self.map.sensor.0 as u16, self.map.sensor.1 as u16);
        self.window = 1;
        self.k_cur = 0;
        self.shift_us = 0;
        self.started = false;
        self.flushed = false;
        self.next_seq = 0;
        self.window_counts = [0; MAX_OUTPUTS];
        self.total = [0; MAX_OUTPUTS];
        self.counters = Counters::default();
    }

    fn count_lost(&mut self, n: u32) {
        self.counters.frames_lost = self.counters.frames_lost.saturating_add(n);
    }

    /// Accounts for frame `seq`; false for a repeated or old frame.
    fn sequence(&mut self, seq: u32) -> bool {
        if seq < self.next_seq {
            return false;
        }
        self.count_lost(seq - self.next_seq);
        self.next_seq = seq.saturating_add(1);
        true
    }

    fn event(
        &mut self,
        base_us: u64,
        e: &WireEvent,
        stepper: &mut impl Stepper,
        send: &mut impl FnMut(&FromBoard),
    ) {
        self.counters.events = self.counters.events.saturating_add(1);
        self.started = true;
        let t = i64::try_from(base_us.saturating_add(u64::from(e.dt_us))).unwrap_or(i64::MAX);
        let stream_us = t.saturating_add(self.shift_us);
        let Ok(stream_us) = u64::try_from(stream_us) else {
            self.counters.late = self.counters.late.saturating_add(1);
            return;
        };
        let mut b = bin_of_us(stream_us, self.ts_us);
        if b < self.k_cur {
            self.counters.late = self.counters.late.saturating_add(1);
            return;
        }
        if b > self.k_cur + self.max_gap_bins {
            // A long silence: `max_gap` bins of it, then this event opens
            // the next bin (as `slayer stream` cuts gaps).
            self.counters.gaps_cut = self.counters.gaps_cut.saturating_add(1);
            let end = self.k_cur + self.max_gap_bins;
            while self.k_cur < end {
                self.step(stepper, send);
            }
            let anchor = (self.k_cur as i64).saturating_mul(i64::from(self.ts_us));
            self.shift_us = anchor.saturating_sub(t);
            b = self.k_cur;
        }
        while self.k_cur < b {
            self.step(stepper, send);
        }
        match self.map.map(e.x, e.y, e.p) {
            Mapped::Input(i) => {
                self.binner.set(i);
            }
            Mapped::Cropped => self.counters.cropped = self.counters.cropped.saturating_add(1),
            Mapped::OutOfRange => {
                self.counters.out_of_range = self.counters.out_of_range.saturating_add(1);
            }
        }
    }

    /// Processes the open bin and opens the next.
    fn step(&mut self, stepper: &mut impl Stepper, send: &mut impl FnMut(&FromBoard)) {
        let mut counts = [0u32; MAX_OUTPUTS];
        stepper.step(
            &mut self.engine,
            self.binner.active(),
            &mut counts[..self.outputs],
        );
        self.binner.clear();
        for ((w, t), c) in self
            .window_counts
            .iter_mut()
            .zip(self.total.iter_mut())
            .zip(counts)
        {
            *w = w.saturating_add(c);
            *t = t.saturating_add(c);
        }
        self.counters.bins = self.counters.bins.saturating_add(1);
        let k = self.k_cur;
        self.k_cur += 1;
        if self.k_cur % u64::from(self.window) == 0 {
            let w = &self.window_counts[..self.outputs];
            let mut class: Option<usize> = None;
            for (i, &c) in w.iter().enumerate() {
                if c > 0 && class.is_none_or(|b| c > w[b]) {
                    class = Some(i);
                }
            }
            let mut counts = heapless::Vec::new();
            for &c in w {
                let _ = counts.push(c);
            }
            send(&FromBoard::Decision {
                window: u32::try_from(k / u64::from(self.window)).unwrap_or(u32::MAX),
                last_bin: u32::try_from(k).unwrap_or(u32::MAX),
                class: class.map(|c| c as u8),
                counts,
            });
            self.window_counts = [0; MAX_OUTPUTS];
        }
    }
}
