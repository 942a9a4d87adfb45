//! Prophesee raw event files (`.raw`): EVT 2.0 and EVT 3.0, from Prophesee's
//! published format description (docs: "Data Encoding Formats").
//!
//! A file starts with text header lines beginning with `%` (`% evt 3.0`,
//! `% format EVT3;height=720;width=1280`, `% geometry 1280x720`, `% end`),
//! then little-endian words:
//!
//! * **EVT 2.0**, 32-bit words, type in bits 31..28: `CD_OFF` (0) / `CD_ON`
//!   (1) carry 6 timestamp bits (27..22), x (21..11) and y (10..0);
//!   `EVT_TIME_HIGH` (8) the timestamp's upper 28 bits (so a 34-bit µs
//!   time); `EXT_TRIGGER` (10) timestamp bits, channel id (12..8) and value
//!   (bit 0); `OTHERS` (14) and `CONTINUED` (15) are vendor extensions.
//! * **EVT 3.0**, 16-bit words, type in bits 15..12, decoded against a state:
//!   `EVT_ADDR_Y` (0) sets y; `EVT_ADDR_X` (2) is one event at x (10..0)
//!   with polarity bit 11; `VECT_BASE_X` (3) sets a base x and polarity;
//!   `VECT_12` (4) / `VECT_8` (5) are events at base x + i for each set bit
//!   i of a 12- / 8-bit mask, then move the base by 12 / 8; `EVT_TIME_LOW`
//!   (6) and `EVT_TIME_HIGH` (8) update the low and the high 12 bits of a
//!   24-bit µs time, each leaving the other part as it was (as the format
//!   description words it, and as the `expelliarmus` reader does; a time-high
//!   value far below the previous one is a wrap of the 24-bit counter and adds
//!   2^24 µs); `EXT_TRIGGER` (10) channel id (11..8) and value (bit 0);
//!   `CONTINUED_4` (7), `OTHERS` (14) and `CONTINUED_12` (15) extensions.
//!
//! External-trigger events are kept apart from the CD (change-detection)
//! events: [`Decoded::triggers`]. Extension words and reserved types are
//! counted and skipped; CD events before the first time-high word are
//! dropped (their time is unknown) and counted. The decoder is incremental
//! ([`EvtDecoder::push`] takes any slicing of the word stream), so the same
//! code serves files and live streams.

use std::path::Path;

#[cfg(any(test, feature = "fixtures"))]
use rand::{Rng, SeedableRng};
#[cfg(any(test, feature = "fixtures"))]
use rand_chacha::ChaCha8Rng;
use slayer_core::Event2d;

use crate::error::{AedatError, Error, FormatError, Result};

/// Which Prophesee event format a raw file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvtFormat {
    /// EVT 2.0: 32-bit words.
    Evt2,
    /// EVT 3.0: 16-bit vectorised words.
    Evt3,
}

impl EvtFormat {
    /// Bytes per word.
    pub fn word_bytes(self) -> usize {
        match self {
            EvtFormat::Evt2 => 4,
            EvtFormat::Evt3 => 2,
        }
    }
}

/// The `%` text header of a raw file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeader {
    /// The event format.
    pub format: EvtFormat,
    /// Sensor width and height, when the header names them.
    pub geometry: Option<(u16, u16)>,
    /// Bytes of header before the first word.
    pub len: usize,
}

/// Longest header accepted (bytes).
const MAX_HEADER: usize = 1 << 16;

/// Parses the `%` header at the start of `bytes`. The format comes from a
/// `% format EVT3;...` or `% evt 3.0` line; the geometry from `height=` /
/// `width=` in the format line or a `% geometry WxH` line.
pub fn parse_raw_header(bytes: &[u8]) -> std::result::Result<RawHeader, FormatError> {
    let bad = |offset: usize, msg: String| FormatError {
        offset: offset as u64,
        msg,
    };
    if bytes.first() != Some(&b'%') {
        return Err(bad(0, "not a Prophesee raw file: no `%` header".into()));
    }
    let (mut format, mut width, mut height) = (None, None, None);
    let mut at = 0;
    while at < bytes.len() && bytes[at] == b'%' {
        if at > MAX_HEADER {
            return Err(bad(at, format!("header longer than {MAX_HEADER} bytes")));
        }
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| bad(at, "truncated header: a `%` line without its end".into()))?;
        let line = String::from_utf8_lossy(&bytes[at + 1..at + end]);
        let line = line.trim();
        at += end + 1;
        let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
        let value = value.trim();
        match key.to_ascii_lowercase().as_str() {
            "end" => break,
            "evt" => {
                format = format.or(match value {
                    "2.0" => Some(EvtFormat::Evt2),
                    "3.0" => Some(EvtFormat::Evt3),
                    _ => None,
                });
            }
            "format" => {
                let mut parts = value.split(';');
                format = match parts.next().map(str::trim) {
                    Some("EVT2") => Some(EvtFormat::Evt2),
                    Some("EVT3") => Some(EvtFormat::Evt3),
                    Some(other) => {
                        return Err(bad(
                            at,
                            format!("unsupported event format {other:?} (EVT2 and EVT3 are read)"),
                        ))
                    }
                    None => format,
                };
                for p in parts {
                    match p.split_once('=') {
                        Some(("width", v)) => width = v.trim().parse().ok(),
                        Some(("height", v)) => height = v.trim().parse().ok(),
                        _ => {}
                    }
                }
            }
            "geometry" => {
                if let Some((w, h)) = value.split_once('x') {
                    width = width.or(w.trim().parse().ok());
                    height = height.or(h.trim().parse().ok());
                }
            }
            _ => {}
        }
    }
    let format = format.ok_or_else(|| {
        bad(
            0,
            "the header names no event format (`% evt 2.0|3.0` or `% format EVT2|EVT3`)".into(),
        )
    })?;
    Ok(RawHeader {
        format,
        geometry: width.zip(height),
        len: at,
    })
}

/// A raw stream's start, read by [`read_raw_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawStreamStart {
    /// The parsed header.
    pub header: RawHeader,
    /// Bytes read from the stream: the header lines and `words`.
    pub bytes_read: u64,
    /// Bytes of the words already read (the first one, read to find where
    /// the header ends): decode them before the rest of the stream.
    pub words: Vec<u8>,
}

/// Reads and parses the `%` header at the start of a byte stream (a pipe, a
/// socket), a byte at a time so that nothing past it is consumed but the
/// first byte of the words ([`RawStreamStart::words`]). The header ends at
/// a `% end` line, at the first line that does not start with `%`, or at
/// the end of the stream. Errors: the reader fails ([`AedatError::Io`]), or
/// the header is longer than 64 KiB or does not parse
/// ([`parse_raw_header`]).
pub fn read_raw_header<R: std::io::Read>(
    r: &mut R,
) -> std::result::Result<RawStreamStart, AedatError> {
    let mut head = Vec::new();
    let mut words = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        if head.len() > MAX_HEADER {
            return Err(AedatError::Format(FormatError {
                offset: head.len() as u64,
                msg: "a raw header longer than 64 KiB".into(),
            }));
        }
        match r.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => {
                let line_start = head.is_empty() || head.ends_with(b"\n");
                if line_start && byte[0] != b'%' {
                    words.push(byte[0]);
                    break;
                }
                head.push(byte[0]);
                if head.ends_with(b"\n% end\n") || head == b"% end\n" {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(AedatError::Io {
                    offset: head.len() as u64,
                    source,
                })
            }
        }
    }
    let header = parse_raw_header(&head)?;
    Ok(RawStreamStart {
        header,
        bytes_read: (head.len() + words.len()) as u64,
        words,
    })
}

/// An external-trigger event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Timestamp in µs.
    pub t_us: u64,
    /// Trigger channel.
    pub id: u8,
    /// Edge: 1 rising, 0 falling.
    pub value: u8,
}

/// What a decoder skipped, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvtCounts {
    /// Words decoded.
    pub words: u64,
    /// Extension and reserved words skipped.
    pub skipped_words: u64,
    /// CD events dropped because no time-high word had come yet.
    pub untimed: u64,
    /// Wraps of EVT 3's 24-bit time counter.
    pub time_wraps: u64,
}

/// An incremental EVT 2.0 / 3.0 decoder.
#[derive(Debug, Clone)]
pub struct EvtDecoder {
    format: EvtFormat,
    /// A word cut by the end of the last push.
    partial: Vec<u8>,
    /// EVT 2: time-high bits << 6. EVT 3: wraps << 24 | high << 12.
    base: u64,
    /// EVT 3: the low 12 bits of the time.
    low: u64,
    /// Current time (EVT 3).
    time: u64,
    timed: bool,
    y: u16,
    base_x: u16,
    polarity: u8,
    /// Decoded trigger events.
    pub triggers: Vec<Trigger>,
    /// What was skipped.
    pub counts: EvtCounts,
}

/// EVT 3: a time-high value this far below the previous one is a wrap of
/// the 24-bit counter (rather than an out-of-order word).
const WRAP_THRESHOLD: u64 = 10 << 12;

impl EvtDecoder {
    /// A decoder at the start of a word stream.
    pub fn new(format: EvtFormat) -> Self {
        Self {
            format,
            partial: Vec::new(),
            base: 0,
            low: 0,
            time: 0,
            timed: false,
            y: 0,
            base_x: 0,
            polarity: 0,
            triggers: Vec::new(),
            counts: EvtCounts::default(),
        }
    }

    /// Decodes `bytes` (continuing the stream), appending CD events to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Event2d>) {
        let wb = self.format.word_bytes();
        if !self.partial.is_empty() {
            let need = wb - self.partial.len();
            let take = need.min(bytes.len());
            self.partial.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.partial.len() < wb {
                return;
            }
            let word = std::mem::take(&mut self.partial);
            self.word(&word, out);
        }
        let mut words = bytes.chunks_exact(wb);
        for w in &mut words {
            self.word(w, out);
        }
        self.partial.extend_from_slice(words.remainder());
    }

    /// Bytes of a word cut short at the end of the input so far.
    pub fn pending_bytes(&self) -> usize {
        self.partial.len()
    }

    fn word(&mut self, w: &[u8], out: &mut Vec<Event2d>) {
        self.counts.words += 1;
        match self.format {
            EvtFormat::Evt2 => self.evt2(u32::from_le_bytes([w[0], w[1], w[2], w[3]]), out),
            EvtFormat::Evt3 => self.evt3(u16::from_le_bytes([w[0], w[1]]), out),
        }
    }

    fn evt2(&mut self, w: u32, out: &mut Vec<Event2d>) {
        let t = self.base | u64::from((w >> 22) & 0x3f);
        match w >> 28 {
            0 | 1 => {
                if !self.timed {
                    self.counts.untimed += 1;
                    return;
                }
                out.push(Event2d {
                    x: ((w >> 11) & 0x7ff) as u16,
                    y: (w & 0x7ff) as u16,
                    polarity: (w >> 28) as u8,
                    t_us: t,
                });
            }
            8 => {
                self.base = u64::from(w & 0x0fff_ffff) << 6;
                self.timed = true;
            }
            10 => self.triggers.push(Trigger {
                t_us: t,
                id: ((w >> 8) & 0x1f) as u8,
                value: (w & 1) as u8,
            }),
            _ => self.counts.skipped_words += 1,
        }
    }

    fn cd3(&mut self, x: u16, out: &mut Vec<Event2d>) {
        if !self.timed {
            self.counts.untimed += 1;
            return;
        }
        out.push(Event2d {
            x,
            y: self.y,
            polarity: self.polarity,
            t_us: self.time,
        });
    }

    fn evt3(&mut self, w: u16, out: &mut Vec<Event2d>) {
        let v = w & 0x0fff;
        match w >> 12 {
            0 => self.y = v & 0x7ff,
            2 => {
                self.polarity = (v >> 11) as u8;
                self.cd3(v & 0x7ff, out);
            }
            3 => {
                self.polarity = (v >> 11) as u8;
                self.base_x = v & 0x7ff;
            }
            4 | 5 => {
                let n = if w >> 12 == 4 { 12 } else { 8 };
                for i in 0..n {
                    if (v >> i) & 1 == 1 {
                        self.cd3(self.base_x.wrapping_add(i) & 0x7ff, out);
                    }
                }
                self.base_x = self.base_x.wrapping_add(n) & 0x7ff;
            }
            6 => {
                self.low = u64::from(v);
                self.time = self.base | self.low;
            }
            8 => {
                let wraps = self.base & !0xff_ffff;
                let mut base = wraps | (u64::from(v) << 12);
                if self.timed
                    && base < self.base
                    && self.base - base >= (0xfff << 12) - WRAP_THRESHOLD
                {
                    base += 1 << 24;
                    self.counts.time_wraps += 1;
                }
                self.base = base;
                self.time = base | self.low;
                self.timed = true;
            }
            10 => self.triggers.push(Trigger {
                t_us: self.time,
                id: ((v >> 8) & 0xf) as u8,
                value: (v & 1) as u8,
            }),
            _ => self.counts.skipped_words += 1,
        }
    }
}

/// A decoded raw file.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// Its header.
    pub header: RawHeader,
    /// CD events in file order.
    pub events: Vec<Event2d>,
    /// External-trigger events.
    pub triggers: Vec<Trigger>,
    /// What was skipped.
    pub counts: EvtCounts,
}

/// Decodes a whole raw file held in memory. A file whose last word is cut
/// short is an error.
pub fn parse_raw(bytes: &[u8]) -> std::result::Result<Decoded, FormatError> {
    let header = parse_raw_header(bytes)?;
    let body = &bytes[header.len..];
    let wb = header.format.word_bytes();
    // At most one event per bit of a vector word: 12 per 2 bytes.
    let mut events = Vec::with_capacity((body.len() / wb).min(1 << 24));
    let mut dec = EvtDecoder::new(header.format);
    dec.push(body, &mut events);
    if dec.pending_bytes() > 0 {
        return Err(FormatError {
            offset: (bytes.len() - dec.pending_bytes()) as u64,
            msg: format!(
                "truncated: the last word has {} of {wb} bytes",
                dec.pending_bytes()
            ),
        });
    }
    Ok(Decoded {
        header,
        events,
        triggers: dec.triggers,
        counts: dec.counts,
    })
}

/// Reads a raw file's CD events.
pub fn read_raw(path: &Path) -> Result<Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_raw(&bytes).map_err(|e| e.at(path))
}

/// Writes events (and triggers) as an EVT 2.0 or EVT 3.0 raw file with a
/// header naming `geometry`: the generator of the test fixtures. Events
/// must be in time order; EVT 3 groups events of one time, row and
/// polarity into vector words where x runs allow, and emits time-high
/// words when they change (one per 4,096 µs step, so every 24-bit wrap is
/// seen), each followed by a time-low word, and time-low words when the low
/// bits change. Triggers are placed at their
/// time; with `extensions`, an `OTHERS` word follows every time-high word.
pub fn encode_raw(
    format: EvtFormat,
    geometry: (u16, u16),
    events: &[Event2d],
    triggers: &[Trigger],
    extensions: bool,
) -> std::result::Result<Vec<u8>, FormatError> {
    let (w, h) = geometry;
    let mut out = match format {
        EvtFormat::Evt2 => {
            format!("% evt 2.0\n% format EVT2;height={h};width={w}\n% geometry {w}x{h}\n% end\n")
        }
        EvtFormat::Evt3 => {
            format!("% evt 3.0\n% format EVT3;height={h};width={w}\n% geometry {w}x{h}\n% end\n")
        }
    }
    .into_bytes();
    for (i, e) in events.iter().enumerate() {
        if e.x >= w || e.y >= h || e.x > 0x7ff || e.y > 0x7ff || e.polarity > 1 {
            return Err(FormatError {
                offset: i as u64,
                msg: format!("event {i} does not fit the {w}x{h} sensor"),
            });
        }
        if i > 0 && e.t_us < events[i - 1].t_us {
            return Err(FormatError {
                offset: i as u64,
                msg: format!("event {i} is earlier than the one before"),
            });
        }
    }
    match format {
        EvtFormat::Evt2 => encode_evt2(&mut out, events, triggers, extensions),
        EvtFormat::Evt3 => encode_evt3(&mut out, events, triggers, extensions),
    }
    Ok(out)
}

fn encode_evt2(out: &mut Vec<u8>, events: &[Event2d], triggers: &[Trigger], extensions: bool) {
    let mut high: Option<u64> = None;
    let put = |out: &mut Vec<u8>, word: u32| out.extend_from_slice(&word.to_le_bytes());
    let time = |out: &mut Vec<u8>, t: u64, high: &mut Option<u64>| {
        if *high != Some(t >> 6) {
            *high = Some(t >> 6);
            put(out, 8 << 28 | ((t >> 6) & 0x0fff_ffff) as u32);
            if extensions {
                put(out, 14 << 28 | 0x0123_4567);
            }
        }
    };
    let mut tr = triggers.iter().peekable();
    for e in events {
        while let Some(t) = tr.next_if(|t| t.t_us <= e.t_us) {
            time(out, t.t_us, &mut high);
            let lsb = (t.t_us & 0x3f) as u32;
            out.extend_from_slice(
                &(10 << 28 | lsb << 22 | u32::from(t.id & 0x1f) << 8 | u32::from(t.value & 1))
                    .to_le_bytes(),
            );
        }
        time(out, e.t_us, &mut high);
        let word = u32::from(e.polarity) << 28
            | ((e.t_us & 0x3f) as u32) << 22
            | u32::from(e.x) << 11
            | u32::from(e.y);
        out.extend_from_slice(&word.to_le_bytes());
    }
    for t in tr {
        time(out, t.t_us, &mut high);
        let lsb = (t.t_us & 0x3f) as u32;
        out.extend_from_slice(
            &(10 << 28 | lsb << 22 | u32::from(t.id & 0x1f) << 8 | u32::from(t.value & 1))
                .to_le_bytes(),
        );
    }
}

fn encode_evt3(out: &mut Vec<u8>, events: &[Event2d], triggers: &[Trigger], extensions: bool) {
    let put = |out: &mut Vec<u8>, word: u16| out.extend_from_slice(&word.to_le_bytes());
    // The decoder's state: time high (t >> 12), time low, row.
    let (mut high, mut low, mut y): (Option<u64>, u64, Option<u16>) = (None, 0, None);
    let time = |out: &mut Vec<u8>, t: u64, high: &mut Option<u64>, low: &mut u64| {
        let target = t >> 12;
        if *high != Some(target) {
            // One time-high word per 4,096 µs step crossed, so that a
            // decoder sees every wrap of the 24-bit counter.
            let mut cur = high.map_or(target, |h| (h + 1).min(target));
            loop {
                put(out, 8 << 12 | (cur & 0xfff) as u16);
                if extensions {
                    put(out, 14 << 12 | 0x0a5);
                }
                if cur == target {
                    break;
                }
                cur += 1;
            }
            *high = Some(target);
            // A time-low word after every time-high word, so that decoders
            // that reset the low bits at a time-high word read the same.
            *low = t & 0xfff;
            put(out, 6 << 12 | *low as u16);
        }
        if t & 0xfff != *low {
            *low = t & 0xfff;
            put(out, 6 << 12 | *low as u16);
        }
    };
    let mut tr = triggers.iter().peekable();
    let mut i = 0;
    while i < events.len() {
        let e = events[i];
        while let Some(t) = tr.next_if(|t| t.t_us <= e.t_us) {
            time(out, t.t_us, &mut high, &mut low);
            put(
                out,
                10 << 12 | u16::from(t.id & 0xf) << 8 | u16::from(t.value & 1),
            );
        }
        time(out, e.t_us, &mut high, &mut low);
        if y != Some(e.y) {
            y = Some(e.y);
            put(out, e.y);
        }
        // A run of events at this time, row and polarity with increasing x.
        let mut j = i + 1;
        while j < events.len()
            && events[j].t_us == e.t_us
            && events[j].y == e.y
            && events[j].polarity == e.polarity
            && events[j].x > events[j - 1].x
            && events[j].x - e.x < 64
        {
            j += 1;
        }
        let pol = u16::from(e.polarity) << 11;
        if j - i == 1 {
            put(out, 2 << 12 | pol | e.x);
        } else {
            put(out, 3 << 12 | pol | e.x);
            let mut base = e.x;
            let mut k = i;
            while k < j {
                let span = if events[j - 1].x - base >= 8 { 12 } else { 8 };
                let mut mask = 0u16;
                while k < j && events[k].x < base + span {
                    mask |= 1 << (events[k].x - base);
                    k += 1;
                }
                put(out, if span == 12 { 4 << 12 } else { 5 << 12 } | mask);
                base += span;
            }
        }
        i = j;
    }
    for t in tr {
        time(out, t.t_us, &mut high, &mut low);
        put(
            out,
            10 << 12 | u16::from(t.id & 0xf) << 8 | u16::from(t.value & 1),
        );
    }
}

/// Random test events for a 640 × 480 sensor, seeded: `n` CD events in
/// time order over about `span_us` µs, many in runs along x (so that EVT 3
/// uses vector words), and `n / 50` triggers. The fixtures of the
/// cross-checks against other readers are these, written by [`encode_raw`].
/// (Feature `fixtures`.)
#[cfg(any(test, feature = "fixtures"))]
pub fn random_fixture(seed: u64, n: usize, span_us: u64) -> (Vec<Event2d>, Vec<Trigger>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut events = Vec::with_capacity(n);
    let mut t = rng.random_range(0..5000u64);
    while events.len() < n {
        t += rng.random_range(0..(20 * span_us / n as u64).max(1) + 1);
        let (y, p) = (rng.random_range(0..480u16), rng.random_range(0..2u8));
        let mut x = rng.random_range(0..600u16);
        for _ in 0..rng.random_range(1..20usize) {
            events.push(Event2d {
                x,
                y,
                polarity: p,
                t_us: t,
            });
            x += rng.random_range(1..4u16);
            if x >= 640 {
                break;
            }
        }
    }
    events.truncate(n);
    // Stable within a time: rows ascending keeps ADDR_Y words few.
    events.sort_by_key(|e| (e.t_us, e.y, e.polarity, e.x));
    events.dedup_by_key(|e| (e.t_us, e.y, e.polarity, e.x));
    let triggers = (0..n / 50)
        .map(|_| Trigger {
            t_us: rng.random_range(events[0].t_us..=events[events.len() - 1].t_us),
            id: rng.random_range(0..4),
            value: rng.random_range(0..2),
        })
        .collect::<Vec<_>>();
    let mut triggers = triggers;
    triggers.sort_by_key(|t| t.t_us);
    (events, triggers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_round_trip_events_and_triggers() {
        for format in [EvtFormat::Evt2, EvtFormat::Evt3] {
            for (seed, span) in [(1u64, 200_000u64), (2, 40_000_000)] {
                let (events, triggers) = random_fixture(seed, 5000, span);
                let bytes = encode_raw(format, (640, 480), &events, &triggers, true).unwrap();
                let d = parse_raw(&bytes).unwrap();
                assert_eq!(d.header.format, format);
                assert_eq!(d.header.geometry, Some((640, 480)));
                assert_eq!(d.events, events, "{format:?} span {span}");
                assert_eq!(d.triggers, triggers, "{format:?} span {span}");
                assert!(d.counts.skipped_words > 0, "extension words are counted");
                if format == EvtFormat::Evt3 && span > 1 << 24 {
                    assert!(d.counts.time_wraps >= 2, "{:?}", d.counts);
                }
                // Any slicing of the stream decodes the same.
                let body = &bytes[d.header.len..];
                let mut dec = EvtDecoder::new(format);
                let mut out = Vec::new();
                for piece in body.chunks(7) {
                    dec.push(piece, &mut out);
                }
                assert_eq!(out, events);
            }
        }
    }

    /// Damaged streams (seeded byte flips, cuts): decoding never fails or
    /// stops; a flipped word changes at most the events it encodes (one CD
    /// event in EVT 2, a vector's 12 in EVT 3), and a cut stream keeps every
    /// event before the cut.
    #[test]
    fn damaged_words_cost_only_their_events() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for format in [EvtFormat::Evt2, EvtFormat::Evt3] {
            let (events, _) = random_fixture(3, 3000, 1_000_000);
            let raw = encode_raw(format, (640, 480), &events, &[], false).unwrap();
            let h = parse_raw_header(&raw).unwrap().len;
            let per_word = if format == EvtFormat::Evt2 { 1 } else { 12 };
            for trial in 0..50 {
                let mut bad = raw.clone();
                let flips = 1 + trial % 5;
                for _ in 0..flips {
                    let at = rng.random_range(h..bad.len());
                    bad[at] ^= 1 << rng.random_range(0..8);
                }
                let d = parse_raw(&bad).unwrap();
                assert!(
                    d.events.len().abs_diff(events.len()) <= per_word * flips,
                    "{format:?} trial {trial}: {} events, clean {}",
                    d.events.len(),
                    events.len()
                );
                // A cut at any byte: the events before it survive.
                let cut = rng.random_range(h..raw.len());
                let mut dec = EvtDecoder::new(format);
                let mut out = Vec::new();
                dec.push(&raw[h..cut], &mut out);
                assert_eq!(out[..], events[..out.len()], "{format:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn vector_words_are_used_and_decoded() {
        let events: Vec<Event2d> = [3u16, 4, 5, 9, 14, 15, 27, 28, 40]
            .iter()
            .map(|&x| Event2d {
                x,
                y: 7,
                polarity: 1,
                t_us: 100,
            })
            .collect();
        let bytes = encode_raw(EvtFormat::Evt3, (64, 64), &events, &[], false).unwrap();
        let header = parse_raw_header(&bytes).unwrap();
        let kinds: Vec<u16> = bytes[header.len..]
            .chunks_exact(2)
            .map(|w| u16::from_le_bytes([w[0], w[1]]) >> 12)
            .collect();
        assert!(
            kinds.contains(&3) && (kinds.contains(&4) || kinds.contains(&5)),
            "{kinds:?}"
        );
        assert_eq!(parse_raw(&bytes).unwrap().events, events);
    }

    #[test]
    fn a_stream_header_is_read_up_to_the_first_word() {
        for format in [EvtFormat::Evt2, EvtFormat::Evt3] {
            let (events, triggers) = random_fixture(3, 500, 100_000);
            let bytes = encode_raw(format, (640, 480), &events, &triggers, false).unwrap();
            let mut r = &bytes[..];
            let start = read_raw_header(&mut r).unwrap();
            assert_eq!(start.header.format, format);
            assert_eq!(start.header.geometry, Some((640, 480)));
            // What the stream consumed is what was counted.
            assert_eq!(start.bytes_read, (bytes.len() - r.len()) as u64);
            let mut d = EvtDecoder::new(format);
            let mut out = Vec::new();
            d.push(&start.words, &mut out);
            d.push(r, &mut out);
            assert_eq!(out, events, "{format:?}");
        }
        // A stream of words only, an endless header.
        let e = read_raw_header(&mut &[0u8, 1, 2][..]).unwrap_err();
        assert!(e.to_string().contains("no `%` header"), "{e}");
        let long = b"% x\n".repeat(1 << 15);
        let e = read_raw_header(&mut &long[..]).unwrap_err();
        assert!(e.to_string().contains("longer than 64 KiB"), "{e}");
    }

    #[test]
    fn bad_headers_and_cut_words_are_errors() {
        assert!(parse_raw(b"").is_err());
        assert!(parse_raw(b"not a raw file").is_err());
        assert!(parse_raw(b"% geometry 10x10\n% end\n").is_err());
        let e = parse_raw(b"% format EVT21;width=10;height=10\n").unwrap_err();
        assert!(e.msg.contains("EVT21"), "{e}");
        assert!(parse_raw(b"% evt 3.0\n% geometry 10x").is_err());
        let ok = parse_raw(b"% evt 2.0\n% end\n").unwrap();
        assert!(ok.events.is_empty() && ok.header.geometry.is_none());
        let mut cut = b"% evt 2.0\n% end\n".to_vec();
        cut.extend_from_slice(&[0x00, 0x00, 0x00, 0x80, 0x12]);
        assert!(parse_raw(&cut).unwrap_err().msg.contains("truncated"));
    }

    /// A time-high word updates only the high bits: the low bits stay
    /// (TIME_HIGH 0, TIME_LOW 5, event; TIME_HIGH 1, event at 4096 + 5).
    #[test]
    fn evt3_time_high_keeps_the_low_bits() {
        let mut bytes = b"% evt 3.0\n% end\n".to_vec();
        for w in [0x8000u16, 0x6005, 0x0007, 0x2003, 0x8001, 0x2004] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let t: Vec<u64> = parse_raw(&bytes)
            .unwrap()
            .events
            .iter()
            .map(|e| e.t_us)
            .collect();
        assert_eq!(t, vec![5, 4101]);
    }

    #[test]
    fn events_before_the_first_time_high_are_dropped_and_counted() {
        let mut bytes = b"% evt 3.0\n% end\n".to_vec();
        for w in [0x0005u16, 0x2003, 0x8001, 0x2004] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        let d = parse_raw(&bytes).unwrap();
        assert_eq!(d.counts.untimed, 1);
        assert_eq!(
            d.events,
            vec![Event2d {
                x: 4,
                y: 5,
                polarity: 0,
                t_us: 4096
            }]
        );
    }
}
