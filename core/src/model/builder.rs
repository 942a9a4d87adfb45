//! Building and encoding models from already-quantised data (`alloc`).

use alloc::vec::Vec;

use super::error::{DecodeError, EncodeError};
use super::header::{Header, Shape, WeightBits, MAX_LAYERS};
use super::layer::{
    Conv2d, ConvGeometry, Delay, Dense, Layer, Lif, LifBias, LifConv, LifRec, SumPool,
};
use super::Model;
use crate::fixed::{LifConsts, NeuronConsts};

/// A layer whose blobs the builder owns.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Dense {
        inputs: u32,
        outputs: u32,
        neuron: NeuronConsts,
        scale: f32,
        weights: Vec<u8>,
    },
    Conv2d {
        geometry: ConvGeometry,
        neuron: NeuronConsts,
        scale: f32,
        weights: Vec<u8>,
    },
    SumPool(SumPool),
    Flatten,
    Delay {
        max_delay: u8,
        delays: Vec<u8>,
    },
    Lif {
        inputs: u32,
        outputs: u32,
        neuron: LifConsts,
        scale: f32,
        weights: Vec<u8>,
        /// `i32` little-endian per neuron (`Layer::LifBias`), or none.
        bias: Option<Vec<u8>>,
    },
    LifConv {
        geometry: ConvGeometry,
        neuron: LifConsts,
        scale: f32,
        /// `i32` little-endian per output channel, or empty.
        bias: Vec<u8>,
        weights: Vec<u8>,
    },
    LifRec {
        inputs: u32,
        outputs: u32,
        neuron: LifConsts,
        scale: f32,
        /// `i32` little-endian per neuron, or empty.
        bias: Vec<u8>,
        weights: Vec<u8>,
    },
}

/// Builds a model from integer weights and fixed-point constants (the
/// trainer's export fills it after quantising), then validates and encodes it.
///
/// ```
/// use slayer_core::{ModelBuilder, Model, NeuronConsts, NeuronParams, Shape, WeightBits};
/// // θ = 10 at weight scale 0.1: 100 weight LSB.
/// let p = NeuronParams::REFERENCE.with_theta_lsb(100.0);
/// let neuron = NeuronConsts::derive(&p, 1.0).unwrap();
/// let mut b = ModelBuilder::new(1.0, 300, WeightBits::I8, Shape::flat(4));
/// b.dense(4, 2, &[10, -3, 7, 0, 1, 2, 3, 4], neuron, 0.1).unwrap();
/// let bytes = b.encode().unwrap();
/// let model = Model::decode(&bytes).unwrap();
/// assert_eq!(model.outputs(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelBuilder {
    header: Header,
    layers: Vec<Owned>,
}

impl ModelBuilder {
    /// An empty model: time step `ts` (ms), `bins` per sample, weight width
    /// `bits`, input population of shape `input`.
    pub fn new(ts: f32, bins: u32, bits: WeightBits, input: Shape) -> Self {
        Self {
            header: Header {
                ts,
                bins,
                bits,
                input,
            },
            layers: Vec::new(),
        }
    }

    /// Packs weights into the model's encoding, checking their range.
    fn pack(&self, weights: &[i32]) -> Result<Vec<u8>, EncodeError> {
        let bits = self.header.bits;
        let (lo, hi) = (-bits.max() - 1, bits.max());
        let mut out = Vec::with_capacity(weights.len() * bits.bytes());
        for (index, &value) in weights.iter().enumerate() {
            if !(lo..=hi).contains(&value) {
                return Err(EncodeError::WeightRange {
                    layer: self.layers.len(),
                    index,
                    value,
                });
            }
            match bits {
                WeightBits::I8 => out.push(value as i8 as u8),
                WeightBits::I16 => out.extend_from_slice(&(value as i16).to_le_bytes()),
            }
        }
        Ok(out)
    }

    /// Appends a dense layer; `weights` input-major (`w[i·outputs + o]`).
    /// Fails on a weight outside the range of the model's [`WeightBits`];
    /// shapes are checked by [`ModelBuilder::build`].
    pub fn dense(
        &mut self,
        inputs: u32,
        outputs: u32,
        weights: &[i32],
        neuron: NeuronConsts,
        scale: f32,
    ) -> Result<&mut Self, EncodeError> {
        let weights = self.pack(weights)?;
        self.layers.push(Owned::Dense {
            inputs,
            outputs,
            neuron,
            scale,
            weights,
        });
        Ok(self)
    }

    /// Appends dense synapses with LIF neurons; `weights` input-major
    /// (`w[i·outputs + o]`). Fails on a weight outside the range of the
    /// model's [`WeightBits`].
    pub fn lif(
        &mut self,
        inputs: u32,
        outputs: u32,
        weights: &[i32],
        neuron: LifConsts,
        scale: f32,
    ) -> Result<&mut Self, EncodeError> {
        let weights = self.pack(weights)?;
        self.layers.push(Owned::Lif {
            inputs,
            outputs,
            neuron,
            scale,
            weights,
            bias: None,
        });
        Ok(self)
    }

    /// [`ModelBuilder::lif`] with a constant input per neuron and bin,
    /// `bias` (weight LSB, one per output; any `i32`): a `Layer::LifBias`.
    pub fn lif_bias(
        &mut self,
        inputs: u32,
        outputs: u32,
        weights: &[i32],
        bias: &[i32],
        neuron: LifConsts,
        scale: f32,
    ) -> Result<&mut Self, EncodeError> {
        self.lif(inputs, outputs, weights, neuron, scale)?;
        if let Some(Owned::Lif { bias: b, .. }) = self.layers.last_mut() {
            *b = Some(le_bytes(bias));
        }
        Ok(self)
    }

    /// Appends a convolution; `weights` in PyTorch's `[out][in][ky][kx]`
    /// layout (the trainer's `Conv2d::weights`), which is also the stored order.
    pub fn conv2d(
        &mut self,
        geometry: ConvGeometry,
        weights: &[i32],
        neuron: NeuronConsts,
        scale: f32,
    ) -> Result<&mut Self, EncodeError> {
        let weights = self.pack(weights)?;
        self.layers.push(Owned::Conv2d {
            geometry,
            neuron,
            scale,
            weights,
        });
        Ok(self)
    }

    /// Appends a convolution with LIF neurons (a `Layer::LifConv`);
    /// `weights` in PyTorch's `[out][in][ky][kx]` layout, `bias` one per
    /// output channel in weight LSB (any `i32`) or `None`. Fails on a weight
    /// outside the range of the model's [`WeightBits`].
    pub fn lif_conv(
        &mut self,
        geometry: ConvGeometry,
        weights: &[i32],
        bias: Option<&[i32]>,
        neuron: LifConsts,
        scale: f32,
    ) -> Result<&mut Self, EncodeError> {
        let weights = self.pack(weights)?;
        let bias = le_bytes(bias.unwrap_or_default());
        self.layers.push(Owned::LifConv {
            geometry,
            neuron,
            scale,
            bias,
            weights,
        });
        Ok(self)
    }

    /// Appends dense and recurrent synapses into LIF neurons (a
    /// `Layer::LifRec`): `weights` holds `inputs + outputs` rows of
    /// `outputs`, input-major, the rows of the input first, then one row per
    /// neuron for its spike of the previous bin; `bias` one per neuron in
    /// weight LSB (any `i32`) or `None`. Fails on a weight outside the range
    /// of the model's [`WeightBits`].
    pub fn lif_rec(
        &mut self,
        inputs: u32,
        outputs: u32,
        weights: &[i32],
        bias: Option<&[i32]>,
        neuron: LifConsts,
        scale: f32,
    ) -> Result<&mut Self, EncodeError> {
        let weights = self.pack(weights)?;
        self.layers.push(Owned::LifRec {
            inputs,
            outputs,
            neuron,
            scale,
            bias: le_bytes(bias.unwrap_or_default()),
            weights,
        });
        Ok(self)
    }

    /// Appends a sum-pooling layer with integer tap weight `tap`
    /// (see [`crate::fixed::pool_tap_weight`]).
    pub fn sum_pool(
        &mut self,
        input: Shape,
        size: u32,
        tap: i32,
        neuron: NeuronConsts,
        scale: f32,
    ) -> &mut Self {
        self.layers.push(Owned::SumPool(SumPool {
            input,
            size,
            tap,
            neuron,
            scale,
        }));
        self
    }

    /// Appends a flatten layer (identity on the index space).
    pub fn flatten(&mut self) -> &mut Self {
        self.layers.push(Owned::Flatten);
        self
    }

    /// Appends per-neuron delays (bins, each `≤ max_delay`).
    pub fn delay(&mut self, delays: &[u8], max_delay: u8) -> &mut Self {
        self.layers.push(Owned::Delay {
            max_delay,
            delays: delays.to_vec(),
        });
        self
    }

    /// Number of layers so far.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// True when no layer has been added.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The validated model, borrowing the builder's blobs: the same checks
    /// (and errors) as [`Model::decode`].
    pub fn build(&self) -> Result<Model<'_>, EncodeError> {
        let mut layers = heapless::Vec::<Layer<'_>, MAX_LAYERS>::new();
        for owned in &self.layers {
            let layer = match owned {
                Owned::Dense {
                    inputs,
                    outputs,
                    neuron,
                    scale,
                    weights,
                } => Layer::Dense(Dense {
                    inputs: *inputs,
                    outputs: *outputs,
                    neuron: *neuron,
                    scale: *scale,
                    weights,
                }),
                Owned::Conv2d {
                    geometry,
                    neuron,
                    scale,
                    weights,
                } => Layer::Conv2d(Conv2d {
                    geometry: *geometry,
                    neuron: *neuron,
                    scale: *scale,
                    weights,
                }),
                Owned::SumPool(p) => Layer::SumPool(*p),
                Owned::Flatten => Layer::Flatten,
                Owned::Delay { max_delay, delays } => Layer::Delay(Delay {
                    max_delay: *max_delay,
                    delays,
                }),
                Owned::Lif {
                    inputs,
                    outputs,
                    neuron,
                    scale,
                    weights,
                    bias,
                } => {
                    let lif = Lif {
                        inputs: *inputs,
                        outputs: *outputs,
                        neuron: *neuron,
                        scale: *scale,
                        weights,
                    };
                    match bias {
                        Some(bias) => Layer::LifBias(LifBias { bias, lif }),
                        None => Layer::Lif(lif),
                    }
                }
                Owned::LifConv {
                    geometry,
                    neuron,
                    scale,
                    bias,
                    weights,
                } => Layer::LifConv(LifConv {
                    geometry: *geometry,
                    neuron: *neuron,
                    scale: *scale,
                    bias,
                    weights,
                }),
                Owned::LifRec {
                    inputs,
                    outputs,
                    neuron,
                    scale,
                    bias,
                    weights,
                } => Layer::LifRec(LifRec {
                    inputs: *inputs,
                    outputs: *outputs,
                    neuron: *neuron,
                    scale: *scale,
                    bias,
                    weights,
                }),
            };
            let found = u32::try_from(self.layers.len()).unwrap_or(u32::MAX);
            layers
                .push(layer)
                .map_err(|_| DecodeError::TooManyLayers { found })?;
        }
        Ok(Model::new(self.header, layers)?)
    }

    /// Validates and encodes the model.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        self.build()?.encode()
    }
}

/// `i32`s as a little-endian byte blob (a bias).
fn le_bytes(v: &[i32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}
