//! Readers of iniVation's AEDAT event files (SLAYER.md §6): AEDAT 3.1
//! (DVS128 Gesture) and AEDAT 4.0 (DV software, DAVIS / DVXplorer).
//!
//! # AEDAT 3.1
//!
//! A text header of `#`-lines, the first `#!AER-DAT3.1`, the last
//! `#!END-HEADER`, then packets: a 28-byte little-endian header
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | eventType (i16; 1 = polarity) |
//! | 2..4 | eventSource (i16) |
//! | 4..8 | eventSize (i32, bytes per event) |
//! | 8..12 | eventTSOffset (i32, byte offset of the timestamp in an event) |
//! | 12..16 | eventTSOverflow (i32, high bits of the timestamps) |
//! | 16..20 | eventCapacity (i32) |
//! | 20..24 | eventNumber (i32) |
//! | 24..28 | eventValid (i32) |
//!
//! followed by `eventCapacity × eventSize` bytes of events, of which the first
//! `eventNumber` are meaningful. A polarity event is 8 bytes: a u32
//! `data = x<<17 | y<<2 | p<<1 | valid` (15-bit x and y) and an i32 timestamp
//! in µs; its full time is `eventTSOverflow << 31 | timestamp`. Packets of
//! other types and events whose valid bit is 0 are skipped. Coordinates are
//! taken as stored: the DVS Gesture `.bs2` clips of the data kit carry the very
//! same `(x, y)` (no mirroring), see the tests of
//! the DVS Gesture loader of `slayer-trainer`.
//!
//! [`Aedat31Reader`] reads packets incrementally from any [`Read`](std::io::Read) (a file, a
//! camera byte stream on stdin) in constant memory and names the byte offset
//! of every problem; [`read_aedat31`] reads a whole file.
//!
//! # AEDAT 4.0
//!
//! `#!AER-DAT4.0\r\n`, a size-prefixed flatbuffer `IOHeader` (compression,
//! position of the trailing data table, and an XML "info node" describing the
//! streams), then packets: i32 stream id, u32 size, and `size` bytes holding a
//! size-prefixed flatbuffer, compressed as the header says (LZ4 frames or
//! Zstd frames, or none). Polarity streams have type identifier `EVTS`: a table
//! whose first field is a vector of 16-byte structs `{i64 t, i16 x, i16 y,
//! bool on, 3 bytes padding}`. The flatbuffers are decoded by hand, every
//! offset bounds-checked; [`Aedat4Reader`] reads packet by packet,
//! [`read_aedat4`] reads the polarity events of a whole file.
//!
//! Allocations are capped ([`MAX_PACKET_BYTES`], [`MAX_HEADER_BYTES`]): a
//! corrupt size field gives an error naming its offset, never a huge
//! allocation or a panic.
//!
//! # Modules
//!
//! * [`v31`]: the AEDAT 3.1 packet decoder ([`PacketHeader`],
//!   [`PolarityEvent`]) and the strict reader ([`Aedat31Reader`]);
//! * [`resync`]: the resynchronising AEDAT 3.1 reader for live streams
//!   ([`Aedat31Stream`]), on the same decoder;
//! * [`v4`]: the AEDAT 4.0 reader ([`Aedat4Reader`]).

mod counted;
pub mod resync;
pub mod v31;
pub mod v4;

pub use crate::error::AedatError;
pub use resync::{Aedat31Damage, Aedat31Stream, Count, FaultSink, DESYNC_RUN};
pub use v31::*;
pub use v4::*;

/// Largest packet payload (compressed or not, and decompressed) the readers
/// accept: 256 MiB. Larger sizes are taken for corruption.
pub const MAX_PACKET_BYTES: u64 = 1 << 28;

/// Largest text (AEDAT 3.1) or flatbuffer (AEDAT 4.0) file header accepted:
/// 16 MiB.
pub const MAX_HEADER_BYTES: u64 = 1 << 24;
