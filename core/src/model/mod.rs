//! The deployed model format: postcard-encoded serde types, decoded
//! zero-copy and validated, closed by a CRC-32.
//!
//! # Layout
//!
//! ```text
//! magic  *b"SLYM"                        4 raw bytes
//! version u16 (= 2)                      varint
//! ts f32 · bins u32 · bits · input (c, h, w)
//! layers: count, then each
//!   pad: n ≤ 3, then n zero bytes        postcard byte string
//!   Layer                                postcard (enum tag varint, fields)
//! crc32  u32 little-endian               CRC-32/ISO-HDLC of every byte before it
//! ```
//!
//! The pad before a layer puts its weight blob (the last field of `Dense`,
//! `Conv2d` and the LIF layers) at a multiple of [`WEIGHT_ALIGN`] bytes from the magic, so
//! that a model stored at a word-aligned address (the firmware's model
//! region) has word-aligned weights: the engine then reads them a word at a
//! time on cores without unaligned loads (Cortex-M0/M0+). Version 1 (no
//! pads) is still read.
//!
//! `Layer::Lif` (dense synapses with LIF neurons, issue 14), then
//! `Layer::LifBias` (the same with a bias per neuron) and `Layer::LifConv`
//! (a convolution with LIF neurons and a bias per channel) and `Layer::LifRec`
//! (dense and recurrent synapses into LIF neurons), came after version
//! 2's other layers without a version change: an older reader refuses a
//! model holding one as malformed, and reads every other model as before.
//!
//! Weights are byte blobs (`i8`, or `i16` little-endian pairs: postcard
//! varint-encodes wider integers) that decoding borrows from the input, so
//! a model in flash is used in place. [`Model::decode`] checks magic,
//! version and CRC before it parses the body, then validates every size the
//! engine relies on ([`DecodeError`] lists what can go wrong); it never
//! panics and never allocates. Encoding (`ModelBuilder`, `Model::encode`)
//! needs the `alloc` feature.

#[cfg(feature = "alloc")]
mod builder;
mod error;
mod header;
pub mod image;
pub(crate) mod layer;
pub(crate) mod layout;
mod validate;

#[cfg(feature = "alloc")]
pub use builder::ModelBuilder;
pub use error::DecodeError;
#[cfg(feature = "alloc")]
pub use error::EncodeError;
pub use header::{Shape, WeightBits, MAGIC, MAX_LAYERS, VERSION, VERSION_UNALIGNED, WEIGHT_ALIGN};
#[cfg(feature = "alloc")]
pub use image::encode_image;
pub use image::{image_model, ImageError, IMAGE_HEADER, IMAGE_MAGIC};
pub use layer::{
    conv_output_len, pooled_len, Conv2d, ConvGeometry, Delay, Dense, Layer, Lif, LifBias, LifConv,
    LifRec, SumPool,
};

use serde::Deserialize;

use header::Header;

/// A validated model whose weights borrow from the bytes it was decoded from.
///
/// Only [`Model::decode`] and `ModelBuilder::build` (`alloc`) make one, so every
/// model satisfies the invariants the engine indexes by.
#[derive(Debug, Clone, PartialEq)]
pub struct Model<'a> {
    header: Header,
    layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
    outputs: u32,
    state_words: u32,
}

/// The CRC-32 stored at the end of a model blob (its identity on the
/// serial link); `None` when the blob is shorter than four bytes. Not a
/// check: [`Model::decode`] verifies it.
pub fn model_crc(bytes: &[u8]) -> Option<u32> {
    crate::crc32::split(bytes).map(|(_, crc)| crc)
}

impl<'a> Model<'a> {
    /// Decodes and validates a model blob (see the [module docs](self) for
    /// the layout). Weight and delay blobs borrow from `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (_, body) = crate::crc32::open(bytes, MAGIC, &[VERSION, VERSION_UNALIGNED])?;
        let mut de = postcard::Deserializer::from_bytes(body);
        let version = u16::deserialize(&mut de)?;
        if version != VERSION && version != VERSION_UNALIGNED {
            return Err(DecodeError::UnsupportedVersion { found: version });
        }
        let header = Header::deserialize(&mut de)?;
        let count = u32::deserialize(&mut de)?;
        if usize::try_from(count).map_or(true, |n| n > MAX_LAYERS) {
            return Err(DecodeError::TooManyLayers { found: count });
        }
        let mut layers = heapless::Vec::new();
        for _ in 0..count {
            if version == VERSION {
                let pad = <&[u8]>::deserialize(&mut de)?;
                if pad.len() >= WEIGHT_ALIGN || pad.iter().any(|&b| b != 0) {
                    return Err(DecodeError::Malformed);
                }
            }
            let layer = Layer::deserialize(&mut de)?;
            layers
                .push(layer)
                .map_err(|_| DecodeError::TooManyLayers { found: count })?;
        }
        if !de.finalize()?.is_empty() {
            return Err(DecodeError::TrailingBytes);
        }
        Self::new(header, layers)
    }

    /// Validates the parts of a model.
    pub(crate) fn new(
        header: Header,
        layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
    ) -> Result<Self, DecodeError> {
        let s = validate::validate(header.ts, header.bits, header.input, &layers)?;
        Ok(Self {
            header,
            layers,
            outputs: s.outputs,
            state_words: s.state_words,
        })
    }

    /// Time step `Ts` in ms (informational: the engine runs in bins).
    pub fn ts(&self) -> f32 {
        self.header.ts
    }

    /// Number of bins of one sample the model was trained on (informational).
    pub fn bins(&self) -> u32 {
        self.header.bins
    }

    /// Width of the stored weights.
    pub fn bits(&self) -> WeightBits {
        self.header.bits
    }

    /// Shape of the input population.
    pub fn input_shape(&self) -> Shape {
        self.header.input
    }

    /// Number of input neurons (`c·h·w` of [`Model::input_shape`]).
    pub fn inputs(&self) -> u32 {
        // Validation checked the product.
        self.header.input.len().unwrap_or(0)
    }

    /// Number of output neurons (the width after the last layer).
    pub fn outputs(&self) -> u32 {
        self.outputs
    }

    /// The layers, input to output.
    pub fn layers(&self) -> &[Layer<'a>] {
        &self.layers
    }

    /// Width (number of neurons) after layer `l`, `None` past the last layer.
    pub fn width_after(&self, l: usize) -> Option<u32> {
        // (Validation checked every product.)
        self.shape_after(l)?.len()
    }

    /// Shape after layer `l` (the input shape before the first layer),
    /// `None` past the last layer. Dense layers give flat shapes.
    pub fn shape_after(&self, l: usize) -> Option<Shape> {
        let mut s = self.input_shape();
        for layer in self.layers.get(..=l)? {
            s = match layer {
                Layer::Dense(d) => Shape::flat(d.outputs),
                Layer::Lif(d) | Layer::LifBias(LifBias { lif: d, .. }) => Shape::flat(d.outputs),
                Layer::Conv2d(c) => c.geometry.output()?,
                Layer::LifConv(c) => c.geometry.output()?,
                Layer::LifRec(r) => Shape::flat(r.outputs),
                Layer::SumPool(p) => p.output()?,
                Layer::Flatten => Shape::flat(s.len()?),
                Layer::Delay(_) => s,
            };
        }
        Some(s)
    }

    /// The model cut before layer `at` into a head (layers `..at`, same
    /// input) and a tail (layers `at..`, whose input is the head's output):
    /// feeding the head's output spikes of every bin to the tail as its
    /// input list gives the whole model's output spikes, bin for bin (see
    /// [`Engine::load_state`](crate::Engine::load_state) to move a running
    /// engine's state over). `None` unless `0 < at < layers().len()`.
    pub fn split_at(&self, at: usize) -> Option<(Model<'a>, Model<'a>)> {
        if at == 0 || at >= self.layers.len() {
            return None;
        }
        let part = |input: Shape, layers: &[Layer<'a>]| {
            let layers = heapless::Vec::from_slice(layers).ok()?;
            Self::new(
                Header {
                    input,
                    ..self.header
                },
                layers,
            )
            .ok()
        };
        let head = part(self.header.input, &self.layers[..at])?;
        let tail = part(self.shape_after(at - 1)?, &self.layers[at..])?;
        Some((head, tail))
    }

    /// Words of `i32` engine state this model needs (see [`crate::state_words`]).
    pub(crate) fn state_words_u32(&self) -> u32 {
        self.state_words
    }

    /// Encodes the model (the exact bytes [`Model::decode`] reads back).
    #[cfg(feature = "alloc")]
    pub fn encode(&self) -> Result<alloc::vec::Vec<u8>, EncodeError> {
        let mut out = alloc::vec::Vec::from(MAGIC);
        out = put(out, &VERSION)?;
        out = put(out, &self.header)?;
        out = put(out, &(self.layers.len() as u32))?;
        for layer in &self.layers {
            let body = put(alloc::vec::Vec::new(), layer)?;
            // The weight blob is the layer's last field.
            let blob = match layer {
                Layer::Dense(d) => d.weights.len(),
                Layer::Lif(d) | Layer::LifBias(LifBias { lif: d, .. }) => d.weights.len(),
                Layer::Conv2d(c) => c.weights.len(),
                Layer::LifConv(c) => c.weights.len(),
                Layer::LifRec(r) => r.weights.len(),
                _ => 0,
            };
            // One byte of pad length, the pad, then the layer.
            let at = out.len() + 1 + body.len() - blob;
            let pad = (WEIGHT_ALIGN - at % WEIGHT_ALIGN) % WEIGHT_ALIGN;
            out.push(pad as u8);
            out.resize(out.len() + pad, 0);
            out.extend_from_slice(&body);
        }
        crate::crc32::close(&mut out);
        Ok(out)
    }
}

/// Appends the postcard encoding of `v` to `out`.
#[cfg(feature = "alloc")]
pub(crate) fn put<T: serde::Serialize + ?Sized>(
    out: alloc::vec::Vec<u8>,
    v: &T,
) -> Result<alloc::vec::Vec<u8>, EncodeError> {
    postcard::to_extend(v, out).map_err(|_| EncodeError::Serialize)
}
