//! The layers of a model and their shapes.

use serde::{Deserialize, Serialize};

use super::header::Shape;
use crate::fixed::{LifConsts, NeuronConsts};

/// One layer of a deployed model.
///
/// `Dense`, `Conv2d` and `SumPool` are synapses followed by a population of
/// SRM neurons (one per output); `Flatten` and `Delay` have no neurons.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Layer<'a> {
    /// Fully connected synapses.
    Dense(#[serde(borrow)] Dense<'a>),
    /// Per-bin 2-D convolution (PyTorch cross-correlation semantics).
    Conv2d(#[serde(borrow)] Conv2d<'a>),
    /// Non-overlapping sum pooling with one fixed tap weight.
    SumPool(SumPool),
    /// Identity on the index space (flatten order is `c·H·W + y·W + x`).
    Flatten,
    /// Per-neuron axonal delays.
    Delay(#[serde(borrow)] Delay<'a>),
    /// Fully connected synapses followed by a population of LIF neurons
    /// (LIF, current-based LIF or IF: [`LifConsts`]), whose input reaches
    /// them in the bin it is sent.
    Lif(#[serde(borrow)] Lif<'a>),
    /// [`Layer::Lif`] with a constant input per neuron and bin (a bias: a
    /// NIR `Affine` before the neurons). Came after `Lif`, like it without a
    /// version change: an older reader refuses a model holding one.
    LifBias(#[serde(borrow)] LifBias<'a>),
    /// A per-bin 2-D convolution followed by a population of LIF neurons
    /// (one per output), with an optional bias per output channel: the
    /// convolutional layers of the networks other frameworks exchange
    /// through NIR. Came after `LifBias`, like it without a version change.
    LifConv(#[serde(borrow)] LifConv<'a>),
    /// [`Layer::Lif`] whose neurons also get their own spikes of the
    /// previous bin through recurrent synapses (snnTorch's `RLeaky` /
    /// `RSynaptic`: a NIR loop from the neurons back to them), with an
    /// optional bias per neuron. Came after `LifConv`, like it without a
    /// version change.
    LifRec(#[serde(borrow)] LifRec<'a>),
}

/// Dense and recurrent synapses into LIF neurons: in bin `t`,
/// `a[o] = Σ_{active input i} w[i·outputs + o] + Σ_{j fired in t − 1}
/// w[(inputs + j)·outputs + o] (+ bias[o])` drives [`LifConsts::step`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifRec<'a> {
    /// Number of inputs (from the layer before).
    pub inputs: u32,
    /// Number of outputs (neurons).
    pub outputs: u32,
    /// Neuron constants of the layer's population.
    pub neuron: LifConsts,
    /// Float value of one weight LSB (informational, for hosts).
    pub scale: f32,
    /// Per neuron, the input added every bin in weight LSB: an `i32`
    /// little-endian, 4 bytes each; empty for none.
    pub bias: &'a [u8],
    /// `inputs + outputs` rows of `outputs` weights, input-major, in the
    /// model's [`WeightBits`](super::WeightBits) encoding: rows `0..inputs`
    /// from the layer's input, row `inputs + j` from its own neuron `j`.
    pub weights: &'a [u8],
}

/// A convolution ([`Conv2d`]'s geometry and weight layout) feeding LIF
/// neurons ([`LifConsts::step`]) whose input reaches them in the bin it is
/// sent; neuron `(o, y, x)` also gets `bias[o]` every bin when there is a bias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifConv<'a> {
    /// Shapes, kernel, stride and padding.
    pub geometry: ConvGeometry,
    /// Neuron constants of the layer's population.
    pub neuron: LifConsts,
    /// Float value of one weight LSB (informational).
    pub scale: f32,
    /// Per output channel, the input added to each of its neurons every bin,
    /// in weight LSB: an `i32` little-endian, 4 bytes each; empty for none.
    pub bias: &'a [u8],
    /// Weights `[out][in][ky][kx]` in the model's [`WeightBits`](super::WeightBits) encoding.
    pub weights: &'a [u8],
}

/// A [`Lif`] layer whose neurons also get `bias[o]` every bin, added to the
/// summed input before [`LifConsts::step`] (which clamps the sum).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifBias<'a> {
    /// Per neuron, the input added every bin in weight LSB: an `i32`
    /// little-endian, 4 bytes each.
    pub bias: &'a [u8],
    /// The synapses and neurons (its weights stay the layer's last field).
    #[serde(borrow)]
    pub lif: Lif<'a>,
}

impl LifBias<'_> {
    /// The bias of neuron `o` (0 past the end).
    pub fn bias(&self, o: usize) -> i32 {
        bias_at(self.bias, o)
    }
}

/// Entry `o` of a bias blob (`i32` little-endian each; 0 past the end).
pub(crate) fn bias_at(bias: &[u8], o: usize) -> i32 {
    bias.get(4 * o..4 * o + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, i32::from_le_bytes)
}

/// Fully connected synapses and LIF neurons: `a[o] = Σ_{active i} w[i·outputs + o]`
/// drives the update of [`LifConsts::step`] in the same bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lif<'a> {
    /// Number of inputs.
    pub inputs: u32,
    /// Number of outputs (neurons).
    pub outputs: u32,
    /// Neuron constants of the layer's population.
    pub neuron: LifConsts,
    /// Float value of one weight LSB (informational, for hosts).
    pub scale: f32,
    /// Weights, input-major (`w[i·outputs + o]`), in the model's
    /// [`WeightBits`](super::WeightBits) encoding.
    pub weights: &'a [u8],
}

/// Fully connected synapses: `a[o] = Σ_{active i} w[i·outputs + o]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense<'a> {
    /// Number of inputs.
    pub inputs: u32,
    /// Number of outputs (neurons).
    pub outputs: u32,
    /// Neuron constants of the layer's population.
    pub neuron: NeuronConsts,
    /// Float value of one weight LSB (informational, for hosts).
    pub scale: f32,
    /// Weights, input-major (`w[i·outputs + o]`: an input spike adds one
    /// contiguous column), in the model's [`WeightBits`](super::WeightBits) encoding.
    pub weights: &'a [u8],
}

/// Geometry of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConvGeometry {
    /// Input shape.
    pub input: Shape,
    /// Output channels (kernels).
    pub out_channels: u32,
    /// Kernel `(height, width)`.
    pub kernel: (u32, u32),
    /// Stride `(y, x)`.
    pub stride: (u32, u32),
    /// Zero padding `(y, x)` on both sides of each axis.
    pub padding: (u32, u32),
}

/// Outputs along one axis, PyTorch's `(input + 2·padding − kernel)/stride + 1`;
/// `None` for a zero size or stride, a kernel larger than the padded input,
/// or an overflow.
pub fn conv_output_len(input: u32, kernel: u32, stride: u32, padding: u32) -> Option<u32> {
    if input == 0 || kernel == 0 || stride == 0 {
        return None;
    }
    let padded = input.checked_add(padding.checked_mul(2)?)?;
    if kernel > padded {
        return None;
    }
    Some((padded - kernel) / stride + 1)
}

impl ConvGeometry {
    /// Output shape, `None` when the geometry is invalid (see [`conv_output_len`]).
    pub fn output(&self) -> Option<Shape> {
        let i = self.input;
        if i.c == 0 || self.out_channels == 0 {
            return None;
        }
        Some(Shape::new(
            self.out_channels,
            conv_output_len(i.h, self.kernel.0, self.stride.0, self.padding.0)?,
            conv_output_len(i.w, self.kernel.1, self.stride.1, self.padding.1)?,
        ))
    }

    /// Number of weights `out_c·in_c·kh·kw`, `None` on overflow.
    pub fn weight_count(&self) -> Option<u32> {
        self.out_channels
            .checked_mul(self.input.c)?
            .checked_mul(self.kernel.0)?
            .checked_mul(self.kernel.1)
    }
}

/// A per-bin 2-D convolution without bias.
///
/// **Weight layout**: PyTorch's `[out][in][ky][kx]`, i.e. weight
/// `((o·in_c + c)·kh + ky)·kw + kx` (as the trainer's `Conv2d`). An input
/// spike at `(c, y, x)` scatters into every output `(o, oy, ox)` whose window
/// covers it, tap `(ky, kx) = (y + py − oy·sy, x + px − ox·sx)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conv2d<'a> {
    /// Shapes, kernel, stride and padding.
    pub geometry: ConvGeometry,
    /// Neuron constants of the layer's population.
    pub neuron: NeuronConsts,
    /// Float value of one weight LSB (informational).
    pub scale: f32,
    /// Weights `[out][in][ky][kx]` in the model's [`WeightBits`](super::WeightBits) encoding.
    pub weights: &'a [u8],
}

/// Pooled outputs along an axis: the reference's `(input + input % size)/size`
/// (an odd remainder is zero-padded by `input % size`, SLAYER.md §3); `None`
/// for zero sizes or no output.
pub fn pooled_len(input: u32, size: u32) -> Option<u32> {
    if input == 0 || size == 0 {
        return None;
    }
    let n = input.checked_add(input % size)? / size;
    (n > 0).then_some(n)
}

/// Sum pooling: `a[c, oy, ox] = tap · #{active (c, y, x) : y/size = oy, x/size = ox}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SumPool {
    /// Input shape.
    pub input: Shape,
    /// Window side and stride.
    pub size: u32,
    /// Integer weight of every tap in weight LSB (`1.1·θ` in the reference,
    /// see [`crate::fixed::pool_tap_weight`]).
    pub tap: i32,
    /// Neuron constants of the layer's population.
    pub neuron: NeuronConsts,
    /// Float value of one weight LSB (informational).
    pub scale: f32,
}

impl SumPool {
    /// Output shape, `None` when the window is larger than the padded input.
    pub fn output(&self) -> Option<Shape> {
        if self.input.c == 0 {
            return None;
        }
        Some(Shape::new(
            self.input.c,
            pooled_len(self.input.h, self.size)?,
            pooled_len(self.input.w, self.size)?,
        ))
    }
}

/// Per-neuron axonal delays: neuron `j`'s spike train is shifted by
/// `delays[j] ≤ max_delay` bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delay<'a> {
    /// Largest delay the state is sized for (ring of `max_delay + 1` bins).
    pub max_delay: u8,
    /// One delay in bins per neuron.
    pub delays: &'a [u8],
}

impl Layer<'_> {
    /// Number of neurons (SRM or LIF) of the layer (0 for flatten and delay layers).
    /// For a validated model this never overflows (`0` otherwise).
    pub fn neurons(&self) -> u32 {
        match self {
            Layer::Dense(d) => d.outputs,
            Layer::Lif(d) | Layer::LifBias(LifBias { lif: d, .. }) => d.outputs,
            Layer::LifRec(r) => r.outputs,
            Layer::Conv2d(c) => c.geometry.output().and_then(|s| s.len()).unwrap_or(0),
            Layer::LifConv(c) => c.geometry.output().and_then(|s| s.len()).unwrap_or(0),
            Layer::SumPool(p) => p.output().and_then(|s| s.len()).unwrap_or(0),
            Layer::Flatten | Layer::Delay(_) => 0,
        }
    }

    /// The SRM neuron constants of the layer's population, if it has one
    /// (`None` for LIF layers: see [`Layer::lif`]).
    pub fn neuron(&self) -> Option<&crate::fixed::NeuronConsts> {
        match self {
            Layer::Dense(d) => Some(&d.neuron),
            Layer::Conv2d(c) => Some(&c.neuron),
            Layer::SumPool(p) => Some(&p.neuron),
            Layer::Flatten
            | Layer::Delay(_)
            | Layer::Lif(_)
            | Layer::LifBias(_)
            | Layer::LifConv(_)
            | Layer::LifRec(_) => None,
        }
    }

    /// The dense synapses and LIF neurons of a [`Layer::Lif`] or
    /// [`Layer::LifBias`], with the bias bytes (empty for `Lif`; see
    /// [`Layer::lif_neuron`] for every LIF layer's constants).
    pub fn lif(&self) -> Option<(&Lif<'_>, &[u8])> {
        match self {
            Layer::Lif(d) => Some((d, &[])),
            Layer::LifBias(b) => Some((&b.lif, b.bias)),
            _ => None,
        }
    }

    /// The LIF constants of a [`Layer::Lif`], [`Layer::LifBias`],
    /// [`Layer::LifConv`] or [`Layer::LifRec`].
    pub fn lif_neuron(&self) -> Option<&LifConsts> {
        match self {
            Layer::Lif(d) | Layer::LifBias(LifBias { lif: d, .. }) => Some(&d.neuron),
            Layer::LifConv(c) => Some(&c.neuron),
            Layer::LifRec(r) => Some(&r.neuron),
            _ => None,
        }
    }

    /// A short name for messages (`"dense"`, `"conv2d"`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Dense(_) => "dense",
            Layer::Conv2d(_) => "conv2d",
            Layer::SumPool(_) => "sum_pool",
            Layer::Flatten => "flatten",
            Layer::Delay(_) => "delay",
            Layer::Lif(_) => "lif",
            Layer::LifBias(_) => "lif_bias",
            Layer::LifConv(_) => "lif_conv2d",
            Layer::LifRec(_) => "lif_rec",
        }
    }
}
