//! The messages of the link, host → board ([`ToBoard`]) and board → host
//! ([`FromBoard`]).

use serde::{Deserialize, Serialize};

/// Most events in one [`ToBoard::Events`] frame.
pub const MAX_EVENTS: usize = 64;

/// Most output neurons a board reports counts for.
pub const MAX_OUTPUTS: usize = 16;

/// One sensor event: its time after the frame's base time, pixel and
/// polarity (0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WireEvent {
    /// Microseconds after the frame's `t_us`.
    pub dt_us: u32,
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
    /// Polarity (0 off, 1 on).
    pub p: u8,
}

/// Host → board.
///
/// `Events` is far larger than the control messages; it stays inline (no
/// allocator in `core`): one message is decoded at a time, on the stack.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToBoard {
    /// Asks for a [`FromBoard::Pong`] (the board's identity or error).
    Ping {
        /// Echoed back.
        nonce: u32,
    },
    /// Starts a recording: resets the network, the clock (stream time 0),
    /// the window and the counters; `width × height` is the sensor. The
    /// board answers [`FromBoard::Ready`].
    Reset {
        /// Sensor width, pixels.
        width: u16,
        /// Sensor height, pixels.
        height: u16,
    },
    /// Decide every `bins` bins (tumbling windows from bin 0; default 1).
    SetWindow {
        /// Bins per decision window (0 is taken as 1).
        bins: u32,
    },
    /// Events in time order; answered by [`FromBoard::Ack`] once they are
    /// binned.
    Events {
        /// Frame number since the last reset, from 0; a gap tells the board
        /// how many frames were lost.
        seq: u32,
        /// Base time of the frame, µs of stream time.
        t_us: u64,
        /// The events.
        events: heapless::Vec<WireEvent, MAX_EVENTS>,
    },
    /// End of the recording after `seq` event frames: the open bin is
    /// processed and a [`FromBoard::Summary`] sent (again, if repeated).
    Flush {
        /// Event frames sent since the reset.
        seq: u32,
    },
}

/// Why a board cannot run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCode {
    /// The model region holds no model image (erased or never written).
    ModelMissing,
    /// The model image is damaged: bad length, CRC or contents.
    ModelCorrupt,
    /// The model needs more state words than the firmware's arena.
    ArenaTooSmall,
    /// The model has more inputs than the firmware can bin.
    TooManyInputs,
    /// The model has more outputs than [`MAX_OUTPUTS`].
    TooManyOutputs,
    /// The model's `Ts` is not a whole number of microseconds.
    UnsupportedTs,
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ModelMissing => "no model in the model region",
            Self::ModelCorrupt => "the model image is corrupt",
            Self::ArenaTooSmall => "the model needs more state than the firmware's arena",
            Self::TooManyInputs => "the model has more inputs than the firmware can bin",
            Self::TooManyOutputs => "the model has more outputs than the link reports",
            Self::UnsupportedTs => "the model's Ts is not a whole number of microseconds",
        })
    }
}

/// What a board runs: sent on reset and in answer to a ping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The target, e.g. `cortex-m4f`.
    pub target: heapless::String<24>,
    /// CRC-32 of the model image's bytes (its own closing CRC).
    pub model_crc: u32,
    /// Input neurons.
    pub inputs: u32,
    /// Output neurons.
    pub outputs: u32,
    /// Bin width, µs.
    pub ts_us: u32,
    /// State words the model needs.
    pub state_words: u32,
    /// State words the firmware has.
    pub arena_words: u32,
    /// Guest instructions per cost tick under QEMU `-icount shift=0`
    /// (0: unknown, e.g. on a real board, where a tick is a core cycle).
    pub instructions_per_tick: u32,
    /// Sensor width and height the board maps events from.
    pub sensor: (u16, u16),
}

/// What the board counted since the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Frames that decoded.
    pub frames: u32,
    /// Frames dropped: not COBS, too short, or not a message.
    pub bad_frames: u32,
    /// Frames dropped for a CRC mismatch (not in `bad_frames`).
    pub crc_errors: u32,
    /// Frames dropped for being longer than the receive buffer.
    pub overflows: u32,
    /// Event frames never received (gaps in their sequence numbers).
    pub frames_lost: u32,
    /// Bytes lost because the receive ring was full.
    pub rx_overruns: u32,
    /// Events received.
    pub events: u32,
    /// Events outside the sensor.
    pub out_of_range: u32,
    /// Events outside the model's (cropped) field of view.
    pub cropped: u32,
    /// Events for a bin already processed (dropped).
    pub late: u32,
    /// Silences longer than the longest gap, cut short.
    pub gaps_cut: u32,
    /// Bins processed.
    pub bins: u32,
    /// Bins whose step took longer than `Ts` on the board's clock.
    pub bins_late: u32,
}

/// The cost of the engine steps since the reset, in the board's ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepCost {
    /// Steps measured.
    pub steps: u32,
    /// Ticks of all steps.
    pub ticks: u64,
    /// Ticks of the most expensive step.
    pub max_ticks: u32,
    /// Most stack the board has used since boot, bytes (0: not measured).
    pub stack_bytes: u32,
}

/// Board → host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromBoard {
    /// Sent at boot and after each reset.
    Ready(Identity),
    /// The answer to a ping when the board runs.
    Pong {
        /// The ping's nonce.
        nonce: u32,
        /// The board.
        identity: Identity,
    },
    /// The board cannot run (sent at boot and in answer to every message).
    Error {
        /// Why.
        code: ErrorCode,
        /// A number that goes with it (state words needed, ...), or 0.
        detail: u32,
    },
    /// Event frames up to `seq` are binned.
    Ack {
        /// The frame's sequence number.
        seq: u32,
    },
    /// A decision window ended.
    Decision {
        /// Window number since the reset, from 0.
        window: u32,
        /// The window's last bin.
        last_bin: u32,
        /// Argmax of the counts (lowest index on ties), `None` without
        /// output spikes.
        class: Option<u8>,
        /// Output spike counts over the window.
        counts: heapless::Vec<u32, MAX_OUTPUTS>,
    },
    /// The answer to a flush.
    Summary {
        /// Output spike counts over the whole recording.
        counts: heapless::Vec<u32, MAX_OUTPUTS>,
        /// What was counted.
        counters: Counters,
        /// What the steps cost.
        cost: StepCost,
    },
}
