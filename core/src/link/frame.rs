//! Frames on the wire: postcard bytes + CRC-32 (little-endian), COBS-encoded,
//! ended by a `0x00` delimiter.

use serde::{Deserialize, Serialize};

use crate::crc32;

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// More bytes than the reader's buffer before a delimiter.
    Overflow,
    /// Not valid COBS.
    Cobs,
    /// Too short to hold a message and its CRC.
    Short,
    /// The CRC does not match the bytes.
    Crc,
    /// The CRC matched but the bytes are not a message of the expected type
    /// (or the output buffer is too small when encoding).
    Message,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Overflow => "frame longer than the receive buffer",
            Self::Cobs => "frame is not valid COBS",
            Self::Short => "frame too short for a message and its CRC",
            Self::Crc => "frame CRC mismatch",
            Self::Message => "frame does not hold a valid message",
        })
    }
}

/// Encodes `msg` as one frame, delimiter included, into `out`, using `raw`
/// as scratch space for the unencoded bytes; returns the frame's length.
pub fn encode<T: Serialize>(msg: &T, raw: &mut [u8], out: &mut [u8]) -> Result<usize, FrameError> {
    let n = postcard::to_slice(msg, raw)
        .map_err(|_| FrameError::Message)?
        .len();
    let crc = crc32::checksum(&raw[..n]).to_le_bytes();
    let body = raw.get_mut(n..n + 4).ok_or(FrameError::Message)?;
    body.copy_from_slice(&crc);
    let len = cobs::try_encode(&raw[..n + 4], out).map_err(|_| FrameError::Message)?;
    let end = out.get_mut(len).ok_or(FrameError::Message)?;
    *end = 0;
    Ok(len + 1)
}

/// Decodes a payload returned by [`FrameReader::push`] as a message.
pub fn decode<'de, T: Deserialize<'de>>(payload: &'de [u8]) -> Result<T, FrameError> {
    postcard::from_bytes(payload).map_err(|_| FrameError::Message)
}

/// Collects bytes up to a delimiter and checks the frame: constant memory
/// (`N` bytes), any byte sequence accepted.
#[derive(Debug, Clone)]
pub struct FrameReader<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for FrameReader<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FrameReader<N> {
    /// An empty reader.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            overflowed: false,
        }
    }

    /// Forgets a partly received frame.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Feeds one byte. At a delimiter, returns the frame's payload (the
    /// postcard bytes, CRC checked and removed) or why it was dropped;
    /// `None` otherwise (and for empty frames: repeated delimiters are
    /// idle filler).
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], FrameError>> {
        if byte != 0 {
            match self.buf.get_mut(self.len) {
                Some(slot) => {
                    *slot = byte;
                    self.len += 1;
                }
                None => self.overflowed = true,
            }
            return None;
        }
        let len = core::mem::take(&mut self.len);
        if core::mem::take(&mut self.overflowed) {
            return Some(Err(FrameError::Overflow));
        }
        if len == 0 {
            return None;
        }
        Some(self.check(len))
    }

    fn check(&mut self, len: usize) -> Result<&[u8], FrameError> {
        let n = cobs::decode_in_place(&mut self.buf[..len]).map_err(|_| FrameError::Cobs)?;
        if n < 5 {
            return Err(FrameError::Short);
        }
        let (body, stored) = crc32::split(&self.buf[..n]).ok_or(FrameError::Short)?;
        if crc32::checksum(body) != stored {
            return Err(FrameError::Crc);
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{ToBoard, WireEvent, MAX_FRAME};

    fn frame(msg: &ToBoard) -> Vec<u8> {
        let (mut raw, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME + 16]);
        let n = encode(msg, &mut raw, &mut out).unwrap();
        out[..n].to_vec()
    }

    fn events(seq: u32, n: u16) -> ToBoard {
        let mut ev = heapless::Vec::new();
        for i in 0..n {
            ev.push(WireEvent {
                dt_us: u32::from(i) * 7,
                x: i,
                y: 3 * i,
                p: (i % 2) as u8,
            })
            .unwrap();
        }
        ToBoard::Events {
            seq,
            t_us: 1_000_000 + u64::from(seq),
            events: ev,
        }
    }

    fn read_all(bytes: &[u8]) -> (Vec<ToBoard>, Vec<FrameError>) {
        let mut r = FrameReader::<MAX_FRAME>::new();
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        for &b in bytes {
            match r.push(b) {
                Some(Ok(p)) => match decode::<ToBoard>(p) {
                    Ok(m) => ok.push(m),
                    Err(e) => bad.push(e),
                },
                Some(Err(e)) => bad.push(e),
                None => {}
            }
        }
        (ok, bad)
    }

    #[test]
    fn round_trip_and_no_zero_inside() {
        let msgs = [
            ToBoard::Ping { nonce: 0 },
            ToBoard::Reset {
                width: 128,
                height: 128,
            },
            ToBoard::SetWindow { bins: 50 },
            events(0, 0),
            events(1, crate::link::MAX_EVENTS as u16),
            ToBoard::Flush { seq: 2 },
        ];
        let mut wire = Vec::new();
        for m in &msgs {
            let f = frame(m);
            assert!(f.len() <= MAX_FRAME + 1, "{} bytes", f.len());
            assert_eq!(f.iter().filter(|&&b| b == 0).count(), 1);
            assert_eq!(*f.last().unwrap(), 0);
            wire.extend_from_slice(&f);
            wire.push(0); // idle filler between frames is ignored
        }
        let (ok, bad) = read_all(&wire);
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok, msgs);
    }

    #[test]
    fn a_damaged_frame_costs_only_itself() {
        let msgs: Vec<ToBoard> = (0..6).map(|s| events(s, 20)).collect();
        let frames: Vec<Vec<u8>> = msgs.iter().map(frame).collect();
        // Flip one byte inside frame 1, drop one byte of frame 3, cut frame
        // 5 short (its delimiter arrives early).
        let mut wire = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let mut f = f.clone();
            match i {
                1 => f[10] ^= 0x5a,
                3 => {
                    f.remove(7);
                }
                5 => {
                    f.truncate(12);
                    f.push(0);
                }
                _ => {}
            }
            wire.extend_from_slice(&f);
        }
        let (ok, bad) = read_all(&wire);
        assert_eq!(bad.len(), 3, "{bad:?}");
        let seqs: Vec<u32> = ok
            .iter()
            .map(|m| match m {
                ToBoard::Events { seq, .. } => *seq,
                _ => u32::MAX,
            })
            .collect();
        assert_eq!(seqs, [0, 2, 4]);
    }

    #[test]
    fn overflow_is_reported_once_and_reader_recovers() {
        let mut wire = vec![0x55u8; 3 * MAX_FRAME];
        wire.push(0);
        wire.extend_from_slice(&frame(&ToBoard::Ping { nonce: 9 }));
        let (ok, bad) = read_all(&wire);
        assert_eq!(bad, [FrameError::Overflow]);
        assert_eq!(ok, [ToBoard::Ping { nonce: 9 }]);
    }

    #[test]
    fn encode_refuses_small_buffers() {
        let (mut raw, mut out) = ([0u8; 8], [0u8; 8]);
        assert_eq!(
            encode(&events(0, 10), &mut raw, &mut out),
            Err(FrameError::Message)
        );
    }
}
