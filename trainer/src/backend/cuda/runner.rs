//! A network's forward and backward passes on a device, written once for
//! every [`Exec`]: the same steps as [`Network::forward`] and
//! [`Network::backward`], for a whole batch at once in the time-major layout
//! `[T, B, N]` (row `t·B + b`).
//!
//! * Synapse layers (dense, conv, pool) then SRM neurons: dense `a = W·s` is
//!   one product over all `T·B` rows (cuBLAS, or the gather kernels), conv
//!   and pool are direct kernels over all rows (`conv.cu`, summing as the CPU
//!   does); then the fused neuron scan writes `u` and the spikes.
//! * Backward: the neuron scan backwards (`Ts·ρ(u)`, time-reversed ε), the
//!   weight gradient (`Σ_rows g_a·sᵀ` as a product; conv: partial sums over
//!   chunks of rows) and the input gradient (`gain·Wᵀ·g_a`; the transposed
//!   convolution; the pooled gradient spread back); delays and dropout as in
//!   the CPU code.
//! * Dropout masks come from the same seeded generators as the CPU backend's,
//!   so a batch gives the same numbers on both.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::exec::{launch, Arg, Exec, Gemm, Grid};
use super::kernels::Kernel;
use super::Products;
use crate::backend::{check_batch, sample_seed, BatchResult, Sample};
use crate::error::{Error, Result};
use crate::layers::{Conv2d, SumPool};
use crate::loss::{Loss, Target};
use crate::network::{Layer, Network};
use crate::neuron::AlphaKernel;
use crate::spikes::{SpikeRaster, SpikeTrain};

/// The two-pole filter's constants, as the kernels take them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AlphaArgs {
    a2: f64,
    asq: f64,
    ca: f64,
    a: f64,
    ak: f64,
    ckak: f64,
    taps: i32,
}

impl AlphaArgs {
    /// The filter of `kernel` with the CPU filters' own coefficients
    /// ([`AlphaKernel::recursion`]), so both run the same numbers.
    fn new(kernel: &AlphaKernel) -> Result<Self> {
        let r = kernel.recursion();
        let (ak, ckak, taps) = match r.cut {
            Some(cut) => {
                let taps = i32::try_from(cut.taps).map_err(|_| {
                    Error::Device(format!(
                        "a kernel cut after {} taps is too long for the CUDA kernels",
                        cut.taps
                    ))
                })?;
                (cut.a_k, cut.c_k_a_k, taps)
            }
            None => (0.0, 0.0, 0),
        };
        Ok(Self {
            a2: r.a2,
            asq: r.a_sq,
            ca: r.ca,
            a: r.a,
            ak,
            ckak,
            taps,
        })
    }

    fn push<'a, E: Exec + ?Sized>(&self, args: &mut Vec<Arg<'a, E>>) {
        args.extend([
            Arg::Double(self.a2),
            Arg::Double(self.asq),
            Arg::Double(self.ca),
            Arg::Double(self.a),
            Arg::Double(self.ak),
            Arg::Double(self.ckak),
            Arg::Int(self.taps),
        ]);
    }

    /// Length of the history scratch for `width` columns (at least 1).
    fn history(&self, width: usize) -> usize {
        (2 * self.taps as usize * width).max(1)
    }
}

/// Everything the kernels need to know about the neuron model.
#[derive(Debug, Clone, Copy)]
struct Consts {
    eps: AlphaArgs,
    nu_a2: f64,
    nu_asq: f64,
    nu1: f64,
    theta: f64,
    theta_f: f32,
    rho_scale: f32,
    rho_inv: f32,
    ts: f32,
}

impl Consts {
    fn new(net: &Network) -> Result<Self> {
        let srm = net.srm();
        // The refractory scan's coefficients, as `Srm::fire` uses them.
        let nu = srm.nu.recursion();
        let width = srm.rho.tau_rho * srm.theta;
        Ok(Self {
            eps: AlphaArgs::new(&srm.eps)?,
            nu_a2: nu.a2,
            nu_asq: nu.a_sq,
            nu1: nu.ca,
            theta: f64::from(srm.theta),
            theta_f: srm.theta,
            rho_scale: srm.ts * srm.rho.scale_rho / width,
            rho_inv: 1.0 / width,
            ts: srm.ts,
        })
    }
}

/// The synaptic operation of a synapse layer, with its parameters on the device.
enum SynOp<E: Exec> {
    /// `a = W·x`, `W` input-major `[n_in × n_out]`.
    Dense { w: E::Buf<f32> },
    /// A per-bin convolution (PyTorch weight layout).
    Conv { w: E::Buf<f32>, geo: ConvGeo },
    /// Sum pooling with a fixed weight.
    Pool { geo: PoolGeo, weight: f32 },
}

/// Sizes as a kernel takes them: `int` parameters, checked to fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geo<const N: usize>([i32; N]);

/// A convolution's sizes: input channels, height, width; output channels,
/// height, width; kernel height, width; stride y, x; padding y, x.
type ConvGeo = Geo<12>;

/// A sum pool's sizes: channels, input height, width, output height,
/// width, window size.
type PoolGeo = Geo<6>;

impl<const N: usize> Geo<N> {
    /// `sizes` as `int`s; an error names `what` when one does not fit.
    fn from_sizes(sizes: [usize; N], what: &str) -> Result<Self> {
        let mut g = [0i32; N];
        for (g, v) in g.iter_mut().zip(sizes) {
            *g = i32::try_from(v).map_err(|_| {
                Error::Shape(format!("{what} {v} is too large for the CUDA kernels"))
            })?;
        }
        Ok(Self(g))
    }

    /// Appends the sizes to a kernel's arguments.
    fn push<'a, E: Exec + ?Sized>(&self, args: &mut Vec<Arg<'a, E>>) {
        args.extend(self.0.map(Arg::Int));
    }
}

impl ConvGeo {
    fn new(c: &Conv2d) -> Result<Self> {
        let (ic, ih, iw) = c.in_shape;
        let (oc, oh, ow) = c.out_shape();
        let (kernel, stride, padding) = (c.kernel, c.stride, c.padding);
        Self::from_sizes(
            [
                ic, ih, iw, oc, oh, ow, kernel.0, kernel.1, stride.0, stride.1, padding.0,
                padding.1,
            ],
            "a convolution size",
        )
    }

    /// Number of weights, `oc·ic·kh·kw`.
    fn weights(&self) -> usize {
        let g = self.0.map(|v| v as usize);
        g[3] * g[0] * g[6] * g[7]
    }
}

impl PoolGeo {
    fn new(p: &SumPool) -> Result<Self> {
        let (c, ih, iw) = p.in_shape;
        let (_, oh, ow) = p.out_shape();
        Self::from_sizes([c, ih, iw, oh, ow, p.size], "a pooling size")
    }
}

/// A layer with its parameters on the device.
enum DevLayer<E: Exec> {
    /// A synapse (dense, conv or pool) followed by SRM neurons.
    Synapse {
        op: SynOp<E>,
        n_in: usize,
        n_out: usize,
    },
    Delay {
        shift: E::Buf<i32>,
        n: usize,
    },
    Dropout {
        p: f32,
        n: usize,
    },
}

impl<E: Exec> DevLayer<E> {
    /// Whether the layer has a trainable tensor (in [`Network::zero_grads`]).
    fn has_params(&self) -> bool {
        match self {
            DevLayer::Synapse { op, .. } => !matches!(op, SynOp::Pool { .. }),
            DevLayer::Delay { .. } => true,
            DevLayer::Dropout { .. } => false,
        }
    }
}

/// A network uploaded to a device.
pub(crate) struct DevNet<E: Exec> {
    layers: Vec<DevLayer<E>>,
    consts: Consts,
    outputs: usize,
    params: usize,
}

impl<E: Exec> DevNet<E> {
    /// Uploads `net`'s parameters.
    pub fn new(e: &E, net: &Network) -> Result<Self> {
        net.check().map_err(Error::Shape)?;
        let widths = net.widths();
        let mut layers = Vec::with_capacity(net.layers.len());
        let mut n_in = net.inputs;
        for (l, layer) in net.layers.iter().enumerate() {
            let n = widths[l];
            let synapse = |op| DevLayer::Synapse { op, n_in, n_out: n };
            layers.push(match layer {
                Layer::Dense(d) => synapse(SynOp::Dense {
                    w: e.upload(&d.weights)?,
                }),
                Layer::Conv(c) => synapse(SynOp::Conv {
                    w: e.upload(&c.weights)?,
                    geo: ConvGeo::new(c)?,
                }),
                Layer::Pool(p) => synapse(SynOp::Pool {
                    geo: PoolGeo::new(p)?,
                    weight: p.weight,
                }),
                Layer::Delay(d) => {
                    // Any shift past the last bin acts alike; 2^30 keeps the
                    // kernels' `t + shift` within 32 bits.
                    let shift: Vec<i32> = d
                        .shifts()
                        .into_iter()
                        .map(|s| s.min(1 << 30) as i32)
                        .collect();
                    DevLayer::Delay {
                        shift: e.upload(&shift)?,
                        n,
                    }
                }
                Layer::Dropout(d) => DevLayer::Dropout { p: d.p, n },
            });
            n_in = n;
        }
        Ok(Self {
            layers,
            consts: Consts::new(net)?,
            outputs: net.outputs(),
            params: net.param_sizes().len(),
        })
    }
}

/// A batch of input spikes on the device: `[T, B, inputs]`, 0/1.
pub(crate) struct DevBatch<E: Exec> {
    x: E::Buf<f32>,
    bins: usize,
    batch: usize,
}

/// Largest tensor the kernels index with 32-bit integers.
const MAX_ELEMS: usize = i32::MAX as usize;

fn checked_size(bins: usize, batch: usize, n: usize) -> Result<usize> {
    bins.checked_mul(batch)
        .and_then(|r| r.checked_mul(n))
        .filter(|&s| s <= MAX_ELEMS)
        .ok_or_else(|| {
            Error::Shape(format!(
                "a batch of {batch} × {bins} bins × {n} neurons is too large for one CUDA batch"
            ))
        })
}

/// Positions `(t·B + b)·n + i` of every spike of `rasters` (sample `b`).
fn spike_positions(rasters: &[&SpikeRaster], n: usize) -> Vec<i32> {
    let batch = rasters.len();
    let sample = |(b, r): (usize, &&SpikeRaster)| {
        let train = SpikeTrain::from_raster(r);
        let mut idx = Vec::with_capacity(train.count());
        for t in 0..train.bins() {
            let base = (t * batch + b) * n;
            idx.extend(train.active(t).iter().map(|&i| (base + i as usize) as i32));
        }
        idx
    };
    #[cfg(feature = "parallel")]
    let parts: Vec<Vec<i32>> = {
        use rayon::prelude::*;
        rasters.par_iter().enumerate().map(sample).collect()
    };
    #[cfg(not(feature = "parallel"))]
    let parts: Vec<Vec<i32>> = rasters.iter().enumerate().map(sample).collect();
    parts.concat()
}

/// A zeroed `[T, B, n]` tensor with ones at the spikes of `rasters`.
fn upload_spikes<E: Exec>(e: &E, rasters: &[&SpikeRaster], n: usize) -> Result<E::Buf<f32>> {
    let bins = rasters.first().map_or(0, |r| r.bins());
    let size = checked_size(bins, rasters.len(), n)?;
    let mut x = e.alloc::<f32>(size.max(1))?;
    let idx = spike_positions(rasters, n);
    if !idx.is_empty() {
        let dev_idx = e.upload(&idx)?;
        launch(
            e,
            Kernel::ScatterOnes,
            Grid::elements(idx.len())?,
            &mut [
                Arg::F32Mut(&mut x),
                Arg::I32(&dev_idx),
                Arg::Int(idx.len() as i32),
            ],
        )?;
    }
    Ok(x)
}

impl<E: Exec> DevBatch<E> {
    /// Uploads the input spikes of a batch; every sample must have the same
    /// number of bins and `inputs` channels.
    pub fn new(e: &E, inputs: usize, rasters: &[&SpikeRaster]) -> Result<Self> {
        let bins = rasters.first().map_or(0, |r| r.bins());
        for (i, r) in rasters.iter().enumerate() {
            if r.bins() != bins {
                return Err(Error::Shape(format!(
                    "sample {i} has {} bins, sample 0 {bins}: the CUDA backend needs one length per batch",
                    r.bins()
                )));
            }
            if r.neurons() != inputs {
                return Err(Error::Shape(format!(
                    "sample {i} has {} input channels but the network takes {inputs}",
                    r.neurons()
                )));
            }
        }
        Ok(Self {
            x: upload_spikes(e, rasters, inputs)?,
            bins,
            batch: rasters.len(),
        })
    }

    fn rows(&self) -> usize {
        self.bins * self.batch
    }
}

/// What the forward pass leaves for the backward pass, per layer.
struct LayerState<E: Exec> {
    /// Output spikes (`None`: the layer passed its input through).
    out: Option<E::Buf<f32>>,
    /// Membrane potential after refractory additions (dense layers).
    u: Option<E::Buf<f32>>,
    /// Dropout's 0/1 keep mask per column (training only).
    keep: Option<E::Buf<f32>>,
    /// The value every spike after this layer carries.
    gain: f32,
}

/// The forward pass of a batch.
struct Forward<E: Exec> {
    layers: Vec<LayerState<E>>,
}

impl<E: Exec> Forward<E> {
    /// Output spikes of layer `l` (walking back over pass-through layers),
    /// or the input; and their gain.
    fn spikes<'a>(&'a self, x: &'a E::Buf<f32>, l: Option<usize>) -> (&'a E::Buf<f32>, f32) {
        let Some(l) = l else { return (x, 1.0) };
        for i in (0..=l).rev() {
            if let Some(o) = &self.layers[i].out {
                return (o, self.layers[l].gain);
            }
        }
        (x, self.layers[l].gain)
    }

    fn before<'a>(&'a self, x: &'a E::Buf<f32>, l: usize) -> (&'a E::Buf<f32>, f32) {
        self.spikes(x, l.checked_sub(1))
    }
}

/// Dropout keep-masks of every sample, drawn as the CPU backend draws them:
/// one generator per sample (seeded from the batch seed and the sample's
/// position), dropout layers in order. `masks[l][b]` for dropout layer `l`.
fn draw_masks(net: &Network, batch: usize, seed: u64) -> Vec<Option<Vec<Vec<bool>>>> {
    let widths = net.widths();
    let mut masks: Vec<Option<Vec<Vec<bool>>>> = net
        .layers
        .iter()
        .map(|l| match l {
            Layer::Dropout(d) if d.p > 0.0 => Some(Vec::with_capacity(batch)),
            _ => None,
        })
        .collect();
    for b in 0..batch {
        let mut rng = ChaCha8Rng::seed_from_u64(sample_seed(seed, b));
        for (l, layer) in net.layers.iter().enumerate() {
            if let (Layer::Dropout(d), Some(m)) = (layer, masks[l].as_mut()) {
                m.push(d.mask(widths[l], &mut rng));
            }
        }
    }
    masks
}

/// Runs the forward pass. With `masks` (training) dropout layers drop.
fn forward<E: Exec>(
    e: &E,
    net: &DevNet<E>,
    batch: &DevBatch<E>,
    masks: Option<&[Option<Vec<Vec<bool>>>]>,
    products: Products,
) -> Result<Forward<E>> {
    let rows = batch.rows();
    let c = &net.consts;
    let mut fwd = Forward {
        layers: Vec::with_capacity(net.layers.len()),
    };
    for (l, layer) in net.layers.iter().enumerate() {
        let (x, gain_in) = fwd.before(&batch.x, l);
        let state = match layer {
            DevLayer::Synapse { op, n_in, n_out } => {
                let (n_in, n_out) = (*n_in, *n_out);
                let size = checked_size(batch.bins, batch.batch, n_out)?;
                let mut u = e.alloc::<f32>(size)?;
                synapse_forward(e, products, op, x, &mut u, rows, n_in, n_out)?;
                let mut s = e.alloc::<f32>(size)?;
                let width = batch.batch * n_out;
                let mut hist = e.alloc::<f64>(c.eps.history(width))?;
                let mut args = vec![
                    Arg::F32Mut(&mut u),
                    Arg::F32Mut(&mut s),
                    Arg::F64Mut(&mut hist),
                    Arg::Int(batch.bins as i32),
                    Arg::Int(width as i32),
                ];
                c.eps.push(&mut args);
                args.extend([
                    Arg::Double(c.nu_a2),
                    Arg::Double(c.nu_asq),
                    Arg::Double(c.nu1),
                    Arg::Double(c.theta),
                ]);
                launch(e, Kernel::SrmForward, Grid::columns(width)?, &mut args)?;
                LayerState {
                    out: Some(s),
                    u: Some(u),
                    keep: None,
                    gain: 1.0,
                }
            }
            DevLayer::Delay { shift, n } => {
                let size = checked_size(batch.bins, batch.batch, *n)?;
                let mut y = e.alloc::<f32>(size)?;
                launch(
                    e,
                    Kernel::DelayForward,
                    Grid::elements(size)?,
                    &mut [
                        Arg::F32(x),
                        Arg::F32Mut(&mut y),
                        Arg::I32(shift),
                        Arg::Int(batch.bins as i32),
                        Arg::Int(batch.batch as i32),
                        Arg::Int(*n as i32),
                    ],
                )?;
                LayerState {
                    out: Some(y),
                    u: None,
                    keep: None,
                    gain: gain_in,
                }
            }
            DevLayer::Dropout { p, n } => match masks.and_then(|m| m[l].as_ref()) {
                Some(keep) => {
                    // The CPU's `SpikeTrain::masked(keep, gain / (1 − p))`.
                    let gain = gain_in / (1.0 - p);
                    let m_fwd: Vec<f32> = keep
                        .iter()
                        .flat_map(|k| k.iter().map(|&k| if k { gain } else { 0.0 }))
                        .collect();
                    let m_bwd: Vec<f32> = keep
                        .iter()
                        .flat_map(|k| k.iter().map(|&k| f32::from(u8::from(k))))
                        .collect();
                    let width = batch.batch * n;
                    let mut y = e.duplicate(x)?;
                    let m = e.upload(&m_fwd)?;
                    launch(
                        e,
                        Kernel::MaskSpikes,
                        Grid::elements(rows * n)?,
                        &mut [
                            Arg::F32Mut(&mut y),
                            Arg::F32(&m),
                            Arg::Int(batch.bins as i32),
                            Arg::Int(width as i32),
                        ],
                    )?;
                    LayerState {
                        out: Some(y),
                        u: None,
                        keep: Some(e.upload(&m_bwd)?),
                        gain,
                    }
                }
                None => LayerState {
                    out: None,
                    u: None,
                    keep: None,
                    gain: gain_in,
                },
            },
        };
        fwd.layers.push(state);
        e.mark_memory();
    }
    Ok(fwd)
}

/// `a = op(x)` over all rows: the synaptic input of a layer's neurons.
#[allow(clippy::too_many_arguments)]
fn synapse_forward<E: Exec>(
    e: &E,
    products: Products,
    op: &SynOp<E>,
    x: &E::Buf<f32>,
    a: &mut E::Buf<f32>,
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Result<()> {
    let total = checked_size(rows, 1, n_out)?;
    match op {
        SynOp::Dense { w } => dense_forward(e, products, x, w, a, rows, n_in, n_out),
        SynOp::Conv { w, geo } => {
            let mut args = vec![
                Arg::F32(x),
                Arg::F32(w),
                Arg::F32Mut(a),
                Arg::Int(rows as i32),
            ];
            geo.push(&mut args);
            launch(e, Kernel::ConvForward, Grid::elements(total)?, &mut args)
        }
        SynOp::Pool { geo, weight } => {
            let mut args = vec![Arg::F32(x), Arg::F32Mut(a), Arg::Int(rows as i32)];
            geo.push(&mut args);
            args.push(Arg::Float(*weight));
            launch(e, Kernel::PoolForward, Grid::elements(total)?, &mut args)
        }
    }
}

/// Threads the conv weight gradient aims for: enough to fill a large GPU.
const CONV_GRAD_THREADS: usize = 1 << 20;

/// The weight gradient of a dense or conv synapse, summed over all rows
/// (pooling has no weights: an error).
#[allow(clippy::too_many_arguments)]
fn synapse_weight_grad<E: Exec>(
    e: &E,
    products: Products,
    op: &SynOp<E>,
    x: &E::Buf<f32>,
    g: &E::Buf<f32>,
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Result<E::Buf<f32>> {
    match op {
        SynOp::Dense { .. } => {
            let mut gw = e.alloc::<f32>(n_in * n_out)?;
            dense_weight_grad(e, products, x, g, &mut gw, rows, n_in, n_out)?;
            Ok(gw)
        }
        SynOp::Conv { geo, .. } => {
            // Partial sums over chunks of rows, then one sum over the chunks.
            let nw = geo.weights();
            let chunks = (CONV_GRAD_THREADS / nw.max(1)).clamp(1, rows.max(1));
            let chunk = rows.max(1).div_ceil(chunks);
            let chunks = rows.max(1).div_ceil(chunk);
            let mut part = e.alloc::<f32>(checked_size(chunks, 1, nw)?)?;
            let mut args = vec![
                Arg::F32(x),
                Arg::F32(g),
                Arg::F32Mut(&mut part),
                Arg::Int(rows as i32),
                Arg::Int(chunk as i32),
            ];
            geo.push(&mut args);
            launch(
                e,
                Kernel::ConvWeightGrad,
                Grid::elements(chunks * nw)?,
                &mut args,
            )?;
            let mut gw = e.alloc::<f32>(nw)?;
            launch(
                e,
                Kernel::SumBatch,
                Grid::columns(nw)?,
                &mut [
                    Arg::F32(&part),
                    Arg::F32Mut(&mut gw),
                    Arg::Int(chunks as i32),
                    Arg::Int(nw as i32),
                ],
            )?;
            Ok(gw)
        }
        SynOp::Pool { .. } => Err(Error::Device("a pooling layer has no weights".into())),
    }
}

/// `∂E/∂x` at the 0/1 input spikes of a synapse (`gain` their value).
#[allow(clippy::too_many_arguments)]
fn synapse_input_grad<E: Exec>(
    e: &E,
    products: Products,
    op: &SynOp<E>,
    g: &E::Buf<f32>,
    gi: &mut E::Buf<f32>,
    rows: usize,
    n_in: usize,
    n_out: usize,
    gain: f32,
) -> Result<()> {
    let total = checked_size(rows, 1, n_in)?;
    match op {
        SynOp::Dense { w } => dense_input_grad(e, products, g, w, gi, rows, n_in, n_out, gain),
        SynOp::Conv { w, geo } => {
            let mut args = vec![
                Arg::F32(g),
                Arg::F32(w),
                Arg::F32Mut(gi),
                Arg::Int(rows as i32),
            ];
            geo.push(&mut args);
            args.push(Arg::Float(gain));
            launch(e, Kernel::ConvInputGrad, Grid::elements(total)?, &mut args)
        }
        SynOp::Pool { geo, weight } => {
            let mut args = vec![Arg::F32(g), Arg::F32Mut(gi), Arg::Int(rows as i32)];
            geo.push(&mut args);
            // The CPU's `gain · weight`, rounded once.
            args.push(Arg::Float(gain * *weight));
            launch(e, Kernel::PoolInputGrad, Grid::elements(total)?, &mut args)
        }
    }
}

/// `a = W·x` over all rows (`x`: rows × n_in, `W`: n_in × n_out input-major).
#[allow(clippy::too_many_arguments)]
fn dense_forward<E: Exec>(
    e: &E,
    products: Products,
    x: &E::Buf<f32>,
    w: &E::Buf<f32>,
    a: &mut E::Buf<f32>,
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Result<()> {
    if products == Products::Auto && e.has_gemm() {
        // Row-major a[rows × n_out] is column-major aᵀ = Wᵀ·xᵀ: with W
        // row-major [n_in × n_out] = column-major [n_out × n_in] (ld n_out)
        // and x = column-major [n_in × rows] (ld n_in).
        let g = Gemm {
            trans_a: false,
            trans_b: false,
            m: n_out,
            n: rows,
            k: n_in,
            lda: n_out,
            ldb: n_in,
            ldc: n_out,
            alpha: 1.0,
            beta: 0.0,
        };
        return e.gemm(&g, w, x, a);
    }
    launch(
        e,
        Kernel::GatherForward,
        Grid::rows(n_out, rows)?,
        &mut [
            Arg::F32(x),
            Arg::F32(w),
            Arg::F32Mut(a),
            Arg::Int(rows as i32),
            Arg::Int(n_in as i32),
            Arg::Int(n_out as i32),
        ],
    )
}

/// `gw[i][j] = Σ_rows x[r][i]·g[r][j]` (input-major, like the weights).
#[allow(clippy::too_many_arguments)]
fn dense_weight_grad<E: Exec>(
    e: &E,
    products: Products,
    x: &E::Buf<f32>,
    g: &E::Buf<f32>,
    gw: &mut E::Buf<f32>,
    rows: usize,
    n_in: usize,
    n_out: usize,
) -> Result<()> {
    if products == Products::Auto && e.has_gemm() {
        // Column-major gwᵀ [n_out × n_in] = gᵀ·x: g is column-major
        // [n_out × rows] (ld n_out), x column-major [n_in × rows] (ld n_in),
        // transposed.
        let p = Gemm {
            trans_a: false,
            trans_b: true,
            m: n_out,
            n: n_in,
            k: rows,
            lda: n_out,
            ldb: n_in,
            ldc: n_out,
            alpha: 1.0,
            beta: 0.0,
        };
        return e.gemm(&p, g, x, gw);
    }
    launch(
        e,
        Kernel::GatherWeightGrad,
        Grid::rows(n_out, n_in)?,
        &mut [
            Arg::F32(x),
            Arg::F32(g),
            Arg::F32Mut(gw),
            Arg::Int(rows as i32),
            Arg::Int(n_in as i32),
            Arg::Int(n_out as i32),
        ],
    )
}

/// `gi[r][i] = gain·Σ_j W[i][j]·g[r][j]`: the gradient at the input spikes.
#[allow(clippy::too_many_arguments)]
fn dense_input_grad<E: Exec>(
    e: &E,
    products: Products,
    g: &E::Buf<f32>,
    w: &E::Buf<f32>,
    gi: &mut E::Buf<f32>,
    rows: usize,
    n_in: usize,
    n_out: usize,
    gain: f32,
) -> Result<()> {
    if products == Products::Auto && e.has_gemm() {
        // Column-major giᵀ [n_in × rows] = W·gᵀ: W is column-major
        // [n_out × n_in] (ld n_out), transposed; g column-major [n_out × rows].
        let p = Gemm {
            trans_a: true,
            trans_b: false,
            m: n_in,
            n: rows,
            k: n_out,
            lda: n_out,
            ldb: n_out,
            ldc: n_in,
            alpha: gain,
            beta: 0.0,
        };
        return e.gemm(&p, w, g, gi);
    }
    launch(
        e,
        Kernel::GatherInputGrad,
        Grid::rows(n_in, rows)?,
        &mut [
            Arg::F32(g),
            Arg::F32(w),
            Arg::F32Mut(gi),
            Arg::Int(rows as i32),
            Arg::Int(n_in as i32),
            Arg::Int(n_out as i32),
            Arg::Float(gain),
        ],
    )
}

/// The output spikes of a `[T, B, n]` tensor as one raster per sample.
fn collect_outputs<E: Exec>(
    e: &E,
    s: &E::Buf<f32>,
    bins: usize,
    batch: usize,
    n: usize,
) -> Result<Vec<SpikeRaster>> {
    let mut out = vec![SpikeRaster::new(bins, n); batch];
    let total = bins * batch * n;
    if total == 0 {
        return Ok(out);
    }
    let mut set = |i: usize| {
        let (r, j) = (i / n, i % n);
        out[r % batch].set(r / batch, j);
    };
    let capacity = total.min((total / 8).max(1 << 16));
    let mut idx = e.alloc::<i32>(capacity)?;
    let mut count = e.alloc::<i32>(1)?;
    launch(
        e,
        Kernel::CollectSpikes,
        Grid::elements(total)?,
        &mut [
            Arg::F32(s),
            Arg::Long(total as i64),
            Arg::I32Mut(&mut idx),
            Arg::I32Mut(&mut count),
            Arg::Int(capacity as i32),
        ],
    )?;
    let found = e.download(&count, 1)?[0].max(0) as usize;
    if found <= capacity {
        for i in e.download(&idx, found)? {
            set(i as usize);
        }
    } else {
        for (i, v) in e.download(s, total)?.into_iter().enumerate() {
            if v != 0.0 {
                set(i);
            }
        }
    }
    Ok(out)
}

/// Loss of every sample and `∂E/∂s_out`, computed in place in `sg` (which
/// holds the output spikes on entry).
fn loss<E: Exec>(
    e: &E,
    net: &DevNet<E>,
    batch: &DevBatch<E>,
    loss: &Loss,
    targets: &[&Target],
    sg: &mut E::Buf<f32>,
) -> Result<Vec<f64>> {
    let c = &net.consts;
    let n = net.outputs;
    let width = batch.batch * n;
    let mut part = e.alloc::<f64>(width.max(1))?;
    let mut hist = e.alloc::<f64>(c.eps.history(width))?;
    let grid = Grid::columns(width)?;
    match loss {
        Loss::SpikeTime => {
            let rasters: Vec<&SpikeRaster> = targets
                .iter()
                .map(|t| match t {
                    Target::Spikes(r) => Ok(r),
                    Target::Class(_) => Err(Error::Shape(
                        "the spike_time loss needs target spike trains, not class labels".into(),
                    )),
                })
                .collect::<Result<_>>()?;
            let target = upload_spikes(e, &rasters, n)?;
            let mut args = vec![
                Arg::F32Mut(sg),
                Arg::F32(&target),
                Arg::F64Mut(&mut part),
                Arg::F64Mut(&mut hist),
                Arg::Int(batch.bins as i32),
                Arg::Int(width as i32),
                Arg::Float(c.ts),
            ];
            c.eps.push(&mut args);
            launch(e, Kernel::LossSpikeTime, grid, &mut args)?;
        }
        Loss::NumSpikes {
            start,
            stop,
            true_count,
            false_count,
        } => {
            let labels: Vec<i32> = targets
                .iter()
                .map(|t| match t {
                    Target::Class(c) => *c as i32,
                    Target::Spikes(_) => -1,
                })
                .collect();
            let labels = e.upload(&labels)?;
            let clamp = |v: usize| v.min(batch.bins) as i32;
            let mut args = vec![
                Arg::F32Mut(sg),
                Arg::I32(&labels),
                Arg::F64Mut(&mut part),
                Arg::F64Mut(&mut hist),
                Arg::Int(batch.bins as i32),
                Arg::Int(width as i32),
                Arg::Int(n as i32),
                Arg::Float(c.ts),
                Arg::Int(clamp(*start)),
                Arg::Int(clamp(*stop)),
                Arg::Float(*true_count),
                Arg::Float(*false_count),
            ];
            c.eps.push(&mut args);
            launch(e, Kernel::LossNumSpikes, grid, &mut args)?;
        }
    }
    e.mark_memory();
    let part = e.download(&part, width)?;
    let ts = f64::from(c.ts);
    Ok((0..batch.batch)
        .map(|b| 0.5 * ts * part[b * n..(b + 1) * n].iter().sum::<f64>())
        .collect())
}

/// The backward pass from `g = ∂E/∂s_out`; returns the parameter gradients
/// (summed over the batch) as device buffers, in [`Network::zero_grads`] order.
fn backward<E: Exec>(
    e: &E,
    net: &DevNet<E>,
    batch: &DevBatch<E>,
    fwd: &mut Forward<E>,
    mut g: E::Buf<f32>,
    products: Products,
    input_grad: bool,
) -> Result<Vec<Option<E::Buf<f32>>>> {
    let c = &net.consts;
    let rows = batch.rows();
    let mut grads: Vec<Option<E::Buf<f32>>> = (0..net.params).map(|_| None).collect();
    let mut p = net.params;
    let first_param = net
        .layers
        .iter()
        .position(|l| !matches!(l, DevLayer::Dropout { .. }))
        .unwrap_or(0);
    for (l, layer) in net.layers.iter().enumerate().rev() {
        let need_input_grad = l > first_param || input_grad;
        if !need_input_grad && !layer.has_params() {
            // Nothing below needs a gradient (a first pooling layer).
            break;
        }
        // The membrane potential is read once, by the neuron scan below:
        // freed right after it, before the larger products.
        let u = fwd.layers[l].u.take();
        let (x, gain_in) = fwd.before(&batch.x, l);
        match layer {
            DevLayer::Synapse { op, n_in, n_out } => {
                let (n_in, n_out) = (*n_in, *n_out);
                let width = batch.batch * n_out;
                let u = u.ok_or_else(|| Error::Device("synapse layer without u".into()))?;
                let mut hist = e.alloc::<f64>(c.eps.history(width))?;
                let mut args = vec![
                    Arg::F32(&u),
                    Arg::F32Mut(&mut g),
                    Arg::F64Mut(&mut hist),
                    Arg::Int(batch.bins as i32),
                    Arg::Int(width as i32),
                    Arg::Float(c.theta_f),
                    Arg::Float(c.rho_scale),
                    Arg::Float(c.rho_inv),
                ];
                c.eps.push(&mut args);
                launch(e, Kernel::SrmBackward, Grid::columns(width)?, &mut args)?;
                drop(hist);
                drop(u);
                if layer.has_params() {
                    p -= 1;
                    grads[p] = Some(synapse_weight_grad(
                        e, products, op, x, &g, rows, n_in, n_out,
                    )?);
                    e.mark_memory();
                }
                if need_input_grad {
                    let mut gi = e.alloc::<f32>(checked_size(batch.bins, batch.batch, n_in)?)?;
                    synapse_input_grad(e, products, op, &g, &mut gi, rows, n_in, n_out, gain_in)?;
                    e.mark_memory();
                    g = gi;
                }
            }
            DevLayer::Delay { shift, n } => {
                p -= 1;
                let n = *n;
                let width = batch.batch * n;
                let y = fwd.layers[l]
                    .out
                    .as_ref()
                    .ok_or_else(|| Error::Device("delay layer without output".into()))?;
                let mut gx = e.alloc::<f32>(checked_size(batch.bins, batch.batch, n)?)?;
                let mut part = e.alloc::<f32>(width.max(1))?;
                launch(
                    e,
                    Kernel::DelayBackward,
                    Grid::columns(width)?,
                    &mut [
                        Arg::F32(&g),
                        Arg::F32(y),
                        Arg::F32Mut(&mut gx),
                        Arg::F32Mut(&mut part),
                        Arg::I32(shift),
                        Arg::Int(batch.bins as i32),
                        Arg::Int(batch.batch as i32),
                        Arg::Int(n as i32),
                    ],
                )?;
                let mut gd = e.alloc::<f32>(n.max(1))?;
                launch(
                    e,
                    Kernel::SumBatch,
                    Grid::columns(n)?,
                    &mut [
                        Arg::F32(&part),
                        Arg::F32Mut(&mut gd),
                        Arg::Int(batch.batch as i32),
                        Arg::Int(n as i32),
                    ],
                )?;
                grads[p] = Some(gd);
                g = gx;
            }
            DevLayer::Dropout { n, .. } => {
                if let Some(keep) = &fwd.layers[l].keep {
                    let width = batch.batch * n;
                    launch(
                        e,
                        Kernel::MaskGrad,
                        Grid::elements(rows * n)?,
                        &mut [
                            Arg::F32Mut(&mut g),
                            Arg::F32(keep),
                            Arg::Int(batch.bins as i32),
                            Arg::Int(width as i32),
                        ],
                    )?;
                }
            }
        }
        if !need_input_grad {
            break;
        }
    }
    Ok(grads)
}

/// One training step's results on the device side.
pub(crate) struct Step {
    /// Per-sample losses.
    pub losses: Vec<f64>,
    /// Parameter gradients (summed over the batch) on the device.
    grads: Vec<Option<Vec<f32>>>,
    /// Output spikes per sample (when asked for).
    pub outputs: Vec<SpikeRaster>,
}

/// Forward, loss and backward of one uploaded batch. With `outputs`, the
/// output spikes are downloaded; with `download_grads`, the gradients are.
/// `input_grad` also computes the gradient at the network's input (the
/// benchmarks' "full backward"; training never needs it).
#[allow(clippy::too_many_arguments)]
pub(crate) fn step<E: Exec>(
    e: &E,
    net: &DevNet<E>,
    batch: &DevBatch<E>,
    masks: &[Option<Vec<Vec<bool>>>],
    loss_fn: &Loss,
    targets: &[&Target],
    products: Products,
    outputs: bool,
    download_grads: bool,
    input_grad: bool,
) -> Result<Step> {
    let mut fwd = forward(e, net, batch, Some(masks), products)?;
    let last = net.layers.len().checked_sub(1);
    let outs = if outputs {
        let (s, _) = fwd.spikes(&batch.x, last);
        collect_outputs(e, s, batch.bins, batch.batch, net.outputs)?
    } else {
        Vec::new()
    };
    // The loss works in place on the output spikes; take them when nothing
    // else needs them (a synapse layer's backward reads u, not its spikes).
    let mut sg = match last {
        Some(l) if matches!(net.layers[l], DevLayer::Synapse { .. }) => fwd.layers[l]
            .out
            .take()
            .ok_or_else(|| Error::Device("synapse layer without output".into()))?,
        _ => e.duplicate(fwd.spikes(&batch.x, last).0)?,
    };
    let losses = loss(e, net, batch, loss_fn, targets, &mut sg)?;
    let grads = backward(e, net, batch, &mut fwd, sg, products, input_grad)?;
    e.mark_memory();
    let grads = if download_grads {
        grads
            .into_iter()
            .map(|g| g.map(|g| e.download(&g, e.len(&g))).transpose())
            .collect::<Result<_>>()?
    } else {
        grads.into_iter().map(|_| None).collect()
    };
    Ok(Step {
        losses,
        grads,
        outputs: outs,
    })
}

/// [`crate::backend::Backend::train_batch`] on a device.
pub(crate) fn train_batch<E: Exec>(
    e: &E,
    net: &Network,
    batch: &[Sample<'_>],
    loss_fn: &Loss,
    seed: u64,
    products: Products,
) -> Result<BatchResult> {
    check_batch(net, batch, loss_fn)?;
    if batch.is_empty() {
        return Ok(BatchResult {
            loss: 0.0,
            grads: net.zero_grads(),
            outputs: Vec::new(),
        });
    }
    let dev = DevNet::new(e, net)?;
    let inputs: Vec<&SpikeRaster> = batch.iter().map(|s| s.input).collect();
    let targets: Vec<&Target> = batch.iter().map(|s| s.target).collect();
    let db = DevBatch::new(e, net.inputs, &inputs)?;
    let masks = draw_masks(net, batch.len(), seed);
    let st = step(
        e, &dev, &db, &masks, loss_fn, &targets, products, true, true, false,
    )?;
    let grads = st
        .grads
        .into_iter()
        .zip(net.param_sizes())
        .map(|(g, n)| g.unwrap_or_else(|| vec![0.0; n]))
        .collect();
    Ok(BatchResult {
        loss: st.losses.iter().sum(),
        grads,
        outputs: st.outputs,
    })
}

/// [`crate::backend::Backend::infer`] on a device.
pub(crate) fn infer<E: Exec>(
    e: &E,
    net: &Network,
    inputs: &[&SpikeRaster],
    products: Products,
) -> Result<Vec<SpikeRaster>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let dev = DevNet::new(e, net)?;
    let db = DevBatch::new(e, net.inputs, inputs)?;
    let fwd = forward(e, &dev, &db, None, products)?;
    let (s, _) = fwd.spikes(&db.x, net.layers.len().checked_sub(1));
    collect_outputs(e, s, db.bins, db.batch, dev.outputs)
}

/// A prepared training step for benchmarks: network and batch stay on the
/// device, and each [`Resident::run`] is one forward + loss + backward.
pub(crate) struct Resident<'a, E: Exec> {
    e: &'a E,
    net: DevNet<E>,
    batch: DevBatch<E>,
    masks: Vec<Option<Vec<Vec<bool>>>>,
    loss: Loss,
    targets: Vec<Target>,
    products: Products,
    input_grad: bool,
}

impl<'a, E: Exec> Resident<'a, E> {
    /// Uploads the network and the batch once.
    pub fn new(
        e: &'a E,
        net: &Network,
        batch: &[Sample<'_>],
        loss_fn: &Loss,
        products: Products,
        input_grad: bool,
    ) -> Result<Self> {
        check_batch(net, batch, loss_fn)?;
        let inputs: Vec<&SpikeRaster> = batch.iter().map(|s| s.input).collect();
        Ok(Self {
            e,
            net: DevNet::new(e, net)?,
            batch: DevBatch::new(e, net.inputs, &inputs)?,
            masks: draw_masks(net, batch.len(), 0),
            loss: loss_fn.clone(),
            targets: batch.iter().map(|s| s.target.clone()).collect(),
            products,
            input_grad,
        })
    }

    /// One forward + loss + backward; returns the batch loss. Nothing but
    /// the per-sample losses leaves the device.
    pub fn run(&self) -> Result<f64> {
        let targets: Vec<&Target> = self.targets.iter().collect();
        let st = step(
            self.e,
            &self.net,
            &self.batch,
            &self.masks,
            &self.loss,
            &targets,
            self.products,
            false,
            false,
            self.input_grad,
        )?;
        Ok(st.losses.iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_beyond_32_bits_are_shape_errors() {
        assert!(checked_size(500, 16, 16384).is_ok());
        assert!(checked_size(1 << 20, 1 << 10, 1 << 10).is_err());
        assert!(checked_size(usize::MAX, 2, 2).is_err());
    }
}
