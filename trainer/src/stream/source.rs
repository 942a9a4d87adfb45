//! Event sources for streaming: an AEDAT 3.1 byte stream (file or standard
//! input) read by a resynchronising parser, AEDAT 4.0 files, and `.bs2`
//! files, each decoded incrementally in constant memory.
//!
//! The readers are `slayer-events`'s (the resynchronising AEDAT 3.1 reader
//! [`Aedat31Stream`], the AEDAT 4.0 reader, the EVT decoder); a source here
//! chunks their output ([`CHUNK_EVENTS`]) and counts their faults in
//! [`Faults`].

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use slayer_core::Event2d;

pub use slayer_events::aedat::{Aedat31Stream, DESYNC_RUN};
use slayer_events::aedat::{Aedat4Reader, AedatError, Count, FaultSink, AEDAT4_MAGIC};
use slayer_events::bs::{Bs2Decoder, EVENT_BYTES};
use slayer_events::prophesee::{read_raw_header, EvtDecoder, EvtFormat, RawHeader};
pub use slayer_events::Chunk;

use super::stats::Counters;
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
            Source::Aedat31(s) => s.next(out, CHUNK_EVENTS, f),
            Source::Aedat4(s) => s.next(out, f),
            Source::Bs2(s) => s.next(out, f),
            Source::Raw(s) => s.next(out, f),
            Source::Tcp(s) => s.next(out, f),
        }?;
        f.counters.bytes = match self {
            Source::Aedat31(s) => s.bytes_read(),
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

/// The stream's faults are the resynchronising AEDAT 3.1 reader's sink.
impl FaultSink for Faults {
    fn count(&mut self, what: Count, n: u64) {
        let c = &mut self.counters;
        let field = match what {
            Count::Packets => &mut c.packets,
            Count::OtherPackets => &mut c.other_packets,
            Count::EventsIn => &mut c.events_in,
            Count::Invalid => &mut c.invalid,
            Count::OutOfRange => &mut c.out_of_range,
            Count::BadPackets => &mut c.bad_packets,
            Count::Desyncs => &mut c.desyncs,
            Count::SkippedBytes => &mut c.skipped_bytes,
            Count::LostEvents => &mut c.lost_events,
        };
        *field += n;
    }

    fn report(&mut self, msg: impl FnOnce() -> String) {
        Faults::report(self, msg);
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
            Err(AedatError::Io { source, .. }) => Err(source),
            Err(e) => {
                f.counters.bad_packets += 1;
                self.failures += 1;
                let advanced = self.reader.offset() > before + 8;
                let truncated = e.is_truncated();
                f.report(|| format!("{e}; packet skipped"));
                if !advanced || self.failures >= MAX_AEDAT4_FAILURES || truncated {
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

/// 40-bit `.bs2` events read in chunks and decoded by `slayer-events`'s
/// [`Bs2Decoder`]; a trailing partial event is counted.
pub struct Bs2Source<R> {
    inner: R,
    decoder: Bs2Decoder,
    buf: Vec<u8>,
    bytes: u64,
    done: bool,
}

impl<R: Read> Bs2Source<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            decoder: Bs2Decoder::new(),
            buf: vec![0; EVENT_BYTES * CHUNK_EVENTS],
            bytes: 0,
            done: false,
        }
    }

    /// Appends at least one event, at most [`CHUNK_EVENTS`] (the decoder
    /// holds a partial event's bytes between reads).
    fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        if self.done {
            return Ok(Chunk::End);
        }
        loop {
            let room = self.buf.len() - self.decoder.pending_bytes();
            match self.inner.read(&mut self.buf[..room]) {
                Ok(0) => {
                    self.done = true;
                    let n = self.decoder.pending_bytes();
                    if n > 0 {
                        let at = self.bytes - n as u64;
                        f.counters.skipped_bytes += n as u64;
                        f.counters.lost_events += 1;
                        f.report(|| {
                            format!(
                                "byte offset {at}: truncated event ({n} of {EVENT_BYTES} bytes)"
                            )
                        });
                    }
                    return Ok(Chunk::End);
                }
                Ok(k) => {
                    self.bytes += k as u64;
                    let n = self.decoder.push(&self.buf[..k], out);
                    if n > 0 {
                        f.counters.events_in += n as u64;
                        return Ok(Chunk::Events);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Prophesee raw (EVT 2.0 / 3.0)
// ---------------------------------------------------------------------------

/// A Prophesee raw stream: the `%` header ([`read_raw_header`]), then words
/// decoded as they come ([`EvtDecoder`]); trigger events are counted and
/// skipped, a word cut by the end of the stream costs its bytes.
pub struct RawSource {
    inner: Box<dyn Read>,
    header: RawHeader,
    decoder: EvtDecoder,
    buf: Vec<u8>,
    bytes: u64,
    done: bool,
}

impl RawSource {
    /// Reads the header with `slayer-events`'s [`read_raw_header`] (an
    /// error when there is none, or it is cut short).
    fn new(mut inner: Box<dyn Read>, name: &Path) -> Result<Self> {
        let start = read_raw_header(&mut inner).map_err(|e| e.at(name))?;
        let mut decoder = EvtDecoder::new(start.header.format);
        let mut sink = Vec::new();
        decoder.push(&start.words, &mut sink);
        Ok(Self {
            inner,
            header: start.header,
            decoder,
            buf: vec![0; 1 << 16],
            bytes: start.bytes_read,
            done: false,
        })
    }

    fn next(&mut self, out: &mut Vec<Event2d>, f: &mut Faults) -> io::Result<Chunk> {
        if self.done {
            return Ok(Chunk::End);
        }
        // At most CHUNK_EVENTS events a call: an EVT 3 word holds up to 12.
        let max = match self.header.format {
            EvtFormat::Evt3 => CHUNK_EVENTS / 6,
            EvtFormat::Evt2 => CHUNK_EVENTS * 4,
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
/// reconnects with back-off (50 ms doubling to 1.6 s, eight tries); a new connection is
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
        let stream: Box<dyn Read> = Box::new(io::Cursor::new(AEDAT4_MAGIC).chain(tcp));
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
