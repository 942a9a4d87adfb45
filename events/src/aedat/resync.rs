//! The resynchronising AEDAT 3.1 reader of live streams ([`Aedat31Stream`]):
//! the packet decoder of [`v31`](super::v31) under a parser that never
//! gives up on a damaged stream. What it skips and drops is counted in a
//! [`FaultSink`] ([`Aedat31Damage`] is a ready one).

use std::io::{self, Read};

use slayer_core::Event2d;

use super::v31::{
    header_field, polarity_events, sensor_of_name, PacketHeader, MAGIC, PACKET_HEADER_BYTES,
};
use crate::bytes::ByteBuf;
use crate::error::{AedatError, FormatError};
use crate::Chunk;

/// What [`Aedat31Stream`] counts (the names of [`Aedat31Damage`]'s fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Packets whose header was accepted.
    Packets,
    /// Packets of other event types (skipped whole).
    OtherPackets,
    /// Events decoded (valid or not; see [`Count::Invalid`],
    /// [`Count::OutOfRange`]).
    EventsIn,
    /// Events whose valid bit is 0, or whose timestamp is negative.
    Invalid,
    /// Events with coordinates outside the sensor.
    OutOfRange,
    /// Implausible packet headers (the reader resynchronised after each).
    BadPackets,
    /// Runs of implausible events that made the reader give up on a packet.
    Desyncs,
    /// Bytes skipped while looking for the next packet header.
    SkippedBytes,
    /// Events announced by packet headers but never decoded.
    LostEvents,
}

/// Where [`Aedat31Stream`] puts its counts and fault messages.
pub trait FaultSink {
    /// Adds `n` to the counter `what`.
    fn count(&mut self, what: Count, n: u64);
    /// Records a fault; `msg` builds its message (only called when the sink
    /// keeps it).
    fn report(&mut self, msg: impl FnOnce() -> String);
}

/// A [`FaultSink`] that keeps the counts and the first 32 messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aedat31Damage {
    /// [`Count::Packets`].
    pub packets: u64,
    /// [`Count::OtherPackets`].
    pub other_packets: u64,
    /// [`Count::EventsIn`].
    pub events_in: u64,
    /// [`Count::Invalid`].
    pub invalid: u64,
    /// [`Count::OutOfRange`].
    pub out_of_range: u64,
    /// [`Count::BadPackets`].
    pub bad_packets: u64,
    /// [`Count::Desyncs`].
    pub desyncs: u64,
    /// [`Count::SkippedBytes`].
    pub skipped_bytes: u64,
    /// [`Count::LostEvents`].
    pub lost_events: u64,
    /// Faults reported.
    pub faults: u64,
    /// The first 32 fault messages.
    pub messages: Vec<String>,
}

impl FaultSink for Aedat31Damage {
    fn count(&mut self, what: Count, n: u64) {
        let c = match what {
            Count::Packets => &mut self.packets,
            Count::OtherPackets => &mut self.other_packets,
            Count::EventsIn => &mut self.events_in,
            Count::Invalid => &mut self.invalid,
            Count::OutOfRange => &mut self.out_of_range,
            Count::BadPackets => &mut self.bad_packets,
            Count::Desyncs => &mut self.desyncs,
            Count::SkippedBytes => &mut self.skipped_bytes,
            Count::LostEvents => &mut self.lost_events,
        };
        *c += n;
    }

    fn report(&mut self, msg: impl FnOnce() -> String) {
        if self.messages.len() < 32 {
            self.messages.push(msg());
        }
        self.faults += 1;
    }
}

/// A sink that forgets everything (the file header read by
/// [`Aedat31Stream::new`]).
struct Discard;

impl FaultSink for Discard {
    fn count(&mut self, _: Count, _: u64) {}
    fn report(&mut self, _: impl FnOnce() -> String) {}
}

/// Buffer of the AEDAT 3.1 parser (constant memory).
const AEDAT31_BUFFER: usize = 1 << 18;
/// Longest text header line accepted.
const MAX_HEADER_LINE: usize = 1 << 14;
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

impl<R: Read> Aedat31Stream<R> {
    /// Reads the text header; an error when the stream does not start with
    /// `#!AER-DAT3` (or is unreadable).
    pub fn new(inner: R) -> std::result::Result<Self, AedatError> {
        let mut s = Self {
            buf: ByteBuf::new(inner, AEDAT31_BUFFER),
            state: State::Between,
            sensor_named: None,
            sensor: (1 << 15, 1 << 15),
            last_overflow: None,
            overflow_confirmed: false,
        };
        let io_err = |source, offset| AedatError::Io { offset, source };
        s.buf.ensure(MAGIC.len() + 2).map_err(|e| io_err(e, 0))?;
        let head = s.buf.avail();
        if !head.starts_with(b"#!AER-DAT3") {
            let shown: String = String::from_utf8_lossy(&head[..head.len().min(16)])
                .chars()
                .map(|c| if c.is_control() { '.' } else { c })
                .collect();
            return Err(AedatError::Format(FormatError {
                offset: 0,
                msg: format!(
                    "not an AEDAT 3.1 stream: it starts with {shown:?}, not \"#!AER-DAT3.1\""
                ),
            }));
        }
        let mut f = Discard;
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
    fn read_text_header(&mut self, f: &mut impl FaultSink, first: bool) -> io::Result<()> {
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
                    f.count(Count::SkippedBytes, 1);
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
            if let Some((k, v)) = header_field(line.trim_start_matches('#')) {
                if k.starts_with("Source") {
                    if let Some(sz) = sensor_of_name(v) {
                        self.sensor_named.get_or_insert(sz);
                    }
                }
            }
        }
    }

    /// Appends the next events (at most `max_events`, at least one asked
    /// for) to `out`; faults are counted in `f` and never end the stream;
    /// only a failing reader is an error.
    pub fn next(
        &mut self,
        out: &mut Vec<Event2d>,
        max_events: usize,
        f: &mut impl FaultSink,
    ) -> io::Result<Chunk> {
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
                        f.count(Count::SkippedBytes, n as u64);
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
                            f.count(Count::BadPackets, 1);
                            f.report(|| {
                                format!(
                                    "byte offset {at}: bad packet header ({why}); resynchronising"
                                )
                            });
                            self.buf.consume(1);
                            f.count(Count::SkippedBytes, 1);
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
                    self.events(out, max_events, f)?;
                    return Ok(Chunk::Events);
                }
            }
        }
    }

    /// The overflow a new header must agree with, once confirmed.
    fn confirmed_overflow(&self) -> Option<u32> {
        self.last_overflow.filter(|_| self.overflow_confirmed)
    }

    fn start_packet(&mut self, h: PacketHeader, f: &mut impl FaultSink) {
        f.count(Count::Packets, 1);
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
            f.count(Count::OtherPackets, 1);
            self.state = State::Skip {
                left: h.payload_bytes(),
            };
        }
    }

    /// Searches for a plausible packet header or a file header.
    /// Searches for the next packet or file header. `true`: a whole buffer
    /// was searched without finding one (the search goes on at the next call).
    fn scan(&mut self, f: &mut impl FaultSink) -> io::Result<bool> {
        self.buf.ensure(PACKET_HEADER_BYTES.max(MAGIC.len()))?;
        let avail = self.buf.avail();
        let base = self.buf.offset();
        if avail.len() < PACKET_HEADER_BYTES.max(MAGIC.len()) && self.buf.at_eof() {
            let n = avail.len();
            if avail.starts_with(MAGIC) && n >= MAGIC.len() {
                self.state = State::Between;
                return Ok(false);
            }
            f.count(Count::SkippedBytes, n as u64);
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
                f.count(Count::SkippedBytes, i as u64);
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
                f.count(Count::SkippedBytes, n as u64);
                self.buf.consume(n);
                Ok(true)
            }
        }
    }

    /// Decodes the available events of the current packet (at most
    /// `max_events`), waiting for at least one.
    fn events(
        &mut self,
        out: &mut Vec<Event2d>,
        max_events: usize,
        f: &mut impl FaultSink,
    ) -> io::Result<()> {
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
        let n = (avail.len() / 8).min(left as usize).min(max_events.max(1));
        if n == 0 {
            // The stream ended inside the packet.
            f.count(Count::LostEvents, u64::from(left));
            f.count(Count::Invalid, run_invalid);
            f.count(Count::OutOfRange, run_oor);
            f.count(Count::EventsIn, run_invalid + run_oor);
            let at = hdr.offset;
            f.report(|| {
                format!(
                    "byte offset {at}: truncated packet, {left} of {} events missing",
                    hdr.number
                )
            });
            let rest = avail.len();
            f.count(Count::SkippedBytes, rest as u64);
            self.buf.consume(rest);
            self.state = State::End;
            return Ok(());
        }
        let base = self.buf.offset();
        let (sw, sh) = self.sensor;
        let mut desync = false;
        let mut used = 0;
        for (i, e) in polarity_events(&avail[..n * 8]).enumerate() {
            used = i + 1;
            // Plausible: valid, a non-negative timestamp, inside the sensor.
            let t_us = if e.valid {
                e.time_us(hdr.ts_overflow)
            } else {
                None
            };
            let ok = t_us.is_some();
            let inside = u32::from(e.x) < sw && u32::from(e.y) < sh;
            if let (Some(t_us), true) = (t_us, inside) {
                f.count(Count::Invalid, run_invalid);
                f.count(Count::OutOfRange, run_oor);
                f.count(Count::EventsIn, run_invalid + run_oor);
                run = 0;
                run_invalid = 0;
                run_oor = 0;
                f.count(Count::EventsIn, 1);
                out.push(e.at(t_us));
                continue;
            }
            if run == 0 {
                run_start = base + 8 * i as u64;
            }
            run += 1;
            if ok {
                run_oor += 1;
            } else {
                run_invalid += 1;
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
            f.count(Count::LostEvents, u64::from(lost));
            f.count(Count::Desyncs, 1);
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
    fn end_packet(&mut self, hdr: PacketHeader, f: &mut impl FaultSink) -> io::Result<()> {
        if let State::Events {
            run_invalid,
            run_oor,
            ..
        } = self.state
        {
            f.count(Count::Invalid, run_invalid);
            f.count(Count::OutOfRange, run_oor);
            f.count(Count::EventsIn, run_invalid + run_oor);
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

#[cfg(test)]
mod tests {
    use super::super::v31::{parse_aedat31, POLARITY_EVENT_BYTES};
    use super::*;
    use crate::test_data::data_dir;

    /// Every event of the stream, read `max` at a time.
    fn read_all(bytes: &[u8], max: usize) -> (Vec<Event2d>, Aedat31Damage, u64) {
        let mut r = Aedat31Stream::new(bytes).expect("header");
        let (mut out, mut d, mut segments) = (Vec::new(), Aedat31Damage::default(), 0);
        loop {
            let before = out.len();
            match r.next(&mut out, max, &mut d).expect("read") {
                Chunk::End => break,
                Chunk::NewSegment => segments += 1,
                Chunk::Events => assert!(out.len() - before <= max),
            }
        }
        (out, d, segments)
    }

    /// On a clean recording both readers of the one decoder agree event for
    /// event, whatever the chunk size.
    #[test]
    fn clean_recording_reads_as_the_strict_reader_does() {
        let bytes = std::fs::read(data_dir().join("dvs-gesture/aedat31/slayer10_concat.aedat"))
            .expect("read");
        let strict = parse_aedat31(&bytes).expect("parse");
        for max in [1, 4096, 100_000] {
            let (events, d, segments) = read_all(&bytes, max);
            assert_eq!(events, strict, "max {max}");
            assert_eq!(segments, 0);
            assert_eq!((d.packets, d.other_packets), (295, 0));
            assert_eq!(d.events_in, strict.len() as u64);
            assert_eq!(
                (
                    d.bad_packets,
                    d.desyncs,
                    d.skipped_bytes,
                    d.lost_events,
                    d.faults
                ),
                (0, 0, 0, 0, 0)
            );
        }
    }

    /// A damaged header costs its packet: the reader counts it, searches
    /// for the next one and goes on; the strict reader stops there.
    #[test]
    fn damaged_header_is_skipped_and_counted() {
        let mut bytes = std::fs::read(data_dir().join("dvs-gesture/aedat31/slayer10_concat.aedat"))
            .expect("read");
        let hl = bytes
            .windows(14)
            .position(|w| w == b"#!END-HEADER\r\n")
            .expect("header")
            + 14;
        let strict = parse_aedat31(&bytes).expect("parse");
        // eventSize of the first packet: 8 -> 9.
        bytes[hl + 4] = 9;
        assert!(parse_aedat31(&bytes).is_err());
        let (events, d, _) = read_all(&bytes, 4096);
        assert_eq!(d.bad_packets, 1);
        assert!(d.skipped_bytes >= (28 + 4096 * POLARITY_EVENT_BYTES) as u64);
        assert_eq!(d.messages.len() as u64, d.faults);
        assert!(
            d.messages[0].contains("bad packet header"),
            "{:?}",
            d.messages
        );
        // The first packet's 4,096 events are gone, the rest are read.
        assert_eq!(events[..], strict[4096..]);
    }
}
