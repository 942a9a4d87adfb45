//! Event sources for streaming: an AEDAT 3.1 byte stream (file or standard
//! input) read by a resynchronising parser, AEDAT 4.0 files, and `.bs2`
//! files, each decoded incrementally in constant memory.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use slayer_core::Event2d;

use super::bytes::ByteBuf;
use super::stats::Counters;
use crate::data::aedat::{le_i32, Aedat4Reader, PacketHeader, PACKET_HEADER_BYTES};
use crate::error::{Error, Result};

/// Events a source hands out per call (at most).
pub const CHUNK_EVENTS: usize = 4096;

/// Fault messages kept for the caller by default.
pub const DEFAULT_FAULT_REPORTS: usize = 5;

/// Counters of what a stream read and dropped, and the first few fault
/// messages (the rest are only counted: memory stays constant).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The counters.
    pub counters: Counters,
    /// Faults seen (reported or not).
    pub total: u64,
    /// How many faults to keep messages for.
    pub max_reports: usize,
    /// Messages not yet taken by [`Faults::take_messages`].
    pending: Vec<String>,
}

impl Faults {
    /// Keeps messages for the first `max_reports` faults.
    pub fn new(max_reports: usize) -> Self {
        Self {
            max_reports,
            ..Self::default()
        }
    }

    /// Records a fault: its message is kept while fewer than `max_reports`
    /// faults have been seen.
    pub fn report(&mut self, msg: impl FnOnce() -> String) {
        if self.total < self.max_reports as u64 {
            self.pending.push(msg());
        }
        self.total += 1;
    }

    /// The messages recorded since the last call.
    pub fn take_messages(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
    }
}

/// What one call of [`Source::next`] delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Events were appended (possibly none, e.g. after a skipped packet).
    Events,
    /// A new recording starts here (a file header in mid-stream): the
    /// events that follow have their own time base.
    NewSegment,
    /// The stream has ended.
    End,
}

/// Where a source's time base starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Stream time 0 is the first event (AEDAT: absolute camera time).
    FirstEvent,
    /// Stream time is the file's time (`.bs2` samples start near 0).
    Zero,
}

/// The input formats `slayer stream` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// AEDAT 3.1 (`.aedat`, or standard input).
    Aedat31,
    /// AEDAT 4.0 (`.aedat4`).
    Aedat4,
    /// 40-bit `.bs2` / N-MNIST `.bin`.
    Bs2,
    /// Prophesee EVT 2.0 / 3.0 (`.raw`; on standard input when it starts
    /// with a `%` header).
    Raw,
}

impl Format {
    /// The format of a path by its extension (`-` is AEDAT 3.1 on stdin).
    pub fn of_path(path: &Path) -> Result<Self> {
        if path.as_os_str() == "-" {
            return Ok(Format::Aedat31);
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "aedat" | "aedat3" => Ok(Format::Aedat31),
            "aedat4" => Ok(Format::Aedat4),
            "bs2" | "bin" => Ok(Format::Bs2),
            "raw" => Ok(Format::Raw),
            _ => Err(Error::Config(format!(
                "{}: unknown stream type (expected .aedat, .aedat4, .bs2, .bin, .raw, or - for AEDAT 3.1 or Prophesee raw on stdin)",
                path.display()
            ))),
        }
    }
}

/// An open event source.
pub enum Source {
    /// AEDAT 3.1 from any reader.
    Aedat31(Aedat31Stream<Box<dyn Read>>),
    /// AEDAT 4.0 file.
    Aedat4(Aedat4Source),
    /// `.bs2` file.
    Bs2(Bs2Source<Box<dyn Read>>),
    /// Prophesee raw (EVT 2.0 / 3.0) from any reader.
    Raw(RawSource),
    /// An AEDAT 4 network stream (DV, dv-processing) over TCP.
    Tcp(TcpSource),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Source::Aedat31(_) => "Source::Aedat31",
            Source::Aedat4(_) => "Source::Aedat4",
            Source::Bs2(_) => "Source::Bs2",
            Source::Raw(_) => "Source::Raw",
            Source::Tcp(_) => "Source::Tcp",
        })
    }
}

impl Source {
    /// Opens `path` (`-`: AEDAT 3.1 on standard input) by its extension.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(addr) = path.to_str().and_then(|p| p.strip_prefix("tcp://")) {
            return Ok(Source::Tcp(TcpSource::connect(addr)?));
        }
        let format = Format::of_path(path)?;
        if path.as_os_str() == "-" {
            // AEDAT 3.1, or Prophesee raw when the stream starts with `%`.
            let mut stdin = BufReader::with_capacity(1 << 16, io::stdin());
            let first = loop {
                match std::io::BufRead::fill_buf(&mut stdin) {
                    Ok(b) => break b.first().copied(),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(Error::io(path, e)),
                }
            };
            let format = if first == Some(b'%') {
                Format::Raw
            } else {
                format
            };
            return Self::from_reader(Box::new(stdin), format, path);
        }
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        match format {
            Format::Aedat4 => Ok(Source::Aedat4(Aedat4Source::new(
                BufReader::with_capacity(1 << 16, file),
                path,
            )?)),
            _ => Self::from_reader(Box::new(file), format, path),
        }
    }

    /// A source of `format` over any reader (`name` is used in messages).
    pub fn from_reader(r: Box<dyn Read>, format: Format, name: &Path) -> Result<Self> {
        match format {
            Format::Aedat31 => Ok(Source::Aedat31(
                Aedat31Stream::new(r).map_err(|e| e.at(name))?,
            )),
            Format::Bs2 => Ok(Source::Bs2(Bs2Source::new(r))),
            Format::Raw => Ok(Source::Raw(RawSource::new(r, name)?)),
            Format::Aedat4 => Ok(Source::Aedat4(Aedat4Source::new(
                BufReader::with_capacity(1 << 16, r),
                name,
            )?)),
        }
    }

    /// Sensor size `(width, height)` named by the stream's header, if any.
    pub fn sensor(&self) -> Option<(u32, u32)> {
        match self {
            Source::Aedat31(s) => s.sensor(),
            Source::Aedat4(s) => s.sensor,
            Source::Bs2(_) => None,
            Source::Raw(s) => s.header.geometry.map(|(w, h)| (u32::from(w), u32::from(h))),
            Source::Tcp(s) => s.inner.as_ref().and_then(|i| i.sensor),
        }
    }

    /// Tells the source the sensor size it should treat as valid (events
    /// outside are counted as out of range).
    pub fn set_sensor(&mut self, w: u32, h: u32) {
        match self {
            Source::Aedat31(s) => s.set_sensor(w, h),
            Source::Aedat4(_) | Source::Bs2(_) | Source::Raw(_) | Source::Tcp(_) => {}
        }
    }

    /// The source's time base.
    pub fn origin(&self) -> Origin {
        match self {
            Source::Bs2(_) => Origin::Zero,
            _ => Origin::FirstEvent,
        }
    }

    /// Appends up to [`CHUNK_EVENTS`] events to `out`; faults are counted in
    /// `f` and never end the stream; only a failing reader is an error.
    pub fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        let chunk = match self {
            Source::Aedat31(s) => s.next(out, f),
            Source::Aedat4(s) => s.next(out, f),
            Source::Bs2(s) => s.next(out, f),
            Source::Raw(s) => s.next(out, f),
            Source::Tcp(s) => s.next(out, f),
        }?;
        f.counters.bytes = match self {
            Source::Aedat31(s) => s.buf.bytes_read(),
            Source::Aedat4(s) => s.reader.offset(),
            Source::Bs2(s) => s.bytes,
            Source::Raw(s) => s.bytes,
            Source::Tcp(s) => s.bytes + s.inner.as_ref().map_or(0, |i| i.reader.offset()),
        };
        Ok(chunk)
    }
}

// ---------------------------------------------------------------------------
// AEDAT 3.1
// ---------------------------------------------------------------------------

/// Buffer of the AEDAT 3.1 parser (constant memory).
const AEDAT31_BUFFER: usize = 1 << 18;
/// Longest text header line accepted.
const MAX_HEADER_LINE: usize = 1 << 14;
/// The first bytes of an AEDAT file header.
const MAGIC: &[u8] = b"#!AER-DAT";
/// Largest event type id taken for plausible.
const MAX_EVENT_TYPE: i16 = 31;
/// Consecutive implausible events that make the parser give up on a packet.
pub const DESYNC_RUN: u32 = 8;

/// Checks a 28-byte packet header: the offline reader's validation
/// ([`PacketHeader::parse`]: consistent sizes and counts, bounded payload)
/// plus what a live stream can demand. `strict` (used while searching for
/// the next packet) admits only non-empty polarity and special-event
/// packets; otherwise any event type up to 31 passes. Special events (type
/// 0), like polarity events, must be 8 bytes with the timestamp at 4.
/// `last_overflow`: the timestamp overflow of the previous packets, when two
/// in a row agreed on it (it may then only stay or grow by one).
fn plausible_header(
    b: &[u8],
    offset: u64,
    strict: bool,
    last_overflow: Option<u32>,
) -> std::result::Result<PacketHeader, String> {
    let raw: &[u8; PACKET_HEADER_BYTES] = b
        .get(..PACKET_HEADER_BYTES)
        .and_then(|h| h.try_into().ok())
        .ok_or("short packet header")?;
    let h = PacketHeader::parse(raw, offset).map_err(|e| e.msg)?;
    let event_type = h.event_type;
    if !(0..=MAX_EVENT_TYPE).contains(&event_type) || (strict && event_type > 1) {
        return Err(format!("event type {event_type}"));
    }
    if !(0..=255).contains(&h.event_source) {
        return Err(format!("event source {}", h.event_source));
    }
    if event_type == 0 && (h.event_size != 8 || h.ts_offset != 4) {
        return Err(format!(
            "special events of {} bytes, timestamp at {}",
            h.event_size, h.ts_offset
        ));
    }
    if let Some(l) = last_overflow {
        if !overflow_follows(l, h.ts_overflow) {
            return Err(format!("timestamp overflow {} after {l}", h.ts_overflow));
        }
    }
    if strict && h.number == 0 {
        return Err("empty packet".into());
    }
    Ok(h)
}

/// Whether a packet's timestamp overflow may follow `prev`'s: the same, or
/// one more (the 31-bit clock wrapped once).
fn overflow_follows(prev: u32, next: u32) -> bool {
    next == prev || next == prev.wrapping_add(1)
}

/// Parser state.
#[derive(Debug, Clone, Copy)]
enum State {
    /// At a packet boundary (or a text header).
    Between,
    /// Searching byte by byte for the next plausible packet header.
    Scan,
    /// Reading the events of a polarity packet.
    Events {
        hdr: PacketHeader,
        left: u32,
        /// Consecutive implausible events, their first offset, and the
        /// events of the run counted as invalid / out of range so far.
        run: u32,
        run_start: u64,
        run_invalid: u64,
        run_oor: u64,
    },
    /// Skipping `left` payload bytes of a packet of another type.
    Skip { left: u64 },
    /// Done.
    End,
}

/// A resynchronising AEDAT 3.1 parser over any byte stream.
///
/// * It reads the `#!AER-DAT3.1` text header, and any later one (several
///   files concatenated on a pipe): each mid-stream header starts a new
///   segment ([`Chunk::NewSegment`]).
/// * A packet header is checked for plausibility (known type, event size 8
///   and timestamp offset 4 for polarity packets, `valid ≤ number ≤
///   capacity`, bounded payload, timestamp overflow equal to the previous
///   packet's or one more). An implausible header is counted and the parser
///   searches byte by byte for the next plausible one (polarity or special,
///   non-empty), counting the skipped bytes.
/// * Events are decoded as they arrive. An event is plausible when its valid
///   bit is set, its timestamp non-negative and its coordinates inside the
///   sensor; [`DESYNC_RUN`] implausible events in a row mean the packet's
///   length was wrong (a damaged header, lost bytes): the parser abandons the
///   packet at the first of them and searches for the next header.
/// * When a packet declares more capacity than events, the next header is
///   looked for right after the events first.
/// * A truncated last packet gives the events present; the missing ones are
///   counted as lost.
///
/// Memory: one 256 KiB buffer.
pub struct Aedat31Stream<R> {
    buf: ByteBuf<R>,
    state: State,
    sensor_named: Option<(u32, u32)>,
    sensor: (u32, u32),
    /// Overflow of the last accepted packet.
    last_overflow: Option<u32>,
    /// True when the last two accepted packets agreed on the overflow (then
    /// a header that disagrees is taken for damaged).
    overflow_confirmed: bool,
}

/// Sensor size of an AEDAT 3.1 `Source` name.
fn sensor_of_name(name: &str) -> Option<(u32, u32)> {
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

impl<R: Read> Aedat31Stream<R> {
    /// Reads the text header; an error when the stream does not start with
    /// `#!AER-DAT3` (or is unreadable).
    pub fn new(inner: R) -> std::result::Result<Self, crate::data::AedatError> {
        let mut s = Self {
            buf: ByteBuf::new(inner, AEDAT31_BUFFER),
            state: State::Between,
            sensor_named: None,
            sensor: (1 << 15, 1 << 15),
            last_overflow: None,
            overflow_confirmed: false,
        };
        let io_err = |source, offset| crate::data::AedatError::Io { offset, source };
        s.buf.ensure(MAGIC.len() + 2).map_err(|e| io_err(e, 0))?;
        let head = s.buf.avail();
        if !head.starts_with(b"#!AER-DAT3") {
            let shown: String = String::from_utf8_lossy(&head[..head.len().min(16)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            return Err(crate::data::AedatError::Format(crate::data::FormatError {
                offset: 0,
                msg: format!(
                    "not an AEDAT 3.1 stream: it starts with {shown:?}, not \"#!AER-DAT3.1\""
                ),
            }));
        }
        let mut f = Faults::new(0);
        s.read_text_header(&mut f, true).map_err(|e| io_err(e, 0))?;
        if let Some(sz) = s.sensor_named {
            s.sensor = sz;
        }
        Ok(s)
    }

    /// The sensor size the header names.
    pub fn sensor(&self) -> Option<(u32, u32)> {
        self.sensor_named
    }

    /// Sets the sensor size events must fall in.
    pub fn set_sensor(&mut self, w: u32, h: u32) {
        self.sensor = (w, h);
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.buf.bytes_read()
    }

    /// Reads `#` lines up to `#!END-HEADER` (or up to the first line that
    /// does not start with `#`, which is left unread). A stream that ends
    /// inside its `first` header (a cut file) is an error, as for the
    /// offline reader; a later header cut short costs its bytes.
    fn read_text_header(&mut self, f: &mut Faults, first: bool) -> io::Result<()> {
        loop {
            // Read until a whole line is there (a live stream may trickle).
            let mut want = 1;
            let nl = loop {
                self.buf.ensure(want)?;
                let avail = self.buf.avail();
                if avail.first() != Some(&b'#') {
                    if !avail.is_empty() {
                        let at = self.buf.offset();
                        f.report(|| {
                            format!("byte offset {at}: file header ends without #!END-HEADER")
                        });
                    }
                    return Ok(());
                }
                if let Some(nl) = avail.iter().position(|&b| b == b'\n') {
                    break nl;
                }
                if first && self.buf.at_eof() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "truncated header: the stream ends inside its file header at byte offset {}",
                            self.buf.offset() + avail.len() as u64
                        ),
                    ));
                }
                if avail.len() >= MAX_HEADER_LINE || self.buf.at_eof() {
                    // An overlong or unterminated line: give up on the
                    // header and look for packets after its first byte.
                    let at = self.buf.offset();
                    f.report(|| format!("byte offset {at}: unterminated file header line"));
                    f.counters.skipped_bytes += 1;
                    self.buf.consume(1);
                    self.state = State::Scan;
                    return Ok(());
                }
                want = avail.len() + 1;
            };
            let avail = self.buf.avail();
            let line = String::from_utf8_lossy(&avail[..nl]);
            let line = line.trim_end_matches('\r').to_string();
            self.buf.consume(nl + 1);
            if line == "#!END-HEADER" {
                return Ok(());
            }
            if let Some((k, v)) = line.trim_start_matches('#').split_once(':') {
                if k.trim().starts_with("Source") {
                    if let Some(sz) = sensor_of_name(v.trim()) {
                        self.sensor_named.get_or_insert(sz);
                    }
                }
            }
        }
    }

    /// Decodes the next events (see [`Source::next`]).
    pub fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        loop {
            match self.state {
                State::End => return Ok(Chunk::End),
                State::Between => {
                    self.buf.ensure(PACKET_HEADER_BYTES.max(MAGIC.len()))?;
                    let avail = self.buf.avail();
                    if avail.is_empty() {
                        self.state = State::End;
                        continue;
                    }
                    if avail.starts_with(MAGIC) {
                        self.last_overflow = None;
                        self.overflow_confirmed = false;
                        self.read_text_header(f, false)?;
                        return Ok(Chunk::NewSegment);
                    }
                    let at = self.buf.offset();
                    if avail.len() < PACKET_HEADER_BYTES {
                        let n = avail.len();
                        f.counters.skipped_bytes += n as u64;
                        f.report(|| {
                            format!("byte offset {at}: stream ends inside a packet header ({n} of 28 bytes)")
                        });
                        self.buf.consume(n);
                        self.state = State::End;
                        continue;
                    }
                    match plausible_header(avail, at, false, self.confirmed_overflow()) {
                        Ok(h) => {
                            self.buf.consume(PACKET_HEADER_BYTES);
                            self.start_packet(h, f);
                        }
                        Err(why) => {
                            f.counters.bad_packets += 1;
                            f.report(|| {
                                format!(
                                    "byte offset {at}: bad packet header ({why}); resynchronising"
                                )
                            });
                            self.buf.consume(1);
                            f.counters.skipped_bytes += 1;
                            self.state = State::Scan;
                        }
                    }
                }
                State::Scan => {
                    if self.scan(f)? {
                        // A buffer of garbage searched: let the caller see
                        // the time pass (stats, warnings) before going on.
                        return Ok(Chunk::Events);
                    }
                }
                State::Skip { left } => {
                    if left == 0 {
                        self.state = State::Between;
                        continue;
                    }
                    self.buf.ensure(1)?;
                    let n = (self.buf.avail().len() as u64).min(left) as usize;
                    if n == 0 {
                        let at = self.buf.offset();
                        f.report(|| format!("byte offset {at}: stream ends inside a packet"));
                        self.state = State::End;
                        continue;
                    }
                    self.buf.consume(n);
                    self.state = State::Skip {
                        left: left - n as u64,
                    };
                    return Ok(Chunk::Events);
                }
                State::Events { .. } => {
                    self.events(out, f)?;
                    return Ok(Chunk::Events);
                }
            }
        }
    }

    /// The overflow a new header must agree with, once confirmed.
    fn confirmed_overflow(&self) -> Option<u32> {
        self.last_overflow.filter(|_| self.overflow_confirmed)
    }

    fn start_packet(&mut self, h: PacketHeader, f: &mut Faults) {
        f.counters.packets += 1;
        self.overflow_confirmed = self
            .last_overflow
            .is_some_and(|l| overflow_follows(l, h.ts_overflow));
        self.last_overflow = Some(h.ts_overflow);
        if h.event_type == 1 {
            self.state = State::Events {
                hdr: h,
                left: h.number,
                run: 0,
                run_start: 0,
                run_invalid: 0,
                run_oor: 0,
            };
        } else {
            f.counters.other_packets += 1;
            self.state = State::Skip {
                left: h.payload_bytes(),
            };
        }
    }

    /// Searches for a plausible packet header or a file header.
    /// Searches for the next packet or file header. `true`: a whole buffer
    /// was searched without finding one (the search goes on at the next call).
    fn scan(&mut self, f: &mut Faults) -> io::Result<bool> {
        self.buf.ensure(PACKET_HEADER_BYTES.max(MAGIC.len()))?;
        let avail = self.buf.avail();
        let base = self.buf.offset();
        if avail.len() < PACKET_HEADER_BYTES.max(MAGIC.len()) && self.buf.at_eof() {
            let n = avail.len();
            if avail.starts_with(MAGIC) && n >= MAGIC.len() {
                self.state = State::Between;
                return Ok(false);
            }
            f.counters.skipped_bytes += n as u64;
            self.buf.consume(n);
            self.state = State::End;
            return Ok(false);
        }
        let last = avail.len().saturating_sub(PACKET_HEADER_BYTES);
        let mut found = None;
        for i in 0..=last {
            let w = &avail[i..];
            if w.starts_with(MAGIC) {
                found = Some((i, None));
                break;
            }
            if w[0] <= 1 && w[1] == 0 {
                // The overflow is not checked here: after a damaged
                // header the reference itself may be the damaged one.
                if let Ok(h) = plausible_header(w, base + i as u64, true, None) {
                    found = Some((i, Some(h)));
                    break;
                }
            }
        }
        match found {
            Some((i, h)) => {
                f.counters.skipped_bytes += i as u64;
                self.buf.consume(i);
                match h {
                    Some(h) => {
                        self.buf.consume(PACKET_HEADER_BYTES);
                        self.start_packet(h, f);
                    }
                    None => self.state = State::Between,
                }
                Ok(false)
            }
            None => {
                let n = last + 1;
                f.counters.skipped_bytes += n as u64;
                self.buf.consume(n);
                Ok(true)
            }
        }
    }

    /// Decodes the available events of the current packet (at most
    /// [`CHUNK_EVENTS`]), waiting for at least one.
    fn events(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<()> {
        let State::Events {
            hdr,
            mut left,
            mut run,
            mut run_start,
            mut run_invalid,
            mut run_oor,
        } = self.state
        else {
            return Ok(());
        };
        if left == 0 {
            self.end_packet(hdr, f)?;
            return Ok(());
        }
        self.buf.ensure(8)?;
        let avail = self.buf.avail();
        let n = (avail.len() / 8).min(left as usize).min(CHUNK_EVENTS);
        if n == 0 {
            // The stream ended inside the packet.
            f.counters.lost_events += u64::from(left);
            f.counters.invalid += run_invalid;
            f.counters.out_of_range += run_oor;
            f.counters.events_in += run_invalid + run_oor;
            let at = hdr.offset;
            f.report(|| {
                format!(
                    "byte offset {at}: truncated packet, {left} of {} events missing",
                    hdr.number
                )
            });
            let rest = avail.len();
            f.counters.skipped_bytes += rest as u64;
            self.buf.consume(rest);
            self.state = State::End;
            return Ok(());
        }
        let base = self.buf.offset();
        let hi = u64::from(hdr.ts_overflow) << 31;
        let (sw, sh) = self.sensor;
        let mut desync = false;
        let mut used = 0;
        for (i, e) in avail[..n * 8].chunks_exact(8).enumerate() {
            used = i + 1;
            let data = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
            let t = le_i32(e, 4);
            let x = (data >> 17) & 0x7fff;
            let y = (data >> 2) & 0x7fff;
            let ok = data & 1 == 1 && t >= 0;
            let inside = x < sw && y < sh;
            if ok && inside {
                f.counters.invalid += run_invalid;
                f.counters.out_of_range += run_oor;
                f.counters.events_in += run_invalid + run_oor;
                run = 0;
                run_invalid = 0;
                run_oor = 0;
                f.counters.events_in += 1;
                out.push(Event2d {
                    x: x as u16,
                    y: y as u16,
                    polarity: ((data >> 1) & 1) as u8,
                    t_us: hi | t as u64,
                });
                continue;
            }
            if run == 0 {
                run_start = base + 8 * i as u64;
            }
            run += 1;
            if !ok {
                run_invalid += 1;
            } else {
                run_oor += 1;
            }
            if run >= DESYNC_RUN {
                desync = true;
                break;
            }
        }
        self.buf.consume(used * 8);
        left -= used as u32;
        if desync {
            // Give up on the packet: its remaining events are lost, the
            // implausible ones were no events at all.
            let lost = left + run;
            f.counters.lost_events += u64::from(lost);
            f.counters.desyncs += 1;
            let at = run_start;
            f.report(|| {
                format!(
                    "byte offset {at}: {DESYNC_RUN} implausible events in a row in the packet at {}; \
                     abandoning its last {lost} events and resynchronising",
                    hdr.offset
                )
            });
            if self.buf.set_mark_at(run_start) {
                self.buf.rewind_to_mark();
            }
            self.buf.clear_mark();
            self.state = State::Scan;
            return Ok(());
        }
        if run > 0 {
            if !self.buf.has_mark() {
                self.buf.set_mark_at(run_start);
            }
        } else {
            self.buf.clear_mark();
        }
        self.state = State::Events {
            hdr,
            left,
            run,
            run_start,
            run_invalid,
            run_oor,
        };
        if left == 0 {
            self.end_packet(hdr, f)?;
        }
        Ok(())
    }

    /// After the last event of a packet: commit a trailing run of
    /// implausible events, then skip unused capacity (or look for the next
    /// header right away when the capacity looks wrong).
    fn end_packet(&mut self, hdr: PacketHeader, f: &mut Faults) -> io::Result<()> {
        if let State::Events {
            run_invalid,
            run_oor,
            ..
        } = self.state
        {
            f.counters.invalid += run_invalid;
            f.counters.out_of_range += run_oor;
            f.counters.events_in += run_invalid + run_oor;
        }
        self.buf.clear_mark();
        let unused = u64::from(hdr.capacity - hdr.number) * u64::from(hdr.event_size);
        if unused == 0 {
            self.state = State::Between;
            return Ok(());
        }
        self.buf.ensure(PACKET_HEADER_BYTES)?;
        let avail = self.buf.avail();
        let here = avail.len() >= PACKET_HEADER_BYTES
            && plausible_header(avail, self.buf.offset(), true, self.confirmed_overflow()).is_ok();
        self.state = if here || avail.is_empty() {
            State::Between
        } else {
            State::Scan
        };
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// AEDAT 4.0
// ---------------------------------------------------------------------------

/// Consecutive failing packets after which an AEDAT 4.0 stream is given up.
const MAX_AEDAT4_FAILURES: u32 = 1000;

/// AEDAT 4.0 packets of the first polarity stream. A packet that fails to
/// decompress or decode is counted and skipped (its size prefix still frames
/// the next one); a broken size prefix ends the stream.
pub struct Aedat4Source {
    reader: Aedat4Reader<BufReader<Box<dyn Read>>>,
    stream: Option<i32>,
    sensor: Option<(u32, u32)>,
    failures: u32,
    done: bool,
}

impl Aedat4Source {
    fn new<R: Read + 'static>(r: BufReader<R>, name: &Path) -> Result<Self> {
        let (cap, inner) = (r.capacity(), r.into_inner());
        let boxed: Box<dyn Read> = Box::new(inner);
        let reader = Aedat4Reader::new(BufReader::with_capacity(cap, boxed))
            .map_err(|e| e.at(name))?
            .resynchronising();
        let ev = reader.header().event_stream();
        let stream = ev.map(|s| s.id);
        let sensor = ev.and_then(|s| Some((s.size_x?, s.size_y?)));
        Ok(Self {
            reader,
            stream,
            sensor,
            failures: 0,
            done: false,
        })
    }

    fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        if self.done {
            return Ok(Chunk::End);
        }
        let before = self.reader.offset();
        let chunk = self.next_packet(before, out, f);
        // What resynchronising cost (damaged packets, bytes searched).
        let d = std::mem::take(&mut self.reader.damage.messages);
        for m in d {
            f.report(|| m);
        }
        let dmg = &mut self.reader.damage;
        f.counters.bad_packets += std::mem::take(&mut dmg.bad_packets);
        f.counters.desyncs += std::mem::take(&mut dmg.resyncs);
        f.counters.skipped_bytes += std::mem::take(&mut dmg.skipped_bytes);
        chunk
    }

    fn next_packet(
        &mut self,
        before: u64,
        out: &mut Vec<Event2d>,
        f: &mut Faults,
    ) -> io::Result<Chunk> {
        match self.reader.next_packet() {
            Ok(None) => {
                self.done = true;
                Ok(Chunk::End)
            }
            Ok(Some(p)) => {
                self.failures = 0;
                f.counters.packets += 1;
                let wanted = self.stream.is_none_or(|id| id == p.stream_id);
                if !wanted || p.identifier() != Some(*b"EVTS") {
                    f.counters.other_packets += 1;
                    return Ok(Chunk::Events);
                }
                let start = out.len();
                if let Err(e) = p.polarity_events(out) {
                    out.truncate(start);
                    f.counters.bad_packets += 1;
                    f.report(|| format!("{e}; packet skipped"));
                }
                f.counters.events_in += (out.len() - start) as u64;
                Ok(Chunk::Events)
            }
            Err(crate::data::AedatError::Io { source, .. }) => Err(source),
            Err(crate::data::AedatError::Format(e)) => {
                f.counters.bad_packets += 1;
                self.failures += 1;
                let advanced = self.reader.offset() > before + 8;
                let msg = e.to_string();
                f.report(|| format!("{msg}; packet skipped"));
                if !advanced || self.failures >= MAX_AEDAT4_FAILURES || msg.contains("truncated") {
                    self.done = true;
                    return Ok(Chunk::End);
                }
                Ok(Chunk::Events)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// .bs2
// ---------------------------------------------------------------------------

/// 40-bit `.bs2` events read in chunks; a trailing partial event is counted.
pub struct Bs2Source<R> {
    inner: R,
    buf: Vec<u8>,
    have: usize,
    bytes: u64,
    done: bool,
}

impl<R: Read> Bs2Source<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            buf: vec![0; 5 * CHUNK_EVENTS],
            have: 0,
            bytes: 0,
            done: false,
        }
    }

    fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        if self.done {
            return Ok(Chunk::End);
        }
        while self.have < 5 {
            match self.inner.read(&mut self.buf[self.have..]) {
                Ok(0) => {
                    self.done = true;
                    if self.have > 0 {
                        let (n, at) = (self.have, self.bytes - self.have as u64);
                        f.counters.skipped_bytes += n as u64;
                        f.counters.lost_events += 1;
                        f.report(|| format!("byte offset {at}: truncated event ({n} of 5 bytes)"));
                    }
                    return Ok(Chunk::End);
                }
                Ok(k) => {
                    self.have += k;
                    self.bytes += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let n = self.have / 5;
        for c in self.buf[..n * 5].chunks_exact(5) {
            let w = c.iter().fold(0u64, |w, &b| (w << 8) | u64::from(b));
            out.push(Event2d {
                x: ((w >> 32) & 0xff) as u16,
                y: ((w >> 24) & 0xff) as u16,
                polarity: ((w >> 23) & 1) as u8,
                t_us: w & ((1 << 23) - 1),
            });
        }
        f.counters.events_in += n as u64;
        self.buf.copy_within(n * 5..self.have, 0);
        self.have -= n * 5;
        Ok(Chunk::Events)
    }
}

// ---------------------------------------------------------------------------
// Prophesee raw (EVT 2.0 / 3.0)
// ---------------------------------------------------------------------------

/// A Prophesee raw stream: the `%` header, then words decoded as they come
/// ([`crate::data::prophesee::EvtDecoder`]); trigger events are counted and
/// skipped, a word cut by the end of the stream costs its bytes.
pub struct RawSource {
    inner: Box<dyn Read>,
    header: crate::data::prophesee::RawHeader,
    decoder: crate::data::prophesee::EvtDecoder,
    buf: Vec<u8>,
    bytes: u64,
    done: bool,
}

impl RawSource {
    /// Reads the header (an error when there is none, or it is cut short).
    fn new(mut inner: Box<dyn Read>, name: &Path) -> Result<Self> {
        use crate::data::prophesee::{parse_raw_header, EvtDecoder};
        // The header is short: read lines while they start with `%`, up to
        // `% end`. `first` is a byte already read that starts the words.
        let mut head = Vec::new();
        let mut first: Option<u8> = None;
        let mut byte = [0u8; 1];
        loop {
            if head.len() > 1 << 16 {
                return Err(Error::Config(format!(
                    "{}: a raw header longer than 64 KiB",
                    name.display()
                )));
            }
            match inner.read(&mut byte) {
                Ok(0) => break,
                Ok(_) => {
                    let line_start = head.is_empty() || head.ends_with(b"\n");
                    if line_start && byte[0] != b'%' {
                        first = Some(byte[0]);
                        break;
                    }
                    head.push(byte[0]);
                    if head.ends_with(b"\n% end\n") || head == b"% end\n" {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(name, e)),
            }
        }
        let header = parse_raw_header(&head).map_err(|e| e.at(name))?;
        let mut decoder = EvtDecoder::new(header.format);
        let first: Vec<u8> = first.into_iter().collect();
        let mut sink = Vec::new();
        decoder.push(&first, &mut sink);
        let bytes = (head.len() + first.len()) as u64;
        Ok(Self {
            inner,
            header,
            decoder,
            buf: vec![0; 1 << 16],
            bytes,
            done: false,
        })
    }

    fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        if self.done {
            return Ok(Chunk::End);
        }
        // At most CHUNK_EVENTS events a call: an EVT 3 word holds up to 12.
        let max = match self.header.format {
            crate::data::prophesee::EvtFormat::Evt3 => CHUNK_EVENTS / 6,
            crate::data::prophesee::EvtFormat::Evt2 => CHUNK_EVENTS * 4,
        }
        .clamp(4, self.buf.len());
        loop {
            match self.inner.read(&mut self.buf[..max]) {
                Ok(0) => {
                    self.done = true;
                    let n = self.decoder.pending_bytes();
                    if n > 0 {
                        let at = self.bytes - n as u64;
                        f.counters.skipped_bytes += n as u64;
                        f.report(|| format!("byte offset {at}: truncated word ({n} bytes)"));
                    }
                    return Ok(Chunk::End);
                }
                Ok(k) => {
                    self.bytes += k as u64;
                    let start = out.len();
                    self.decoder.push(&self.buf[..k], out);
                    f.counters.events_in += (out.len() - start) as u64;
                    return Ok(Chunk::Events);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// AEDAT 4 network streams (TCP)
// ---------------------------------------------------------------------------

/// Back-off between reconnection attempts; the stream ends after the last.
const RECONNECT_DELAYS_MS: [u64; 8] = [50, 100, 200, 400, 800, 1600, 1600, 1600];

/// The AEDAT 4 network stream that iniVation's DV software and
/// `dv-processing`'s `NetworkWriter` serve: the file format without its
/// magic line (a size-prefixed `IOHeader`, then packets), read with the
/// resynchronising AEDAT 4 reader. When the server goes away the source
/// reconnects with back-off ([`RECONNECT_DELAYS_MS`]); a new connection is
/// a new segment (its own time base), and the gap is reported.
pub struct TcpSource {
    addr: String,
    inner: Option<Aedat4Source>,
    /// Bytes of connections already closed.
    bytes: u64,
    /// Connections made.
    pub connections: u64,
    done: bool,
}

impl TcpSource {
    /// Connects to `addr` (`HOST:PORT`) and reads the stream's header.
    pub fn connect(addr: &str) -> Result<Self> {
        let inner = Self::open(addr).map_err(|e| Error::Config(format!("tcp://{addr}: {e}")))?;
        Ok(Self {
            addr: addr.to_string(),
            inner: Some(inner),
            bytes: 0,
            connections: 1,
            done: false,
        })
    }

    fn open(addr: &str) -> std::result::Result<Aedat4Source, String> {
        use std::net::ToSocketAddrs;
        let addrs: Vec<_> = addr
            .to_socket_addrs()
            .map_err(|e| format!("not a HOST:PORT address ({e})"))?
            .collect();
        let tcp = addrs
            .iter()
            .find_map(|a| {
                std::net::TcpStream::connect_timeout(a, std::time::Duration::from_secs(2)).ok()
            })
            .ok_or_else(|| "could not connect".to_string())?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Read> =
            Box::new(io::Cursor::new(crate::data::aedat::AEDAT4_MAGIC).chain(tcp));
        let mut source =
            Aedat4Source::new(BufReader::with_capacity(1 << 16, stream), Path::new(addr))
                .map_err(|e| e.to_string())?;
        source.reader = source.reader.without_data_table();
        Ok(source)
    }

    fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        if self.done {
            return Ok(Chunk::End);
        }
        if let Some(inner) = self.inner.as_mut() {
            match inner.next(out, f) {
                Ok(Chunk::End) => {}
                Ok(c) => return Ok(c),
                Err(e) => {
                    let msg = e.to_string();
                    f.report(|| format!("connection error: {msg}"));
                }
            }
            // The connection ended (or broke).
            self.bytes += inner.reader.offset();
        }
        self.inner = None;
        let lost_at = std::time::Instant::now();
        for (k, ms) in RECONNECT_DELAYS_MS.iter().enumerate() {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
            if let Ok(inner) = Self::open(&self.addr) {
                self.inner = Some(inner);
                self.connections += 1;
                f.counters.reconnects += 1;
                let gap = lost_at.elapsed().as_secs_f64();
                let addr = self.addr.clone();
                f.report(|| {
                    format!(
                        "tcp://{addr}: connection lost; reconnected after {gap:.2} s ({} attempt(s)): a gap in the stream",
                        k + 1
                    )
                });
                return Ok(Chunk::NewSegment);
            }
        }
        let addr = self.addr.clone();
        let n = RECONNECT_DELAYS_MS.len();
        f.report(|| {
            format!("tcp://{addr}: connection lost; {n} reconnection attempts failed; stream ends")
        });
        self.done = true;
        Ok(Chunk::End)
    }
}
