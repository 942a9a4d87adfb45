//! The serial link between a host and a board running the firmware: a small
//! wire protocol, the board's event binning and the session state machine
//! that turns a stream of event frames into per-window class decisions.
//!
//! ```text
//! host ── ToBoard frames ──► FrameReader ──► Session ──► Binner ──► Engine::step
//!   ▲                                         │  (clock: bin k = round_half_even(t / Ts))
//!   └──────────── FromBoard frames ◄──────────┘  Ack, Decision, Summary, Error
//! ```
//!
//! * **Framing** ([`frame`]): each message is postcard-encoded, followed by
//!   the CRC-32 of those bytes (little-endian), COBS-encoded and ended by a
//!   `0x00` byte. A lost, flipped or inserted byte damages at most the frame
//!   it falls in (two when it hits a delimiter): the reader drops what does
//!   not decode, counts it and starts over at the next `0x00`.
//! * **Messages** ([`message`]): [`ToBoard`] (ping, reset, set window, event
//!   frames with a sequence number and an absolute base time, flush) and
//!   [`FromBoard`] (ready/pong with the model's identity, acks, decisions,
//!   the summary with counters and per-bin cost, error codes). Event times
//!   are a base time per frame plus small deltas, so a lost frame never
//!   shifts the clock of the frames after it.
//! * **Binning** ([`binner`]): sensor pixels onto the model's input (integer
//!   down-sampling and centred crop, as `slayer stream` maps them) and
//!   stream time onto `Ts` bins with round-half-even, in integers.
//! * **Session** ([`session`]): what the firmware runs, and what the host
//!   runs as its reference on the same frames: late events and gaps are
//!   handled as `slayer stream` handles them, a decision is sent after every
//!   window of bins.
//!
//! Nothing here allocates or panics on any input; all buffers are fixed
//! sizes or provided by the caller.

pub mod binner;
pub mod frame;
pub mod message;
pub mod session;

pub use binner::{bin_of_us, Binner, Mapped, SensorMap};
pub use frame::{decode, encode, FrameError, FrameReader};
pub use message::{
    Counters, ErrorCode, FromBoard, Identity, StepCost, ToBoard, WireEvent, MAX_EVENTS, MAX_OUTPUTS,
};
pub use session::{Session, SessionError, Stepper, Untimed};

/// Largest encoded frame (COBS bytes without the delimiter) either side
/// sends; a reader needs a buffer of at least this many bytes.
pub const MAX_FRAME: usize = 1024;

/// Default longest silence kept as is, in bins (10 s of 1 ms bins, as
/// `slayer stream --max-gap-ms`' default).
pub const DEFAULT_MAX_GAP_BINS: u32 = 10_000;
