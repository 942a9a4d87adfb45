//! AEDAT 3.1: the packet decoder ([`PacketHeader::parse`],
//! [`PolarityEvent::parse`]) and the strict reader ([`Aedat31Reader`],
//! [`read_aedat31`]), which names the byte offset of the first problem.
//!
//! The decoder is the one of both AEDAT 3.1 readers: the strict reader here
//! and the resynchronising reader of live streams
//! ([`Aedat31Stream`](super::Aedat31Stream)) check packet headers with
//! [`PacketHeader::parse`] and turn event bytes into events with
//! [`polarity_events`]; they differ in what they do with a bad header or an
//! implausible event (an error here, a search for the next packet there).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use slayer_core::Event2d;

use super::counted::Counted;
use super::{MAX_HEADER_BYTES, MAX_PACKET_BYTES};
use crate::error::{format_err, truncated_err, AedatError, Error, FormatError, Result};
use crate::le::{le_i16, le_i32, le_u32};

/// Bytes of an AEDAT 3.1 packet header.
pub const PACKET_HEADER_BYTES: usize = 28;

/// AEDAT 3.1 event type of polarity events.
pub const POLARITY_EVENT: i16 = 1;

/// Bytes of an AEDAT 3.1 polarity event.
pub const POLARITY_EVENT_BYTES: usize = 8;

/// Polarity events decoded per read while streaming (bounds the working
/// buffer of [`Aedat31Events`]).
const CHUNK_EVENTS: usize = 8192;

/// The first bytes of an AEDAT file's version line.
pub const MAGIC: &[u8] = b"#!AER-DAT";

/// One AEDAT 3.1 polarity event as stored, before any judgement: the 8 bytes
/// `data = x<<17 | y<<2 | p<<1 | valid` (u32) and the timestamp (i32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolarityEvent {
    /// Column (15 bits).
    pub x: u16,
    /// Row (15 bits).
    pub y: u16,
    /// Polarity bit (1 = ON).
    pub polarity: u8,
    /// The valid bit.
    pub valid: bool,
    /// The timestamp field (µs, low 31 bits of the time; negative is
    /// malformed).
    pub t: i32,
}

impl PolarityEvent {
    /// Decodes one 8-byte polarity event.
    pub fn parse(b: &[u8; POLARITY_EVENT_BYTES]) -> Self {
        Self::from_slice(b)
    }

    /// Decodes the first 8 bytes of `b` (the caller checks the length).
    fn from_slice(b: &[u8]) -> Self {
        let data = le_u32(b, 0);
        PolarityEvent {
            x: ((data >> 17) & 0x7fff) as u16,
            y: ((data >> 2) & 0x7fff) as u16,
            polarity: ((data >> 1) & 1) as u8,
            valid: data & 1 == 1,
            t: le_i32(b, 4),
        }
    }

    /// The full time in µs, `ts_overflow << 31 | t`, of an event of a packet
    /// with timestamp overflow `ts_overflow`; `None` when `t` is negative.
    pub fn time_us(&self, ts_overflow: u32) -> Option<u64> {
        u64::try_from(self.t)
            .ok()
            .map(|t| (u64::from(ts_overflow) << 31) | t)
    }

    /// The event at time `t_us` (from [`PolarityEvent::time_us`]).
    pub fn at(&self, t_us: u64) -> Event2d {
        Event2d {
            x: self.x,
            y: self.y,
            polarity: self.polarity,
            t_us,
        }
    }
}

/// The polarity events of a run of event bytes, in order (a trailing
/// partial event is ignored: callers pass whole events).
pub fn polarity_events(bytes: &[u8]) -> impl Iterator<Item = PolarityEvent> + '_ {
    bytes
        .chunks_exact(POLARITY_EVENT_BYTES)
        .map(PolarityEvent::from_slice)
}

/// Splits a header line's text (after its `#`) into a trimmed key and
/// value at the first `:` (`"Source 1: DVS128"` → `("Source 1", "DVS128")`).
pub fn header_field(text: &str) -> Option<(&str, &str)> {
    let (k, v) = text.split_once(':')?;
    Some((k.trim(), v.trim()))
}

/// Sensor size `(width, height)` of a camera named in a `#Source` header
/// line (`DVS128`, `DAVIS240`, `DAVIS346`, `DVXplorer`).
pub fn sensor_of_name(name: &str) -> Option<(u32, u32)> {
    let n = name.to_ascii_uppercase();
    if n.contains("DVS128") {
        Some((128, 128))
    } else if n.contains("DAVIS240") {
        Some((240, 180))
    } else if n.contains("DAVIS346") {
        Some((346, 260))
    } else if n.contains("DVXPLORER") || n.contains("DVXP") {
        Some((640, 480))
    } else {
        None
    }
}

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
            let (k, v) = header_field(l)?;
            (k == key).then_some(v)
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
/// # use slayer_events::aedat::Aedat31Reader;
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
            return Err(truncated_err(
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
        let overflow = cur.header.ts_overflow;
        for (i, e) in polarity_events(&self.buf[..bytes]).enumerate() {
            if !e.valid {
                continue;
            }
            let Some(t_us) = e.time_us(overflow) else {
                return Err(format_err(
                    first + (i * POLARITY_EVENT_BYTES + 4) as u64,
                    format!("polarity event: negative timestamp {}", e.t),
                ));
            };
            out.push(e.at(t_us));
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
    truncated_err(
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
    // Reading a byte slice cannot fail; kept total all the same.
    Aedat31Reader::new(bytes)
        .map_err(AedatError::into_format)?
        .events()
        .collect::<Result<Vec<_>, _>>()
        .map_err(AedatError::into_format)
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

#[cfg(test)]
mod tests {
    use super::super::v4::parse_aedat4;
    use super::*;
    use crate::test_data::{data_dir, expect_format};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::io;
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
}
