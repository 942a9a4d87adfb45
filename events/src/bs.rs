//! Readers and writers of the 40-bit event files (SLAYER.md §6).
//!
//! Every event is 5 bytes, one big-endian 40-bit word, time in µs:
//!
//! | format | bits 39..24 | bit 23 | bits 22..0 |
//! |---|---|---|---|
//! | `.bs2`, original N-MNIST `.bin` | x (8) · y (8) | polarity | t |
//! | `.bs1` | neuron (16) | polarity | t |
//!
//! Timestamps are 23 bits (at most [`MAX_T_US`] ≈ 8.4 s) and are kept exactly
//! as read: no unwrapping, no sorting. Every bit pattern is a valid event, so
//! the only malformed file is a truncated one (length not a multiple of 5).

use std::path::Path;

use slayer_core::{Event1d, Event2d};

use crate::error::{Error, FormatError, Result};

/// Bytes per event of the 40-bit formats.
pub const EVENT_BYTES: usize = 5;

/// Largest timestamp (µs) that fits the 23-bit time field.
pub const MAX_T_US: u64 = (1 << 23) - 1;

/// Splits `bytes` into 40-bit words, rejecting a truncated trailing event.
fn words(bytes: &[u8]) -> std::result::Result<impl Iterator<Item = u64> + '_, FormatError> {
    let rem = bytes.len() % EVENT_BYTES;
    if rem != 0 {
        let offset = (bytes.len() - rem) as u64;
        return Err(FormatError {
            offset,
            msg: format!(
                "truncated event: {rem} of {EVENT_BYTES} bytes (file length {} is not a multiple of {EVENT_BYTES})",
                bytes.len()
            ),
        });
    }
    Ok(bytes.chunks_exact(EVENT_BYTES).map(word))
}

/// The big-endian 40-bit word of one event's bytes.
fn word(c: &[u8]) -> u64 {
    c.iter().fold(0u64, |w, &b| (w << 8) | u64::from(b))
}

/// Polarity bit of a 40-bit word.
fn word_polarity(w: u64) -> u8 {
    ((w >> 23) & 1) as u8
}

/// Timestamp field (µs) of a 40-bit word.
fn word_time(w: u64) -> u64 {
    w & MAX_T_US
}

/// The `.bs2` event of a 40-bit word.
fn bs2_event(w: u64) -> Event2d {
    Event2d {
        x: ((w >> 32) & 0xff) as u16,
        y: ((w >> 24) & 0xff) as u16,
        polarity: word_polarity(w),
        t_us: word_time(w),
    }
}

/// Parses a `.bs2` (or original N-MNIST `.bin`) buffer: x 8b · y 8b · p 1b · t 23b.
///
/// Errors when the length is not a multiple of 5, naming the offset of the
/// incomplete trailing event.
pub fn parse_bs2(bytes: &[u8]) -> std::result::Result<Vec<Event2d>, FormatError> {
    Ok(words(bytes)?.map(bs2_event).collect())
}

/// An incremental `.bs2` decoder for streams: [`Bs2Decoder::push`] takes
/// any slicing of the bytes and keeps an event cut by the end of one push
/// for the next, so a file decodes the same read in pieces as whole
/// ([`parse_bs2`]). At the end of the stream, [`Bs2Decoder::pending_bytes`]
/// says how many bytes of a truncated last event were left.
#[derive(Debug, Clone, Default)]
pub struct Bs2Decoder {
    /// The start of an event cut by the end of the last push.
    partial: [u8; EVENT_BYTES],
    /// Bytes of it held.
    have: usize,
}

impl Bs2Decoder {
    /// A decoder at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `bytes` (continuing the stream), appending events to `out`;
    /// returns how many were appended.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Event2d>) -> usize {
        let start = out.len();
        if self.have > 0 {
            let take = (EVENT_BYTES - self.have).min(bytes.len());
            self.partial[self.have..self.have + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            bytes = &bytes[take..];
            if self.have < EVENT_BYTES {
                return 0;
            }
            self.have = 0;
            out.push(bs2_event(word(&self.partial)));
        }
        let mut events = bytes.chunks_exact(EVENT_BYTES);
        out.extend((&mut events).map(|c| bs2_event(word(c))));
        let rest = events.remainder();
        self.partial[..rest.len()].copy_from_slice(rest);
        self.have = rest.len();
        out.len() - start
    }

    /// Bytes of an event cut short at the end of the input so far.
    pub fn pending_bytes(&self) -> usize {
        self.have
    }
}

/// Parses a `.bs1` buffer: neuron 16b · p 1b · t 23b.
///
/// Errors when the length is not a multiple of 5, naming the offset of the
/// incomplete trailing event.
pub fn parse_bs1(bytes: &[u8]) -> std::result::Result<Vec<Event1d>, FormatError> {
    Ok(words(bytes)?
        .map(|w| Event1d {
            neuron: ((w >> 24) & 0xffff) as u16,
            polarity: word_polarity(w),
            t_us: word_time(w),
        })
        .collect())
}

fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Reads a `.bs2` file, or an original N-MNIST `.bin` file (same layout).
pub fn read_bs2(path: &Path) -> Result<Vec<Event2d>> {
    parse_bs2(&read_bytes(path)?).map_err(|e| e.at(path))
}

/// Reads a `.bs1` file.
pub fn read_bs1(path: &Path) -> Result<Vec<Event1d>> {
    parse_bs1(&read_bytes(path)?).map_err(|e| e.at(path))
}

/// Checks the fields shared by both formats and packs them into the low 24 bits.
fn pack_pt(i: usize, polarity: u8, t_us: u64) -> std::result::Result<u64, FormatError> {
    let offset = (i * EVENT_BYTES) as u64;
    if polarity > 1 {
        return Err(FormatError {
            offset,
            msg: format!("event {i}: polarity {polarity} does not fit 1 bit"),
        });
    }
    if t_us > MAX_T_US {
        return Err(FormatError {
            offset,
            msg: format!("event {i}: timestamp {t_us} µs does not fit 23 bits (max {MAX_T_US})"),
        });
    }
    Ok((u64::from(polarity) << 23) | t_us)
}

fn push_word(out: &mut Vec<u8>, w: u64) {
    out.extend_from_slice(&w.to_be_bytes()[3..]);
}

/// Encodes events as a `.bs2` buffer. Errors (naming the event and the offset
/// it would have in the output) when x or y exceeds 255, the polarity exceeds
/// 1 or the timestamp exceeds [`MAX_T_US`].
pub fn encode_bs2(events: &[Event2d]) -> std::result::Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(events.len() * EVENT_BYTES);
    for (i, e) in events.iter().enumerate() {
        if e.x > 0xff || e.y > 0xff {
            return Err(FormatError {
                offset: (i * EVENT_BYTES) as u64,
                msg: format!("event {i}: address ({}, {}) does not fit 8 bits", e.x, e.y),
            });
        }
        let low = pack_pt(i, e.polarity, e.t_us)?;
        push_word(
            &mut out,
            (u64::from(e.x) << 32) | (u64::from(e.y) << 24) | low,
        );
    }
    Ok(out)
}

/// Encodes events as a `.bs1` buffer. Errors (naming the event and the offset
/// it would have in the output) when the polarity exceeds 1 or the timestamp
/// exceeds [`MAX_T_US`] (every `u16` neuron fits).
pub fn encode_bs1(events: &[Event1d]) -> std::result::Result<Vec<u8>, FormatError> {
    let mut out = Vec::with_capacity(events.len() * EVENT_BYTES);
    for (i, e) in events.iter().enumerate() {
        let low = pack_pt(i, e.polarity, e.t_us)?;
        push_word(&mut out, (u64::from(e.neuron) << 24) | low);
    }
    Ok(out)
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| Error::io(path, e))
}

/// Writes events to a `.bs2` file; nothing is written when an event does not
/// fit the format ([`Error::Format`] naming the path).
pub fn write_bs2(path: &Path, events: &[Event2d]) -> Result<()> {
    let bytes = encode_bs2(events).map_err(|e| e.at(path))?;
    write_bytes(path, &bytes)
}

/// Writes events to a `.bs1` file; nothing is written when an event does not
/// fit the format ([`Error::Format`] naming the path).
pub fn write_bs1(path: &Path, events: &[Event1d]) -> Result<()> {
    let bytes = encode_bs1(events).map_err(|e| e.at(path))?;
    write_bytes(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::data_dir;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::path::PathBuf;

    fn tmp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("slayer-data-{}-{name}", std::process::id()))
    }

    #[test]
    fn oxford_input_and_output() {
        let dir = data_dir().join("slayer-reference/oxford");
        let input = read_bs1(&dir.join("input.bs1")).expect("input.bs1");
        assert_eq!(input.len(), 1889);
        assert!(input.iter().all(|e| e.neuron < 200 && e.t_us < 1_900_000));
        assert_eq!(input.iter().map(|e| e.neuron).max(), Some(199));
        let output = read_bs1(&dir.join("output.bs1")).expect("output.bs1");
        assert_eq!(output.len(), 10_361);
        assert!(output.iter().all(|e| e.neuron < 200 && e.t_us < 1_900_000));
    }

    #[test]
    fn ntidigits_has_64_channels() {
        let ev = read_bs1(&data_dir().join("event-fixtures/NTIDIGITS_1.bs1")).expect("bs1");
        assert_eq!(ev.len(), 4490 / 5);
        assert_eq!(ev.iter().map(|e| e.neuron).max(), Some(63));
    }

    fn check_nmnist(ev: &[Event2d]) {
        assert!(!ev.is_empty());
        assert!(ev.iter().all(|e| e.x < 34 && e.y < 34 && e.polarity <= 1));
        assert!(ev.iter().any(|e| e.polarity == 0) && ev.iter().any(|e| e.polarity == 1));
        let t_max = ev.iter().map(|e| e.t_us).max().unwrap_or(0);
        assert!(
            (290_000..=340_000).contains(&t_max),
            "N-MNIST sample lasts {t_max} µs"
        );
    }

    #[test]
    fn nmnist_bs2_samples() {
        let dir = data_dir().join("nmnist-small");
        for id in [1, 2, 17, 500, 1000] {
            let ev = read_bs2(&dir.join(format!("{id}.bs2"))).expect("bs2");
            check_nmnist(&ev);
        }
        let first = read_bs2(&dir.join("1.bs2")).expect("bs2");
        assert_eq!(first.len(), 4681);
    }

    #[test]
    fn nmnist_original_bin() {
        let ev = read_bs2(&data_dir().join("event-fixtures/tonic_sample_nmnist.bin")).expect("bin");
        assert_eq!(ev.len(), 4325);
        check_nmnist(&ev);
    }

    #[test]
    fn dvs_gesture_fits_128() {
        let dir = data_dir().join("dvs-gesture");
        for id in [1, 10] {
            let ev = read_bs2(&dir.join(format!("{id}.bs2"))).expect("bs2");
            assert!(ev.len() > 60_000);
            assert!(ev.iter().all(|e| e.x < 128 && e.y < 128 && e.polarity <= 1));
        }
    }

    #[test]
    fn truncated_real_file_names_the_offset() {
        let bytes =
            std::fs::read(data_dir().join("slayer-reference/oxford/input.bs1")).expect("read");
        let full = parse_bs1(&bytes).expect("whole file");
        // Every length of the file, both layouts.
        for len in 0..=bytes.len() {
            let cut = &bytes[..len];
            match (len % EVENT_BYTES, parse_bs1(cut), parse_bs2(cut)) {
                (0, Ok(a), Ok(b)) => {
                    assert_eq!(a, full[..len / EVENT_BYTES]);
                    assert_eq!(b.len(), len / EVENT_BYTES);
                }
                (r, Err(a), Err(b)) if r != 0 => {
                    let want = (len - r) as u64;
                    assert_eq!(a.offset, want, "len {len}");
                    assert_eq!(b.offset, want, "len {len}");
                    assert!(a.msg.contains("truncated"));
                }
                (r, a, b) => panic!("len {len} (mod {r}): {a:?} {b:?}"),
            }
        }
    }

    #[test]
    fn the_stream_decoder_matches_the_whole_file_parser() {
        let bytes = std::fs::read(data_dir().join("nmnist-small/1.bs2")).expect("read");
        let whole = parse_bs2(&bytes).expect("whole file");
        let mut rng = ChaCha8Rng::seed_from_u64(16);
        for _ in 0..20 {
            // Random slicing, a trailing partial event.
            let cut = &bytes[..bytes.len() - 3];
            let mut d = Bs2Decoder::new();
            let mut out = Vec::new();
            let mut at = 0;
            while at < cut.len() {
                let n = rng.random_range(1..=17).min(cut.len() - at);
                let before = out.len();
                assert_eq!(d.push(&cut[at..at + n], &mut out), out.len() - before);
                at += n;
            }
            assert_eq!(out, whole[..whole.len() - 1]);
            assert_eq!(d.pending_bytes(), EVENT_BYTES - 3);
        }
        let mut d = Bs2Decoder::new();
        let mut out = Vec::new();
        assert_eq!(d.push(&bytes, &mut out), whole.len());
        assert_eq!((out, d.pending_bytes()), (whole, 0));
    }

    #[test]
    fn truncated_file_maps_to_format_error_with_path() {
        let bytes = std::fs::read(data_dir().join("nmnist-small/1.bs2")).expect("read");
        let path = tmp_path("trunc.bs2");
        std::fs::write(&path, &bytes[..bytes.len() - 2]).expect("write");
        let err = read_bs2(&path).expect_err("truncated");
        std::fs::remove_file(&path).ok();
        match &err {
            Error::Format {
                path: p, offset, ..
            } => {
                assert_eq!(p, &path);
                assert_eq!(*offset, (bytes.len() - EVENT_BYTES) as u64);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("at byte offset"));
        assert!(matches!(
            read_bs1(Path::new("/nonexistent/x.bs1")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn real_files_round_trip_byte_exact() {
        let d = data_dir();
        let b1 = std::fs::read(d.join("slayer-reference/oxford/output.bs1")).expect("read");
        assert_eq!(
            encode_bs1(&parse_bs1(&b1).expect("parse")).expect("encode"),
            b1
        );
        let b2 = std::fs::read(d.join("event-fixtures/tonic_sample_nmnist.bin")).expect("read");
        assert_eq!(
            encode_bs2(&parse_bs2(&b2).expect("parse")).expect("encode"),
            b2
        );
    }

    #[test]
    fn known_bit_layout() {
        // x=0x12, y=0x34, p=1, t=0x056789
        let bytes = [0x12, 0x34, 0x85, 0x67, 0x89];
        let e = parse_bs2(&bytes).expect("parse");
        assert_eq!(
            e,
            vec![Event2d {
                x: 0x12,
                y: 0x34,
                polarity: 1,
                t_us: 0x056789
            }]
        );
        let e = parse_bs1(&bytes).expect("parse");
        assert_eq!(
            e,
            vec![Event1d {
                neuron: 0x1234,
                polarity: 1,
                t_us: 0x056789
            }]
        );
        assert_eq!(parse_bs1(&[]).expect("empty"), vec![]);
    }

    #[test]
    fn seeded_random_round_trip() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let e1: Vec<Event1d> = (0..5000)
            .map(|_| Event1d {
                neuron: rng.random(),
                polarity: rng.random_range(0..=1),
                t_us: rng.random_range(0..=MAX_T_US),
            })
            .collect();
        let e2: Vec<Event2d> = (0..5000)
            .map(|_| Event2d {
                x: rng.random_range(0..=255),
                y: rng.random_range(0..=255),
                polarity: rng.random_range(0..=1),
                t_us: rng.random_range(0..=MAX_T_US),
            })
            .collect();
        let b1 = encode_bs1(&e1).expect("encode");
        assert_eq!(b1.len(), 5 * e1.len());
        assert_eq!(parse_bs1(&b1).expect("parse"), e1);
        assert_eq!(
            parse_bs2(&encode_bs2(&e2).expect("encode")).expect("parse"),
            e2
        );

        let p1 = tmp_path("rt.bs1");
        let p2 = tmp_path("rt.bs2");
        write_bs1(&p1, &e1).expect("write");
        write_bs2(&p2, &e2).expect("write");
        let r1 = read_bs1(&p1);
        let r2 = read_bs2(&p2);
        std::fs::remove_file(&p1).ok();
        std::fs::remove_file(&p2).ok();
        assert_eq!(r1.expect("read"), e1);
        assert_eq!(r2.expect("read"), e2);
    }

    #[test]
    fn writer_range_errors() {
        let ok2 = Event2d {
            x: 255,
            y: 255,
            polarity: 1,
            t_us: MAX_T_US,
        };
        assert!(encode_bs2(&[ok2]).is_ok());
        let bad = [
            Event2d { x: 256, ..ok2 },
            Event2d { y: 300, ..ok2 },
            Event2d { polarity: 2, ..ok2 },
            Event2d {
                t_us: MAX_T_US + 1,
                ..ok2
            },
        ];
        for b in bad {
            let err = encode_bs2(&[ok2, ok2, b]).expect_err("out of range");
            assert_eq!(err.offset, 10, "{b:?}");
            assert!(err.msg.contains("event 2"), "{}", err.msg);
        }
        let ok1 = Event1d {
            neuron: u16::MAX,
            polarity: 0,
            t_us: 0,
        };
        assert!(encode_bs1(&[ok1]).is_ok());
        let err = encode_bs1(&[ok1, Event1d { polarity: 3, ..ok1 }]).expect_err("polarity");
        assert_eq!(err.offset, 5);
        let err = encode_bs1(&[Event1d {
            t_us: 1 << 23,
            ..ok1
        }])
        .expect_err("time");
        assert_eq!(err.offset, 0);
        assert!(err.msg.contains("23 bits"));

        let path = tmp_path("bad.bs1");
        let res = write_bs1(&path, &[Event1d { polarity: 2, ..ok1 }]);
        assert!(matches!(res, Err(Error::Format { offset: 0, .. })));
        assert!(!path.exists(), "nothing written on a range error");
    }
}
