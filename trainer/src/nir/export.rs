//! [`Network`] → NIR graph.

use std::f64::consts::E;

use slayer_nir::{
    CubaLi, Delay as NirDelay, Flatten, Input, Linear, MetaValue, Metadata, NirGraph, Node, Output,
    Padding, Pool2d, Scale, Tensor, Threshold,
};

use super::{seconds, Extras, CONFIG_KEY, META_KEY};
use crate::error::{Error, Result};
use crate::network::{Layer, Network};

/// The graph of `net` (see the [module docs](super) for the mapping), with
/// the experiment config `config_toml` in its metadata when given.
///
/// Fails, naming the layer, where NIR cannot say the same thing: a sum-pool
/// over an axis its window does not divide (SLAYER pads the remainder at the
/// end, NIR's pooling drops it).
pub fn to_nir(net: &Network, config_toml: Option<&str>) -> Result<NirGraph> {
    let mut g = Builder {
        graph: NirGraph::new(),
        last: "input".into(),
    };
    let mut shape = input_shape(net);
    g.graph.nodes.insert(
        "input".into(),
        Node::Input(Input {
            shape: dims(&shape),
            metadata: Metadata::new(),
        }),
    );
    let mut extras = Extras {
        ts_ms: net.ts,
        tau_rho: net.rho.tau_rho,
        scale_rho: net.rho.scale_rho,
        kernel: net.kernel,
        max_delay: Vec::new(),
        dropout: Vec::new(),
    };
    for (l, layer) in net.layers.iter().enumerate() {
        match layer {
            Layer::Dense(d) => {
                if shape.len() > 1 {
                    g.push(
                        format!("l{l}_flatten"),
                        Node::Flatten(Flatten {
                            input_type: Some(dims(&shape)),
                            start_dim: 0,
                            end_dim: -1,
                            metadata: Metadata::new(),
                        }),
                    );
                }
                // Stored input-major (`w[i·out + j]`); NIR's is `[out, in]`.
                let mut w = vec![0f32; d.weights.len()];
                for i in 0..d.inputs {
                    for j in 0..d.outputs {
                        w[j * d.inputs + i] = d.weights[i * d.outputs + j];
                    }
                }
                g.push(
                    format!("l{l}_linear"),
                    Node::Linear(Linear {
                        weight: tensor_f32(vec![d.outputs, d.inputs], w)?,
                        metadata: Metadata::new(),
                    }),
                );
                shape = vec![d.outputs];
                g.neurons(l, net, &shape)?;
            }
            Layer::Conv(c) => {
                let (kh, kw) = c.kernel;
                let weight = tensor_f32(
                    vec![c.out_channels, c.in_shape.0, kh, kw],
                    c.weights.clone(),
                )?;
                g.push(
                    format!("l{l}_conv"),
                    Node::Conv2d(slayer_nir::Conv2d {
                        input_shape: Some([int(c.in_shape.1), int(c.in_shape.2)]),
                        weight,
                        stride: [int(c.stride.0), int(c.stride.1)],
                        padding: Padding::Explicit([int(c.padding.0), int(c.padding.1)]),
                        dilation: [1, 1],
                        groups: 1,
                        bias: Tensor::from_f32(vec![0.0; c.out_channels]),
                        metadata: Metadata::new(),
                    }),
                );
                let (oc, oh, ow) = c.out_shape();
                shape = vec![oc, oh, ow];
                g.neurons(l, net, &shape)?;
            }
            Layer::Pool(p) => {
                let (_, h, w) = p.in_shape;
                if h % p.size != 0 || w % p.size != 0 {
                    return Err(Error::Shape(format!(
                        "layer {l} (pool {0}×{0} on {h}×{w}): NIR's SumPool2d drops the cells \
                         past the last whole window, SLAYER pads them; export needs sides that \
                         are multiples of the window",
                        p.size
                    )));
                }
                let s = int(p.size);
                g.push(
                    format!("l{l}_pool"),
                    Node::SumPool2d(Pool2d {
                        kernel_size: [s, s],
                        stride: [s, s],
                        padding: [0, 0],
                        metadata: Metadata::new(),
                    }),
                );
                let (oc, oh, ow) = p.out_shape();
                shape = vec![oc, oh, ow];
                g.push(
                    format!("l{l}_scale"),
                    Node::Scale(Scale {
                        scale: tensor_f32(shape.clone(), vec![p.weight; oc * oh * ow])?,
                        metadata: Metadata::new(),
                    }),
                );
                g.neurons(l, net, &shape)?;
            }
            Layer::Delay(d) => {
                let delay = d
                    .delays
                    .iter()
                    .map(|&b| f64::from(b) * seconds(net.ts))
                    .collect();
                g.push(
                    format!("l{l}_delay"),
                    Node::Delay(NirDelay {
                        delay: tensor_f64(shape.clone(), delay)?,
                        metadata: Metadata::new(),
                    }),
                );
                extras.max_delay.push((l, d.max_delay));
            }
            Layer::Dropout(d) => extras.dropout.push((l, d.p)),
        }
    }
    g.push(
        "output".into(),
        Node::Output(Output {
            shape: dims(&shape),
            metadata: Metadata::new(),
        }),
    );
    let json =
        serde_json::to_string(&extras).map_err(|e| Error::Config(format!("NIR metadata: {e}")))?;
    g.graph
        .metadata
        .insert(META_KEY.into(), MetaValue::Text(json));
    if let Some(toml) = config_toml {
        g.graph
            .metadata
            .insert(CONFIG_KEY.into(), MetaValue::Text(toml.into()));
    }
    g.graph.validate()?;
    Ok(g.graph)
}

/// The graph being built and the node the next one follows.
struct Builder {
    graph: NirGraph,
    last: String,
}

impl Builder {
    /// Adds `node` after the last one.
    fn push(&mut self, name: String, node: Node) {
        self.graph.nodes.insert(name.clone(), node);
        self.graph
            .edges
            .push((std::mem::replace(&mut self.last, name.clone()), name));
    }

    /// The SRM neurons of layer `l` (shape `shape`) after its synapse:
    /// ε, the threshold, and the refractory feedback.
    fn neurons(&mut self, l: usize, net: &Network, shape: &[usize]) -> Result<()> {
        let p = &net.neuron;
        let n: usize = shape.iter().product();
        let fill = |v: f64| tensor_f64(shape.to_vec(), vec![v; n]);
        let alpha = |tau_ms: f32, peak: f64| -> Result<CubaLi> {
            let tau = seconds(tau_ms);
            Ok(CubaLi {
                tau_mem: fill(tau)?,
                tau_syn: fill(tau)?,
                r: fill(1.0)?,
                v_leak: fill(0.0)?,
                w_in: fill(peak * E * tau)?,
                metadata: Metadata::new(),
            })
        };
        self.push(format!("l{l}_epsilon"), Node::CubaLi(alpha(p.tau_s, 1.0)?));
        let threshold = format!("l{l}_threshold");
        self.push(
            threshold.clone(),
            Node::Threshold(Threshold {
                threshold: fill(f64::from(p.theta))?,
                metadata: Metadata::new(),
            }),
        );
        let refractory = format!("l{l}_refractory");
        let peak = -f64::from(p.scale_ref) * f64::from(p.theta);
        self.graph
            .nodes
            .insert(refractory.clone(), Node::CubaLi(alpha(p.tau_r, peak)?));
        self.graph
            .edges
            .push((threshold.clone(), refractory.clone()));
        self.graph.edges.push((refractory, threshold));
        Ok(())
    }
}

/// The network's input shape: `[c, h, w]` when its first synapse is spatial, else `[n]`.
pub(super) fn input_shape(net: &Network) -> Vec<usize> {
    for layer in &net.layers {
        match layer {
            Layer::Conv(c) => return vec![c.in_shape.0, c.in_shape.1, c.in_shape.2],
            Layer::Pool(p) => return vec![p.in_shape.0, p.in_shape.1, p.in_shape.2],
            Layer::Dense(_) => break,
            Layer::Delay(_) | Layer::Dropout(_) => {}
        }
    }
    vec![net.inputs]
}

fn int(v: usize) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| int(d)).collect()
}

fn tensor_f32(shape: Vec<usize>, v: Vec<f32>) -> Result<Tensor> {
    Ok(Tensor::f32(shape, v)?)
}

fn tensor_f64(shape: Vec<usize>, v: Vec<f64>) -> Result<Tensor> {
    Ok(Tensor::f64(shape, v)?)
}
