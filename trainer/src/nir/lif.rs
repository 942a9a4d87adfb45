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
//!
//! Between two neuron nodes, any chain of `Linear`, `Affine`, `Conv2d`,
//! `SumPool2d`, `AvgPool2d` and `Flatten` nodes is folded into the one dense
//! or convolutional synapse of a core layer (`chain.rs`): a `Layer::Lif` /
//! `Layer::LifBias`, or a `Layer::LifConv`. A chain of `Linear` / `Affine`
//! nodes from a neuron node back to itself (snnTorch's `RLeaky` /
//! `RSynaptic`: the spikes of the step before) becomes the recurrent
//! synapses of a `Layer::LifRec`.

use slayer_core::model::ConvGeometry;
use slayer_core::{LifConsts, LifReset, ModelBuilder, Shape};
use slayer_nir::{NirGraph, Node, Tensor};

use super::chain::{self, Conv, Dense, Op};
use super::float_lif::{LifLayer, LifNetwork};
use super::import::{bad, conv_steps, finite, uniform, Walker};
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

/// The core model of a LIF graph (a chain of layers, recurrent loops on
/// neuron nodes; see [`lif_network`]): each
/// layer's synapses folded into one, quantised with its neurons.
pub fn lif_model(graph: &NirGraph, o: &LifOptions) -> Result<Export> {
    let wb = weight_bits(o.bits)?;
    let net = lif_network(graph, o)?;
    let mut b = ModelBuilder::new(o.ts_ms, o.bins, wb, net.input);
    let mut reports = Vec::new();
    // Whether the core model's data is spatial here (a dense layer then
    // takes a flatten first).
    let mut spatial = net.input.h > 1 || net.input.w > 1;
    for l in &net.layers {
        let folded = chain::fold(l.ops.clone())
            .map_err(|m| bad(&l.name, format!("the synapses from `{}`: {m}", l.synapse)))?;
        if matches!(folded, Op::Dense(_)) && spatial {
            b.flatten();
            reports.push(plain("flatten", 0));
        }
        spatial = matches!(folded, Op::Conv(_));
        reports.push(lif_layer(&mut b, l, &folded, o)?);
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

/// The float network of a LIF graph: `Input`, then per layer a chain of
/// synapse nodes (`Linear`, `Affine`, `Conv2d`, `SumPool2d`, `AvgPool2d`,
/// `Flatten`) and a `LIF`, `CubaLIF` or `IF` node stepped with forward
/// Euler at `o.dt`, optionally with a loop of `Linear` / `Affine` nodes back
/// to it (recurrent synapses, fed the spikes of the step before), then
/// `Output`. The time step, reset and input
/// shape are `o`'s (its bits, bins and bin width are the core model's).
pub fn lif_network(graph: &NirGraph, o: &LifOptions) -> Result<LifNetwork> {
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
        // (A leading batch axis of 1, as some exporters write it, is dropped.)
        (&[c, h, x] | &[1, c, h, x], _) => Some((axis(c)?, axis(h)?, axis(x)?)),
        (_, Some(s)) => Some(s),
        _ => None,
    };
    let core_shape = match spatial {
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
    // The data's shape at `cur`: `[c, h, w]` or `[n]`.
    let mut shape: Vec<usize> = match spatial {
        Some((c, h, x)) => [c, h, x].iter().map(|&d| d as usize).collect(),
        None => vec![n],
    };
    let mut layers = Vec::new();
    // The synapses since the last neurons, and the first of their nodes.
    let mut ops: Vec<Op> = Vec::new();
    let mut first: Option<&str> = None;
    // A neuron node and the first node of its recurrent synapses (an edge
    // the walk does not take).
    let mut back: Option<(&str, &str)> = None;
    let mut steps = 0usize;
    loop {
        steps += 1;
        if steps > graph.nodes.len() + 1 {
            return Err(bad(
                &cur,
                "the graph loops: slayer imports chains of LIF layers, with loops only from \
                 neurons back to themselves through Linear / Affine nodes",
            ));
        }
        let ahead: Vec<&str> = w
            .successors(&cur)
            .iter()
            .copied()
            .filter(|&s| back != Some((cur.as_str(), s)))
            .collect();
        let [next] = ahead[..] else {
            return Err(branch_error(&w, &cur));
        };
        let node = w.node(next)?;
        // A synapse node's map (pushed onto `ops` after the match).
        let op = match node {
            Node::Output(out) => {
                if let Some(syn) = first {
                    return Err(bad(
                        next,
                        format!("the synapses from `{syn}` reach the output without neurons"),
                    ));
                }
                if width(&out.shape) != Some(n) {
                    return Err(bad(
                        next,
                        format!("output shape {:?}, the data has {n}", out.shape),
                    ));
                }
                break;
            }
            Node::Flatten(_) => {
                shape = vec![n];
                None
            }
            Node::Linear(l) => {
                let d = dense_op(next, &l.weight, None, n)?;
                shape = vec![d.outputs];
                Some(Op::Dense(d))
            }
            Node::Affine(a) => {
                let d = dense_op(next, &a.weight, Some(&a.bias), n)?;
                shape = vec![d.outputs];
                Some(Op::Dense(d))
            }
            Node::Conv2d(c) => {
                let c = conv_op(next, c, &shape)?;
                shape = c.output().map(Vec::from).unwrap_or_default();
                Some(Op::Conv(c))
            }
            Node::SumPool2d(p) | Node::AvgPool2d(p) => {
                let avg = matches!(node, Node::AvgPool2d(_));
                let c = pool_op(next, p, &shape, avg)?;
                shape = c.output().map(Vec::from).unwrap_or_default();
                Some(Op::Conv(c))
            }
            Node::Lif(_) | Node::CubaLif(_) | Node::If(_) => {
                let Some(syn) = first.take() else {
                    return Err(bad(
                        next,
                        "neurons without synapses before them (a Linear, Affine or Conv2d)",
                    ));
                };
                let neuron = euler(next, node, o.dt, n)?;
                if neuron.v_reset != 0.0 && o.reset == LifReset::Zero {
                    return Err(bad(
                        next,
                        format!(
                            "v_reset = {}: slayer resets to 0 (or subtracts θ)",
                            neuron.v_reset
                        ),
                    ));
                }
                let rec = recurrent(&w, next, n, graph.nodes.len())?;
                back = rec.as_ref().map(|(first, _)| (next, *first));
                layers.push(LifLayer {
                    name: next.to_string(),
                    synapse: syn.to_string(),
                    ops: std::mem::take(&mut ops),
                    recurrent: rec.map(|(_, d)| d),
                    neuron,
                    reset: o.reset,
                    neurons: n,
                });
                None
            }
            other => {
                return Err(bad(
                    next,
                    format!(
                        "a `{}` node here: slayer imports LIF networks as chains of Linear, \
                         Affine, Conv2d, SumPool2d, AvgPool2d and Flatten nodes between LIF, \
                         CubaLIF or IF neurons",
                        other.type_name()
                    ),
                ))
            }
        };
        if let Some(op) = op {
            ops.push(op);
            first.get_or_insert(next);
        }
        n = shape.iter().product();
        cur = next.to_string();
    }
    Ok(LifNetwork {
        input: core_shape,
        layers,
    })
}

/// Appends the core layer of `l` after its folded synapse `syn` (dense or
/// convolutional) and its recurrent synapses, if any: the gain folded into
/// the weights and the bias, which are then quantised together on one
/// scale (the bias as an `i32` of weight LSB: a `Layer::LifBias`, a
/// `Layer::LifConv` with a bias per channel, or a `Layer::LifRec`); returns
/// the layer's report.
fn lif_layer(b: &mut ModelBuilder, l: &LifLayer, syn: &Op, o: &LifOptions) -> Result<LayerQuant> {
    let (name, e) = (l.name.as_str(), l.neuron);
    // The weights in the core's order (dense: input-major, then the
    // recurrent rows; conv: `[out][in][ky][kx]`, as NIR's) and the bias, per
    // output or channel (the recurrent map's added).
    let (w, bias) = match (syn, &l.recurrent) {
        (Op::Dense(d), None) => (transpose(&d.weight, d.inputs, d.outputs), d.bias.clone()),
        (Op::Dense(d), Some(r)) => {
            let mut w = transpose(&d.weight, d.inputs, d.outputs);
            w.extend(transpose(&r.weight, r.inputs, r.outputs));
            (w, d.bias.iter().zip(&r.bias).map(|(a, b)| a + b).collect())
        }
        (Op::Conv(c), None) => (c.weight.clone(), c.bias.clone()),
        (Op::Conv(_), Some(_)) => {
            return Err(bad(
                name,
                "recurrent synapses on convolutional neurons: the core's recurrent LIF \
                 layers are dense",
            ))
        }
    };
    #[allow(clippy::cast_possible_truncation)]
    let scaled: Vec<f32> = w.iter().map(|&x| (x * e.gain) as f32).collect();
    if scaled.iter().any(|x| !x.is_finite()) {
        return Err(bad(name, "the input gain makes the weights overflow"));
    }
    let kind = match (syn, &l.recurrent) {
        (Op::Dense(_), None) => "lif",
        (Op::Dense(_), Some(_)) => "lif_rec",
        (Op::Conv(_), _) => "lif_conv2d",
    };
    #[allow(clippy::cast_possible_truncation)]
    let (q, r) = quantise_all(kind, &scaled, weight_bits(o.bits)?, e.theta as f32);
    let k = LifConsts::derive(f64::from(r.theta_lsb), e.alpha, e.beta, o.reset).map_err(|err| {
        bad(
            name,
            format!(
                "the neuron constants do not fit ({err}); θ is {} weight LSB",
                r.theta_lsb
            ),
        )
    })?;
    let lsb = |v: f64| {
        let x = (v * e.gain / f64::from(r.scale)).round();
        if x.is_finite() && x.abs() <= f64::from(i32::MAX) {
            #[allow(clippy::cast_possible_truncation)]
            Ok(x as i32)
        } else {
            Err(bad(
                name,
                format!("a bias of {v} is {x} weight LSB: out of range"),
            ))
        }
    };
    let bias: Option<Vec<i32>> = if bias.iter().any(|&v| v != 0.0) {
        Some(bias.iter().map(|&v| lsb(v)).collect::<Result<_>>()?)
    } else {
        None
    };
    let size = |v: usize| u32::try_from(v).map_err(|_| bad(name, "too many neurons"));
    match syn {
        Op::Dense(d) => {
            let (inputs, outputs) = (size(d.inputs)?, size(d.outputs)?);
            match (&bias, &l.recurrent) {
                (_, Some(_)) => b.lif_rec(inputs, outputs, &q, bias.as_deref(), k, r.scale),
                (None, None) => b.lif(inputs, outputs, &q, k, r.scale),
                (Some(bias), None) => b.lif_bias(inputs, outputs, &q, bias, k, r.scale),
            }
        }
        Op::Conv(c) => {
            let [ic, ih, iw] = c.input;
            let geometry = ConvGeometry {
                input: Shape::new(size(ic)?, size(ih)?, size(iw)?),
                out_channels: size(c.out_c)?,
                kernel: (size(c.kernel[0])?, size(c.kernel[1])?),
                stride: (size(c.stride[0])?, size(c.stride[1])?),
                padding: (size(c.padding[0])?, size(c.padding[1])?),
            };
            b.lif_conv(geometry, &q, bias.as_deref(), k, r.scale)
        }
    }
    .map_err(|err| bad(name, format!("{err:?}")))?;
    Ok(r)
}

/// The error for node `at` with other than one way on: a loop back to it
/// the import cannot take (named with the nodes it runs through), or a
/// branch.
fn branch_error(w: &Walker<'_>, at: &str) -> Error {
    let out = w.successors(at);
    // Breadth-first from its successors, each node once, remembering how
    // it was reached: the shortest way back to `at`, if any.
    let mut from: std::collections::BTreeMap<&str, Option<&str>> =
        out.iter().map(|&s| (s, None)).collect();
    let mut queue: std::collections::VecDeque<&str> = out.iter().copied().collect();
    while let Some(node) = queue.pop_front() {
        if node == at {
            continue;
        }
        for &s in w.successors(node) {
            if s == at {
                // `node`, back through `from` to a successor of `at`.
                let mut through = vec![node];
                while let Some(Some(prev)) = from.get(through[through.len() - 1]) {
                    through.push(prev);
                }
                through.reverse();
                let names: Vec<String> = through
                    .iter()
                    .map(|&n| match w.node(n) {
                        Ok(node) => format!("`{n}` ({})", node.type_name()),
                        Err(_) => format!("`{n}`"),
                    })
                    .collect();
                return bad(
                    at,
                    format!(
                        "{} outgoing edges, a loop back through {}: slayer imports a \
                         recurrent loop as Linear / Affine nodes of its own from the neurons \
                         back to them, one loop per layer",
                        out.len(),
                        names.join(" → ")
                    ),
                );
            }
            if !from.contains_key(s) {
                from.insert(s, Some(node));
                queue.push_back(s);
            }
        }
    }
    bad(
        at,
        format!(
            "{} outgoing edges; slayer imports a chain of layers (a branch is not one)",
            out.len()
        ),
    )
}

/// The recurrent synapses of neuron node `neuron` (`n` neurons, in a graph
/// of `nodes` nodes): a chain of `Linear` / `Affine` nodes from one of its
/// successors back to it (snnTorch's `RLeaky` / `RSynaptic` export),
/// folded into one `n → n` dense map, and the chain's first node. `None`
/// when no successor loops back.
fn recurrent<'g>(
    w: &Walker<'g>,
    neuron: &str,
    n: usize,
    nodes: usize,
) -> Result<Option<(&'g str, Dense)>> {
    // The node names along a loop from `start` back to `neuron`.
    let path_back = |start: &'g str| -> Option<Vec<&'g str>> {
        let mut path = vec![start];
        while path.len() <= nodes {
            let at = *path.last()?;
            if !matches!(w.node(at).ok()?, Node::Linear(_) | Node::Affine(_)) {
                return None;
            }
            match w.successors(at) {
                [next] if *next == neuron => return Some(path),
                [next] => path.push(next),
                _ => return None,
            }
        }
        None
    };
    let mut loops = w.successors(neuron).iter().filter_map(|&s| path_back(s));
    let Some(path) = loops.next() else {
        return Ok(None);
    };
    if loops.next().is_some() {
        return Err(bad(neuron, "two recurrent loops back to these neurons"));
    }
    if let Some(shared) = path.iter().find(|&&at| w.predecessors(at).len() != 1) {
        return Err(bad(
            shared,
            format!(
                "{} incoming edges: a recurrent loop back to `{neuron}` must be nodes of its own",
                w.predecessors(shared).len()
            ),
        ));
    }
    let mut width = n;
    let mut ops = Vec::new();
    for &at in &path {
        let d = match w.node(at)? {
            Node::Affine(a) => dense_op(at, &a.weight, Some(&a.bias), width)?,
            Node::Linear(l) => dense_op(at, &l.weight, None, width)?,
            other => return Err(bad(at, format!("a `{}` node", other.type_name()))),
        };
        width = d.outputs;
        ops.push(Op::Dense(d));
    }
    if width != n {
        return Err(bad(
            path[path.len() - 1],
            format!("the recurrent synapses give {width} values for {n} neurons"),
        ));
    }
    match chain::fold(ops).map_err(|m| bad(path[0], m))? {
        Op::Dense(d) => Ok(Some((path[0], d))),
        Op::Conv(_) => Err(bad(path[0], "recurrent synapses that are not dense")),
    }
}

/// The dense map of a `Linear` (no `bias`) or `Affine` node with weight
/// `[out, in]`, taking `n` inputs.
fn dense_op(name: &str, w: &Tensor, bias: Option<&Tensor>, n: usize) -> Result<Dense> {
    let outputs = match w.shape() {
        &[out, inputs] if inputs == n && out > 0 => out,
        s => {
            return Err(bad(
                name,
                format!("weight shape {s:?}, the data reaching it has {n} values"),
            ))
        }
    };
    let bias = match bias {
        None => vec![0.0; outputs],
        Some(t) => {
            let b = wide(finite(name, "bias", t)?);
            if b.len() != outputs {
                return Err(bad(
                    name,
                    format!("{} biases for {outputs} outputs", b.len()),
                ));
            }
            b
        }
    };
    Ok(Dense {
        inputs: n,
        outputs,
        weight: wide(finite(name, "weight", w)?),
        bias,
    })
}

fn wide(v: Vec<f32>) -> Vec<f64> {
    v.into_iter().map(f64::from).collect()
}

/// The `[c, h, w]` of data shaped `shape`, for node `name`.
fn spatial_shape(name: &str, shape: &[usize], what: &str) -> Result<[usize; 3]> {
    match *shape {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(bad(
            name,
            format!("{what} of data shaped {shape:?}: it takes [channels, height, width]"),
        )),
    }
}

/// The convolution of `Conv2d` node `name` on data shaped `shape`, its
/// groups and dilation spelled out as zero weights.
fn conv_op(name: &str, c: &slayer_nir::Conv2d, shape: &[usize]) -> Result<Conv> {
    let input = spatial_shape(name, shape, "a convolution")?;
    let &[oc, icg, kh, kw] = c.weight.shape() else {
        return Err(bad(name, format!("weight shape {:?}", c.weight.shape())));
    };
    let groups = usize::try_from(c.groups).unwrap_or(0);
    let [dy, dx] = c.dilation.map(|d| usize::try_from(d).unwrap_or(0));
    if groups == 0 || input[0] != icg * groups || oc % groups != 0 || dy == 0 || dx == 0 {
        return Err(bad(
            name,
            format!(
                "weight shape {:?} with groups {} and dilation {:?} on {} channels",
                c.weight.shape(),
                c.groups,
                c.dilation,
                input[0]
            ),
        ));
    }
    if let Some(hw) = c.input_shape {
        if hw.map(|d| usize::try_from(d).ok()) != [Some(input[1]), Some(input[2])] {
            return Err(bad(
                name,
                format!("input_shape {hw:?}, the data reaching it is {input:?}"),
            ));
        }
    }
    // The dilated kernel.
    let (kh2, kw2) = ((kh - 1) * dy + 1, (kw - 1) * dx + 1);
    let ((sy, sx), (py, px)) = conv_steps(name, c, (kh2, kw2))?;
    let w = wide(finite(name, "weight", &c.weight)?);
    let ic = input[0];
    let mut weight = vec![0.0; oc * ic * kh2 * kw2];
    let per_group = oc / groups;
    for o in 0..oc {
        for j in 0..icg {
            let ch = (o / per_group) * icg + j;
            for ky in 0..kh {
                for kx in 0..kw {
                    weight[((o * ic + ch) * kh2 + ky * dy) * kw2 + kx * dx] =
                        w[((o * icg + j) * kh + ky) * kw + kx];
                }
            }
        }
    }
    let bias = wide(finite(name, "bias", &c.bias)?);
    let bias = match bias.len() {
        0 => vec![0.0; oc],
        l if l == oc => bias,
        l => return Err(bad(name, format!("{l} biases for {oc} channels"))),
    };
    let conv = Conv {
        input,
        out_c: oc,
        kernel: [kh2, kw2],
        stride: [sy, sx],
        padding: [py, px],
        weight,
        bias,
    };
    conv.output()
        .ok_or_else(|| bad(name, format!("the kernel does not fit the input {input:?}")))?;
    Ok(conv)
}

/// The pooling of `SumPool2d` / `AvgPool2d` (`avg`) node `name` on data
/// shaped `shape`, as a convolution.
fn pool_op(name: &str, p: &slayer_nir::Pool2d, shape: &[usize], avg: bool) -> Result<Conv> {
    let input = spatial_shape(name, shape, "a pooling")?;
    let size = |v: [i64; 2]| v.map(|d| usize::try_from(d).unwrap_or(0));
    let (kernel, stride, padding) = (size(p.kernel_size), size(p.stride), size(p.padding));
    if kernel.contains(&0) || stride.contains(&0) || p.padding.iter().any(|&d| d < 0) {
        return Err(bad(
            name,
            format!(
                "window {:?}, stride {:?}, padding {:?}",
                p.kernel_size, p.stride, p.padding
            ),
        ));
    }
    #[allow(clippy::cast_precision_loss)]
    let tap = if avg {
        1.0 / (kernel[0] * kernel[1]) as f64
    } else {
        1.0
    };
    let conv = Conv::pool(input, kernel, stride, padding, tap);
    conv.output()
        .ok_or_else(|| bad(name, format!("the window does not fit the input {input:?}")))?;
    Ok(conv)
}

/// `[out, in]` → input-major (`w[i·out + o]`).
fn transpose(w: &[f64], inputs: usize, outputs: usize) -> Vec<f64> {
    let mut t = vec![0.0; w.len()];
    for o in 0..outputs {
        for i in 0..inputs {
            t[i * outputs + o] = w[o * inputs + i];
        }
    }
    t
}

/// A LIF-family node stepped with forward Euler at `dt`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Euler {
    /// Decay of the synaptic current per step (0: none).
    pub(super) alpha: f64,
    /// Decay of the membrane per step (1: an IF).
    pub(super) beta: f64,
    /// What one unit of synaptic input adds to the membrane.
    pub(super) gain: f64,
    /// `v_threshold`.
    pub(super) theta: f64,
    /// `v_reset`.
    pub(super) v_reset: f64,
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
