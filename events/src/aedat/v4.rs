//! AEDAT 4.0: the packet reader ([`Aedat4Reader`], strict or
//! resynchronising) and [`read_aedat4`]. The header's XML info node is
//! parsed with `roxmltree`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use slayer_core::Event2d;

use super::counted::Counted;
use super::{MAX_HEADER_BYTES, MAX_PACKET_BYTES};
use crate::error::{format_err, truncated_err, AedatError, Error, FormatError, Result};
use crate::le::{le_i16, le_i32, le_u32};

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
    fn root(&self, ident: [u8; 4]) -> Result<usize, String> {
        let id = self.bytes(4, 4)?;
        if id != ident.as_slice() {
            return Err(format!(
                "{}: file identifier {:?}, expected {:?}",
                self.what,
                String::from_utf8_lossy(id),
                String::from_utf8_lossy(&ident)
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
        let root = fb.root(*b"EVTS").map_err(err)?;
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
            return Err(truncated_err(
                0,
                format!("truncated magic line: {n} of 14 bytes"),
            ));
        }
        let mut size = [0u8; 4];
        let at = src.offset;
        let n = src.fill(&mut size)?;
        if n < 4 {
            return Err(truncated_err(
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
            return Err(truncated_err(
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
            Compression::None => w[12..16].iter().all(u8::is_ascii_uppercase),
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
                Err(AedatError::Format(e) | AedatError::Truncated(e)) if self.resync => {
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
                return Err(truncated_err(
                    start,
                    format!("truncated file: it ends before the data table at byte {dt}"),
                ));
            }
            return Ok(None);
        }
        if n < pre.len() {
            self.compressed = pre[..n].to_vec();
            return Err(truncated_err(
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
            return Err(truncated_err(
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
    let root = fb.root(*b"IOHE").map_err(err)?;
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
    let (info_xml, info_at) = match fb.field(root, 2).map_err(err)? {
        None => (String::new(), 0),
        Some(at) => {
            let s = fb.deref(at).map_err(err)?;
            let len = fb.u32(s).map_err(err)? as usize;
            let b = fb.bytes(s + 4, len).map_err(err)?;
            (String::from_utf8_lossy(b).into_owned(), s + 4)
        }
    };
    let streams = parse_info_streams(&info_xml).map_err(|m| {
        format_err(
            body_at + info_at as u64,
            format!("IOHeader: the info node is not well-formed XML ({m})"),
        )
    })?;
    Ok(Aedat4Header {
        compression,
        data_table_position,
        info_xml,
        streams,
        data_offset,
    })
}

/// The streams described by the info node (DV's XML configuration tree):
/// each `<attr key="K">V</attr>` belongs to the stream whose id follows
/// `outInfo/` in the `path` of its innermost enclosing `<node>`. An empty
/// info node describes no streams; one that is not well-formed XML is an
/// error (the parser's message).
fn parse_info_streams(xml: &str) -> Result<Vec<Aedat4Stream>, String> {
    if xml.trim().is_empty() {
        return Ok(Vec::new());
    }
    let doc = roxmltree::Document::parse(xml).map_err(|e| e.to_string())?;
    let mut streams: Vec<Aedat4Stream> = Vec::new();
    for attr in doc.descendants().filter(|n| n.has_tag_name("attr")) {
        let Some(key) = attr.attribute("key") else {
            continue;
        };
        let node = attr.ancestors().skip(1).find(|n| n.has_tag_name("node"));
        let Some(id) = node
            .and_then(|n| n.attribute("path"))
            .and_then(stream_of_path)
        else {
            continue;
        };
        let value = attr.text().unwrap_or("").trim();
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
    streams.sort_by_key(|s| s.id);
    Ok(streams)
}

/// The stream id in a node path: the digits after `outInfo/`
/// (`/mainloop/Recorder/outInfo/2/info/` → 2).
fn stream_of_path(path: &str) -> Option<i32> {
    let after = &path[path.find("outInfo/")? + "outInfo/".len()..];
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Parses a whole AEDAT 4.0 file held in memory: the header and the
/// polarity events of its first `EVTS` stream, in file order.
pub fn parse_aedat4(bytes: &[u8]) -> Result<(Aedat4Header, Vec<Event2d>), FormatError> {
    let mut r = Aedat4Reader::new(bytes).map_err(AedatError::into_format)?;
    let events = aedat4_events(&mut r).map_err(AedatError::into_format)?;
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
    use crate::test_data::{data_dir, expect_format};
    use std::path::PathBuf;

    fn aedat4_path() -> PathBuf {
        data_dir().join("event-fixtures/tonic_sample.aedat4")
    }

    fn tmp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("slayer-aedat-{}-{name}", std::process::id()))
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
        let raw = recompress(&bytes, 0, <[u8]>::to_vec);
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
        let root = fb.root(*b"EVTS").expect("root");
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
    fn a_stream_cut_short_is_a_truncated_error() {
        let bytes = std::fs::read(aedat4_path()).expect("read");
        let hl = A4_HEADER_END;
        // Cut inside the first packet: the packet read says truncated.
        let mut r = Aedat4Reader::new(&bytes[..hl + 100]).expect("header");
        let e = r.next_packet().map(|_| ()).expect_err("cut packet");
        assert!(e.is_truncated(), "{e}");
        assert_eq!(e.offset(), hl as u64);
        assert!(e.to_string().contains("truncated packet"), "{e}");
        // Cut inside the header.
        let e = Aedat4Reader::new(&bytes[..100])
            .map(|_| ())
            .expect_err("cut header");
        assert!(e.is_truncated(), "{e}");
        // A corrupt size prefix is malformed, not truncated.
        let mut bad = bytes.clone();
        bad[hl + 4..hl + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut r = Aedat4Reader::new(&bad[..]).expect("header");
        let e = r.next_packet().map(|_| ()).expect_err("size prefix");
        assert!(!e.is_truncated(), "{e}");
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

    /// The info node is read as XML: attributes belong to their enclosing
    /// node's stream wherever they stand, entities are decoded, and a node
    /// that is not well-formed is an error naming the parser's complaint.
    #[test]
    fn info_node_is_parsed_as_xml() {
        let xml = r#"<dv version="2.0"><node name="outInfo" path="/outInfo/">
            <node name="1" path="/outInfo/1/">
                <node name="info" path="/outInfo/1/info/"><attr key="sizeX" type="int">640</attr></node>
                <attr key="typeIdentifier" type="string">EVTS</attr>
                <attr key="source" type="string">A &amp; B</attr>
            </node>
            <node name="0" path="/outInfo/0/"><attr key="typeIdentifier" type="string"> FRME </attr></node>
        </node></dv>"#;
        let streams = parse_info_streams(xml).expect("xml");
        assert_eq!(streams.len(), 2);
        assert_eq!(
            (streams[0].id, streams[0].type_identifier.as_str()),
            (0, "FRME")
        );
        let s = &streams[1];
        assert_eq!((s.id, s.type_identifier.as_str()), (1, "EVTS"));
        assert_eq!((s.size_x, s.size_y), (Some(640), None));
        assert_eq!(s.source.as_deref(), Some("A & B"));
        assert_eq!(parse_info_streams("  ").expect("empty"), vec![]);
        assert!(parse_info_streams("<dv><node path=\"/outInfo/0/\">").is_err());

        // In a file: the error names the info node's offset.
        let mut bytes = std::fs::read(aedat4_path()).expect("read");
        let at = bytes
            .windows(4)
            .position(|w| w == b"<dv ")
            .expect("info node");
        bytes[at + 1] = b' ';
        let e = parse_aedat4(&bytes).expect_err("malformed xml");
        assert_eq!(e.offset, at as u64, "{e}");
        assert!(e.msg.contains("not well-formed XML"), "{e}");
    }
}
