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
//! [`dvs_gesture`](crate::data::dvs_gesture).
//!
//! [`Aedat31Reader`] reads packets incrementally from any [`Read`] (a file, a
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

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use slayer_core::Event2d;

use crate::data::events::FormatError;
use crate::error::{Error, Result};

/// Largest packet payload (compressed or not, and decompressed) the readers
/// accept: 256 MiB. Larger sizes are taken for corruption.
pub const MAX_PACKET_BYTES: u64 = 1 << 28;

/// Largest text (AEDAT 3.1) or flatbuffer (AEDAT 4.0) file header accepted:
/// 16 MiB.
pub const MAX_HEADER_BYTES: u64 = 1 << 24;

/// Bytes of an AEDAT 3.1 packet header.
pub const PACKET_HEADER_BYTES: usize = 28;

/// AEDAT 3.1 event type of polarity events.
pub const POLARITY_EVENT: i16 = 1;

/// Bytes of an AEDAT 3.1 polarity event.
pub const POLARITY_EVENT_BYTES: usize = 8;

/// Polarity events decoded per read while streaming (bounds the working
/// buffer of [`Aedat31Events`]).
const CHUNK_EVENTS: usize = 8192;

/// An error while reading a stream: the underlying reader failed, or the
/// bytes are malformed.
#[derive(Debug, thiserror::Error)]
pub enum AedatError {
    /// The underlying reader failed (not end of file: a short stream is a
    /// [`AedatError::Format`] error).
    #[error("read error at byte offset {offset}: {source}")]
    Io {
        /// Bytes successfully read before the failure.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Truncated or corrupt data.
    #[error(transparent)]
    Format(#[from] FormatError),
}

impl AedatError {
    /// The trainer error for this error while reading file `path`:
    /// [`Error::Io`] or [`Error::Format`].
    pub fn at(self, path: &Path) -> Error {
        match self {
            AedatError::Io { source, .. } => Error::io(path, source),
            AedatError::Format(e) => e.at(path),
        }
    }

    /// The byte offset the error concerns.
    pub fn offset(&self) -> u64 {
        match self {
            AedatError::Io { offset, .. } => *offset,
            AedatError::Format(e) => e.offset,
        }
    }
}

fn format_err(offset: u64, msg: impl Into<String>) -> AedatError {
    AedatError::Format(FormatError {
        offset,
        msg: msg.into(),
    })
}

/// A [`Read`] with a running byte offset and "read as much as there is"
/// semantics, retrying on [`io::ErrorKind::Interrupted`].
#[derive(Debug)]
struct Counted<R> {
    inner: R,
    offset: u64,
    /// Bytes put back ([`Counted::unread`]), read again before `inner`.
    back: std::collections::VecDeque<u8>,
}

impl<R: Read> Counted<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            offset: 0,
            back: std::collections::VecDeque::new(),
        }
    }

    /// Puts `bytes` back in front of the stream (the offset moves back).
    fn unread(&mut self, bytes: &[u8]) {
        for &b in bytes.iter().rev() {
            self.back.push_front(b);
        }
        self.offset -= bytes.len() as u64;
    }

    /// Fills `buf` as far as the stream goes; returns the bytes read (less
    /// than `buf.len()` only at end of stream).
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, AedatError> {
        let mut n = 0;
        while n < buf.len() && !self.back.is_empty() {
            buf[n] = self.back.pop_front().unwrap_or_default();
            n += 1;
            self.offset += 1;
        }
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    self.offset += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(AedatError::Io {
                        offset: self.offset,
                        source,
                    })
                }
            }
        }
        Ok(n)
    }

    /// Skips up to `n` bytes; returns how many were there.
    fn skip(&mut self, n: u64) -> Result<u64, AedatError> {
        let mut buf = [0u8; 8192];
        let mut done = 0;
        while done < n {
            let want = (n - done).min(buf.len() as u64) as usize;
            let k = self.fill(&mut buf[..want])?;
            done += k as u64;
            if k < want {
                break;
            }
        }
        Ok(done)
    }

    /// Reads `n` bytes into `out` (cleared first), growing it as the bytes
    /// arrive rather than trusting `n` up front; returns the bytes read.
    fn read_vec(&mut self, n: u64, out: &mut Vec<u8>) -> Result<u64, AedatError> {
        out.clear();
        let mut buf = [0u8; 8192];
        let mut done = 0;
        while done < n {
            let want = (n - done).min(buf.len() as u64) as usize;
            let k = self.fill(&mut buf[..want])?;
            out.extend_from_slice(&buf[..k]);
            done += k as u64;
            if k < want {
                break;
            }
        }
        Ok(done)
    }
}

fn le_i16(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}

/// The little-endian `i32` at byte `at` (the caller checks the length).
pub(crate) fn le_i32(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

// ---------------------------------------------------------------------------
// AEDAT 3.1
// ---------------------------------------------------------------------------

/// The text header of an AEDAT 3.x file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aedat31Header {
    /// Format version from the first line, e.g. `"3.1"`.
    pub version: String,
    /// The lines between the version line and `#!END-HEADER`, without the
    /// leading `#` and the line ending (e.g. `"Format: RAW"`,
    /// `"Source 1: DVS128"`).
    pub lines: Vec<String>,
    /// Byte offset of the first packet (the header's length).
    pub data_offset: u64,
}

impl Aedat31Header {
    /// The value of a `#Key: value` header line, e.g. `field("Source 1")` →
    /// `Some("DVS128")`.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.lines.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key).then(|| v.trim())
        })
    }
}

/// A validated AEDAT 3.1 packet header (all counts non-negative,
/// `eventValid ≤ eventNumber ≤ eventCapacity`, payload at most
/// [`MAX_PACKET_BYTES`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    /// Byte offset of the packet header in the stream.
    pub offset: u64,
    /// Event type (1 = polarity).
    pub event_type: i16,
    /// Event source id.
    pub event_source: i16,
    /// Bytes per event.
    pub event_size: u32,
    /// Byte offset of the timestamp inside an event.
    pub ts_offset: u32,
    /// High bits of the timestamps: full time = `ts_overflow << 31 | t`.
    pub ts_overflow: u32,
    /// Events the payload has room for (payload = `capacity × event_size`).
    pub capacity: u32,
    /// Events actually written (the first `number` of the payload).
    pub number: u32,
    /// Events whose valid bit is set.
    pub valid: u32,
}

impl PacketHeader {
    /// Parses and validates a 28-byte packet header found at byte `offset`.
    pub fn parse(b: &[u8; PACKET_HEADER_BYTES], offset: u64) -> Result<Self, FormatError> {
        let bad = |at: u64, msg: String| FormatError {
            offset: offset + at,
            msg,
        };
        let event_type = le_i16(b, 0);
        let event_source = le_i16(b, 2);
        let size = le_i32(b, 4);
        let ts_offset = le_i32(b, 8);
        let overflow = le_i32(b, 12);
        let capacity = le_i32(b, 16);
        let number = le_i32(b, 20);
        let valid = le_i32(b, 24);
        if size <= 0 {
            return Err(bad(
                4,
                format!("packet header: eventSize {size} (must be positive)"),
            ));
        }
        if event_type == POLARITY_EVENT {
            if size as usize != POLARITY_EVENT_BYTES {
                return Err(bad(
                    4,
                    format!("polarity packet: eventSize {size} (must be {POLARITY_EVENT_BYTES})"),
                ));
            }
            if ts_offset != 4 {
                return Err(bad(
                    8,
                    format!("polarity packet: eventTSOffset {ts_offset} (must be 4)"),
                ));
            }
        }
        if ts_offset < 0 || i64::from(ts_offset) + 4 > i64::from(size) {
            return Err(bad(
                8,
                format!(
                    "packet header: eventTSOffset {ts_offset} outside an event of {size} bytes"
                ),
            ));
        }
        if overflow < 0 {
            return Err(bad(
                12,
                format!("packet header: negative eventTSOverflow {overflow}"),
            ));
        }
        if capacity < 0 {
            return Err(bad(
                16,
                format!("packet header: negative eventCapacity {capacity}"),
            ));
        }
        let payload = capacity as u64 * size as u64;
        if payload > MAX_PACKET_BYTES {
            return Err(bad(
                16,
                format!(
                    "packet header: eventCapacity {capacity} × eventSize {size} = {payload} bytes exceeds the {MAX_PACKET_BYTES}-byte limit"
                ),
            ));
        }
        if number < 0 || number > capacity {
            return Err(bad(
                20,
                format!(
                    "packet header: eventNumber {number} outside 0..={capacity} (eventCapacity)"
                ),
            ));
        }
        if valid < 0 || valid > number {
            return Err(bad(
                24,
                format!("packet header: eventValid {valid} outside 0..={number} (eventNumber)"),
            ));
        }
        Ok(PacketHeader {
            offset,
            event_type,
            event_source,
            event_size: size as u32,
            ts_offset: ts_offset as u32,
            ts_overflow: overflow as u32,
            capacity: capacity as u32,
            number: number as u32,
            valid: valid as u32,
        })
    }

    /// Payload bytes following the header: `capacity × event_size`.
    pub fn payload_bytes(&self) -> u64 {
        u64::from(self.capacity) * u64::from(self.event_size)
    }

    /// Byte offset of the payload in the stream.
    pub fn payload_offset(&self) -> u64 {
        self.offset + PACKET_HEADER_BYTES as u64
    }
}

/// Progress through the payload of the packet being read.
#[derive(Debug, Clone, Copy)]
struct Current {
    header: PacketHeader,
    /// Meaningful events (of the first `number`) not read yet.
    events_left: u64,
    /// Payload bytes not read yet.
    bytes_left: u64,
}

/// Incremental AEDAT 3.1 reader over any byte stream.
///
/// Memory stays bounded whatever the stream's length: one packet header and
/// a fixed-size buffer. Typical use:
///
/// ```no_run
/// # use slayer_trainer::data::aedat::Aedat31Reader;
/// let stdin = std::io::stdin().lock();
/// let mut r = Aedat31Reader::new(stdin).expect("AEDAT 3.1 header");
/// let mut events = Vec::new();
/// while let Some(packet) = r.next_polarity_packet(&mut events).expect("packet") {
///     println!("{} events up to offset {}", events.len(), r.offset());
///     # let _ = packet;
/// }
/// ```
#[derive(Debug)]
pub struct Aedat31Reader<R> {
    src: Counted<R>,
    header: Aedat31Header,
    current: Option<Current>,
    buf: Vec<u8>,
}

impl<R: Read> Aedat31Reader<R> {
    /// Reads and checks the text header: `#!AER-DAT3.x` first, `#`-lines,
    /// `#!END-HEADER` last; a `#Format:` other than `RAW` is rejected.
    pub fn new(inner: R) -> Result<Self, AedatError> {
        let mut src = Counted::new(inner);
        let mut version = None;
        let mut lines = Vec::new();
        loop {
            let start = src.offset;
            // The version line is short: a long first line is no AEDAT file.
            let limit = if version.is_none() {
                64
            } else {
                MAX_HEADER_BYTES
            };
            let line = read_header_line(&mut src, limit)?;
            let Some(line) = line else {
                return Err(format_err(
                    start,
                    if version.is_none() {
                        "not an AEDAT 3.1 file: empty".to_string()
                    } else {
                        "truncated header: end of file before #!END-HEADER".to_string()
                    },
                ));
            };
            if version.is_none() {
                match line.strip_prefix("#!AER-DAT") {
                    Some(v @ ("3.0" | "3.1")) => version = Some(v.to_string()),
                    _ => {
                        return Err(format_err(
                            start,
                            format!(
                            "not an AEDAT 3.1 file: first line {:?} (expected \"#!AER-DAT3.1\")",
                            truncate_for_msg(&line)
                        ),
                        ))
                    }
                }
                continue;
            }
            if line == "#!END-HEADER" {
                break;
            }
            let Some(text) = line.strip_prefix('#') else {
                return Err(format_err(
                    start,
                    format!(
                        "header line {:?} does not start with '#' (no #!END-HEADER before the data?)",
                        truncate_for_msg(&line)
                    ),
                ));
            };
            lines.push(text.to_string());
        }
        let header = Aedat31Header {
            version: version.unwrap_or_default(),
            lines,
            data_offset: src.offset,
        };
        if let Some(f) = header.field("Format") {
            if f != "RAW" {
                return Err(format_err(
                    0,
                    format!("unsupported AEDAT 3.1 format {f:?} (only RAW is read)"),
                ));
            }
        }
        Ok(Aedat31Reader {
            src,
            header,
            current: None,
            buf: Vec::new(),
        })
    }

    /// The file header.
    pub fn header(&self) -> &Aedat31Header {
        &self.header
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.src.offset
    }

    /// The header of the packet being read, if any.
    pub fn current_packet(&self) -> Option<&PacketHeader> {
        self.current.as_ref().map(|c| &c.header)
    }

    /// Skips what is left of the current packet, then reads the next packet
    /// header. `Ok(None)` at a clean end of stream (between packets); a
    /// partial packet is an error naming its offset.
    pub fn next_packet(&mut self) -> Result<Option<PacketHeader>, AedatError> {
        self.finish_packet()?;
        let start = self.src.offset;
        let mut h = [0u8; PACKET_HEADER_BYTES];
        let n = self.src.fill(&mut h)?;
        if n == 0 {
            return Ok(None);
        }
        if n < PACKET_HEADER_BYTES {
            return Err(format_err(
                start,
                format!("truncated packet header: {n} of {PACKET_HEADER_BYTES} bytes"),
            ));
        }
        let header = PacketHeader::parse(&h, start)?;
        let events_left = if header.event_type == POLARITY_EVENT {
            u64::from(header.number)
        } else {
            0
        };
        self.current = Some(Current {
            header,
            events_left,
            bytes_left: header.payload_bytes(),
        });
        Ok(Some(header))
    }

    /// Reads up to `max` (and at most 8192) more events of the current
    /// polarity packet, appending the valid ones to `out`; returns how many
    /// events were consumed (valid or not), 0 once the packet has no more (or
    /// is not a polarity packet, or there is none).
    pub fn read_events(&mut self, out: &mut Vec<Event2d>, max: usize) -> Result<usize, AedatError> {
        let Some(cur) = self.current.as_mut() else {
            return Ok(0);
        };
        let n = (max.min(CHUNK_EVENTS) as u64).min(cur.events_left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let bytes = n * POLARITY_EVENT_BYTES;
        self.buf.resize(bytes, 0);
        let first = self.src.offset;
        let got = self.src.fill(&mut self.buf[..bytes])?;
        if got < bytes {
            let h = cur.header;
            let present = h.payload_bytes() - cur.bytes_left + got as u64;
            return Err(truncated_packet(&h, present));
        }
        cur.events_left -= n as u64;
        cur.bytes_left -= bytes as u64;
        let overflow = u64::from(cur.header.ts_overflow) << 31;
        for (i, e) in self.buf[..bytes]
            .chunks_exact(POLARITY_EVENT_BYTES)
            .enumerate()
        {
            let data = le_u32(e, 0);
            if data & 1 == 0 {
                continue;
            }
            let t = le_i32(e, 4);
            if t < 0 {
                return Err(format_err(
                    first + (i * POLARITY_EVENT_BYTES + 4) as u64,
                    format!("polarity event: negative timestamp {t}"),
                ));
            }
            out.push(Event2d {
                x: ((data >> 17) & 0x7fff) as u16,
                y: ((data >> 2) & 0x7fff) as u16,
                polarity: ((data >> 1) & 1) as u8,
                t_us: overflow | t as u64,
            });
        }
        Ok(n)
    }

    /// Reads the rest of the current packet, appending its valid polarity
    /// events (none for other packet types) to `out`.
    pub fn read_packet_events(&mut self, out: &mut Vec<Event2d>) -> Result<(), AedatError> {
        while self.read_events(out, CHUNK_EVENTS)? > 0 {}
        self.finish_packet()
    }

    /// Clears `out`, reads the next packet and puts its valid polarity events
    /// in `out` (none for other packet types). `Ok(None)` at the end of the
    /// stream. `out` holds at most one packet's events.
    pub fn next_polarity_packet(
        &mut self,
        out: &mut Vec<Event2d>,
    ) -> Result<Option<PacketHeader>, AedatError> {
        out.clear();
        let Some(h) = self.next_packet()? else {
            return Ok(None);
        };
        self.read_packet_events(out)?;
        Ok(Some(h))
    }

    /// The valid polarity events of the rest of the stream, one at a time,
    /// in file order (constant memory).
    pub fn events(self) -> Aedat31Events<R> {
        Aedat31Events {
            reader: self,
            buf: Vec::new(),
            next: 0,
            done: false,
        }
    }

    /// Skips the unread rest of the current packet's payload.
    fn finish_packet(&mut self) -> Result<(), AedatError> {
        let Some(cur) = self.current.take() else {
            return Ok(());
        };
        let skipped = self.src.skip(cur.bytes_left)?;
        if skipped < cur.bytes_left {
            let present = cur.header.payload_bytes() - cur.bytes_left + skipped;
            return Err(truncated_packet(&cur.header, present));
        }
        Ok(())
    }
}

fn truncated_packet(h: &PacketHeader, present: u64) -> AedatError {
    format_err(
        h.offset,
        format!(
            "truncated packet (type {}): {present} of {} payload bytes ({} events × {} bytes)",
            h.event_type,
            h.payload_bytes(),
            h.capacity,
            h.event_size
        ),
    )
}

fn truncate_for_msg(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Reads one header line (up to `\n`, without `\r\n`); `None` at end of
/// stream before any byte, an error when the stream ends inside the line.
/// Lines are capped at `limit` bytes, the header at [`MAX_HEADER_BYTES`].
fn read_header_line<R: Read>(
    src: &mut Counted<R>,
    limit: u64,
) -> Result<Option<String>, AedatError> {
    let start = src.offset;
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if src.fill(&mut b)? == 0 {
            if line.is_empty() {
                return Ok(None);
            }
            return Err(format_err(
                start,
                format!(
                    "truncated header: line {:?} cut short by the end of the file",
                    truncate_for_msg(&String::from_utf8_lossy(&line))
                ),
            ));
        }
        if b[0] == b'\n' {
            break;
        }
        line.push(b[0]);
        if line.len() as u64 > limit || start + line.len() as u64 > MAX_HEADER_BYTES {
            return Err(format_err(
                start,
                if start == 0 {
                    "not an AEDAT 3.1 file: no #!AER-DAT3.1 line".to_string()
                } else {
                    format!("header longer than {MAX_HEADER_BYTES} bytes (no #!END-HEADER?)")
                },
            ));
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(String::from_utf8_lossy(&line).into_owned()))
}

/// Iterator over the valid polarity events of an [`Aedat31Reader`]; ends
/// after the first error.
#[derive(Debug)]
pub struct Aedat31Events<R> {
    reader: Aedat31Reader<R>,
    buf: Vec<Event2d>,
    next: usize,
    done: bool,
}

impl<R> Aedat31Events<R> {
    /// The underlying reader (its offset, header, current packet).
    pub fn reader(&self) -> &Aedat31Reader<R> {
        &self.reader
    }
}

impl<R: Read> Iterator for Aedat31Events<R> {
    type Item = Result<Event2d, AedatError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(&e) = self.buf.get(self.next) {
                self.next += 1;
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            self.buf.clear();
            self.next = 0;
            let step = match self.reader.read_events(&mut self.buf, CHUNK_EVENTS) {
                Ok(0) => self.reader.next_packet().map(|h| h.is_some()),
                Ok(_) => Ok(true),
                Err(e) => Err(e),
            };
            match step {
                Ok(true) => {}
                Ok(false) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Parses a whole AEDAT 3.1 file held in memory: its valid polarity events
/// in file order.
pub fn parse_aedat31(bytes: &[u8]) -> Result<Vec<Event2d>, FormatError> {
    let as_format = |e: AedatError| match e {
        AedatError::Format(e) => e,
        // Reading a byte slice cannot fail; kept total all the same.
        AedatError::Io { offset, source } => FormatError {
            offset,
            msg: source.to_string(),
        },
    };
    Aedat31Reader::new(bytes)
        .map_err(as_format)?
        .events()
        .collect::<Result<Vec<_>, _>>()
        .map_err(as_format)
}

/// Reads the valid polarity events of an AEDAT 3.1 file (e.g. a DVS Gesture
/// recording), in file order, timestamps in µs as recorded (not re-based).
pub fn read_aedat31(path: &Path) -> Result<Vec<Event2d>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    Aedat31Reader::new(BufReader::with_capacity(1 << 16, f))
        .map_err(|e| e.at(path))?
        .events()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.at(path))
}

// ---------------------------------------------------------------------------
// AEDAT 4.0
// ---------------------------------------------------------------------------

/// The AEDAT 4.0 magic line.
pub const AEDAT4_MAGIC: &[u8] = b"#!AER-DAT4.0\r\n";

/// Bytes of an AEDAT 4.0 polarity event struct.
pub const AEDAT4_EVENT_BYTES: usize = 16;

/// Packet compression of an AEDAT 4.0 file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Uncompressed.
    None,
    /// LZ4 frames.
    Lz4,
    /// LZ4 frames (high-compression encoder; same decoder).
    Lz4High,
    /// Zstd frames.
    Zstd,
    /// Zstd frames (high-compression encoder; same decoder).
    ZstdHigh,
}

/// One stream of an AEDAT 4.0 file, from the header's info node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aedat4Stream {
    /// Stream id (the i32 in front of each packet).
    pub id: i32,
    /// Flatbuffer type identifier: `EVTS` (polarity events), `FRME`, `IMUS`,
    /// `TRIG`, ...
    pub type_identifier: String,
    /// Sensor width, when the info node gives it.
    pub size_x: Option<u32>,
    /// Sensor height, when the info node gives it.
    pub size_y: Option<u32>,
    /// Camera name, when the info node gives it.
    pub source: Option<String>,
}

/// The header of an AEDAT 4.0 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aedat4Header {
    /// Packet compression.
    pub compression: Compression,
    /// Byte offset of the trailing file data table (packets end there), or
    /// `None` when the recorder did not write one.
    pub data_table_position: Option<u64>,
    /// The info node: XML describing the streams.
    pub info_xml: String,
    /// The streams parsed from the info node, by id.
    pub streams: Vec<Aedat4Stream>,
    /// Byte offset of the first packet.
    pub data_offset: u64,
}

impl Aedat4Header {
    /// The first (lowest-id) polarity-event (`EVTS`) stream.
    pub fn event_stream(&self) -> Option<&Aedat4Stream> {
        self.streams.iter().find(|s| s.type_identifier == "EVTS")
    }

    /// The stream with id `id`.
    pub fn stream(&self, id: i32) -> Option<&Aedat4Stream> {
        self.streams.iter().find(|s| s.id == id)
    }
}

/// A bounds-checked view of a flatbuffer. Its errors are messages (positions
/// inside the buffer); callers attach the file offset of the header or
/// packet.
struct Fb<'a> {
    buf: &'a [u8],
    /// Describes where `buf` lives, for messages.
    what: &'a str,
}

impl<'a> Fb<'a> {
    fn bytes(&self, at: usize, n: usize) -> Result<&'a [u8], String> {
        at.checked_add(n)
            .and_then(|end| self.buf.get(at..end))
            .ok_or_else(|| {
                format!(
                    "{}: {n} bytes at {at} run past its end ({} bytes)",
                    self.what,
                    self.buf.len()
                )
            })
    }

    fn u16(&self, at: usize) -> Result<u16, String> {
        let b = self.bytes(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32, String> {
        Ok(le_u32(self.bytes(at, 4)?, 0))
    }

    fn i32(&self, at: usize) -> Result<i32, String> {
        Ok(le_i32(self.bytes(at, 4)?, 0))
    }

    fn i64(&self, at: usize) -> Result<i64, String> {
        let b = self.bytes(at, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    /// Follows a uoffset stored at `at`.
    fn deref(&self, at: usize) -> Result<usize, String> {
        let off = self.u32(at)? as usize;
        let to = at
            .checked_add(off)
            .filter(|&p| p < self.buf.len())
            .ok_or_else(|| format!("{}: offset {off} at {at} points outside it", self.what))?;
        Ok(to)
    }

    /// The root table, checking the 4-byte file identifier.
    fn root(&self, ident: &[u8; 4]) -> Result<usize, String> {
        let id = self.bytes(4, 4)?;
        if id != ident {
            return Err(format!(
                "{}: file identifier {:?}, expected {:?}",
                self.what,
                String::from_utf8_lossy(id),
                String::from_utf8_lossy(ident)
            ));
        }
        self.deref(0)
    }

    /// Absolute position of field `idx` of the table at `table`, or `None`
    /// when the field is absent (default value).
    fn field(&self, table: usize, idx: usize) -> Result<Option<usize>, String> {
        let soff = i64::from(self.i32(table)?);
        let vt = table as i64 - soff;
        if vt < 0 || vt as usize >= self.buf.len() {
            return Err(format!(
                "{}: vtable of the table at {table} lies outside it",
                self.what
            ));
        }
        let vt = vt as usize;
        let vt_len = usize::from(self.u16(vt)?);
        let slot = 4 + 2 * idx;
        if slot + 2 > vt_len {
            return Ok(None);
        }
        let off = usize::from(self.u16(vt + slot)?);
        if off == 0 {
            return Ok(None);
        }
        Ok(Some(table + off))
    }

    /// A vector whose uoffset is at `at`: (first element position, length).
    fn vector(&self, at: usize, elem: usize) -> Result<(usize, usize), String> {
        let v = self.deref(at)?;
        let len = self.u32(v)? as usize;
        let bytes = len
            .checked_mul(elem)
            .ok_or_else(|| format!("{}: vector length {len} at {v} overflows", self.what))?;
        self.bytes(v + 4, bytes)?;
        Ok((v + 4, len))
    }
}

/// Reads the `i32` stream id and `u32` size in front of an AEDAT 4.0 packet,
/// then the packet.
#[derive(Debug)]
pub struct Aedat4Reader<R> {
    src: Counted<R>,
    header: Aedat4Header,
    compressed: Vec<u8>,
    data: Vec<u8>,
    /// Resynchronise after a damaged packet instead of failing.
    resync: bool,
    /// What resynchronising cost, since the reader was opened.
    pub damage: Aedat4Damage,
}

/// What [`Aedat4Reader::resynchronising`] skipped: counts and the first
/// messages (taken by the caller with `std::mem::take`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aedat4Damage {
    /// Damaged packets skipped (a size field past the limit or the data, a
    /// compression frame that does not decode or does not end where the
    /// size says).
    pub bad_packets: u64,
    /// Times the reader searched for the next packet header.
    pub resyncs: u64,
    /// Bytes skipped while searching.
    pub skipped_bytes: u64,
    /// Messages not yet taken (at most 32 are kept).
    pub messages: Vec<String>,
}

/// Longest stretch searched for the next packet header after a damaged one.
const MAX_RESYNC_SCAN: u64 = 1 << 26;

/// One decompressed AEDAT 4.0 packet.
#[derive(Debug, Clone, Copy)]
pub struct Aedat4Packet<'a> {
    /// Stream id.
    pub stream_id: i32,
    /// Byte offset of the packet's 8-byte prefix in the file.
    pub offset: u64,
    /// The decompressed, size-prefixed flatbuffer.
    pub data: &'a [u8],
}

impl Aedat4Packet<'_> {
    /// The packet's 4-byte flatbuffer identifier (e.g. `EVTS`), if it has
    /// one.
    pub fn identifier(&self) -> Option<[u8; 4]> {
        let b = self.data.get(8..12)?;
        Some([b[0], b[1], b[2], b[3]])
    }

    /// Appends the polarity events of an `EVTS` packet to `out`
    /// (`on` → polarity 1, timestamps in µs as recorded). Errors name the
    /// packet's file offset.
    pub fn polarity_events(&self, out: &mut Vec<Event2d>) -> Result<(), FormatError> {
        let err = |msg: String| FormatError {
            offset: self.offset,
            msg,
        };
        let what = format!("packet of stream {} (decompressed)", self.stream_id);
        let fb = size_prefixed(self.data, &what).map_err(err)?;
        let root = fb.root(b"EVTS").map_err(err)?;
        let Some(field) = fb.field(root, 0).map_err(err)? else {
            return Ok(());
        };
        let (first, len) = fb.vector(field, AEDAT4_EVENT_BYTES).map_err(err)?;
        out.reserve(len);
        for i in 0..len {
            let at = first + i * AEDAT4_EVENT_BYTES;
            let e = &fb.buf[at..at + AEDAT4_EVENT_BYTES];
            let mut t = [0u8; 8];
            t.copy_from_slice(&e[..8]);
            let t = i64::from_le_bytes(t);
            let (x, y) = (le_i16(e, 8), le_i16(e, 10));
            if t < 0 || x < 0 || y < 0 {
                return Err(err(format!(
                    "{what}: event {i} has t = {t}, x = {x}, y = {y} (negative)"
                )));
            }
            out.push(Event2d {
                x: x as u16,
                y: y as u16,
                polarity: u8::from(e[12] != 0),
                t_us: t as u64,
            });
        }
        Ok(())
    }
}

/// The flatbuffer inside a size-prefixed buffer (checking the prefix).
fn size_prefixed<'a>(buf: &'a [u8], what: &'a str) -> Result<Fb<'a>, String> {
    let outer = Fb { buf, what };
    let size = outer.u32(0)? as usize;
    let inner = outer.bytes(4, size)?;
    Ok(Fb { buf: inner, what })
}

impl<R: Read> Aedat4Reader<R> {
    /// Reads the magic line and the `IOHeader` flatbuffer.
    pub fn new(inner: R) -> Result<Self, AedatError> {
        let mut src = Counted::new(inner);
        let mut magic = [0u8; 14];
        let n = src.fill(&mut magic)?;
        if magic[..n] != AEDAT4_MAGIC[..n] || n == 0 {
            return Err(format_err(
                0,
                "not an AEDAT 4.0 file (no #!AER-DAT4.0 line)",
            ));
        }
        if n < magic.len() {
            return Err(format_err(
                0,
                format!("truncated magic line: {n} of 14 bytes"),
            ));
        }
        let mut size = [0u8; 4];
        let at = src.offset;
        let n = src.fill(&mut size)?;
        if n < 4 {
            return Err(format_err(
                at,
                format!("truncated header size: {n} of 4 bytes"),
            ));
        }
        let size = u64::from(u32::from_le_bytes(size));
        if size > MAX_HEADER_BYTES {
            return Err(format_err(
                at,
                format!("header size {size} exceeds the {MAX_HEADER_BYTES}-byte limit"),
            ));
        }
        let body_at = src.offset;
        let mut body = Vec::new();
        let got = src.read_vec(size, &mut body)?;
        if got < size {
            return Err(format_err(
                at,
                format!("truncated header: {got} of {size} bytes"),
            ));
        }
        let header = parse_io_header(&body, body_at, src.offset)?;
        Ok(Aedat4Reader {
            src,
            header,
            compressed: Vec::new(),
            data: Vec::new(),
            resync: false,
            damage: Aedat4Damage::default(),
        })
    }

    /// From now on a damaged packet (a broken size field, a compression
    /// frame that does not decode, or one that does not end where the size
    /// field says) costs that packet: it is counted in [`Aedat4Reader::damage`]
    /// and the reader searches forward for the next plausible packet header
    /// (a known stream id, a size within the limit, and the compression's
    /// frame magic or a flatbuffer identifier after it), as the AEDAT 3.1
    /// stream reader does.
    pub fn resynchronising(mut self) -> Self {
        self.resync = true;
        self
    }

    /// Ignores the header's data-table position: packets run to the end of
    /// the stream (a network stream has no data table).
    pub fn without_data_table(mut self) -> Self {
        self.header.data_table_position = None;
        self
    }

    /// Whether the 16 bytes at `w` look like the start of a packet.
    fn plausible(&self, w: &[u8; 16]) -> bool {
        let id = le_i32(w, 0);
        let size = u64::from(le_u32(w, 4));
        if !(8..=MAX_PACKET_BYTES).contains(&size) || self.header.stream(id).is_none() {
            return false;
        }
        match self.header.compression {
            Compression::Lz4 | Compression::Lz4High => w[8..12] == [0x04, 0x22, 0x4d, 0x18],
            Compression::Zstd | Compression::ZstdHigh => w[8..12] == [0x28, 0xb5, 0x2f, 0xfd],
            Compression::None => w[12..16].iter().all(|b| b.is_ascii_uppercase()),
        }
    }

    /// After a damaged packet starting at `start` whose bytes `held` were
    /// read: puts back all but its first byte and searches for the next
    /// plausible packet header. `false`: none before the end (or the search
    /// limit).
    fn find_next_packet(&mut self, held: &[u8]) -> Result<bool, AedatError> {
        self.damage.resyncs += 1;
        if held.len() > 1 {
            self.src.unread(&held[1..]);
        }
        // Searched a chunk at a time; the last 15 bytes of a chunk are put
        // back, so a header across the border is seen whole.
        let mut skipped = 1u64;
        let mut chunk = Vec::new();
        loop {
            let limit = match self.header.data_table_position {
                Some(dt) if self.src.offset >= dt => {
                    self.damage.skipped_bytes += skipped;
                    return Ok(false);
                }
                Some(dt) => (dt - self.src.offset).min(1 << 16) as usize,
                None => 1 << 16,
            };
            chunk.resize(limit, 0);
            let n = self.src.fill(&mut chunk)?;
            chunk.truncate(n);
            if n < 16 || skipped > MAX_RESYNC_SCAN {
                // Too little left for a packet: the rest is skipped (up to
                // the data table, which the next call then finds).
                let rest = if self.header.data_table_position.is_some() {
                    0
                } else {
                    self.src.skip(u64::MAX)?
                };
                self.damage.skipped_bytes += skipped + n as u64 + rest;
                return Ok(false);
            }
            let last = n - 16;
            let found = (0..=last).find(|&i| {
                let w: &[u8; 16] = chunk[i..i + 16].try_into().unwrap_or(&[0; 16]);
                self.plausible(w)
            });
            if let Some(i) = found {
                self.src.unread(&chunk[i..]);
                self.damage.skipped_bytes += skipped + i as u64;
                return Ok(true);
            }
            self.src.unread(&chunk[last + 1..]);
            skipped += last as u64 + 1;
        }
    }

    fn note(&mut self, msg: String) {
        self.damage.bad_packets += 1;
        if self.damage.messages.len() < 32 {
            self.damage.messages.push(msg);
        }
    }

    /// The file header.
    pub fn header(&self) -> &Aedat4Header {
        &self.header
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.src.offset
    }

    /// Reads and decompresses the next packet. `Ok(None)` at the data table
    /// or, when the file has none, at a clean end of file.
    pub fn next_packet(&mut self) -> Result<Option<Aedat4Packet<'_>>, AedatError> {
        loop {
            match self.read_packet() {
                Ok(Some((stream_id, offset))) => {
                    return Ok(Some(Aedat4Packet {
                        stream_id,
                        offset,
                        data: &self.data,
                    }))
                }
                Ok(None) => return Ok(None),
                Err(AedatError::Format(e)) if self.resync => {
                    // The bytes of the damaged packet were left in
                    // `compressed` (header first) by `read_packet`.
                    let held = std::mem::take(&mut self.compressed);
                    self.note(format!("{e}; packet skipped, searching for the next one"));
                    if !self.find_next_packet(&held)? {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one packet into `data`: its stream id and offset. On a format
    /// error, `compressed` holds the bytes read from the packet's start.
    fn read_packet(&mut self) -> Result<Option<(i32, u64)>, AedatError> {
        let start = self.src.offset;
        if let Some(dt) = self.header.data_table_position {
            if start >= dt {
                return Ok(None);
            }
        }
        let mut pre = [0u8; 8];
        let n = self.src.fill(&mut pre)?;
        if n == 0 {
            if let Some(dt) = self.header.data_table_position {
                return Err(format_err(
                    start,
                    format!("truncated file: it ends before the data table at byte {dt}"),
                ));
            }
            return Ok(None);
        }
        if n < pre.len() {
            self.compressed = pre[..n].to_vec();
            return Err(format_err(
                start,
                format!("truncated packet header: {n} of 8 bytes"),
            ));
        }
        let stream_id = le_i32(&pre, 0);
        let size = u64::from(le_u32(&pre, 4));
        if size > MAX_PACKET_BYTES {
            self.compressed = pre.to_vec();
            return Err(format_err(
                start + 4,
                format!("packet size {size} exceeds the {MAX_PACKET_BYTES}-byte limit"),
            ));
        }
        let got = self.src.read_vec(size, &mut self.compressed)?;
        let with_header = |c: &[u8]| [&pre[..], c].concat();
        if got < size {
            self.compressed = with_header(&self.compressed);
            return Err(format_err(
                start,
                format!("truncated packet (stream {stream_id}): {got} of {size} bytes"),
            ));
        }
        if let Err(m) = decompress(self.header.compression, &self.compressed, &mut self.data) {
            self.compressed = with_header(&self.compressed);
            return Err(format_err(
                start + 8,
                format!("packet of stream {stream_id}: {m}"),
            ));
        }
        Ok(Some((stream_id, start)))
    }
}

/// A packet's compressed bytes must end with its frame: bytes left over
/// mean a size field larger than the packet (the next packets would be
/// swallowed silently).
fn ends_with_the_frame(rest: &[u8], n: usize) -> Result<usize, String> {
    if rest.is_empty() {
        Ok(n)
    } else {
        Err(format!(
            "{} bytes after the compression frame (a wrong packet size)",
            rest.len()
        ))
    }
}

/// Decompresses one packet into `out`, capped at [`MAX_PACKET_BYTES`].
fn decompress(c: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let cap = MAX_PACKET_BYTES + 1;
    let res = match c {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(0)
        }
        Compression::Lz4 | Compression::Lz4High => {
            let mut rest = input;
            let r = lz4_flex::frame::FrameDecoder::new(&mut rest)
                .take(cap)
                .read_to_end(out)
                .map_err(|e| format!("LZ4 decompression failed: {e}"));
            r.and_then(|n| ends_with_the_frame(rest, n))
        }
        Compression::Zstd | Compression::ZstdHigh => {
            let mut rest = input;
            let dec = ruzstd::StreamingDecoder::new(&mut rest)
                .map_err(|e| format!("Zstd decompression failed: {e}"))?;
            let r = dec
                .take(cap)
                .read_to_end(out)
                .map_err(|e| format!("Zstd decompression failed: {e}"));
            r.and_then(|n| ends_with_the_frame(rest, n))
        }
    };
    res?;
    if out.len() as u64 > MAX_PACKET_BYTES {
        return Err(format!(
            "decompresses to more than {MAX_PACKET_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Parses the `IOHeader` flatbuffer `body` found at file offset `body_at`;
/// packets start at `data_offset`.
fn parse_io_header(
    body: &[u8],
    body_at: u64,
    data_offset: u64,
) -> Result<Aedat4Header, AedatError> {
    let fb = Fb {
        buf: body,
        what: "IOHeader flatbuffer",
    };
    let err = |m: String| format_err(body_at, m);
    let root = fb.root(b"IOHE").map_err(err)?;
    let compression = match fb.field(root, 0).map_err(err)? {
        None => 0,
        Some(at) => fb.i32(at).map_err(err)?,
    };
    let compression = match compression {
        0 => Compression::None,
        1 => Compression::Lz4,
        2 => Compression::Lz4High,
        3 => Compression::Zstd,
        4 => Compression::ZstdHigh,
        c => {
            let at = fb.field(root, 0).ok().flatten().unwrap_or(0) as u64;
            return Err(format_err(
                body_at + at,
                format!("IOHeader: unknown compression type {c}"),
            ));
        }
    };
    let data_table_position = match fb.field(root, 1).map_err(err)? {
        None => None,
        Some(at) => {
            let p = fb.i64(at).map_err(err)?;
            if p >= 0 && (p as u64) < data_offset {
                return Err(format_err(
                    body_at + at as u64,
                    format!("IOHeader: data table position {p} lies inside the header"),
                ));
            }
            u64::try_from(p).ok()
        }
    };
    let info_xml = match fb.field(root, 2).map_err(err)? {
        None => String::new(),
        Some(at) => {
            let s = fb.deref(at).map_err(err)?;
            let len = fb.u32(s).map_err(err)? as usize;
            let b = fb.bytes(s + 4, len).map_err(err)?;
            String::from_utf8_lossy(b).into_owned()
        }
    };
    let streams = parse_info_streams(&info_xml);
    Ok(Aedat4Header {
        compression,
        data_table_position,
        info_xml,
        streams,
        data_offset,
    })
}

/// The streams described by the info node. A deliberately small scanner:
/// each `<attr key="K" ...>V</attr>` belongs to the stream whose id follows
/// `outInfo/` in the path of the innermost `<node>` opened before it.
fn parse_info_streams(xml: &str) -> Vec<Aedat4Stream> {
    let mut streams: Vec<Aedat4Stream> = Vec::new();
    let mut stream_id: Option<i32> = None;
    let mut rest = xml;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[..=gt];
        if tag.starts_with("<node") {
            stream_id = attr_value(tag, "path").and_then(|p| {
                let after = &p[p.find("outInfo/")? + "outInfo/".len()..];
                let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
                digits.parse().ok()
            });
        } else if tag.starts_with("<attr") {
            let value_end = rest[gt + 1..].find('<').map_or(rest.len(), |i| gt + 1 + i);
            let value = rest[gt + 1..value_end].trim();
            if let (Some(id), Some(key)) = (stream_id, attr_value(tag, "key")) {
                let i = match streams.iter().position(|s| s.id == id) {
                    Some(i) => i,
                    None => {
                        streams.push(Aedat4Stream {
                            id,
                            type_identifier: String::new(),
                            size_x: None,
                            size_y: None,
                            source: None,
                        });
                        streams.len() - 1
                    }
                };
                let s = &mut streams[i];
                match key {
                    "typeIdentifier" => s.type_identifier = value.to_string(),
                    "sizeX" => s.size_x = value.parse().ok(),
                    "sizeY" => s.size_y = value.parse().ok(),
                    "source" => s.source = Some(value.to_string()),
                    _ => {}
                }
            }
        }
        rest = &rest[gt + 1..];
    }
    streams.sort_by_key(|s| s.id);
    streams
}

/// The value of `name="..."` inside a tag.
fn attr_value<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!("{name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// Parses a whole AEDAT 4.0 file held in memory: the header and the
/// polarity events of its first `EVTS` stream, in file order.
pub fn parse_aedat4(bytes: &[u8]) -> Result<(Aedat4Header, Vec<Event2d>), FormatError> {
    let as_format = |e: AedatError| match e {
        AedatError::Format(e) => e,
        AedatError::Io { offset, source } => FormatError {
            offset,
            msg: source.to_string(),
        },
    };
    let mut r = Aedat4Reader::new(bytes).map_err(as_format)?;
    let events = aedat4_events(&mut r).map_err(as_format)?;
    Ok((r.header.clone(), events))
}

fn aedat4_events<R: Read>(r: &mut Aedat4Reader<R>) -> Result<Vec<Event2d>, AedatError> {
    let Some(id) = r.header().event_stream().map(|s| s.id) else {
        return Err(format_err(
            r.header().data_offset,
            "no polarity-event (EVTS) stream in the info node",
        ));
    };
    let mut events = Vec::new();
    while let Some(p) = r.next_packet()? {
        if p.stream_id == id {
            p.polarity_events(&mut events)?;
        }
    }
    Ok(events)
}

/// Reads the polarity events of the first `EVTS` stream of an AEDAT 4.0
/// file (LZ4, Zstd or uncompressed packets), in file order. Timestamps are
/// the recorded µs (usually since the Unix epoch): re-base them before
/// binning.
pub fn read_aedat4(path: &Path) -> Result<Vec<Event2d>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = Aedat4Reader::new(BufReader::with_capacity(1 << 16, f)).map_err(|e| e.at(path))?;
    aedat4_events(&mut r).map_err(|e| e.at(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::events::tests::data_dir;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::path::PathBuf;

    fn concat_path() -> PathBuf {
        data_dir().join("dvs-gesture/aedat31/slayer10_concat.aedat")
    }

    fn aedat4_path() -> PathBuf {
        data_dir().join("event-fixtures/tonic_sample.aedat4")
    }

    fn tmp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("slayer-aedat-{}-{name}", std::process::id()))
    }

    const HEADER31: &[u8] =
        b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n";

    fn pol(x: u32, y: u32, p: u32, valid: bool, t: i32) -> [u8; 8] {
        let data = (x << 17) | (y << 2) | (p << 1) | u32::from(valid);
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&data.to_le_bytes());
        b[4..].copy_from_slice(&t.to_le_bytes());
        b
    }

    #[allow(clippy::too_many_arguments)]
    fn packet(
        out: &mut Vec<u8>,
        ty: i16,
        size: i32,
        ts_off: i32,
        overflow: i32,
        cap: i32,
        num: i32,
        valid: i32,
        payload: &[u8],
    ) {
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&1i16.to_le_bytes());
        for v in [size, ts_off, overflow, cap, num, valid] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(payload);
    }

    /// Expects an [`Error::Format`] for `path` at `offset`, message containing `needle`.
    fn expect_format(r: Result<Vec<Event2d>>, path: &Path, offset: u64, needle: &str) {
        match r {
            Err(Error::Format {
                path: p,
                offset: o,
                msg,
            }) => {
                assert_eq!(p, path);
                assert_eq!(o, offset, "{msg}");
                assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
            }
            other => panic!("expected a format error at {offset}, got {other:?}"),
        }
    }

    fn header_len(bytes: &[u8]) -> usize {
        let end = b"#!END-HEADER\r\n";
        bytes
            .windows(end.len())
            .position(|w| w == end)
            .expect("header")
            + end.len()
    }

    /// Offsets of all packet headers of an AEDAT 3.1 buffer.
    fn packet_offsets(bytes: &[u8]) -> Vec<u64> {
        let mut r = Aedat31Reader::new(bytes).expect("header");
        let mut out = Vec::new();
        while let Some(h) = r.next_packet().expect("packet") {
            out.push(h.offset);
        }
        out
    }

    #[test]
    fn dvs_gesture_concat_file() {
        let events = read_aedat31(&concat_path()).expect("read");
        assert_eq!(events.len(), 1_206_710);
        assert_eq!(events.iter().map(|e| e.x).max(), Some(127));
        assert_eq!(events.iter().map(|e| e.y).max(), Some(127));
        assert_eq!(events.iter().map(|e| e.t_us).min(), Some(1_000_028));
        assert_eq!(events.iter().map(|e| e.t_us).max(), Some(15_949_896));
        assert!(events.windows(2).all(|w| w[0].t_us <= w[1].t_us));
        assert!(events.iter().any(|e| e.polarity == 0));
        assert!(events.iter().any(|e| e.polarity == 1));

        let bytes = std::fs::read(concat_path()).expect("read");
        let r = Aedat31Reader::new(&bytes[..]).expect("header");
        let h = r.header();
        assert_eq!(h.version, "3.1");
        assert_eq!(h.field("Format"), Some("RAW"));
        assert_eq!(h.field("Source 1"), Some("DVS128"));
        assert_eq!(h.data_offset, header_len(&bytes) as u64);
        assert_eq!(packet_offsets(&bytes).len(), 295);
        assert_eq!(parse_aedat31(&bytes).expect("parse"), events);
    }

    /// A reader handing out 1..=97 bytes at a time, with spurious
    /// `Interrupted` errors.
    struct Dribble<'a> {
        bytes: &'a [u8],
        rng: ChaCha8Rng,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.rng.random_bool(0.05) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "again"));
            }
            let n = self
                .rng
                .random_range(1..=97)
                .min(buf.len())
                .min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn streaming_reader_matches_whole_file() {
        let bytes = std::fs::read(concat_path()).expect("read");
        let whole = parse_aedat31(&bytes).expect("parse");
        let dribble = |seed| Dribble {
            bytes: &bytes,
            rng: ChaCha8Rng::seed_from_u64(seed),
        };
        // Event by event.
        let streamed: Vec<Event2d> = Aedat31Reader::new(dribble(1))
            .expect("header")
            .events()
            .collect::<Result<_, _>>()
            .expect("events");
        assert_eq!(streamed, whole);
        // Packet by packet, reusing one buffer.
        let mut r = Aedat31Reader::new(dribble(2)).expect("header");
        let (mut all, mut buf, mut packets) = (Vec::new(), Vec::new(), 0);
        while let Some(h) = r.next_polarity_packet(&mut buf).expect("packet") {
            assert_eq!(h.event_type, POLARITY_EVENT);
            assert!(buf.len() <= h.number as usize);
            all.extend_from_slice(&buf);
            packets += 1;
        }
        assert_eq!(packets, 295);
        assert_eq!(r.offset(), bytes.len() as u64);
        assert_eq!(all, whole);
    }

    #[test]
    fn synthetic_packets_skip_invalid_events_and_other_types() {
        let mut f = HEADER31.to_vec();
        // A special-event packet (type 0), skipped.
        packet(&mut f, 0, 8, 4, 0, 2, 2, 2, &[0xAB; 16]);
        // Polarity: one invalid event, and one slot past eventNumber.
        let mut p = Vec::new();
        p.extend_from_slice(&pol(5, 7, 1, true, 100));
        p.extend_from_slice(&pol(6, 8, 0, false, 101));
        p.extend_from_slice(&pol(127, 0, 0, true, i32::MAX));
        p.extend_from_slice(&pol(1, 1, 1, true, 5)); // beyond eventNumber
        packet(&mut f, 1, 8, 4, 0, 4, 3, 2, &p);
        // A frame-like packet with 12-byte events, skipped.
        packet(&mut f, 2, 12, 8, 0, 1, 1, 1, &[0x11; 12]);
        // Timestamp overflow 3.
        packet(
            &mut f,
            1,
            8,
            4,
            3,
            1,
            1,
            1,
            &pol(0x7fff, 0x7fff, 1, true, 9),
        );
        // An empty polarity packet.
        packet(&mut f, 1, 8, 4, 3, 0, 0, 0, &[]);
        let ev = parse_aedat31(&f).expect("parse");
        let e = |x, y, polarity, t_us| Event2d {
            x,
            y,
            polarity,
            t_us,
        };
        assert_eq!(
            ev,
            vec![
                e(5, 7, 1, 100),
                e(127, 0, 0, i32::MAX as u64),
                e(0x7fff, 0x7fff, 1, (3u64 << 31) | 9),
            ]
        );
        // Reading a non-polarity packet's events gives none.
        let mut r = Aedat31Reader::new(&f[..]).expect("header");
        let mut out = Vec::new();
        let h = r
            .next_polarity_packet(&mut out)
            .expect("packet")
            .expect("some");
        assert_eq!((h.event_type, h.capacity, out.len()), (0, 2, 0));
        assert_eq!(r.read_events(&mut out, 10).expect("read"), 0);
        // A header only is an empty recording; so is AEDAT 3.0 with "\n" lines.
        assert_eq!(parse_aedat31(HEADER31).expect("parse"), vec![]);
        let r = Aedat31Reader::new(&b"#!AER-DAT3.0\n#!END-HEADER\n"[..]).expect("3.0");
        assert_eq!(r.header().version, "3.0");
        assert!(r.header().lines.is_empty());
    }

    #[test]
    fn truncated_aedat31_files_are_format_errors() {
        let bytes = std::fs::read(concat_path()).expect("read");
        let hl = header_len(&bytes);
        let packets = packet_offsets(&bytes);
        let (p1, last) = (
            packets[1] as usize,
            *packets.last().expect("packets") as usize,
        );
        let path = tmp_path("trunc.aedat");
        let cases: Vec<(usize, u64, &str)> = vec![
            (0, 0, "empty"),
            (5, 0, "cut short"),
            (40, 28, "cut short"),
            (hl - 1, (hl - 14) as u64, "cut short"),
            (hl + 10, hl as u64, "truncated packet header: 10 of 28"),
            (hl + 27, hl as u64, "truncated packet header: 27 of 28"),
            (hl + 28 + 103, hl as u64, "103 of 32768 payload bytes"),
            (p1 - 1, hl as u64, "32767 of 32768 payload bytes"),
            (p1 + 3, p1 as u64, "3 of 28"),
            (bytes.len() - 1, last as u64, "truncated packet"),
            (bytes.len() - 8, last as u64, "truncated packet"),
        ];
        for (len, offset, needle) in cases {
            std::fs::write(&path, &bytes[..len]).expect("write");
            expect_format(read_aedat31(&path), &path, offset, needle);
        }
        // Cut exactly between packets: a shorter, valid recording.
        std::fs::write(&path, &bytes[..p1]).expect("write");
        assert_eq!(read_aedat31(&path).expect("read").len(), 4096);
        std::fs::write(&path, &bytes[..hl]).expect("write");
        assert_eq!(read_aedat31(&path).expect("read").len(), 0);
        std::fs::remove_file(&path).ok();
        // A missing file is an I/O error naming it.
        let missing = tmp_path("missing.aedat");
        assert!(matches!(read_aedat31(&missing), Err(Error::Io { path, .. }) if path == missing));
    }

    #[test]
    fn corrupt_aedat31_headers_are_format_errors() {
        let bytes = std::fs::read(concat_path()).expect("read");
        let hl = header_len(&bytes);
        // Keep the file short: header and two packets.
        let small = &bytes[..packet_offsets(&bytes)[2] as usize];
        let path = tmp_path("corrupt.aedat");
        let patch = |field: usize, v: i32| {
            let mut b = small.to_vec();
            b[hl + field..hl + field + 4].copy_from_slice(&v.to_le_bytes());
            b
        };
        let cases: Vec<(Vec<u8>, u64, &str)> = vec![
            (patch(4, 0), hl as u64 + 4, "eventSize 0"),
            (patch(4, -8), hl as u64 + 4, "eventSize -8"),
            (patch(4, 4), hl as u64 + 4, "polarity packet: eventSize 4"),
            (patch(8, 6), hl as u64 + 8, "eventTSOffset 6"),
            (patch(8, -1), hl as u64 + 8, "eventTSOffset -1"),
            (patch(12, -5), hl as u64 + 12, "eventTSOverflow"),
            (patch(16, i32::MAX), hl as u64 + 16, "exceeds"),
            (patch(16, -1), hl as u64 + 16, "negative eventCapacity"),
            (patch(16, 100), hl as u64 + 20, "eventNumber 4096"),
            (patch(20, 5000), hl as u64 + 20, "eventNumber 5000"),
            (patch(24, 4097), hl as u64 + 24, "eventValid 4097"),
            (patch(24, -1), hl as u64 + 24, "eventValid -1"),
        ];
        for (b, offset, needle) in cases {
            std::fs::write(&path, &b).expect("write");
            expect_format(read_aedat31(&path), &path, offset, needle);
        }
        // A huge but allowed packet of another type, cut short: no huge
        // allocation, a truncation error.
        let mut b = small.to_vec();
        b[hl..hl + 2].copy_from_slice(&7i16.to_le_bytes());
        b[hl + 4..hl + 8].copy_from_slice(&64i32.to_le_bytes());
        b[hl + 16..hl + 20].copy_from_slice(&(1i32 << 22).to_le_bytes());
        std::fs::write(&path, &b).expect("write");
        expect_format(
            read_aedat31(&path),
            &path,
            hl as u64,
            "of 268435456 payload bytes",
        );
        // A negative timestamp names the event's timestamp bytes.
        let mut b = small.to_vec();
        b[hl + 28 + 8 * 3 + 4..hl + 28 + 8 * 4].copy_from_slice(&(-7i32).to_le_bytes());
        std::fs::write(&path, &b).expect("write");
        expect_format(
            read_aedat31(&path),
            &path,
            (hl + 28 + 8 * 3 + 4) as u64,
            "negative timestamp",
        );
        // Not AEDAT 3.1 at all.
        let bad_files: Vec<(Vec<u8>, u64, &str)> = vec![
            (
                std::fs::read(data_dir().join("dvs-gesture/1.bs2")).expect("bs2"),
                0,
                "not an AEDAT 3.1 file",
            ),
            (
                std::fs::read(aedat4_path()).expect("aedat4"),
                0,
                "not an AEDAT 3.1 file",
            ),
            (
                b"#!AER-DAT3.1\r\n#Format: RAW\r\nno hash\r\n#!END-HEADER\r\n".to_vec(),
                28,
                "does not start with '#'",
            ),
            (
                b"#!AER-DAT3.1\r\n#Format: SerializedTS\r\n#!END-HEADER\r\n".to_vec(),
                0,
                "unsupported",
            ),
            (vec![b'#'; 1000], 0, "not an AEDAT 3.1 file"),
        ];
        for (b, offset, needle) in bad_files {
            std::fs::write(&path, &b).expect("write");
            expect_format(read_aedat31(&path), &path, offset, needle);
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn random_corruption_never_panics() {
        let bytes = std::fs::read(concat_path()).expect("read");
        let small = &bytes[..packet_offsets(&bytes)[3] as usize];
        let a4 = std::fs::read(aedat4_path()).expect("read");
        let a4 = &a4[..40_000];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..300 {
            for src in [small, a4] {
                let mut b = src.to_vec();
                for _ in 0..rng.random_range(1..6) {
                    // Mostly the headers, sometimes anywhere.
                    let i = if rng.random_bool(0.7) {
                        rng.random_range(0..2400)
                    } else {
                        rng.random_range(0..b.len())
                    };
                    b[i] = rng.random();
                }
                let len = rng.random_range(0..=b.len());
                let _ = parse_aedat31(&b[..len]);
                let _ = parse_aedat4(&b[..len]);
            }
        }
    }

    // --- AEDAT 4.0 ---------------------------------------------------------

    /// Decompressed packets of the fixture: (stream id, data).
    fn aedat4_packets(bytes: &[u8]) -> Vec<(i32, Vec<u8>)> {
        let mut r = Aedat4Reader::new(bytes).expect("header");
        let mut out = Vec::new();
        while let Some(p) = r.next_packet().expect("packet") {
            out.push((p.stream_id, p.data.to_vec()));
        }
        out
    }

    const A4_HEADER_END: usize = 2334;
    const A4_COMPRESSION_AT: usize = 46;
    const A4_TABLE_POS_AT: usize = 54;
    const A4_TABLE_POS: u64 = 945_243;

    #[test]
    fn aedat4_tonic_sample() {
        let bytes = std::fs::read(aedat4_path()).expect("read");
        let r = Aedat4Reader::new(&bytes[..]).expect("header");
        let h = r.header();
        assert_eq!(h.compression, Compression::Lz4);
        assert_eq!(h.data_table_position, Some(A4_TABLE_POS));
        assert_eq!(h.data_offset, A4_HEADER_END as u64);
        assert!(h.info_xml.starts_with("<dv version=\"2.0\">"));
        let ids: Vec<(i32, &str)> = h
            .streams
            .iter()
            .map(|s| (s.id, s.type_identifier.as_str()))
            .collect();
        assert_eq!(ids, [(0, "EVTS"), (2, "IMUS"), (3, "TRIG")]);
        let s = h.event_stream().expect("EVTS stream");
        // The fixture is a DVXplorer recording (320 × 240), as its info node says.
        assert_eq!((s.size_x, s.size_y), (Some(320), Some(240)));
        assert_eq!(s.source.as_deref(), Some("DVXplorer_DXB00010"));

        let packets = aedat4_packets(&bytes);
        assert_eq!(packets.iter().filter(|p| p.0 == 0).count(), 59);
        assert_eq!(packets.iter().filter(|p| p.0 == 2).count(), 59);
        for (id, data) in &packets {
            let want: &[u8] = if *id == 0 { b"EVTS" } else { b"IMUS" };
            assert_eq!(&data[8..12], want);
        }

        let events = read_aedat4(&aedat4_path()).expect("read");
        assert_eq!(events.len(), AEDAT4_SAMPLE_EVENTS);
        assert!(events.iter().all(|e| e.x < 320 && e.y < 240));
        assert!(events.iter().any(|e| e.x > 300) && events.iter().any(|e| e.y > 220));
        assert!(events.iter().any(|e| e.polarity == 0));
        assert!(events.iter().any(|e| e.polarity == 1));
        // Timestamps: absolute µs (Nov 2020), spanning under a minute,
        // monotone but for small reorderings.
        let (t0, t1) = (events[0].t_us, events[events.len() - 1].t_us);
        assert!(t0 >= 1_605_507_430_438_338, "{t0}");
        assert!(t1 > t0 && t1 - t0 < 60_000_000, "{t0}..{t1}");
        let back = events.windows(2).filter(|w| w[1].t_us < w[0].t_us).count();
        assert!(back * 1000 <= events.len(), "{back} backward steps");
        let (_, parsed) = parse_aedat4(&bytes).expect("parse");
        assert_eq!(parsed, events);
    }

    /// Event count of the AEDAT 4.0 fixture.
    const AEDAT4_SAMPLE_EVENTS: usize = 111_954;

    /// Rewrites the fixture with another packet compression and no data table.
    fn recompress(bytes: &[u8], compression: i32, enc: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
        assert_eq!(le_i32(bytes, A4_COMPRESSION_AT), 1);
        let mut out = bytes[..A4_HEADER_END].to_vec();
        out[A4_COMPRESSION_AT..A4_COMPRESSION_AT + 4].copy_from_slice(&compression.to_le_bytes());
        out[A4_TABLE_POS_AT..A4_TABLE_POS_AT + 8].copy_from_slice(&(-1i64).to_le_bytes());
        for (id, data) in aedat4_packets(bytes) {
            let c = enc(&data);
            out.extend_from_slice(&id.to_le_bytes());
            out.extend_from_slice(&(c.len() as u32).to_le_bytes());
            out.extend_from_slice(&c);
        }
        out
    }

    /// A Zstd frame of raw (stored) blocks.
    fn zstd_raw(data: &[u8]) -> Vec<u8> {
        let mut out = 0xFD2F_B528u32.to_le_bytes().to_vec();
        out.push(0xA0); // 4-byte content size, single segment
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(1 << 16).collect()
        };
        for (i, c) in chunks.iter().enumerate() {
            let last = u32::from(i + 1 == chunks.len());
            let bh = last | ((c.len() as u32) << 3);
            out.extend_from_slice(&bh.to_le_bytes()[..3]);
            out.extend_from_slice(c);
        }
        out
    }

    #[test]
    fn aedat4_uncompressed_and_zstd_packets() {
        let bytes = std::fs::read(aedat4_path()).expect("read");
        let (_, want) = parse_aedat4(&bytes).expect("parse");
        let raw = recompress(&bytes, 0, |d| d.to_vec());
        let (h, ev) = parse_aedat4(&raw).expect("uncompressed");
        assert_eq!(
            (h.compression, h.data_table_position),
            (Compression::None, None)
        );
        assert_eq!(ev, want);
        let zstd = recompress(&bytes, 3, zstd_raw);
        let (h, ev) = parse_aedat4(&zstd).expect("zstd");
        assert_eq!(h.compression, Compression::Zstd);
        assert_eq!(ev, want);
        // Without a data table, a cut between packets is a shorter file, a
        // cut inside one an error.
        let p1 = A4_HEADER_END + 8 + le_u32(&raw, A4_HEADER_END + 4) as usize;
        assert!(parse_aedat4(&raw[..p1]).expect("one packet").1.len() < want.len());
        let e = parse_aedat4(&raw[..p1 + 9]).expect_err("cut");
        assert_eq!(e.offset, p1 as u64, "{e}");

        // An absurd event-vector length in an uncompressed packet.
        let first = &raw[A4_HEADER_END + 8..p1];
        let fb = size_prefixed(first, "t").expect("fb");
        let root = fb.root(b"EVTS").expect("root");
        let field = fb.field(root, 0).expect("field").expect("present");
        let vec_len_at = A4_HEADER_END + 8 + 4 + fb.deref(field).expect("vector");
        let mut bad = raw.clone();
        bad[vec_len_at..vec_len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = parse_aedat4(&bad).expect_err("vector length");
        assert_eq!(e.offset, A4_HEADER_END as u64, "{e}");
        assert!(e.msg.contains("run past its end"), "{e}");
        // A wrong size prefix.
        let mut bad = raw.clone();
        bad[A4_HEADER_END + 8..A4_HEADER_END + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = parse_aedat4(&bad).expect_err("size prefix");
        assert_eq!(e.offset, A4_HEADER_END as u64, "{e}");
    }

    #[test]
    fn truncated_aedat4_files_are_format_errors() {
        let bytes = std::fs::read(aedat4_path()).expect("read");
        let hl = A4_HEADER_END;
        let p1 = hl + 8 + le_u32(&bytes, hl + 4) as usize;
        let dt = A4_TABLE_POS as usize;
        let path = tmp_path("trunc.aedat4");
        let cases: Vec<(usize, u64, &str)> = vec![
            (0, 0, "not an AEDAT 4.0 file"),
            (7, 0, "truncated magic"),
            (16, 14, "truncated header size"),
            (100, 14, "truncated header: 82 of 2316"),
            (hl, hl as u64, "ends before the data table"),
            (hl + 4, hl as u64, "truncated packet header: 4 of 8"),
            (
                hl + 100,
                hl as u64,
                "truncated packet (stream 0): 92 of 7949",
            ),
            (p1 - 1, hl as u64, "7948 of 7949"),
            (p1, p1 as u64, "ends before the data table"),
            (dt - 1, 0, "truncated packet"),
        ];
        for (len, offset, needle) in cases {
            std::fs::write(&path, &bytes[..len]).expect("write");
            let r = read_aedat4(&path);
            if len == dt - 1 {
                // The last packet's offset: check the path and message only.
                let Err(Error::Format { path: p, msg, .. }) = r else {
                    panic!("expected a format error, got {r:?}");
                };
                assert_eq!(p, path);
                assert!(msg.contains(needle), "{msg}");
                continue;
            }
            expect_format(r, &path, offset, needle);
        }
        // Up to the data table: all the events.
        std::fs::write(&path, &bytes[..dt]).expect("write");
        assert_eq!(
            read_aedat4(&path).expect("read").len(),
            AEDAT4_SAMPLE_EVENTS
        );

        // Corrupt header fields and packets.
        let patch = |at: usize, v: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + v.len()].copy_from_slice(v);
            b
        };
        let cases: Vec<(Vec<u8>, u64, &str)> = vec![
            (patch(0, b"#!AER-DAT9"), 0, "not an AEDAT 4.0 file"),
            (patch(14, &u32::MAX.to_le_bytes()), 14, "header size"),
            (patch(22, b"XXXX"), 18, "file identifier"),
            (
                patch(A4_COMPRESSION_AT, &[9, 0, 0, 0]),
                46,
                "unknown compression type 9",
            ),
            (
                patch(A4_TABLE_POS_AT, &[5, 0, 0, 0, 0, 0, 0, 0]),
                54,
                "inside the header",
            ),
            (
                patch(hl + 4, &u32::MAX.to_le_bytes()),
                hl as u64 + 4,
                "exceeds",
            ),
            (
                patch(hl + 8, &[0, 0, 0, 0]),
                hl as u64 + 8,
                "LZ4 decompression failed",
            ),
        ];
        for (b, offset, needle) in cases {
            std::fs::write(&path, &b).expect("write");
            expect_format(read_aedat4(&path), &path, offset, needle);
        }
        std::fs::remove_file(&path).ok();
    }
}
