//! Validation of a decoded (or about to be encoded) model: every size the
//! engine indexes with is checked here, with overflow-checked arithmetic,
//! so that simulation needs no checks that could fail.

use super::error::DecodeError;
use super::header::{Shape, WeightBits};
use super::layer::{ConvGeometry, Layer};
use super::layout;

/// What validation learns about a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Width of the last layer's output.
    pub outputs: u32,
    /// `i32` words of engine state.
    pub state_words: u32,
}

/// Checks the header and the chain of layers.
pub(crate) fn validate(
    ts: f32,
    bits: WeightBits,
    input: Shape,
    layers: &[Layer<'_>],
) -> Result<Summary, DecodeError> {
    if !(ts.is_finite() && ts > 0.0) || input.is_empty() {
        return Err(DecodeError::BadHeader);
    }
    let mut width = input.len().ok_or(DecodeError::Oversized { layer: 0 })?;
    let mut words = 0u64;
    for (l, layer) in layers.iter().enumerate() {
        let (out, w) = check_layer(l, layer, width, bits)?;
        words = words
            .checked_add(w)
            .filter(|&n| n <= u64::from(u32::MAX))
            .ok_or(DecodeError::Oversized { layer: l })?;
        width = out;
    }
    Ok(Summary {
        outputs: width,
        state_words: words as u32,
    })
}

/// Checks one layer fed by `width` neurons: its output width and state words.
fn check_layer(
    layer: usize,
    l: &Layer<'_>,
    width: u32,
    bits: WeightBits,
) -> Result<(u32, u64), DecodeError> {
    let oversized = DecodeError::Oversized { layer };
    let mismatch = |found: u32| {
        if found == width {
            Ok(())
        } else {
            Err(DecodeError::ShapeMismatch {
                layer,
                expected: width,
                found,
            })
        }
    };
    let neuron = |ok: bool, scale: f32| {
        if !ok {
            Err(DecodeError::BadNeuron { layer })
        } else if !scale.is_finite() {
            Err(DecodeError::BadScale { layer })
        } else {
            Ok(())
        }
    };
    // A blob of `count` entries of `size` bytes (`found` bytes long), or an
    // empty one where `optional`.
    let blob = |count: Option<u32>, size: usize, found: usize, optional: bool| {
        let expected = count
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| n.checked_mul(size))
            .ok_or(oversized)?;
        if found == expected || (optional && found == 0) {
            Ok(())
        } else {
            Err(DecodeError::WeightLength {
                layer,
                expected,
                found,
            })
        }
    };
    let weights = |count: Option<u32>, found: usize| blob(count, bits.bytes(), found, false);
    let population = |n: u32| layout::population_words(n).ok_or(oversized);
    // A bias blob: one `i32` per entry (of `count`), or none where `optional`.
    let bias = |count: u32, found: usize, optional: bool| blob(Some(count), 4, found, optional);
    // A convolution's input width and geometry: its neurons.
    let conv = |g: &ConvGeometry| {
        mismatch(g.input.len().ok_or(oversized)?)?;
        // Padded extents (and so every coordinate sum) must fit u32.
        let pad = |n: u32, p: u32| p.checked_mul(2).and_then(|p| p.checked_add(n));
        pad(g.input.h, g.padding.0).ok_or(oversized)?;
        pad(g.input.w, g.padding.1).ok_or(oversized)?;
        let out = g.output().ok_or(DecodeError::BadGeometry { layer })?;
        out.len().ok_or(oversized)
    };
    // Dense synapses (of SRM or LIF neurons): inputs, outputs, constants
    // valid, scale, weight bytes of `inputs + extra` rows (`extra`: the
    // recurrent rows of a `LifRec`).
    let dense = |inputs: u32, extra: u32, outputs: u32, valid: bool, scale: f32, found: usize| {
        mismatch(inputs)?;
        if outputs == 0 {
            return Err(DecodeError::BadGeometry { layer });
        }
        neuron(valid, scale)?;
        let rows = inputs.checked_add(extra);
        weights(rows.and_then(|r| r.checked_mul(outputs)), found)?;
        Ok((outputs, population(outputs)?))
    };
    match l {
        Layer::Dense(d) => dense(
            d.inputs,
            0,
            d.outputs,
            d.neuron.validate(),
            d.scale,
            d.weights.len(),
        ),
        Layer::Lif(d) => dense(
            d.inputs,
            0,
            d.outputs,
            d.neuron.validate(),
            d.scale,
            d.weights.len(),
        ),
        Layer::LifBias(b) => {
            bias(b.lif.outputs, b.bias.len(), false)?;
            // Otherwise a `Lif` layer.
            check_layer(layer, &Layer::Lif(b.lif.clone()), width, bits)
        }
        Layer::LifRec(r) => {
            let (i, o) = (r.inputs, r.outputs);
            let shape = dense(i, o, o, r.neuron.validate(), r.scale, r.weights.len())?;
            bias(o, r.bias.len(), true)?;
            Ok(shape)
        }
        Layer::Conv2d(c) => {
            let n = conv(&c.geometry)?;
            neuron(c.neuron.validate(), c.scale)?;
            weights(c.geometry.weight_count(), c.weights.len())?;
            Ok((n, population(n)?))
        }
        Layer::LifConv(c) => {
            let n = conv(&c.geometry)?;
            neuron(c.neuron.validate(), c.scale)?;
            weights(c.geometry.weight_count(), c.weights.len())?;
            bias(c.geometry.out_channels, c.bias.len(), true)?;
            Ok((n, population(n)?))
        }
        Layer::SumPool(p) => {
            mismatch(p.input.len().ok_or(oversized)?)?;
            let out = p.output().ok_or(DecodeError::BadGeometry { layer })?;
            let n = out.len().ok_or(oversized)?;
            neuron(p.neuron.validate(), p.scale)?;
            Ok((n, population(n)?))
        }
        Layer::Flatten => Ok((width, 0)),
        Layer::Delay(d) => {
            if usize::try_from(width).ok() != Some(d.delays.len()) {
                return Err(DecodeError::DelayLength {
                    layer,
                    expected: usize::try_from(width).unwrap_or(usize::MAX),
                    found: d.delays.len(),
                });
            }
            if d.delays.iter().any(|&x| x > d.max_delay) {
                return Err(DecodeError::DelayRange { layer });
            }
            let w = layout::delay_words(width, d.max_delay).ok_or(oversized)?;
            Ok((width, w))
        }
    }
}
