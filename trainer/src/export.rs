//! Quantised export: a trained float [`Network`] → the core's fixed-point
//! model format (ARCHITECTURE.md "core"), and the fake quantisation used by
//! quantisation-aware training.
//!
//! Every synaptic layer gets its own scale `s` (float weight ≈ integer
//! weight · s), chosen so the largest weight magnitude maps to the largest
//! integer of the chosen width; the threshold is expressed in the same unit
//! (`θ / s` weight LSBs) and the core derives its fixed-point neuron
//! constants from it. Sum-pool layers have no trainable weights: their tap
//! weight `1.1·θ` is expressed at a fixed resolution of [`POOL_THETA_LSB`]
//! LSBs per `θ`.

use slayer_core::model::ConvGeometry;
use slayer_core::{ModelBuilder, NeuronConsts, Shape, WeightBits};

use crate::error::{Error, Result};
use crate::network::{Layer, Network};
use crate::neuron::KernelMode;

/// Threshold of a sum-pool layer in integer units (its tap weight is `1.1×` this).
pub const POOL_THETA_LSB: f32 = 1024.0;

/// How one layer was quantised.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerQuant {
    /// Layer kind (`dense`, `conv2d`, `sum_pool`, `delay`, `flatten`).
    pub kind: &'static str,
    /// Float value of one weight LSB (0 for layers without neurons).
    pub scale: f32,
    /// Threshold in weight LSBs (0 for layers without neurons).
    pub theta_lsb: f32,
    /// Number of weights (or delays).
    pub params: usize,
    /// Weights (or delays) clipped to the representable range.
    pub saturated: usize,
    /// Largest rounding error of a weight, in float units.
    pub max_error: f32,
}

/// The result of an export.
#[derive(Debug, Clone)]
pub struct Export {
    /// The encoded model.
    pub bytes: Vec<u8>,
    /// Weight width.
    pub bits: u32,
    /// One entry per exported layer.
    pub layers: Vec<LayerQuant>,
    /// The coefficients asked for.
    pub coefficients: Coefficients,
    /// Layers with neurons, and of them those whose `ε` and whose `ν`
    /// filter coefficients lie on the coarse grid.
    pub coarse_filters: [usize; 3],
}

/// The filter coefficients an export writes (`NeuronConsts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Coefficients {
    /// Q2.30, as derived: the kernels within `10^−8` of the float model's.
    #[default]
    Full,
    /// On the 15-bit grid where a filter's kernel moves by at most 0.1 % of
    /// its peak (`NeuronConsts::coarse`; time constants up to ≈ 20 bins):
    /// a Cortex-M0/M0+ runs such a model's `ε` update with half the multiplies.
    Coarse,
}

/// Parses a weight width (`8` or `16`).
pub fn weight_bits(bits: u32) -> Result<WeightBits> {
    WeightBits::from_bits(bits)
        .ok_or_else(|| Error::Config(format!("unsupported weight width {bits}: use 8 or 16 bits")))
}

/// The per-layer scale for `weights` at width `bits`: the largest magnitude
/// maps to the largest integer (1.0 for an all-zero tensor).
pub fn scale_for(weights: &[f32], bits: WeightBits) -> f32 {
    let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
    if max > 0.0 && max.is_finite() {
        max / bits.max() as f32
    } else {
        1.0
    }
}

/// Rounds `w / scale` to the nearest integer of width `bits`, clamping
/// (returns the integer and whether it was clipped).
fn quantise(w: f32, scale: f32, bits: WeightBits) -> (i32, bool) {
    let q = (w / scale).round();
    let (lo, hi) = (-(bits.max() as f32) - 1.0, bits.max() as f32);
    if q.is_nan() {
        (0, true)
    } else if q < lo {
        (lo as i32, true)
    } else if q > hi {
        (hi as i32, true)
    } else {
        (q as i32, false)
    }
}

/// Quantises a weight tensor: integers, and the layer's report.
pub(crate) fn quantise_all(
    kind: &'static str,
    weights: &[f32],
    bits: WeightBits,
    theta: f32,
) -> (Vec<i32>, LayerQuant) {
    let scale = scale_for(weights, bits);
    let mut saturated = 0;
    let mut max_error = 0f32;
    let q = weights
        .iter()
        .map(|&w| {
            let (q, clipped) = quantise(w, scale, bits);
            saturated += usize::from(clipped);
            max_error = max_error.max((q as f32 * scale - w).abs());
            q
        })
        .collect();
    let report = LayerQuant {
        kind,
        scale,
        theta_lsb: theta / scale,
        params: weights.len(),
        saturated,
        max_error,
    };
    (q, report)
}

/// Replaces every trainable weight of `net` by its quantised value (`q·s`)
/// at width `bits`: the forward pass of quantisation-aware training.
/// Delays are left alone (the engine floors them like the float forward).
pub fn fake_quantise(net: &mut Network, bits: WeightBits) {
    for layer in &mut net.layers {
        let w = match layer {
            Layer::Dense(d) => &mut d.weights,
            Layer::Conv(c) => &mut c.weights,
            _ => continue,
        };
        let scale = scale_for(w, bits);
        for v in w.iter_mut() {
            *v = quantise(*v, scale, bits).0 as f32 * scale;
        }
    }
}

/// The fixed-point constants of layer `layer`, whose threshold is
/// `theta_lsb` weight LSB (`θ / s`); the kernels' coefficients are the
/// core's (`NeuronConsts::derive`, computed with `libm` so a board
/// deriving them gets the same bits).
/// With [`Coefficients::Coarse`], moved to the coarse grid where the
/// kernels allow it.
fn consts(
    net: &Network,
    theta_lsb: f32,
    layer: usize,
    coefficients: Coefficients,
) -> Result<NeuronConsts> {
    let p = net.neuron.with_theta_lsb(theta_lsb);
    let k = NeuronConsts::derive(&p, net.ts).map_err(|e| {
        Error::Config(format!(
            "layer {layer}: the neuron constants do not fit the fixed-point format ({e:?}); \
             θ is {theta_lsb} weight LSBs"
        ))
    })?;
    Ok(match coefficients {
        Coefficients::Full => k,
        Coefficients::Coarse => k.coarse(),
    })
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::Config(format!("{what} {v} is too large to export")))
}

/// Quantises `net` (input shape `shape`, `bins` time bins per sample) into
/// the core model format at `bits` (8 or 16), with the full filter
/// coefficients. Dropout layers are dropped; a flatten is inserted where a
/// spatial layer feeds a dense one.
pub fn export(
    net: &Network,
    shape: Option<(usize, usize, usize)>,
    bins: usize,
    bits: u32,
) -> Result<Export> {
    export_with(net, shape, bins, bits, Coefficients::Full)
}

/// [`export`] with the filter coefficients of `coefficients`.
pub fn export_with(
    net: &Network,
    shape: Option<(usize, usize, usize)>,
    bins: usize,
    bits: u32,
    coefficients: Coefficients,
) -> Result<Export> {
    if net.kernel != KernelMode::Exact {
        return Err(Error::Config(
            "only networks trained with kernel = \"exact\" can be exported: the fixed-point \
             core runs the untruncated kernels"
                .into(),
        ));
    }
    let wb = weight_bits(bits)?;
    let input = match shape {
        Some((c, h, w)) => Shape::new(
            u32_of(c, "channels")?,
            u32_of(h, "height")?,
            u32_of(w, "width")?,
        ),
        None => Shape::flat(u32_of(net.inputs, "inputs")?),
    };
    let mut b = ModelBuilder::new(net.ts, u32_of(bins, "bins")?, wb, input);
    let theta = net.neuron.theta;
    let mut reports = Vec::new();
    let mut spatial = shape.is_some();
    let enc = |e: slayer_core::EncodeError| Error::Config(format!("export: {e:?}"));
    let mut coarse_filters = [0usize; 3];
    let mut tally = |k: NeuronConsts| {
        let (eps, nu) = k.on_coarse_grid();
        coarse_filters[0] += 1;
        coarse_filters[1] += usize::from(eps);
        coarse_filters[2] += usize::from(nu);
    };
    for (l, layer) in net.layers.iter().enumerate() {
        match layer {
            Layer::Dense(d) => {
                if spatial {
                    b.flatten();
                    reports.push(plain("flatten", 0));
                    spatial = false;
                }
                let (q, r) = quantise_all("dense", &d.weights, wb, theta);
                let n = consts(net, r.theta_lsb, l, coefficients)?;
                tally(n);
                b.dense(
                    u32_of(d.inputs, "inputs")?,
                    u32_of(d.outputs, "outputs")?,
                    &q,
                    n,
                    r.scale,
                )
                .map_err(enc)?;
                reports.push(r);
            }
            Layer::Conv(c) => {
                let (q, r) = quantise_all("conv2d", &c.weights, wb, theta);
                let n = consts(net, r.theta_lsb, l, coefficients)?;
                tally(n);
                let g = ConvGeometry {
                    input: Shape::new(
                        u32_of(c.in_shape.0, "channels")?,
                        u32_of(c.in_shape.1, "height")?,
                        u32_of(c.in_shape.2, "width")?,
                    ),
                    out_channels: u32_of(c.out_channels, "channels")?,
                    kernel: (u32_of(c.kernel.0, "kernel")?, u32_of(c.kernel.1, "kernel")?),
                    stride: (u32_of(c.stride.0, "stride")?, u32_of(c.stride.1, "stride")?),
                    padding: (
                        u32_of(c.padding.0, "padding")?,
                        u32_of(c.padding.1, "padding")?,
                    ),
                };
                b.conv2d(g, &q, n, r.scale).map_err(enc)?;
                reports.push(r);
            }
            Layer::Pool(p) => {
                let scale = theta / POOL_THETA_LSB;
                let n = consts(net, POOL_THETA_LSB, l, coefficients)?;
                tally(n);
                let t = (p.weight / scale).round();
                if !(t.is_finite() && t.abs() < 1e9) {
                    return Err(Error::Config(format!(
                        "layer {l}: pool weight {} is out of range",
                        p.weight
                    )));
                }
                let tap = t as i32;
                let s = Shape::new(
                    u32_of(p.in_shape.0, "channels")?,
                    u32_of(p.in_shape.1, "height")?,
                    u32_of(p.in_shape.2, "width")?,
                );
                b.sum_pool(s, u32_of(p.size, "pool size")?, tap, n, scale);
                reports.push(LayerQuant {
                    kind: "sum_pool",
                    scale,
                    theta_lsb: POOL_THETA_LSB,
                    params: 1,
                    saturated: 0,
                    max_error: (tap as f32 * scale - p.weight).abs(),
                });
            }
            Layer::Delay(d) => {
                let max = d.max_delay.clamp(0.0, 255.0).floor();
                let mut saturated = 0;
                let delays: Vec<u8> = d
                    .delays
                    .iter()
                    .map(|&v| {
                        let f = v.floor();
                        if !(0.0..=max).contains(&f) {
                            saturated += 1;
                        }
                        f.clamp(0.0, max) as u8
                    })
                    .collect();
                b.delay(&delays, max as u8);
                let mut r = plain("delay", delays.len());
                r.saturated = saturated;
                reports.push(r);
            }
            Layer::Dropout(_) => {}
        }
    }
    let bytes = b.encode().map_err(enc)?;
    Ok(Export {
        bytes,
        bits,
        layers: reports,
        coefficients,
        coarse_filters,
    })
}

pub(crate) fn plain(kind: &'static str, params: usize) -> LayerQuant {
    LayerQuant {
        kind,
        scale: 0.0,
        theta_lsb: 0.0,
        params,
        saturated: 0,
        max_error: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;
    use crate::data::{poisson_raster, seeded_rng};
    use crate::infer::CoreRunner;
    use slayer_core::Model;

    fn network(layers: &str, inputs: usize, shape: Option<(usize, usize, usize)>) -> Network {
        let text = format!(
            "name = \"t\"\n[simulation]\nts = 1.0\nbins = 60\n[neuron]\ntheta = 10.0\ntau_s = 5.0\n\
             tau_r = 1.0\nscale_ref = 2.0\n[network]\nlayers = [{layers}]\n\
             [loss]\ntype = \"spike_time\"\n[data]\ntype = \"poisson_pattern\"\ninputs = {inputs}\n\
             input_rate_hz = 50.0\ntarget_rate_hz = 20.0\ndead_time_ms = 5.0\n"
        );
        let cfg = ExperimentConfig::from_toml(&text).unwrap();
        Network::from_config(&cfg, inputs, shape, 7).unwrap()
    }

    #[test]
    fn fake_quantisation_is_idempotent_and_within_half_a_step() {
        let mut net = network("{ type = \"dense\", outputs = 20 }", 50, None);
        let before = net.clone();
        for bits in [WeightBits::I8, WeightBits::I16] {
            let mut q = before.clone();
            fake_quantise(&mut q, bits);
            let (Layer::Dense(a), Layer::Dense(b)) = (&before.layers[0], &q.layers[0]) else {
                panic!("dense expected")
            };
            let s = scale_for(&a.weights, bits);
            for (x, y) in a.weights.iter().zip(&b.weights) {
                assert!(
                    (x - y).abs() <= 0.5 * s + 1e-6 * x.abs(),
                    "{x} → {y} (step {s})"
                );
            }
            let again = {
                let mut z = q.clone();
                fake_quantise(&mut z, bits);
                z
            };
            assert_eq!(again, q);
        }
        fake_quantise(&mut net, WeightBits::I8);
        assert_ne!(net, before);
    }

    #[test]
    fn exported_models_decode_with_the_network_shapes() {
        let net = network(
            "{ type = \"conv\", channels = 4, kernel = 3, padding = 1, weight_scale = 20.0 }, \
             { type = \"pool\", size = 2 }, { type = \"delay\", init_max = 3.0, max_delay = 5.0 }, \
             { type = \"flatten\" }, { type = \"dense\", outputs = 5 }",
            2 * 8 * 8,
            Some((2, 8, 8)),
        );
        let ex = export(&net, Some((2, 8, 8)), 60, 8).unwrap();
        let m = Model::decode(&ex.bytes).unwrap();
        assert_eq!((m.inputs(), m.outputs()), (128, 5));
        assert_eq!(m.bins(), 60);
        let kinds: Vec<&str> = ex.layers.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, ["conv2d", "sum_pool", "delay", "flatten", "dense"]);
        assert!(ex.layers.iter().all(|l| l.saturated == 0));
        let conv = &ex.layers[0];
        assert!(conv.max_error <= 0.5 * conv.scale * 1.0001);
        assert!(export(&net, Some((2, 8, 8)), 60, 12).is_err());
    }

    /// int16 export of a dense + delay network, with full and with coarse
    /// coefficients: the core's output counts follow the float simulation
    /// on Poisson inputs.
    #[test]
    fn int16_core_follows_the_float_network() {
        let net = network(
            "{ type = \"dense\", outputs = 40, weight_scale = 30.0 }, \
             { type = \"delay\", init_max = 4.0, max_delay = 8.0 }, \
             { type = \"dense\", outputs = 6, weight_scale = 30.0 }",
            100,
            None,
        );
        for coefficients in [Coefficients::Full, Coefficients::Coarse] {
            let ex = export_with(&net, None, 60, 16, coefficients).unwrap();
            let on_grid = if coefficients == Coefficients::Coarse {
                2
            } else {
                0
            };
            assert_eq!(ex.coarse_filters, [2, on_grid, on_grid]);
            let model = Model::decode(&ex.bytes).unwrap();
            let mut runner = CoreRunner::new(&model).unwrap();
            let srm = net.srm();
            let mut rng = seeded_rng(3);
            let (mut total, mut diff, mut same) = (0u64, 0u64, 0);
            for _ in 0..10 {
                let x = poisson_raster(&mut rng, 100, 60, 1.0, 80.0);
                let f = net
                    .forward::<rand_chacha::ChaCha8Rng>(&srm, &x, None)
                    .output()
                    .to_raster();
                let c = runner.run(&x).unwrap();
                same += usize::from(f == c);
                for (a, b) in f.counts().iter().zip(c.counts()) {
                    total += u64::from(*a);
                    diff += u64::from(a.abs_diff(b));
                }
            }
            eprintln!(
                "{coefficients:?}: {diff} count differences in {total} spikes, {same}/10 identical"
            );
            assert!(
                total > 50,
                "the network should spike ({total} output spikes)"
            );
            assert!(
                diff * 50 <= total,
                "{coefficients:?}: {diff} count differences in {total} spikes"
            );
            assert!(
                same >= 5,
                "{coefficients:?}: only {same}/10 identical output trains"
            );
        }
    }
}
