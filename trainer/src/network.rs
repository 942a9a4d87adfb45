//! A feed-forward spiking network and its per-sample forward and backward
//! passes (the CPU kernels; backends run these across a batch).

use rand::Rng;
use serde::{Deserialize, Serialize};
use slayer_core::NeuronParams;

use crate::config::{check_layer_size, stream, ExperimentConfig, LayerConfig};
use crate::error::{Error, Result};
use crate::layers::{Conv2d, Delay, Dense, Dropout, SumPool, Synapse};
use crate::neuron::{KernelMode, RhoParams, Srm};
use crate::spikes::{SpikeRaster, SpikeTrain};

/// One layer of a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Layer {
    /// Dense synapses followed by a population of SRM neurons.
    Dense(Dense),
    /// A 2-D convolution (per time bin) followed by SRM neurons.
    Conv(Conv2d),
    /// Sum-pooling with a fixed weight followed by SRM neurons.
    Pool(SumPool),
    /// Learnable per-neuron axonal delays.
    Delay(Delay),
    /// Whole-neuron dropout (training only).
    Dropout(Dropout),
}

impl Layer {
    /// The layer as a synapse followed by SRM neurons, if it is one.
    pub fn synapse(&self) -> Option<&dyn Synapse> {
        match self {
            Layer::Dense(d) => Some(d),
            Layer::Conv(c) => Some(c),
            Layer::Pool(p) => Some(p),
            Layer::Delay(_) | Layer::Dropout(_) => None,
        }
    }

    /// The layer's trainable tensor, if it has one.
    pub fn params(&self) -> Option<&[f32]> {
        match self {
            Layer::Dense(d) => Some(&d.weights),
            Layer::Conv(c) => Some(&c.weights),
            Layer::Delay(d) => Some(&d.delays),
            Layer::Pool(_) | Layer::Dropout(_) => None,
        }
    }

    fn params_mut(&mut self) -> Option<&mut [f32]> {
        match self {
            Layer::Dense(d) => Some(&mut d.weights),
            Layer::Conv(c) => Some(&mut c.weights),
            Layer::Delay(d) => Some(&mut d.delays),
            Layer::Pool(_) | Layer::Dropout(_) => None,
        }
    }
}

/// A feed-forward SNN: an input population followed by layers, all neurons
/// sharing one set of SRM parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Number of input neurons.
    pub inputs: usize,
    /// The layers, input to output.
    pub layers: Vec<Layer>,
    /// Neuron constants.
    pub neuron: NeuronParams,
    /// Spike-pdf width used by the backward pass.
    pub rho: RhoParams,
    /// How `ε` is sampled.
    pub kernel: KernelMode,
    /// Time step in ms.
    pub ts: f32,
}

/// What the forward pass of one layer leaves for the backward pass.
#[derive(Debug, Clone, Default)]
pub struct LayerTrace {
    /// The layer's output spikes.
    pub output: Option<SpikeTrain>,
    /// Membrane potential after refractory additions (`bins × outputs`; dense layers only).
    pub u: Vec<f32>,
    /// Keep-mask of a dropout layer (empty when inactive).
    pub keep: Vec<bool>,
}

/// The forward pass of one sample.
#[derive(Debug, Clone)]
pub struct Trace {
    /// The input spikes.
    pub input: SpikeTrain,
    /// One entry per layer.
    pub layers: Vec<LayerTrace>,
}

impl Trace {
    /// Output spikes of layer `l` (the input train when the layer passes it through unchanged).
    pub fn spikes(&self, l: usize) -> &SpikeTrain {
        (0..=l)
            .rev()
            .find_map(|i| self.layers[i].output.as_ref())
            .unwrap_or(&self.input)
    }

    /// The network's output spikes.
    pub fn output(&self) -> &SpikeTrain {
        match self.layers.len() {
            0 => &self.input,
            n => self.spikes(n - 1),
        }
    }
}

impl Network {
    /// Builds the network the config describes for `inputs` input neurons,
    /// with weights drawn from `seed`; `shape` is the input's `(channels,
    /// height, width)` when conv or pool layers need one. Layer sizes are
    /// checked against the limits before anything is allocated.
    pub fn from_config(
        cfg: &ExperimentConfig,
        inputs: usize,
        shape: Option<(usize, usize, usize)>,
        seed: u64,
    ) -> Result<Network> {
        let mut rng = crate::data::seeded_rng(stream(seed, 2));
        let mut width = inputs;
        let mut shape = shape;
        let mut layers = Vec::new();
        let spatial = |shape: Option<(usize, usize, usize)>, i: usize, what: &str| {
            shape.ok_or_else(|| {
                Error::Shape(format!(
                    "layer {i} ({what}) needs a spatial input, but the data is not an image or follows a dense/flatten layer"
                ))
            })
        };
        let bins = cfg.simulation.bins;
        check_layer_size(0, "input", Some(0), Some(inputs), bins)?;
        for (i, l) in cfg.network.layers.iter().enumerate() {
            layers.push(match *l {
                LayerConfig::Dense {
                    outputs,
                    weight_scale,
                } => {
                    check_layer_size(i, "dense", width.checked_mul(outputs), Some(outputs), bins)?;
                    let d = Dense::init(width, outputs, weight_scale, &mut rng);
                    width = outputs;
                    shape = None;
                    Layer::Dense(d)
                }
                LayerConfig::Conv {
                    channels,
                    kernel,
                    stride,
                    padding,
                    weight_scale,
                } => {
                    let (c_in, h, w) = spatial(shape, i, "conv")?;
                    let side = |n| crate::layers::conv::output_len(n, kernel, stride, padding);
                    let out_width = match (side(h), side(w)) {
                        (Some(oh), Some(ow)) => {
                            channels.checked_mul(oh).and_then(|n| n.checked_mul(ow))
                        }
                        _ => Some(0), // Conv2d::init names the shape error
                    };
                    let weights = channels
                        .checked_mul(c_in)
                        .and_then(|n| n.checked_mul(kernel))
                        .and_then(|n| n.checked_mul(kernel));
                    check_layer_size(i, "conv", weights, out_width, bins)?;
                    let c = Conv2d::init(
                        (c_in, h, w),
                        channels,
                        (kernel, kernel),
                        (stride, stride),
                        (padding, padding),
                        weight_scale,
                        &mut rng,
                    )
                    .map_err(|m| Error::Shape(format!("layer {i} (conv): {m}")))?;
                    shape = Some(c.out_shape());
                    width = c.outputs();
                    Layer::Conv(c)
                }
                LayerConfig::Pool { size } => {
                    let p = SumPool::new(spatial(shape, i, "pool")?, size, 1.1 * cfg.neuron.theta)
                        .map_err(|m| Error::Shape(format!("layer {i} (pool): {m}")))?;
                    shape = Some(p.out_shape());
                    width = p.outputs();
                    Layer::Pool(p)
                }
                LayerConfig::Flatten => {
                    shape = None;
                    continue;
                }
                LayerConfig::Delay {
                    max_delay,
                    init_max,
                } => Layer::Delay(Delay::init(width, max_delay, init_max, &mut rng)),
                LayerConfig::Dropout { p } => Layer::Dropout(Dropout { p }),
            });
        }
        let net = Self {
            inputs,
            layers,
            neuron: cfg.neuron.params(),
            rho: cfg.neuron.rho(),
            kernel: cfg.neuron.kernel,
            ts: cfg.simulation.ts,
        };
        net.check().map_err(Error::Shape)?;
        Ok(net)
    }

    /// The neuron model at this network's time step.
    pub fn srm(&self) -> Srm {
        Srm::new(&self.neuron, self.ts, self.rho, self.kernel)
    }

    /// Width (number of neurons) after each layer.
    pub fn widths(&self) -> Vec<usize> {
        let mut w = self.inputs;
        self.layers
            .iter()
            .map(|l| {
                if let Some(syn) = l.synapse() {
                    w = syn.outputs();
                }
                w
            })
            .collect()
    }

    /// Number of output neurons.
    pub fn outputs(&self) -> usize {
        self.widths().last().copied().unwrap_or(self.inputs)
    }

    /// Checks that layer shapes chain (each dense layer's fan-in equals the
    /// width before it; delays cover that width).
    pub fn check(&self) -> Result<(), String> {
        let mut w = self.inputs;
        for (l, layer) in self.layers.iter().enumerate() {
            match layer {
                Layer::Dense(d) => {
                    if d.inputs != w || d.weights.len() != d.inputs * d.outputs {
                        return Err(format!(
                            "layer {l} (dense {}→{}) receives {w} neurons",
                            d.inputs, d.outputs
                        ));
                    }
                    w = d.outputs;
                }
                Layer::Conv(c) => {
                    c.validate().map_err(|m| format!("layer {l} (conv): {m}"))?;
                    if c.inputs() != w {
                        return Err(format!(
                            "layer {l} (conv on {:?}) receives {w} neurons, expects {}",
                            c.in_shape,
                            c.inputs()
                        ));
                    }
                    w = c.outputs();
                }
                Layer::Pool(p) => {
                    p.validate().map_err(|m| format!("layer {l} (pool): {m}"))?;
                    if p.inputs() != w {
                        return Err(format!(
                            "layer {l} (pool on {:?}) receives {w} neurons, expects {}",
                            p.in_shape,
                            p.inputs()
                        ));
                    }
                    w = p.outputs();
                }
                Layer::Delay(d) => {
                    if d.delays.len() != w {
                        return Err(format!(
                            "layer {l} (delay) has {} delays for {w} neurons",
                            d.delays.len()
                        ));
                    }
                }
                Layer::Dropout(d) => {
                    if !(0.0..1.0).contains(&d.p) {
                        return Err(format!("layer {l} dropout p = {} not in [0, 1)", d.p));
                    }
                }
            }
        }
        Ok(())
    }

    /// The trainable tensors (dense weights, delays), in layer order.
    pub fn params_mut(&mut self) -> Vec<&mut [f32]> {
        self.layers
            .iter_mut()
            .filter_map(Layer::params_mut)
            .collect()
    }

    /// Sizes of the trainable tensors, in the order of [`Network::params_mut`].
    pub fn param_sizes(&self) -> Vec<usize> {
        self.layers
            .iter()
            .filter_map(|l| l.params().map(<[f32]>::len))
            .collect()
    }

    /// Zeroed gradient buffers, one per trainable tensor.
    pub fn zero_grads(&self) -> Vec<Vec<f32>> {
        self.param_sizes()
            .into_iter()
            .map(|n| vec![0.0; n])
            .collect()
    }

    /// Re-applies parameter constraints after an update (delays into `[0, max]`).
    pub fn constrain(&mut self) {
        for l in &mut self.layers {
            if let Layer::Delay(d) = l {
                d.clamp();
            }
        }
    }

    /// Forward pass of one sample. With `dropout` set (training), dropout
    /// layers draw their masks from it; without, they pass spikes through.
    pub fn forward<R: Rng>(
        &self,
        srm: &Srm,
        input: &SpikeRaster,
        mut dropout: Option<&mut R>,
    ) -> Trace {
        let mut trace = Trace {
            input: SpikeTrain::from_raster(input),
            layers: Vec::with_capacity(self.layers.len()),
        };
        for (l, layer) in self.layers.iter().enumerate() {
            let x = trace.spikes_before(l);
            let lt = match layer {
                Layer::Dense(_) | Layer::Conv(_) | Layer::Pool(_) => match layer.synapse() {
                    Some(syn) => neurons(srm, syn, x),
                    None => LayerTrace::default(),
                },
                Layer::Delay(d) => LayerTrace {
                    output: Some(d.forward(x)),
                    ..Default::default()
                },
                Layer::Dropout(d) => match dropout.as_deref_mut() {
                    Some(rng) if d.p > 0.0 => {
                        let keep = d.mask(x.neurons(), rng);
                        LayerTrace {
                            output: Some(d.forward(x, &keep)),
                            u: Vec::new(),
                            keep,
                        }
                    }
                    _ => LayerTrace::default(),
                },
            };
            trace.layers.push(lt);
        }
        trace
    }

    /// Backward pass of one sample: `g_out` is `∂E/∂s_out` (`bins × outputs`);
    /// the parameter gradients are added into `grads` (see [`Network::zero_grads`]).
    pub fn backward(&self, srm: &Srm, trace: &Trace, g_out: Vec<f32>, grads: &mut [Vec<f32>]) {
        let mut g = g_out;
        let mut p = self.param_sizes().len();
        // The first layer that needs a gradient at its input: nothing below
        // the first trainable layer does.
        let first_param = self
            .layers
            .iter()
            .position(|l| !matches!(l, Layer::Dropout(_)))
            .unwrap_or(0);
        for (l, layer) in self.layers.iter().enumerate().rev() {
            let need_input_grad = l > first_param;
            let has_params = layer.params().is_some();
            if has_params {
                p -= 1;
            }
            if let Some(syn) = layer.synapse() {
                let x = trace.spikes_before(l);
                let g_w = if has_params {
                    Some(grads[p].as_mut_slice())
                } else {
                    None
                };
                g = neurons_backward(srm, syn, x, &trace.layers[l].u, g, g_w, need_input_grad);
            }
            match layer {
                Layer::Dense(_) | Layer::Conv(_) | Layer::Pool(_) => {}
                Layer::Delay(d) => {
                    let y = trace.spikes(l);
                    let mut gx = vec![0f32; g.len()];
                    d.backward(y, &g, &mut gx, &mut grads[p]);
                    g = gx;
                }
                Layer::Dropout(_) => {
                    let keep = &trace.layers[l].keep;
                    if !keep.is_empty() {
                        Dropout::backward(keep, &mut g);
                    }
                }
            }
            if !need_input_grad {
                break;
            }
        }
    }
}

/// A synapse followed by SRM neurons: `u = ε∗(W·x) + ν∗s`, `s = [u ≥ θ]`.
fn neurons(srm: &Srm, syn: &dyn Synapse, x: &SpikeTrain) -> LayerTrace {
    let (bins, n) = (x.bins(), syn.outputs());
    let mut u = vec![0f32; bins * n];
    let mut s = vec![0u8; bins * n];
    syn.forward(x, &mut u);
    srm.psp(&mut u, n);
    srm.fire(&mut u, &mut s, n);
    LayerTrace {
        output: Some(SpikeTrain::from_dense(bins, n, &s)),
        u,
        keep: Vec::new(),
    }
}

/// Backward through SRM neurons and their synapse: from `∂E/∂s_out` to the
/// weight gradient (added into `g_w`, when the synapse has weights) and, when
/// `input_grad`, `∂E/∂s_in` (else an empty vector).
fn neurons_backward(
    srm: &Srm,
    syn: &dyn Synapse,
    x: &SpikeTrain,
    u: &[f32],
    mut g: Vec<f32>,
    g_w: Option<&mut [f32]>,
    input_grad: bool,
) -> Vec<f32> {
    srm.spike_backward(u, &mut g);
    srm.psp_backward(&mut g, syn.outputs());
    if let Some(g_w) = g_w {
        syn.accumulate_grad(x, &g, g_w);
    }
    if !input_grad {
        return Vec::new();
    }
    let mut gi = vec![0f32; x.bins() * syn.inputs()];
    syn.backward_input(x.gain(), &g, &mut gi);
    gi
}

impl Trace {
    /// The spikes entering layer `l`.
    pub fn spikes_before(&self, l: usize) -> &SpikeTrain {
        if l == 0 {
            &self.input
        } else {
            self.spikes(l - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::{Backend, Sample};
    use crate::data;
    use crate::loss::{Loss, Target};
    use crate::reference;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Each cell spikes with probability `p` (a Poisson raster at 1 ms bins).
    fn raster(bins: usize, n: usize, p: f64, rng: &mut impl Rng) -> SpikeRaster {
        crate::data::poisson_raster(rng, n, bins, 1.0, p * 1000.0)
    }

    /// The fast, sparse, recursive forward and backward passes against the
    /// direct sums of `reference`, on a random dense → delay → dropout → dense network.
    #[test]
    fn fast_passes_match_the_reference_implementation() {
        for (mode, seed) in [
            (KernelMode::Exact, 1u64),
            (KernelMode::Truncated, 2),
            (KernelMode::Exact, 3),
        ] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (bins, n_in) = (150, 30);
            let net = Network {
                inputs: n_in,
                layers: vec![
                    Layer::Dense(Dense::init(n_in, 12, 40.0, &mut rng)),
                    Layer::Delay(Delay::init(12, 62.0, 6.0, &mut rng)),
                    Layer::Dropout(Dropout { p: 0.25 }),
                    Layer::Dense(Dense::init(12, 3, 60.0, &mut rng)),
                ],
                neuron: NeuronParams {
                    theta: 10.0,
                    tau_s: 5.0,
                    tau_r: 1.0,
                    scale_ref: 2.0,
                },
                rho: RhoParams::default(),
                kernel: mode,
                ts: 1.0,
            };
            net.check().unwrap();
            let srm = net.srm();
            let x = raster(bins, n_in, 0.08, &mut rng);
            let tgt = raster(bins, 3, 0.03, &mut rng);
            let mut drop_rng = ChaCha8Rng::seed_from_u64(seed + 100);
            let trace = net.forward(&srm, &x, Some(&mut drop_rng));
            let keep = trace.layers[2].keep.clone();
            assert_eq!(keep.len(), 12);
            let out = trace.output().to_raster();
            assert!(trace.spikes(0).count() > 20, "hidden layer must be active");
            let (loss, g_out) = Loss::SpikeTime.evaluate(&srm, &out, &Target::Spikes(tgt.clone()));
            let mut grads = net.zero_grads();
            net.backward(&srm, &trace, g_out, &mut grads);

            let (ref_out, ref_loss, ref_grads) = reference::network_grads(&net, &x, &tgt, &[keep]);
            assert_eq!(
                out.to_f32()
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect::<Vec<_>>(),
                ref_out
            );
            assert!((loss - ref_loss).abs() < 1e-4 * ref_loss.max(1.0));
            for (p, (g, r)) in grads.iter().zip(&ref_grads).enumerate() {
                let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                let err = g
                    .iter()
                    .zip(r)
                    .map(|(a, b)| (f64::from(*a) - b).powi(2))
                    .sum::<f64>()
                    .sqrt();
                assert!(
                    norm > 0.0,
                    "{mode:?} tensor {p}: zero gradient cannot test anything"
                );
                assert!(
                    err <= 1e-4 * norm,
                    "{mode:?} tensor {p}: rel err {}",
                    err / norm
                );
            }
        }
    }

    #[test]
    fn shape_check_names_the_bad_layer() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let net = Network {
            inputs: 10,
            layers: vec![
                Layer::Dense(Dense::init(10, 5, 1.0, &mut rng)),
                Layer::Dense(Dense::init(4, 2, 1.0, &mut rng)),
            ],
            neuron: NeuronParams::REFERENCE,
            rho: RhoParams::default(),
            kernel: KernelMode::Exact,
            ts: 1.0,
        };
        let err = net.check().unwrap_err();
        assert!(err.contains("layer 1"), "{err}");
    }

    /// The shipped CNN config builds the paper's shapes and a training step
    /// sends gradients to every conv and dense tensor.
    #[test]
    fn cnn_config_builds_and_trains_a_step() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/nmnist_cnn.toml");
        let mut cfg = ExperimentConfig::load(&path).unwrap();
        cfg.simulation.bins = 60;
        let net = Network::from_config(&cfg, 2 * 34 * 34, Some((2, 34, 34)), 1).unwrap();
        assert_eq!(
            net.widths(),
            vec![
                12 * 30 * 30,
                12 * 15 * 15,
                64 * 11 * 11,
                64 * 6 * 6,
                64 * 6 * 6,
                10
            ]
        );
        assert_eq!(
            net.param_sizes(),
            vec![12 * 2 * 25, 64 * 12 * 25, 64 * 36 * 10]
        );
        // A dense input cannot feed a conv layer.
        assert!(Network::from_config(&cfg, 2 * 34 * 34, None, 1)
            .unwrap_err()
            .to_string()
            .contains("spatial"));
        let mut rng = data::seeded_rng(4);
        let x = data::poisson_raster(&mut rng, 2 * 34 * 34, 60, 1.0, 30.0);
        let t = Target::Class(3);
        let loss = cfg.loss.build(1.0);
        let loss = match loss {
            Loss::NumSpikes {
                true_count,
                false_count,
                ..
            } => Loss::NumSpikes {
                start: 0,
                stop: 60,
                true_count,
                false_count,
            },
            l => l,
        };
        let res = crate::backend::CpuBackend::new()
            .train_batch(
                &net,
                &[Sample {
                    input: &x,
                    target: &t,
                }],
                &loss,
                9,
            )
            .unwrap();
        for (i, g) in res.grads.iter().enumerate() {
            assert!(g.iter().any(|&v| v != 0.0), "tensor {i} got no gradient");
            assert!(g.iter().all(|v| v.is_finite()));
        }
    }
}
