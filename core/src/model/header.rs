//! The fixed part of a model file: magic, version, shapes and weight width.

use serde::{Deserialize, Serialize};

/// First four bytes of every model file.
pub const MAGIC: [u8; 4] = *b"SLYM";

/// The format version this crate writes. It reads this one and version 1
/// (the same layout without the alignment padding before each layer).
pub const VERSION: u16 = 2;

/// Version 1: layers without alignment padding (still read).
pub const VERSION_UNALIGNED: u16 = 1;

/// Weight blobs of a version-2 model start at a multiple of this many bytes
/// from its first byte.
pub const WEIGHT_ALIGN: usize = 4;

/// Most layers a model may have (flatten and delay layers count).
pub const MAX_LAYERS: usize = 16;

/// A `(channels, height, width)` shape; tensors are flattened
/// `c·H·W + y·W + x` (x fastest) everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Shape {
    /// Channels.
    pub c: u32,
    /// Height (rows).
    pub h: u32,
    /// Width (columns).
    pub w: u32,
}

impl Shape {
    /// A shape from its three sizes.
    pub const fn new(c: u32, h: u32, w: u32) -> Self {
        Self { c, h, w }
    }

    /// A flat vector of `n` neurons, `(n, 1, 1)`.
    pub const fn flat(n: u32) -> Self {
        Self { c: n, h: 1, w: 1 }
    }

    /// Number of elements `c·h·w`, `None` when it overflows `u32`.
    pub fn len(&self) -> Option<u32> {
        self.c.checked_mul(self.h)?.checked_mul(self.w)
    }

    /// True when any side is zero.
    pub fn is_empty(&self) -> bool {
        self.c == 0 || self.h == 0 || self.w == 0
    }
}

/// Width of the stored integer weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WeightBits {
    /// One byte per weight, two's complement.
    I8,
    /// Two bytes per weight, little-endian two's complement.
    I16,
}

impl WeightBits {
    /// From a bit count (8 or 16).
    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            8 => Some(Self::I8),
            16 => Some(Self::I16),
            _ => None,
        }
    }

    /// Bits per weight (8 or 16).
    pub fn bits(self) -> u32 {
        match self {
            Self::I8 => 8,
            Self::I16 => 16,
        }
    }

    /// Bytes per weight (1 or 2).
    pub fn bytes(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 => 2,
        }
    }

    /// Largest representable weight (127 or 32767); the smallest is `−max − 1`.
    pub fn max(self) -> i32 {
        match self {
            Self::I8 => i32::from(i8::MAX),
            Self::I16 => i32::from(i16::MAX),
        }
    }

    /// Weight `i` of a blob of this width, `None` past its end.
    pub fn get(self, blob: &[u8], i: usize) -> Option<i32> {
        match self {
            Self::I8 => blob.get(i).map(|&b| i32::from(b as i8)),
            Self::I16 => {
                let at = i.checked_mul(2)?;
                let b = blob.get(at..at.checked_add(2)?)?;
                Some(i32::from(i16::from_le_bytes([b[0], b[1]])))
            }
        }
    }
}

/// The header fields after magic and version.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub ts: f32,
    pub bins: u32,
    pub bits: WeightBits,
    pub input: Shape,
}
