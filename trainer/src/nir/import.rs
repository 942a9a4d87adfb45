//! NIR graph → [`Network`].
//!
//! The graph is walked from its `Input` along the one chain of nodes a
//! feed-forward SLAYER network makes; every node must be one the mapping of
//! the [module docs](super) produces. Anything else is an error naming the
//! node.

use std::collections::BTreeMap;
use std::f64::consts::E;

use slayer_core::NeuronParams;
use slayer_nir::{CubaLi, MetaValue, NirGraph, Node, Padding, Tensor};

use super::{millis, Extras, CONFIG_KEY, META_KEY};
use crate::config::{ExperimentConfig, LayerConfig};
use crate::error::{Error, Result};
use crate::layers::{Conv2d, Delay, Dense, Dropout, SumPool};
use crate::network::{Layer, Network};
use crate::neuron::RhoParams;

/// What [`from_nir`] recovers from a graph.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The network.
    pub network: Network,
    /// The experiment config stored with the graph by `slayer export --format nir`.
    pub config_toml: Option<String>,
    /// Whether the graph carried SLAYER's own settings (time step, ρ,
    /// kernel mode, delay clamps, dropout); without them the defaults and
    /// `ts_ms` were used.
    pub had_settings: bool,
}

/// Relative tolerance on the α kernels' gains (`r·w_in = peak·e·τ`): what the
/// exporter writes is exact to a few ULPs of `f64`.
const GAIN_TOLERANCE: f64 = 1e-9;
/// The delays' clamp when the graph does not carry it (the config default).
const DEFAULT_MAX_DELAY: f32 = 62.0;

/// The SLAYER network of `graph`. `ts_ms` is the time step used when the
/// graph does not carry one (NIR itself is continuous-time).
pub fn from_nir(graph: &NirGraph, ts_ms: f32) -> Result<Imported> {
    let extras = match graph.metadata.get(META_KEY) {
        Some(MetaValue::Text(json)) => Some(serde_json::from_str::<Extras>(json).map_err(|e| {
            Error::Config(format!(
                "NIR graph metadata `{META_KEY}` is not SLAYER's: {e}"
            ))
        })?),
        Some(_) => {
            return Err(Error::Config(format!(
                "NIR graph metadata `{META_KEY}` is not a text"
            )))
        }
        None => None,
    };
    let config_toml = match graph.metadata.get(CONFIG_KEY) {
        Some(MetaValue::Text(t)) => Some(t.clone()),
        _ => None,
    };
    let ts = extras.as_ref().map_or(ts_ms, |e| e.ts_ms);
    if !(ts.is_finite() && ts > 0.0) {
        return Err(Error::Config(format!(
            "time step {ts} ms: must be positive"
        )));
    }
    let mut w = Walker::new(graph)?;
    if !matches!(w.shape.len(), 1 | 3) {
        return Err(bad(
            &w.cur,
            format!(
                "input shape {:?}: slayer takes [n] or [channels, height, width]",
                w.shape
            ),
        ));
    }
    let inputs = w.shape.iter().product();
    let mut layers = Vec::new();
    let mut neuron: Option<NeuronParams> = None;
    loop {
        let (name, node) = w.next()?;
        let index = layers.len();
        let synapse = match node {
            Node::Output(o) => {
                if o.shape
                    .iter()
                    .map(|&d| d.max(0) as usize)
                    .product::<usize>()
                    != w.shape.iter().product::<usize>()
                {
                    return Err(bad(
                        name,
                        format!("output shape {:?}, the data is {:?}", o.shape, w.shape),
                    ));
                }
                break;
            }
            Node::Flatten(_) => {
                w.shape = vec![w.shape.iter().product()];
                w.cur = name.to_string();
                continue;
            }
            Node::Linear(l) => Some(w.dense(name, &l.weight)?),
            Node::Affine(a) => {
                zero_bias(name, &a.bias)?;
                Some(w.dense(name, &a.weight)?)
            }
            Node::Conv2d(c) => Some(w.conv(name, c)?),
            Node::SumPool2d(p) => Some(w.pool(name, p)?),
            Node::Delay(d) => {
                w.check_shape(name, "delay", d.delay.shape())?;
                let delays = d
                    .delay
                    .to_f64_vec()
                    .into_iter()
                    .map(|s| millis(s) / ts)
                    .collect::<Vec<f32>>();
                if let Some(bad_d) = delays.iter().find(|d| !(d.is_finite() && **d >= 0.0)) {
                    return Err(bad(name, format!("delay of {bad_d} steps: must be ≥ 0")));
                }
                let max_delay = extras
                    .as_ref()
                    .and_then(|e| e.max_delay.iter().find(|(l, _)| *l == index))
                    .map_or(DEFAULT_MAX_DELAY, |&(_, m)| m);
                w.cur = name.to_string();
                layers.push(Layer::Delay(Delay { delays, max_delay }));
                None
            }
            other => {
                return Err(bad(
                    name,
                    format!(
                        "a `{}` node here is not part of a SLAYER (SRM) network; slayer imports \
                         Linear/Affine/Conv2d/SumPool2d+Scale synapses, CubaLI → Threshold SRM \
                         neurons with CubaLI refractory feedback, Delay and Flatten (LIF, \
                         CubaLIF and IF neurons are not supported yet)",
                        other.type_name()
                    ),
                ))
            }
        };
        if let Some(layer) = synapse {
            let p = w.neurons()?;
            match &neuron {
                None => neuron = Some(p),
                Some(first) if *first == p => {}
                Some(first) => {
                    return Err(bad(
                        &w.cur,
                        format!(
                            "neurons θ = {}, τs = {} ms, τr = {} ms, scaleRef = {}; a SLAYER \
                             network shares one set, and the first layer's is θ = {}, τs = {} \
                             ms, τr = {} ms, scaleRef = {}",
                            p.theta,
                            p.tau_s,
                            p.tau_r,
                            p.scale_ref,
                            first.theta,
                            first.tau_s,
                            first.tau_r,
                            first.scale_ref
                        ),
                    ))
                }
            }
            layers.push(layer);
        }
    }
    if let Some(e) = &extras {
        for &(at, p) in &e.dropout {
            if at > layers.len() {
                return Err(Error::Config(format!(
                    "NIR graph metadata: dropout at layer {at} of {}",
                    layers.len()
                )));
            }
            layers.insert(at, Layer::Dropout(Dropout { p }));
        }
    }
    let neuron = neuron.ok_or_else(|| {
        Error::Config("the NIR graph has no spiking layer (no CubaLI → Threshold)".into())
    })?;
    let (rho, kernel) = extras.as_ref().map_or_else(
        || (RhoParams::default(), crate::neuron::KernelMode::Exact),
        |e| {
            (
                RhoParams {
                    tau_rho: e.tau_rho,
                    scale_rho: e.scale_rho,
                },
                e.kernel,
            )
        },
    );
    let network = Network {
        inputs,
        layers,
        neuron,
        rho,
        kernel,
        ts,
    };
    network.check().map_err(Error::Shape)?;
    Ok(Imported {
        network,
        config_toml,
        had_settings: extras.is_some(),
    })
}

/// The experiment config of an imported network: `base` (its data, loss,
/// optimiser and training settings) with the network's layers, neuron
/// parameters and time step.
pub fn config_for(net: &Network, base: &ExperimentConfig) -> Result<ExperimentConfig> {
    let mut cfg = base.clone();
    cfg.simulation.ts = net.ts;
    cfg.neuron.theta = net.neuron.theta;
    cfg.neuron.tau_s = net.neuron.tau_s;
    cfg.neuron.tau_r = net.neuron.tau_r;
    cfg.neuron.scale_ref = net.neuron.scale_ref;
    cfg.neuron.tau_rho = net.rho.tau_rho;
    cfg.neuron.scale_rho = net.rho.scale_rho;
    cfg.neuron.kernel = net.kernel;
    let mut layers = Vec::new();
    let mut spatial = false;
    for (l, layer) in net.layers.iter().enumerate() {
        if spatial && matches!(layer, Layer::Dense(_)) {
            layers.push(LayerConfig::Flatten);
            spatial = false;
        }
        let item = match layer {
            Layer::Dense(d) => LayerConfig::Dense {
                outputs: d.outputs,
                weight_scale: 10.0,
            },
            Layer::Conv(c) => {
                if c.kernel.0 != c.kernel.1
                    || c.stride.0 != c.stride.1
                    || c.padding.0 != c.padding.1
                {
                    return Err(Error::Config(format!(
                        "layer {l} (conv): kernel {:?}, stride {:?}, padding {:?}: an experiment \
                         config describes square ones only",
                        c.kernel, c.stride, c.padding
                    )));
                }
                spatial = true;
                LayerConfig::Conv {
                    channels: c.out_channels,
                    kernel: c.kernel.0,
                    stride: c.stride.0,
                    padding: c.padding.0,
                    weight_scale: 100.0,
                }
            }
            Layer::Pool(p) => {
                spatial = true;
                LayerConfig::Pool { size: p.size }
            }
            Layer::Delay(d) => LayerConfig::Delay {
                max_delay: d.max_delay,
                init_max: 0.0,
            },
            Layer::Dropout(d) => LayerConfig::Dropout { p: d.p },
        };
        layers.push(item);
    }
    cfg.network.layers = layers;
    Ok(cfg)
}

/// An error about node `name`.
pub(super) fn bad(name: &str, msg: impl std::fmt::Display) -> Error {
    Error::Config(format!("NIR node `{name}`: {msg}"))
}

pub(super) fn zero_bias(name: &str, bias: &Tensor) -> Result<()> {
    if bias.to_f64_vec().iter().any(|&b| b != 0.0) {
        return Err(bad(
            name,
            "a non-zero bias: SRM synapses have none (a constant input current)",
        ));
    }
    Ok(())
}

/// The values of `t` as `f32`, which must all be finite.
pub(super) fn finite(name: &str, field: &str, t: &Tensor) -> Result<Vec<f32>> {
    let v = t.to_f32_vec();
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(bad(
            name,
            format!("`{field}` holds {x}: weights must be finite"),
        ));
    }
    Ok(v)
}

/// Every value of `t`, which must all be equal (one parameter for the layer).
pub(super) fn uniform(name: &str, field: &str, t: &Tensor) -> Result<f64> {
    let v = t.to_f64_vec();
    let first = *v
        .first()
        .ok_or_else(|| bad(name, format!("`{field}` is empty")))?;
    if v.iter().any(|&x| x != first) {
        return Err(bad(
            name,
            format!("`{field}` differs between neurons; SLAYER neurons of a layer share one value"),
        ));
    }
    Ok(first)
}

/// The stride and the (symmetric) padding of convolution node `name`
/// with kernel `(kh, kw)`, as `(y, x)` pairs: explicit, `"valid"`, or
/// `"same"` where that is symmetric (stride 1, odd kernel).
pub(super) fn conv_steps(
    name: &str,
    c: &slayer_nir::Conv2d,
    (kh, kw): (usize, usize),
) -> Result<((usize, usize), (usize, usize))> {
    let pair = |v: [i64; 2]| -> Result<(usize, usize)> {
        match (usize::try_from(v[0]), usize::try_from(v[1])) {
            (Ok(a), Ok(b)) => Ok((a, b)),
            _ => Err(bad(name, format!("negative size {v:?}"))),
        }
    };
    let padding = match c.padding {
        Padding::Explicit(p) => pair(p)?,
        Padding::Valid => (0, 0),
        Padding::Same if c.stride == [1, 1] && kh % 2 == 1 && kw % 2 == 1 => {
            ((kh - 1) / 2, (kw - 1) / 2)
        }
        Padding::Same => {
            return Err(bad(
                name,
                "padding \"same\" with an even kernel or a stride: not symmetric",
            ))
        }
    };
    Ok((pair(c.stride)?, padding))
}

/// The walk along the graph from its one `Input`: the current node and
/// the shape of its output (at the start, the `Input`'s name and shape).
/// Also the LIF import's (`lif.rs`).
pub(super) struct Walker<'g> {
    graph: &'g NirGraph,
    succ: BTreeMap<&'g str, Vec<&'g str>>,
    pred: BTreeMap<&'g str, Vec<&'g str>>,
    pub(super) cur: String,
    pub(super) shape: Vec<usize>,
}

impl<'g> Walker<'g> {
    pub(super) fn new(graph: &'g NirGraph) -> Result<Self> {
        let mut inputs = graph.nodes.iter().filter_map(|(n, node)| match node {
            Node::Input(i) => Some((n, i)),
            _ => None,
        });
        let (name, input) = inputs
            .next()
            .ok_or_else(|| Error::Config("the NIR graph has no Input node".into()))?;
        if let Some((other, _)) = inputs.next() {
            return Err(bad(
                other,
                format!("a second Input (after `{name}`): slayer imports one-input networks"),
            ));
        }
        let shape = input
            .shape
            .iter()
            .map(|&d| usize::try_from(d).ok().filter(|&d| d > 0))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                bad(
                    name,
                    format!("input shape {:?}: every axis must be positive", input.shape),
                )
            })?;
        let mut succ: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut pred: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (s, d) in &graph.edges {
            succ.entry(s).or_default().push(d);
            pred.entry(d).or_default().push(s);
        }
        Ok(Self {
            graph,
            succ,
            pred,
            cur: name.clone(),
            shape,
        })
    }

    pub(super) fn node(&self, name: &str) -> Result<&'g Node> {
        self.graph
            .nodes
            .get(name)
            .ok_or_else(|| bad(name, "named by an edge but not in the graph"))
    }

    pub(super) fn successors(&self, name: &str) -> &[&'g str] {
        self.succ.get(name).map_or(&[], Vec::as_slice)
    }

    pub(super) fn predecessors(&self, name: &str) -> &[&'g str] {
        self.pred.get(name).map_or(&[], Vec::as_slice)
    }

    /// The one node after the current one (which must have one input: the current node).
    fn next(&self) -> Result<(&'g str, &'g Node)> {
        let after = self.successors(&self.cur);
        let [next] = after else {
            return Err(bad(
                &self.cur,
                format!(
                    "{} outgoing edges; a feed-forward SLAYER network is a chain",
                    after.len()
                ),
            ));
        };
        let into = self.pred.get(next).map_or(0, Vec::len);
        if into != 1 {
            return Err(bad(
                next,
                format!("{into} incoming edges; a feed-forward SLAYER network is a chain"),
            ));
        }
        Ok((next, self.node(next)?))
    }

    fn check_shape(&self, name: &str, field: &str, shape: &[usize]) -> Result<()> {
        if shape.iter().product::<usize>() != self.shape.iter().product::<usize>() {
            return Err(bad(
                name,
                format!(
                    "`{field}` has shape {shape:?}, the data reaching it {:?}",
                    self.shape
                ),
            ));
        }
        Ok(())
    }

    fn dense(&mut self, name: &'g str, weight: &Tensor) -> Result<Layer> {
        let &[outputs, inputs] = weight.shape() else {
            return Err(bad(
                name,
                format!("weight shape {:?}, expected [out, in]", weight.shape()),
            ));
        };
        if self.shape != [inputs] {
            return Err(bad(
                name,
                format!(
                    "takes {inputs} inputs, the data reaching it has shape {:?}{}",
                    self.shape,
                    if self.shape.len() > 1 {
                        " (a Flatten node first?)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let w = finite(name, "weight", weight)?;
        let mut weights = vec![0f32; w.len()];
        for j in 0..outputs {
            for i in 0..inputs {
                weights[i * outputs + j] = w[j * inputs + i];
            }
        }
        self.cur = name.to_string();
        self.shape = vec![outputs];
        Ok(Layer::Dense(Dense {
            inputs,
            outputs,
            weights,
        }))
    }

    fn conv(&mut self, name: &'g str, c: &slayer_nir::Conv2d) -> Result<Layer> {
        let &[c_in, h, w] = self.shape.as_slice() else {
            return Err(bad(
                name,
                format!("a convolution of data shaped {:?}", self.shape),
            ));
        };
        let &[oc, ic, kh, kw] = c.weight.shape() else {
            return Err(bad(name, format!("weight shape {:?}", c.weight.shape())));
        };
        if ic != c_in || c.groups != 1 || c.dilation != [1, 1] {
            return Err(bad(
                name,
                format!(
                    "{ic} input channels, groups {}, dilation {:?}: slayer convolves all {c_in} \
                     channels, groups 1, dilation 1",
                    c.groups, c.dilation
                ),
            ));
        }
        zero_bias(name, &c.bias)?;
        let (stride, padding) = conv_steps(name, c, (kh, kw))?;
        let layer = Conv2d::new(
            (c_in, h, w),
            oc,
            (kh, kw),
            stride,
            padding,
            finite(name, "weight", &c.weight)?,
        )
        .map_err(|m| bad(name, m))?;
        let (a, b, d) = layer.out_shape();
        self.cur = name.to_string();
        self.shape = vec![a, b, d];
        Ok(Layer::Conv(layer))
    }

    /// `SumPool2d` and the `Scale` after it.
    fn pool(&mut self, name: &'g str, p: &slayer_nir::Pool2d) -> Result<Layer> {
        let &[c, h, w] = self.shape.as_slice() else {
            return Err(bad(name, format!("pooling data shaped {:?}", self.shape)));
        };
        let [k, _] = p.kernel_size;
        let size = usize::try_from(k).unwrap_or(0);
        if p.kernel_size != [k, k] || p.stride != [k, k] || p.padding != [0, 0] || size == 0 {
            return Err(bad(
                name,
                format!(
                    "window {:?}, stride {:?}, padding {:?}: slayer pools square windows with \
                     stride = window and no padding",
                    p.kernel_size, p.stride, p.padding
                ),
            ));
        }
        if h % size != 0 || w % size != 0 {
            return Err(bad(
                name,
                format!("a {size}×{size} window on {h}×{w}: the sides must be multiples of it"),
            ));
        }
        self.cur = name.to_string();
        let (scale_name, node) = self.next()?;
        let Node::Scale(s) = node else {
            return Err(bad(
                scale_name,
                format!(
                    "`{}` after a SumPool2d: slayer's pooling is followed by a Scale (its tap weight)",
                    node.type_name()
                ),
            ));
        };
        let layer = SumPool::new((c, h, w), size, 0.0).map_err(|m| bad(name, m))?;
        let (a, b, d) = layer.out_shape();
        self.shape = vec![a, b, d];
        self.check_shape(scale_name, "scale", s.scale.shape())?;
        #[allow(clippy::cast_possible_truncation)]
        let weight = uniform(scale_name, "scale", &s.scale)? as f32;
        if !weight.is_finite() {
            return Err(bad(scale_name, format!("scale {weight}: must be finite")));
        }
        self.cur = scale_name.to_string();
        Ok(Layer::Pool(SumPool { weight, ..layer }))
    }

    /// The SRM neurons after a synapse: ε (`CubaLI`), `Threshold`, and the
    /// refractory `CubaLI` fed back into the threshold (optional).
    fn neurons(&mut self) -> Result<NeuronParams> {
        let (eps_name, node) = self.next()?;
        let Node::CubaLi(eps) = node else {
            return Err(bad(
                eps_name,
                format!(
                    "`{}` after a synapse: an SRM neuron's spike response is a CubaLI \
                     (τ_syn = τ_mem)",
                    node.type_name()
                ),
            ));
        };
        self.check_shape(eps_name, "tau_mem", eps.tau_mem.shape())?;
        let (tau_s, gain) = alpha(eps_name, eps)?;
        check_gain(eps_name, gain, 1.0, tau_s)?;
        self.cur = eps_name.to_string();
        let thr_name: &'g str = match self.successors(eps_name) {
            [t] => t,
            other => {
                return Err(bad(
                    eps_name,
                    format!(
                        "{} outgoing edges, expected one (its Threshold)",
                        other.len()
                    ),
                ))
            }
        };
        let Node::Threshold(thr) = self.node(thr_name)? else {
            return Err(bad(
                thr_name,
                "an SRM neuron's spike response must feed a Threshold",
            ));
        };
        self.check_shape(thr_name, "threshold", thr.threshold.shape())?;
        let theta = uniform(thr_name, "threshold", &thr.threshold)?;
        #[allow(clippy::cast_possible_truncation)]
        if !(theta > 0.0 && (theta as f32).is_finite()) {
            return Err(bad(
                thr_name,
                format!("threshold {theta}: must be positive and finite"),
            ));
        }
        // Its other input, if any, is the refractory feedback; its outputs the
        // feedback and the next layer.
        let into: Vec<&str> = self
            .pred
            .get(thr_name)
            .map(|v| v.iter().copied().filter(|&n| n != eps_name).collect())
            .unwrap_or_default();
        let (tau_r, scale_ref, refractory) = match into.as_slice() {
            [] => (1.0, 0.0, None),
            [r] => {
                let Node::CubaLi(rn) = self.node(r)? else {
                    return Err(bad(r, "feeds a Threshold: the refractory response must be a CubaLI"));
                };
                if self.successors(r) != [thr_name]
                    || self.pred.get(r).map(Vec::as_slice) != Some(&[thr_name][..])
                {
                    return Err(bad(r, format!("a refractory response must be fed by its Threshold `{thr_name}` and feed it alone")));
                }
                self.check_shape(r, "tau_mem", rn.tau_mem.shape())?;
                let (tau_r, gain) = alpha(r, rn)?;
                // gain = −scaleRef·θ·e·τr
                let scale_ref = -gain / (theta * E * tau_r);
                #[allow(clippy::cast_possible_truncation)]
                if !(scale_ref >= 0.0 && (scale_ref as f32).is_finite()) {
                    return Err(bad(
                        r,
                        format!(
                            "r·w_in = {gain}: a refractory response is negative (scaleRef = \
                             {scale_ref} would excite)"
                        ),
                    ));
                }
                (tau_r, scale_ref, Some(*r))
            }
            _ => {
                return Err(bad(
                    thr_name,
                    format!("{} incoming edges; an SRM neuron's threshold takes its spike response and its refractory feedback", into.len() + 1),
                ))
            }
        };
        // Continue after the threshold, past the feedback edge.
        let out: Vec<&'g str> = self
            .successors(thr_name)
            .iter()
            .copied()
            .filter(|n| Some(*n) != refractory)
            .collect();
        self.succ.insert(thr_name, out);
        if let Some(r) = refractory {
            if let Some(p) = self.pred.get_mut(thr_name) {
                p.retain(|n| *n != r);
            }
        }
        self.cur = thr_name.to_string();
        #[allow(clippy::cast_possible_truncation)]
        Ok(NeuronParams {
            theta: theta as f32,
            tau_s: millis(tau_s),
            tau_r: millis(tau_r),
            scale_ref: scale_ref as f32,
        })
    }
}

/// The time constant (s) and gain `r·w_in` of an α-kernel `CubaLI`.
fn alpha(name: &str, c: &CubaLi) -> Result<(f64, f64)> {
    let tau_mem = uniform(name, "tau_mem", &c.tau_mem)?;
    let tau_syn = uniform(name, "tau_syn", &c.tau_syn)?;
    if tau_mem != tau_syn
        || !(tau_mem > 0.0 && millis(tau_mem).is_finite() && millis(tau_mem) > 0.0)
    {
        return Err(bad(
            name,
            format!(
                "τ_mem = {tau_mem} s, τ_syn = {tau_syn} s: an SRM kernel is two equal positive \
                 time constants in cascade"
            ),
        ));
    }
    if uniform(name, "v_leak", &c.v_leak)? != 0.0 {
        return Err(bad(name, "v_leak ≠ 0: an SRM kernel decays to zero"));
    }
    let gain = uniform(name, "r", &c.r)? * uniform(name, "w_in", &c.w_in)?;
    Ok((tau_mem, gain))
}

/// Checks `gain = peak·e·τ` (the α kernel of peak `peak`).
fn check_gain(name: &str, gain: f64, peak: f64, tau: f64) -> Result<()> {
    let want = peak * E * tau;
    let close = (gain - want).abs() <= GAIN_TOLERANCE * want.abs(); // false for NaN
    if !close {
        return Err(bad(
            name,
            format!(
                "r·w_in = {gain}: SLAYER's spike response ε peaks at 1, which needs r·w_in = e·τ \
                 = {want} (scale the synapse's weights instead)"
            ),
        ));
    }
    Ok(())
}
