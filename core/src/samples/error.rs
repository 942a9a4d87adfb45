//! Errors of sample packs.

/// Why a byte blob is not a usable sample pack, or a sample does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SampleError {
    /// The blob ends early.
    Truncated,
    /// The blob does not start with `SLYS`.
    BadMagic,
    /// A version this crate does not read.
    UnsupportedVersion {
        /// The version in the blob.
        found: u16,
    },
    /// The CRC-32 at the end does not match.
    Crc {
        /// The CRC stored in the blob.
        expected: u32,
        /// The CRC computed over the blob.
        found: u32,
    },
    /// Not a valid encoding (bad index width, partial index, bad varint).
    Malformed,
    /// Bytes left after the last sample.
    TrailingBytes,
    /// An input index `≥ inputs`.
    IndexRange,
    /// [`super::SamplePack::sample`] past the last sample.
    NoSuchSample {
        /// The requested index.
        index: usize,
        /// Number of samples.
        count: usize,
    },
    /// Encoding: a sample with a number of bins other than the pack's.
    BinCount {
        /// The pack's bins.
        expected: u32,
        /// The sample's.
        found: usize,
    },
    /// Encoding failed.
    Serialize,
}

impl core::fmt::Display for SampleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Truncated => f.write_str("sample pack truncated"),
            Self::BadMagic => f.write_str("not a slayer sample pack (bad magic)"),
            Self::UnsupportedVersion { found } => {
                write!(f, "unsupported sample-pack version {found}")
            }
            Self::Crc { expected, found } => {
                write!(
                    f,
                    "CRC mismatch: stored {expected:#010x}, computed {found:#010x}"
                )
            }
            Self::Malformed => f.write_str("malformed sample pack"),
            Self::TrailingBytes => f.write_str("trailing bytes after the last sample"),
            Self::IndexRange => f.write_str("input index out of range"),
            Self::NoSuchSample { index, count } => {
                write!(f, "sample {index} requested, the pack has {count}")
            }
            Self::BinCount { expected, found } => {
                write!(f, "sample with {found} bins, the pack has {expected}")
            }
            Self::Serialize => f.write_str("serialisation failed"),
        }
    }
}

impl core::error::Error for SampleError {}

crate::crc32::from_envelope!(SampleError);

impl From<postcard::Error> for SampleError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => Self::Truncated,
            _ => Self::Malformed,
        }
    }
}
