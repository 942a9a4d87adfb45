//! NIR graphs of LIF-family neurons (`LIF`, `CubaLIF`, `IF`: what snnTorch,
//! Norse and Sinabs export) → the core's fixed-point model, whose `Lif`
//! layers run them.
//!
//! NIR states the neurons in continuous time; the frameworks step them with
//! forward Euler at their own `dt` (snnTorch's NIR import and export use
//! `dt = 10⁻⁴ s`), and so does this import:
//!
//! * `LIF` (`τ dv/dt = (v_leak − v) + r·I`): `β = 1 − dt/τ`, input gain `r·dt/τ`;
//! * `CubaLIF` (a synaptic current `τ_syn dI/dt = −I + w_in·S` before it):
//!   `α = 1 − dt/τ_syn`, gain `w_in·dt/τ_syn · r·dt/τ_mem`;
//! * `IF` (`dv/dt = r·I`): `β = 1`, gain `r`;
//!
//! a spike when `v > v_threshold`, then `v ← v_reset` (which must be 0) or,
//! with [`LifReset::Subtract`], `v ← v − v_threshold`. The input gain is
//! folded into the weights before they are quantised; `v_leak` must be 0
//! and every neuron of a layer must share its parameters.

use slayer_core::{LifConsts, LifReset, ModelBuilder, Shape};
use slayer_nir::{NirGraph, Node, Tensor};

use super::import::{bad, finite, uniform, Walker};
use crate::error::{Error, Result};
use crate::export::{plain, quantise_all, weight_bits, Export, LayerQuant};

/// How to discretise and quantise a LIF graph.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LifOptions {
    /// The frameworks' time step, seconds (snnTorch: `1e-4`).
    pub dt: f64,
    /// What a spike does to the membrane.
    pub reset: LifReset,
    /// Weight width, 8 or 16.
    pub bits: u32,
    /// Bins of one sample (informational, in the model's header).
    pub bins: u32,
    /// Bin width, ms (informational).
    pub ts_ms: f32,
    /// The sensor shape `(channels, height, width)` of a flat input, so that
    /// event files map onto it (flatten order `c·H·W + y·W + x`); a graph
    /// whose `Input` is three-dimensional has its own.
    pub input_shape: Option<(u32, u32, u32)>,
}

/// True when `graph` holds a LIF-family neuron (`LIF`, `CubaLIF`, `IF`).
pub fn is_lif_graph(graph: &NirGraph) -> bool {
    graph
        .nodes
        .values()
        .any(|n| matches!(n, Node::Lif(_) | Node::CubaLif(_) | Node::If(_)))
}

/// The core model of a feed-forward LIF graph: `Input`, then per layer an
/// optional `Flatten`, a `Linear` (or an `Affine` without bias) and a
/// `LIF`, `CubaLIF` or `IF` node, then `Output`.
pub fn lif_model(graph: &NirGraph, o: &LifOptions) -> Result<Export> {
    let wb = weight_bits(o.bits)?;
    if !(o.dt.is_finite() && o.dt > 0.0) {
        return Err(Error::Config(format!("dt {} s: must be positive", o.dt)));
    }
    // The number of values of a shape (`None` for a non-positive axis).
    let width = |shape: &[i64]| -> Option<usize> {
        shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?))
            .filter(|&n| n > 0)
    };
    let w = Walker::new(graph)?;
    let mut cur = w.cur.clone();
    let mut n = w
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(&cur, format!("input shape {:?}: too large", w.shape)))?;
    let n_in = u32::try_from(n).map_err(|_| bad(&cur, "too many inputs"))?;
    let axis = |d: usize| u32::try_from(d).map_err(|_| bad(&cur, "too many inputs"));
    let spatial = match (w.shape.as_slice(), o.input_shape) {
        (&[c, h, x], _) => Some((axis(c)?, axis(h)?, axis(x)?)),
        (_, Some(s)) => Some(s),
        _ => None,
    };
    let shape = match spatial {
        Some((c, h, x)) => {
            let s = Shape::new(c, h, x);
            if s.len() != Some(n_in) {
                return Err(bad(
                    &cur,
                    format!("input shape {c}×{h}×{x} for {n_in} inputs"),
                ));
            }
            s
        }
        None => Shape::flat(n_in),
    };
    let mut b = ModelBuilder::new(o.ts_ms, o.bins, wb, shape);
    let mut reports = Vec::new();
    if spatial.is_some() {
        b.flatten();
        reports.push(plain("flatten", 0));
    }
    // A synapse awaiting its neurons: name, weights, outputs, bias (`None`: zero).
    let mut pending: Option<(&str, Synapse)> = None;
    let mut steps = 0usize;
    loop {
        steps += 1;
        if steps > graph.nodes.len() + 1 {
            return Err(bad(
                &cur,
                "the graph loops: slayer imports feed-forward LIF networks",
            ));
        }
        let next = match w.successors(&cur) {
            [one] => *one,
            other => {
                return Err(bad(
                    &cur,
                    format!(
                        "{} outgoing edges; a feed-forward network is a chain",
                        other.len()
                    ),
                ))
            }
        };
        let node = w.node(next)?;
        match (node, &pending) {
            (Node::Output(out), None) => {
                if width(&out.shape) != Some(n) {
                    return Err(bad(
                        next,
                        format!("output shape {:?}, the data has {n}", out.shape),
                    ));
                }
                break;
            }
            (Node::Flatten(_), None) => {}
            (Node::Linear(l), None) => {
                let s = Synapse {
                    weights: synapse(next, &l.weight, n)?,
                    outputs: rows(&l.weight),
                    bias: None,
                };
                pending = Some((next, s));
            }
            (Node::Affine(a), None) => {
                let outputs = rows(&a.weight);
                let bias = finite(next, "bias", &a.bias)?;
                if bias.len() != outputs {
                    return Err(bad(
                        next,
                        format!("{} biases for {outputs} outputs", bias.len()),
                    ));
                }
                let s = Synapse {
                    weights: synapse(next, &a.weight, n)?,
                    outputs,
                    bias: bias.iter().any(|&v| v != 0.0).then_some(bias),
                };
                pending = Some((next, s));
            }
            (Node::Lif(_) | Node::CubaLif(_) | Node::If(_), Some((_, s))) => {
                let e = euler(next, node, o.dt, s.outputs)?;
                reports.push(lif_layer(&mut b, next, s, n, e, o)?);
                n = s.outputs;
                pending = None;
            }
            (other, Some((syn, _))) => {
                return Err(bad(
                    next,
                    format!(
                        "a `{}` after the synapse `{syn}`: expected a LIF, CubaLIF or IF neuron",
                        other.type_name()
                    ),
                ))
            }
            (other, None) => {
                return Err(bad(
                    next,
                    format!(
                        "a `{}` node here: slayer imports LIF networks as chains of Flatten, \
                         Linear / Affine and LIF / CubaLIF / IF nodes",
                        other.type_name()
                    ),
                ))
            }
        }
        cur = next.to_string();
    }
    let bytes = b
        .encode()
        .map_err(|e| Error::Config(format!("NIR → core model: {e:?}")))?;
    Ok(Export {
        bytes,
        bits: o.bits,
        layers: reports,
        // LIF neurons have no double-pole filters.
        coefficients: crate::export::Coefficients::Full,
        coarse_filters: [0; 3],
    })
}

/// The synapses before a LIF-family node.
struct Synapse {
    /// `[out, in]`.
    weights: Vec<f32>,
    outputs: usize,
    /// One per output (`None`: all zero).
    bias: Option<Vec<f32>>,
}

/// Appends the LIF layer of neuron node `name` after synapses `s` taking
/// `n` inputs: the gain folded into the weights and the bias, which are
/// then quantised on the weights' scale (the bias as an `i32` of weight
/// LSB: a `Layer::LifBias`); returns the layer's report.
fn lif_layer(
    b: &mut ModelBuilder,
    name: &str,
    s: &Synapse,
    n: usize,
    e: Euler,
    o: &LifOptions,
) -> Result<LayerQuant> {
    let (w, outputs) = (&s.weights, s.outputs);
    if e.v_reset != 0.0 && o.reset == LifReset::Zero {
        return Err(bad(
            name,
            format!(
                "v_reset = {}: slayer resets to 0 (or subtracts θ)",
                e.v_reset
            ),
        ));
    }
    let scaled: Vec<f32> = transpose(w, n, outputs)
        .into_iter()
        .map(|x| (f64::from(x) * e.gain) as f32)
        .collect();
    if scaled.iter().any(|x| !x.is_finite()) {
        return Err(bad(name, "the input gain makes the weights overflow"));
    }
    #[allow(clippy::cast_possible_truncation)]
    let (q, r) = quantise_all("lif", &scaled, weight_bits(o.bits)?, e.theta as f32);
    let k = LifConsts::derive(f64::from(r.theta_lsb), e.alpha, e.beta, o.reset).map_err(|err| {
        bad(
            name,
            format!(
                "the neuron constants do not fit ({err}); θ is {} weight LSB",
                r.theta_lsb
            ),
        )
    })?;
    let size = |v: usize| u32::try_from(v).map_err(|_| bad(name, "too many neurons"));
    let (inputs, outputs) = (size(n)?, size(outputs)?);
    match &s.bias {
        None => b.lif(inputs, outputs, &q, k, r.scale),
        Some(bias) => {
            let lsb = |v: f32| {
                let x = (f64::from(v) * e.gain / f64::from(r.scale)).round();
                if x.is_finite() && x.abs() <= f64::from(i32::MAX) {
                    Ok(x as i32)
                } else {
                    Err(bad(
                        name,
                        format!("a bias of {v} is {x} weight LSB: out of range"),
                    ))
                }
            };
            let bias = bias.iter().map(|&v| lsb(v)).collect::<Result<Vec<i32>>>()?;
            b.lif_bias(inputs, outputs, &q, &bias, k, r.scale)
        }
    }
    .map_err(|err| bad(name, format!("{err:?}")))?;
    Ok(r)
}

/// Rows (outputs) of a `[out, in]` weight.
fn rows(w: &Tensor) -> usize {
    w.shape().first().copied().unwrap_or(0)
}

/// The `[out, in]` weights of a synapse that takes `n` inputs.
fn synapse(name: &str, w: &Tensor, n: usize) -> Result<Vec<f32>> {
    match w.shape() {
        &[out, inputs] if inputs == n && out > 0 => finite(name, "weight", w),
        s => Err(bad(
            name,
            format!("weight shape {s:?}, the data reaching it has {n} values"),
        )),
    }
}

/// `[out, in]` → input-major (`w[i·out + o]`).
fn transpose(w: &[f32], inputs: usize, outputs: usize) -> Vec<f32> {
    let mut t = vec![0f32; w.len()];
    for o in 0..outputs {
        for i in 0..inputs {
            t[i * outputs + o] = w[o * inputs + i];
        }
    }
    t
}

/// A LIF-family node stepped with forward Euler at `dt`.
#[derive(Debug, Clone, Copy)]
struct Euler {
    /// Decay of the synaptic current per step (0: none).
    alpha: f64,
    /// Decay of the membrane per step (1: an IF).
    beta: f64,
    /// What one unit of synaptic input adds to the membrane.
    gain: f64,
    /// `v_threshold`.
    theta: f64,
    /// `v_reset`.
    v_reset: f64,
}

/// The [`Euler`] step of a neuron node at time step `dt`, every value
/// shared by the layer's `n` neurons (arrays of one value or of `n` equal
/// ones).
fn euler(name: &str, node: &Node, dt: f64, n: usize) -> Result<Euler> {
    let get = |field: &str, t: &Tensor| -> Result<f64> {
        if !(t.len() == 1 || t.len() == n) {
            return Err(bad(
                name,
                format!("`{field}` has {} values for {n} neurons", t.len()),
            ));
        }
        let v = uniform(name, field, t)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(bad(name, format!("`{field}` = {v}")))
        }
    };
    let decay = |field: &str, tau: f64| -> Result<f64> {
        let d = 1.0 - dt / tau;
        if tau > 0.0 && (0.0..=1.0).contains(&d) {
            Ok(d)
        } else {
            // Norse 1.1 writes τ as dt·τ (1e-5 for 10 ms at 1 ms): say so.
            let hint = if tau > 0.0 && tau < dt {
                " (a time constant shorter than the step: is --dt the framework's? Norse 1.1 \
                 files need --dt = its dt², e.g. 1e-6)"
            } else {
                ""
            };
            Err(bad(
                name,
                format!(
                    "`{field}` = {tau} s: with dt = {dt} s the decay 1 − dt/τ = {d} is not in \
                     [0, 1]{hint}"
                ),
            ))
        }
    };
    let no_leak = |t: &Tensor| -> Result<()> {
        if get("v_leak", t)? == 0.0 {
            Ok(())
        } else {
            Err(bad(name, "v_leak ≠ 0: slayer's LIF neurons rest at 0"))
        }
    };
    let e = match node {
        Node::Lif(l) => {
            no_leak(&l.v_leak)?;
            let tau = get("tau", &l.tau)?;
            Euler {
                alpha: 0.0,
                beta: decay("tau", tau)?,
                gain: get("r", &l.r)? * dt / tau,
                theta: get("v_threshold", &l.v_threshold)?,
                v_reset: get("v_reset", &l.v_reset)?,
            }
        }
        Node::CubaLif(c) => {
            no_leak(&c.v_leak)?;
            let (ts, tm) = (get("tau_syn", &c.tau_syn)?, get("tau_mem", &c.tau_mem)?);
            Euler {
                alpha: decay("tau_syn", ts)?,
                beta: decay("tau_mem", tm)?,
                gain: get("w_in", &c.w_in)? * dt / ts * get("r", &c.r)? * dt / tm,
                theta: get("v_threshold", &c.v_threshold)?,
                v_reset: get("v_reset", &c.v_reset)?,
            }
        }
        Node::If(i) => Euler {
            alpha: 0.0,
            beta: 1.0,
            gain: get("r", &i.r)?,
            theta: get("v_threshold", &i.v_threshold)?,
            v_reset: get("v_reset", &i.v_reset)?,
        },
        other => {
            return Err(bad(
                name,
                format!("a `{}` is not a LIF-family neuron", other.type_name()),
            ))
        }
    };
    if e.theta <= 0.0 {
        return Err(bad(
            name,
            format!("v_threshold = {}: must be positive", e.theta),
        ));
    }
    if !(e.gain.is_finite() && e.gain != 0.0) {
        return Err(bad(
            name,
            format!("input gain {}: must be finite and non-zero", e.gain),
        ));
    }
    Ok(e)
}
