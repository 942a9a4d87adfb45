//! The host side of the firmware's serial link (`slayer link`): sends event
//! recordings to a board as [`slayer_core::link`] frames, collects its
//! decisions and counters, and runs the same frames through the host core
//! engine to check that both agree, decision for decision.
//!
//! A recording is read with the stream sources (AEDAT 3.1 / 4, `.bs2`,
//! N-MNIST `.bin`, Prophesee `.raw`), its stream time starting where
//! `slayer stream` starts it, and cut into frames of at most
//! [`MAX_EVENTS`] events, each with an absolute base time. Frames go out as
//! fast as the board acknowledges them (a few in flight) or paced at
//! recording speed. Optionally the outgoing bytes are damaged (seeded flips
//! and drops) to exercise the board's recovery; the host reference then
//! decodes the same damaged bytes, so the expected counters and decisions
//! are known exactly.

mod port;

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use slayer_core::link::{
    self, Binner, Counters, FrameReader, FromBoard, Identity, Session, StepCost, ToBoard, Untimed,
    WireEvent, MAX_EVENTS, MAX_FRAME,
};
use slayer_core::{state_words, Event2d, Model};

use crate::error::{Error, Result};
use crate::stream::{Chunk, Faults, Origin, Source};

pub use port::Port;

/// How to drive a board.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Bins per decision window.
    pub window_bins: u32,
    /// `Some(F)`: send each frame when the wall clock reaches its time / F;
    /// `None`: as fast as the board acknowledges.
    pub speed: Option<f64>,
    /// Event frames sent ahead of the board's acknowledgements.
    pub in_flight: u32,
    /// How long to wait for an answer before resending a control message
    /// or taking unacknowledged frames as lost.
    pub timeout: Duration,
    /// Damage the outgoing event frames: probability per byte and seed.
    pub damage: Option<(f64, u64)>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        Self {
            window_bins: 1,
            speed: None,
            in_flight: 4,
            timeout: Duration::from_secs(5),
            damage: None,
        }
    }
}

/// An event recording, in stream time (µs from the stream's start).
#[derive(Debug, Clone)]
pub struct Recording {
    /// Where it came from.
    pub name: String,
    /// Sensor width and height.
    pub sensor: (u16, u16),
    /// The file's timestamp of stream time 0 (µs).
    pub origin_us: u64,
    /// Events with `t_us` in stream time.
    pub events: Vec<Event2d>,
}

impl Recording {
    /// The events with file timestamps in `[from_us, to_us)`, as a
    /// recording of its own whose stream time starts at `from_us` (to send
    /// one labelled window of a long recording).
    pub fn span(&self, from_us: u64, to_us: u64) -> Recording {
        let (a, b) = (
            from_us.saturating_sub(self.origin_us),
            to_us.saturating_sub(self.origin_us),
        );
        let events = self
            .events
            .iter()
            .filter(|e| (a..b).contains(&e.t_us))
            .map(|e| Event2d {
                t_us: e.t_us - a,
                ..*e
            })
            .collect();
        Recording {
            name: format!("{} [{from_us}, {to_us}) µs", self.name),
            sensor: self.sensor,
            origin_us: self.origin_us + a,
            events,
        }
    }
}

/// Reads a whole recording (a file `slayer stream` reads); stream time
/// starts at the first event for AEDAT and raw files, at 0 for `.bs2`.
/// `sensor` overrides the file's sensor size (else the file's, else the
/// model input's `fallback`).
pub fn load_recording(
    path: &std::path::Path,
    sensor: Option<(u32, u32)>,
    fallback: (u32, u32),
) -> Result<Recording> {
    let mut src = Source::open(path)?;
    let mut faults = Faults::new(0);
    let mut events = Vec::new();
    loop {
        match src
            .next(&mut events, &mut faults)
            .map_err(|e| Error::io(path, e))?
        {
            Chunk::End => break,
            Chunk::NewSegment => {
                return Err(Error::Config(format!(
                    "{}: holds several recordings (a second file header); send them one by one",
                    path.display()
                )))
            }
            Chunk::Events => {}
        }
    }
    let origin = match src.origin() {
        Origin::Zero => 0,
        Origin::FirstEvent => events.first().map_or(0, |e| e.t_us),
    };
    for e in &mut events {
        e.t_us = e.t_us.saturating_sub(origin);
    }
    let (w, h) = sensor.or(src.sensor()).unwrap_or(fallback);
    let fit = |v: u32| {
        u16::try_from(v).map_err(|_| {
            Error::Config(format!(
                "{}: sensor side {v} does not fit the link (at most 65535)",
                path.display()
            ))
        })
    };
    Ok(Recording {
        name: path.display().to_string(),
        sensor: (fit(w)?, fit(h)?),
        origin_us: origin,
        events,
    })
}

/// Cuts a recording into event frames (sequence numbers from 0).
pub fn frames(rec: &Recording) -> Vec<ToBoard> {
    let mut out = Vec::new();
    let mut cur: heapless::Vec<WireEvent, MAX_EVENTS> = heapless::Vec::new();
    let mut base = 0u64;
    let mut flush = |cur: &mut heapless::Vec<WireEvent, MAX_EVENTS>, base: u64| {
        if !cur.is_empty() {
            out.push(ToBoard::Events {
                seq: out.len() as u32,
                t_us: base,
                events: std::mem::take(cur),
            });
        }
    };
    for e in &rec.events {
        let dt = e.t_us.checked_sub(base).and_then(|d| u32::try_from(d).ok());
        let dt = match dt {
            Some(d) if !cur.is_full() && !cur.is_empty() => d,
            _ => {
                flush(&mut cur, base);
                base = e.t_us;
                0
            }
        };
        // Cannot fail: the frame was flushed when full.
        let _ = cur.push(WireEvent {
            dt_us: dt,
            x: e.x,
            y: e.y,
            p: e.polarity,
        });
    }
    flush(&mut cur, base);
    out
}

/// Encodes messages into wire bytes, one frame each.
pub fn encode_all(msgs: &[ToBoard]) -> Result<Vec<Vec<u8>>> {
    let (mut raw, mut out) = (vec![0u8; MAX_FRAME], vec![0u8; MAX_FRAME + 16]);
    msgs.iter()
        .map(|m| {
            let n = link::encode(m, &mut raw, &mut out)
                .map_err(|e| Error::Config(format!("encoding a frame: {e}")))?;
            Ok(out[..n].to_vec())
        })
        .collect()
}

/// Flips (half of the hits) or drops (the other half) each byte with
/// probability `rate`, seeded; the last frame's delimiter is kept so that
/// damage never reaches into the flush that follows.
pub fn damage(frames: &mut [Vec<u8>], rate: f64, seed: u64) -> u32 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut hits = 0;
    let last = frames.len().saturating_sub(1);
    for (i, f) in frames.iter_mut().enumerate() {
        let keep_end = usize::from(i == last);
        let mut out = Vec::with_capacity(f.len());
        for (j, &b) in f.iter().enumerate() {
            if j + keep_end < f.len() && rng.random_bool(rate) {
                hits += 1;
                if rng.random_bool(0.5) {
                    out.push(b ^ rng.random_range(1..=255u8));
                }
                continue;
            }
            out.push(b);
        }
        *f = out;
    }
    hits
}

/// What a board (or the host reference) made of one recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunResult {
    /// Per window: its number, last bin, class and counts.
    pub decisions: Vec<(u32, u32, Option<u8>, Vec<u32>)>,
    /// Output spike counts over the recording.
    pub counts: Vec<u32>,
    /// The board's counters.
    pub counters: Counters,
    /// The board's step cost.
    pub cost: StepCost,
}

impl RunResult {
    fn take(&mut self, msg: &FromBoard) -> bool {
        match msg {
            FromBoard::Decision {
                window,
                last_bin,
                class,
                counts,
            } => {
                self.decisions
                    .push((*window, *last_bin, *class, counts.to_vec()));
                false
            }
            FromBoard::Summary {
                counts,
                counters,
                cost,
            } => {
                self.counts = counts.to_vec();
                self.counters = *counters;
                self.cost = *cost;
                true
            }
            _ => false,
        }
    }

    /// True when decisions, counts and every counter except the board's
    /// own timing (`bins_late`) are equal.
    pub fn agrees_with(&self, other: &RunResult) -> bool {
        let strip = |c: &Counters| Counters { bins_late: 0, ..*c };
        self.decisions == other.decisions
            && self.counts == other.counts
            && strip(&self.counters) == strip(&other.counters)
    }
}

/// The reference: the same session code as the firmware, on the host core
/// engine, fed the same (possibly damaged) bytes.
pub fn run_host(
    model: &Model<'_>,
    sensor: (u16, u16),
    window_bins: u32,
    wire: &[Vec<u8>],
    flush_seq: u32,
) -> Result<RunResult> {
    let mut state = vec![0i32; state_words(model)];
    let n = model.inputs() as usize;
    let (mut seen, mut active) = (vec![0u32; n.div_ceil(32)], vec![0u32; n]);
    let binner = Binner::new(&mut seen, &mut active);
    let mut session = Session::new(model, 0, &mut state, binner, "host", 0).map_err(|e| {
        Error::Config(format!(
            "the model cannot run on the link: {} ({})",
            e.code, e.detail
        ))
    })?;
    let mut result = RunResult::default();
    let mut send = |m: &FromBoard| {
        result.take(m);
    };
    let (w, h) = sensor;
    session.handle(
        &ToBoard::Reset {
            width: w,
            height: h,
        },
        &mut Untimed,
        &mut send,
    );
    session.handle(
        &ToBoard::SetWindow { bins: window_bins },
        &mut Untimed,
        &mut send,
    );
    let mut reader = FrameReader::<MAX_FRAME>::new();
    for byte in wire.iter().flatten() {
        match reader.push(*byte) {
            Some(Ok(p)) => match link::decode::<ToBoard>(p) {
                Ok(m) => session.handle(&m, &mut Untimed, &mut send),
                Err(e) => session.frame_error(e),
            },
            Some(Err(e)) => session.frame_error(e),
            None => {}
        }
    }
    session.handle(&ToBoard::Flush { seq: flush_seq }, &mut Untimed, &mut send);
    Ok(result)
}

/// What the board said when asked who it is.
pub enum Hello {
    /// It runs a model.
    Ready(Identity),
    /// It cannot run: the code and its detail.
    Refused(link::ErrorCode, u32),
}

/// A connected board.
pub struct Board {
    port: Port,
    rx: Receiver<FromBoard>,
    options: LinkOptions,
}

impl Board {
    /// Connects to a board on `port` (`tcp:HOST:PORT` or a serial device).
    pub fn connect(port: &str, options: LinkOptions) -> Result<Self> {
        let (port, rx) = Port::open(port, options.timeout)?;
        Ok(Self { port, rx, options })
    }

    /// Waits for the next message (after `timeout`: `None`).
    fn recv(&self, timeout: Duration) -> Result<Option<FromBoard>> {
        match self.rx.recv_timeout(timeout) {
            Ok(m) => Ok(Some(m)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.error("the board closed the link")),
        }
    }

    fn error(&self, msg: impl Into<String>) -> Error {
        Error::Link {
            port: self.port.name().to_string(),
            msg: msg.into(),
        }
    }

    fn send(&mut self, msg: &ToBoard) -> Result<()> {
        let bytes = encode_all(std::slice::from_ref(msg))?;
        self.port.write_all(&bytes[0])
    }

    /// Asks the board who it is (three tries).
    pub fn hello(&mut self) -> Result<Hello> {
        let mut hello = None;
        self.control(&ToBoard::Ping { nonce: 1 }, |m| {
            hello = match m {
                FromBoard::Pong { identity, .. } => Some(Hello::Ready(identity.clone())),
                FromBoard::Error { code, detail } => Some(Hello::Refused(*code, *detail)),
                _ => None,
            };
            hello.is_some()
        })?;
        hello.ok_or_else(|| self.error("no answer from the board"))
    }

    /// Sends a control message until `answer` accepts a reply (three tries).
    fn control(&mut self, msg: &ToBoard, mut answer: impl FnMut(&FromBoard) -> bool) -> Result<()> {
        for _ in 0..3 {
            self.send(msg)?;
            let deadline = Instant::now() + self.options.timeout;
            while let Some(left) = deadline.checked_duration_since(Instant::now()) {
                match self.recv(left)? {
                    Some(m) if answer(&m) => return Ok(()),
                    Some(FromBoard::Error { code, detail }) => {
                        return Err(self.error(format!("the board refuses: {code} ({detail})")))
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }
        Err(self.error(format!("no answer from the board to {msg:?} (3 tries)")))
    }

    /// Sends one recording's (possibly damaged) frames and collects the
    /// board's decisions and summary.
    pub fn run(&mut self, rec: &Recording, wire: &[Vec<u8>], times: &[u64]) -> Result<RunResult> {
        let (w, h) = rec.sensor;
        self.control(
            &ToBoard::Reset {
                width: w,
                height: h,
            },
            |m| matches!(m, FromBoard::Ready(_)),
        )?;
        self.send(&ToBoard::SetWindow {
            bins: self.options.window_bins,
        })?;
        let mut result = RunResult::default();
        let start = Instant::now();
        let mut acked: i64 = -1;
        let ahead = i64::from(self.options.in_flight.max(1));
        for (i, (bytes, &t)) in wire.iter().zip(times).enumerate() {
            if let Some(speed) = self.options.speed {
                let due = start + Duration::from_secs_f64(t as f64 * 1e-6 / speed);
                if let Some(d) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
            // Keep at most `ahead` frames unacknowledged; a frame lost on
            // the wire is never acknowledged, so a silence ends the wait.
            while i as i64 - acked > ahead {
                match self.recv(self.options.timeout)? {
                    Some(FromBoard::Ack { seq }) => acked = acked.max(i64::from(seq)),
                    Some(m) => {
                        result.take(&m);
                    }
                    None => acked = i as i64 - ahead,
                }
            }
            self.port.write_all(bytes)?;
            while let Ok(m) = self.rx.try_recv() {
                if let FromBoard::Ack { seq } = m {
                    acked = acked.max(i64::from(seq));
                } else {
                    result.take(&m);
                }
            }
        }
        let flush = ToBoard::Flush {
            seq: wire.len() as u32,
        };
        let mut done = false;
        self.control(&flush, |m| {
            if done {
                return true;
            }
            done = result.take(m);
            done
        })?;
        Ok(result)
    }
}

/// One recording sent to a board and checked against the host reference.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The recording.
    pub name: String,
    /// Its events and the frames they went out in.
    pub events: usize,
    /// Event frames sent.
    pub frames: usize,
    /// Bytes flipped or dropped on purpose (`--damage`).
    pub damaged_bytes: u32,
    /// What the board answered.
    pub board: RunResult,
    /// What the host core engine made of the same bytes.
    pub host: RunResult,
    /// Same decisions, counts and counters (the board's `bins_late` aside).
    pub identical: bool,
}

impl Checked {
    /// Mean and worst guest instructions per bin on the board (its step
    /// ticks × the identity's instructions per tick; exact under QEMU
    /// `-icount`, cycles-based on hardware).
    pub fn instructions_per_bin(&self, instructions_per_tick: u32) -> (f64, u64) {
        let c = &self.board.cost;
        let ipt = u64::from(instructions_per_tick);
        let mean = if c.steps == 0 {
            0.0
        } else {
            (c.ticks * ipt) as f64 / f64::from(c.steps)
        };
        (mean, u64::from(c.max_ticks) * ipt)
    }
}

impl Board {
    /// Sends `rec` (damaged as `options.damage` says, with `seed_offset`
    /// added to its seed) and runs the host reference on the same bytes.
    pub fn check(
        &mut self,
        model: &Model<'_>,
        rec: &Recording,
        seed_offset: u64,
    ) -> Result<Checked> {
        let (mut wire, times) = wire_of(rec)?;
        let frames = wire.len();
        let damaged_bytes = match self.options.damage {
            Some((rate, seed)) => damage(&mut wire, rate, seed.wrapping_add(seed_offset)),
            None => 0,
        };
        let host = run_host(
            model,
            rec.sensor,
            self.options.window_bins,
            &wire,
            frames as u32,
        )?;
        let board = self.run(rec, &wire, &times)?;
        Ok(Checked {
            name: rec.name.clone(),
            events: rec.events.len(),
            frames,
            damaged_bytes,
            identical: board.agrees_with(&host),
            board,
            host,
        })
    }
}

/// The event frames of a recording, encoded, with their base times.
pub fn wire_of(rec: &Recording) -> Result<(Vec<Vec<u8>>, Vec<u64>)> {
    let msgs = frames(rec);
    let times = msgs
        .iter()
        .map(|m| match m {
            ToBoard::Events { t_us, .. } => *t_us,
            _ => 0,
        })
        .collect();
    Ok((encode_all(&msgs)?, times))
}
