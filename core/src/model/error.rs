//! Errors of decoding (and validating) and encoding models.

/// Why a byte blob is not a usable model. Decoding never panics: every
/// malformed input maps to one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DecodeError {
    /// The blob ends before a complete model (or before its CRC).
    Truncated,
    /// The blob does not start with `SLYM`.
    BadMagic,
    /// A format version this crate does not read.
    UnsupportedVersion {
        /// The version in the blob.
        found: u16,
    },
    /// The CRC-32 at the end does not match the bytes before it.
    Crc {
        /// The CRC stored in the blob.
        expected: u32,
        /// The CRC computed over the blob.
        found: u32,
    },
    /// The body is not a valid postcard encoding of a model.
    Malformed,
    /// Bytes left between the last layer and the CRC.
    TrailingBytes,
    /// More layers than [`super::MAX_LAYERS`].
    TooManyLayers {
        /// The number of layers the blob declares.
        found: u32,
    },
    /// The time step is not finite and positive, or the input shape is empty.
    BadHeader,
    /// A layer's input size differs from the width of what feeds it.
    ShapeMismatch {
        /// Index of the layer.
        layer: usize,
        /// The width of the previous layer's output (or of the input).
        expected: u32,
        /// The input size the layer declares.
        found: u32,
    },
    /// A zero size or stride, or a kernel or pool window larger than its
    /// (padded) input.
    BadGeometry {
        /// Index of the layer.
        layer: usize,
    },
    /// A weight blob of the wrong length (in bytes).
    WeightLength {
        /// Index of the layer.
        layer: usize,
        /// The length the shape requires.
        expected: usize,
        /// The length in the blob.
        found: usize,
    },
    /// A delay layer with a delay count other than its input width.
    DelayLength {
        /// Index of the layer.
        layer: usize,
        /// The width of the previous layer's output.
        expected: usize,
        /// The number of delays.
        found: usize,
    },
    /// A delay larger than the layer's `max_delay`.
    DelayRange {
        /// Index of the layer.
        layer: usize,
    },
    /// Neuron constants out of the engine's ranges ([`crate::NeuronConsts::validate`]).
    BadNeuron {
        /// Index of the layer.
        layer: usize,
    },
    /// A weight scale that is not finite.
    BadScale {
        /// Index of the layer.
        layer: usize,
    },
    /// A size, or the engine state the model needs, overflows `u32`.
    Oversized {
        /// Index of the layer.
        layer: usize,
    },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Truncated => f.write_str("model truncated"),
            Self::BadMagic => f.write_str("not a slayer model (bad magic)"),
            Self::UnsupportedVersion { found } => {
                write!(
                    f,
                    "unsupported model format version {found} (this build reads {})",
                    super::VERSION
                )
            }
            Self::Crc { expected, found } => {
                write!(
                    f,
                    "CRC mismatch: stored {expected:#010x}, computed {found:#010x}"
                )
            }
            Self::Malformed => f.write_str("malformed model body"),
            Self::TrailingBytes => f.write_str("trailing bytes after the last layer"),
            Self::TooManyLayers { found } => {
                write!(f, "{found} layers, at most {} supported", super::MAX_LAYERS)
            }
            Self::BadHeader => f.write_str("bad header (time step or input shape)"),
            Self::ShapeMismatch {
                layer,
                expected,
                found,
            } => write!(
                f,
                "layer {layer}: takes {found} inputs, receives {expected}"
            ),
            Self::BadGeometry { layer } => write!(f, "layer {layer}: invalid geometry"),
            Self::WeightLength {
                layer,
                expected,
                found,
            } => write!(
                f,
                "layer {layer}: {found} weight bytes, expected {expected}"
            ),
            Self::DelayLength {
                layer,
                expected,
                found,
            } => {
                write!(f, "layer {layer}: {found} delays for {expected} neurons")
            }
            Self::DelayRange { layer } => write!(f, "layer {layer}: delay above max_delay"),
            Self::BadNeuron { layer } => write!(f, "layer {layer}: neuron constants out of range"),
            Self::BadScale { layer } => write!(f, "layer {layer}: weight scale not finite"),
            Self::Oversized { layer } => write!(f, "layer {layer}: sizes overflow"),
        }
    }
}

impl core::error::Error for DecodeError {}

crate::crc32::from_envelope!(DecodeError);

impl From<postcard::Error> for DecodeError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::DeserializeUnexpectedEnd => Self::Truncated,
            _ => Self::Malformed,
        }
    }
}

/// Why a model could not be encoded.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The model would not decode: the error decoding would report.
    Invalid(DecodeError),
    /// A weight outside the range of the model's [`super::WeightBits`].
    WeightRange {
        /// Index of the layer.
        layer: usize,
        /// Index of the weight in the layer's input layout.
        index: usize,
        /// The weight.
        value: i32,
    },
    /// Serialisation failed.
    Serialize,
}

#[cfg(feature = "alloc")]
impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::Invalid(e) => write!(f, "invalid model: {e}"),
            Self::WeightRange {
                layer,
                index,
                value,
            } => {
                write!(f, "layer {layer}: weight {index} = {value} out of range")
            }
            Self::Serialize => f.write_str("serialisation failed"),
        }
    }
}

#[cfg(feature = "alloc")]
impl core::error::Error for EncodeError {}

#[cfg(feature = "alloc")]
impl From<DecodeError> for EncodeError {
    fn from(e: DecodeError) -> Self {
        Self::Invalid(e)
    }
}
