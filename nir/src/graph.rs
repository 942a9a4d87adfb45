//! The NIR graph model: [`NirGraph`], its [`Node`]s and their fields, as the
//! Python `nir` 1.0 package defines them (`nir/ir/*.py`).
//!
//! Field names are the package's. Arrays whose values are parameters are
//! [`Tensor`]s (dtype kept); arrays that are sizes, strides or paddings are
//! `i64`s (`int64` in the file).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Free-form metadata of a node or graph: the `metadata` dict of a `nir`
/// node, stored as an HDF5 group (absent when empty).
pub type Metadata = BTreeMap<String, MetaValue>;

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// A string.
    Text(String),
    /// A number or array (a Python `bool` reads as int64 0 or 1).
    Array(Tensor),
    /// A nested dict.
    Group(Metadata),
}

/// The padding of a convolution: explicit sizes, or one of the two strings
/// `nir` (like PyTorch) accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<T> {
    /// Explicit zero padding on each side.
    Explicit(T),
    /// `"same"`: the output has the input's size (stride 1).
    Same,
    /// `"valid"`: no padding.
    Valid,
}

/// `Input`: where data enters the graph. Stored as `shape` (int64, 1-D).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Input {
    /// The shape of the incoming data (without the batch or time axis).
    pub shape: Vec<i64>,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Output`: where data leaves the graph. Stored as `shape` (int64, 1-D).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Output {
    /// The shape of the outgoing data.
    pub shape: Vec<i64>,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Affine`: `y = W x + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Linear`: `y = W x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    /// `[out, in]`.
    pub weight: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Scale`: `y = s ⊙ x`.
#[derive(Clone, Debug, PartialEq)]
pub struct Scale {
    /// The factors, one per element of the input.
    pub scale: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Conv1d`, PyTorch's convolution over `[channels, length]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv1d {
    /// The input length `N` (without channels). Files of older `nir`
    /// versions may lack it; [`NirGraph::validate`] (and so writing)
    /// requires it, as `nir.read` 1.0 does.
    pub input_shape: Option<i64>,
    /// `[C_out, C_in / groups, K]`.
    pub weight: Tensor,
    /// The stride.
    pub stride: i64,
    /// The padding.
    pub padding: Padding<i64>,
    /// The dilation.
    pub dilation: i64,
    /// The number of groups.
    pub groups: i64,
    /// `[C_out]`.
    pub bias: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Conv2d`, PyTorch's convolution over `[channels, height, width]`.
///
/// Pairs are (height, width). `nir` normalises integer `stride`, `padding`
/// and `dilation` to pairs before writing; a scalar in a file reads as `[k, k]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    /// The input's (height, width), without channels. Files of older `nir`
    /// versions may lack it; [`NirGraph::validate`] (and so writing)
    /// requires it, as `nir.read` 1.0 does.
    pub input_shape: Option<[i64; 2]>,
    /// `[C_out, C_in / groups, K_h, K_w]`.
    pub weight: Tensor,
    /// The stride.
    pub stride: [i64; 2],
    /// The padding.
    pub padding: Padding<[i64; 2]>,
    /// The dilation.
    pub dilation: [i64; 2],
    /// The number of groups.
    pub groups: i64,
    /// `[C_out]`.
    pub bias: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `SumPool2d` (and, with [`Node::AvgPool2d`], `AvgPool2d`): pooling over
/// `[channels, height, width]`; pairs are (height, width).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Pool2d {
    /// The window.
    pub kernel_size: [i64; 2],
    /// The stride.
    pub stride: [i64; 2],
    /// The zero padding.
    pub padding: [i64; 2],
    /// Metadata.
    pub metadata: Metadata,
}

/// `Flatten`: merges the axes `start_dim..=end_dim` of the input (which has
/// no batch axis; negative indices count from the end).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Flatten {
    /// The input's shape, when known (stored as `input_type`).
    pub input_type: Option<Vec<i64>>,
    /// The first axis merged.
    pub start_dim: i64,
    /// The last axis merged.
    pub end_dim: i64,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Delay`: each element's output is its input `delay` time units later.
#[derive(Clone, Debug, PartialEq)]
pub struct Delay {
    /// The delays, one per element.
    pub delay: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `Threshold`: `z = H(x - θ)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    /// θ, one per element.
    pub threshold: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `I`: the integrator `dv/dt = R I`.
#[derive(Clone, Debug, PartialEq)]
pub struct Integrator {
    /// R.
    pub r: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `IF`: integrate-and-fire, `dv/dt = R I`, a spike and `v ← v_reset` when
/// `v > v_threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct If {
    /// R.
    pub r: Tensor,
    /// The firing threshold.
    pub v_threshold: Tensor,
    /// The potential after a spike (zeros when the file has none, as `nir`).
    pub v_reset: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `LI`: leaky integrator, `τ dv/dt = (v_leak - v) + R I`.
#[derive(Clone, Debug, PartialEq)]
pub struct Li {
    /// τ.
    pub tau: Tensor,
    /// R.
    pub r: Tensor,
    /// The resting potential.
    pub v_leak: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `LIF`: leaky integrate-and-fire, `τ dv/dt = (v_leak - v) + R I`, a spike
/// and `v ← v_reset` when `v > v_threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct Lif {
    /// τ.
    pub tau: Tensor,
    /// R.
    pub r: Tensor,
    /// The resting potential.
    pub v_leak: Tensor,
    /// The firing threshold.
    pub v_threshold: Tensor,
    /// The potential after a spike (zeros when the file has none, as `nir`).
    pub v_reset: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `CubaLI`: current-based leaky integrator, `τ_syn dI/dt = -I + w_in S`,
/// `τ_mem dv/dt = (v_leak - v) + R I`.
#[derive(Clone, Debug, PartialEq)]
pub struct CubaLi {
    /// τ_mem.
    pub tau_mem: Tensor,
    /// τ_syn.
    pub tau_syn: Tensor,
    /// R.
    pub r: Tensor,
    /// The resting potential.
    pub v_leak: Tensor,
    /// The input weight (ones when the file has none: the constructor's default).
    pub w_in: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// `CubaLIF`: current-based LIF, [`CubaLi`] plus a threshold and reset.
#[derive(Clone, Debug, PartialEq)]
pub struct CubaLif {
    /// τ_mem.
    pub tau_mem: Tensor,
    /// τ_syn.
    pub tau_syn: Tensor,
    /// R.
    pub r: Tensor,
    /// The resting potential.
    pub v_leak: Tensor,
    /// The firing threshold.
    pub v_threshold: Tensor,
    /// The potential after a spike (zeros when the file has none, as `nir`).
    pub v_reset: Tensor,
    /// The input weight (ones when the file has none: the constructor's default).
    pub w_in: Tensor,
    /// Metadata.
    pub metadata: Metadata,
}

/// A NIR node: one of the nineteen node types `nir` 1.0 serialises.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `Input`.
    Input(Input),
    /// `Output`.
    Output(Output),
    /// `Affine`.
    Affine(Affine),
    /// `Linear`.
    Linear(Linear),
    /// `Scale`.
    Scale(Scale),
    /// `Conv1d`.
    Conv1d(Conv1d),
    /// `Conv2d`.
    Conv2d(Conv2d),
    /// `SumPool2d`.
    SumPool2d(Pool2d),
    /// `AvgPool2d`.
    AvgPool2d(Pool2d),
    /// `Flatten`.
    Flatten(Flatten),
    /// `Delay`.
    Delay(Delay),
    /// `Threshold`.
    Threshold(Threshold),
    /// `I`.
    I(Integrator),
    /// `IF`.
    If(If),
    /// `LI`.
    Li(Li),
    /// `LIF`.
    Lif(Lif),
    /// `CubaLI`.
    CubaLi(CubaLi),
    /// `CubaLIF`.
    CubaLif(CubaLif),
    /// `NIRGraph`: a nested subgraph.
    Graph(NirGraph),
}

/// A field of a node as the file stores it (see [`Node::fields`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Field<'a> {
    /// An array of parameters.
    Tensor(&'a Tensor),
    /// An int64 scalar.
    Int(i64),
    /// A 1-D int64 array.
    Ints(Vec<i64>),
    /// A string (a padding of `same` or `valid`).
    Text(&'static str),
}

impl<T> Padding<T> {
    fn field(&self, explicit: impl Fn(&T) -> Field<'static>) -> Field<'static> {
        match self {
            Padding::Explicit(p) => explicit(p),
            Padding::Same => Field::Text("same"),
            Padding::Valid => Field::Text("valid"),
        }
    }
}

impl Node {
    /// The `type` string of the node in a NIR file (`"LIF"`, `"NIRGraph"`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Input(_) => "Input",
            Node::Output(_) => "Output",
            Node::Affine(_) => "Affine",
            Node::Linear(_) => "Linear",
            Node::Scale(_) => "Scale",
            Node::Conv1d(_) => "Conv1d",
            Node::Conv2d(_) => "Conv2d",
            Node::SumPool2d(_) => "SumPool2d",
            Node::AvgPool2d(_) => "AvgPool2d",
            Node::Flatten(_) => "Flatten",
            Node::Delay(_) => "Delay",
            Node::Threshold(_) => "Threshold",
            Node::I(_) => "I",
            Node::If(_) => "IF",
            Node::Li(_) => "LI",
            Node::Lif(_) => "LIF",
            Node::CubaLi(_) => "CubaLI",
            Node::CubaLif(_) => "CubaLIF",
            Node::Graph(_) => "NIRGraph",
        }
    }

    /// The node's metadata.
    pub fn metadata(&self) -> &Metadata {
        match self {
            Node::Input(n) => &n.metadata,
            Node::Output(n) => &n.metadata,
            Node::Affine(n) => &n.metadata,
            Node::Linear(n) => &n.metadata,
            Node::Scale(n) => &n.metadata,
            Node::Conv1d(n) => &n.metadata,
            Node::Conv2d(n) => &n.metadata,
            Node::SumPool2d(n) | Node::AvgPool2d(n) => &n.metadata,
            Node::Flatten(n) => &n.metadata,
            Node::Delay(n) => &n.metadata,
            Node::Threshold(n) => &n.metadata,
            Node::I(n) => &n.metadata,
            Node::If(n) => &n.metadata,
            Node::Li(n) => &n.metadata,
            Node::Lif(n) => &n.metadata,
            Node::CubaLi(n) => &n.metadata,
            Node::CubaLif(n) => &n.metadata,
            Node::Graph(g) => &g.metadata,
        }
    }

    /// The node's fields as the file stores them, in the file's names, without
    /// `type` and `metadata` (and, for a subgraph, without `nodes` and
    /// `edges`). Optional fields that are absent are left out.
    pub fn fields(&self) -> Vec<(&'static str, Field<'_>)> {
        let pair = |p: &[i64; 2]| Field::Ints(p.to_vec());
        match self {
            Node::Input(n) => vec![("shape", Field::Ints(n.shape.clone()))],
            Node::Output(n) => vec![("shape", Field::Ints(n.shape.clone()))],
            Node::Affine(n) => vec![
                ("weight", Field::Tensor(&n.weight)),
                ("bias", Field::Tensor(&n.bias)),
            ],
            Node::Linear(n) => vec![("weight", Field::Tensor(&n.weight))],
            Node::Scale(n) => vec![("scale", Field::Tensor(&n.scale))],
            Node::Conv1d(n) => {
                let mut f = vec![
                    ("weight", Field::Tensor(&n.weight)),
                    ("stride", Field::Int(n.stride)),
                    ("padding", n.padding.field(|&p| Field::Int(p))),
                    ("dilation", Field::Int(n.dilation)),
                    ("groups", Field::Int(n.groups)),
                    ("bias", Field::Tensor(&n.bias)),
                ];
                if let Some(s) = n.input_shape {
                    f.push(("input_shape", Field::Int(s)));
                }
                f
            }
            Node::Conv2d(n) => {
                let mut f = vec![
                    ("weight", Field::Tensor(&n.weight)),
                    ("stride", pair(&n.stride)),
                    ("padding", n.padding.field(pair)),
                    ("dilation", pair(&n.dilation)),
                    ("groups", Field::Int(n.groups)),
                    ("bias", Field::Tensor(&n.bias)),
                ];
                if let Some(s) = &n.input_shape {
                    f.push(("input_shape", pair(s)));
                }
                f
            }
            Node::SumPool2d(n) | Node::AvgPool2d(n) => vec![
                ("kernel_size", pair(&n.kernel_size)),
                ("stride", pair(&n.stride)),
                ("padding", pair(&n.padding)),
            ],
            Node::Flatten(n) => {
                let mut f = vec![
                    ("start_dim", Field::Int(n.start_dim)),
                    ("end_dim", Field::Int(n.end_dim)),
                ];
                if let Some(t) = &n.input_type {
                    f.push(("input_type", Field::Ints(t.clone())));
                }
                f
            }
            Node::Delay(n) => vec![("delay", Field::Tensor(&n.delay))],
            Node::Threshold(n) => vec![("threshold", Field::Tensor(&n.threshold))],
            Node::I(n) => vec![("r", Field::Tensor(&n.r))],
            Node::If(n) => vec![
                ("r", Field::Tensor(&n.r)),
                ("v_threshold", Field::Tensor(&n.v_threshold)),
                ("v_reset", Field::Tensor(&n.v_reset)),
            ],
            Node::Li(n) => vec![
                ("tau", Field::Tensor(&n.tau)),
                ("r", Field::Tensor(&n.r)),
                ("v_leak", Field::Tensor(&n.v_leak)),
            ],
            Node::Lif(n) => vec![
                ("tau", Field::Tensor(&n.tau)),
                ("r", Field::Tensor(&n.r)),
                ("v_leak", Field::Tensor(&n.v_leak)),
                ("v_threshold", Field::Tensor(&n.v_threshold)),
                ("v_reset", Field::Tensor(&n.v_reset)),
            ],
            Node::CubaLi(n) => vec![
                ("tau_mem", Field::Tensor(&n.tau_mem)),
                ("tau_syn", Field::Tensor(&n.tau_syn)),
                ("r", Field::Tensor(&n.r)),
                ("v_leak", Field::Tensor(&n.v_leak)),
                ("w_in", Field::Tensor(&n.w_in)),
            ],
            Node::CubaLif(n) => vec![
                ("tau_mem", Field::Tensor(&n.tau_mem)),
                ("tau_syn", Field::Tensor(&n.tau_syn)),
                ("r", Field::Tensor(&n.r)),
                ("v_leak", Field::Tensor(&n.v_leak)),
                ("v_threshold", Field::Tensor(&n.v_threshold)),
                ("v_reset", Field::Tensor(&n.v_reset)),
                ("w_in", Field::Tensor(&n.w_in)),
            ],
            Node::Graph(_) => vec![],
        }
    }
}

/// A NIR graph: named nodes and the edges between them (a `NIRGraph`).
///
/// Node names are HDF5 group names: non-empty, without `/`, not `.`.
/// Nodes are kept sorted by name (HDF5 lists a group's members that way).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NirGraph {
    /// The nodes, by name.
    pub nodes: BTreeMap<String, Node>,
    /// The edges, `(source, destination)`, in file order.
    pub edges: Vec<(String, String)>,
    /// Metadata.
    pub metadata: Metadata,
}

impl NirGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks what `nir` checks of a graph's structure, in this graph and
    /// every subgraph: each edge joins two nodes of the graph, no edge is
    /// listed twice, every node name can be stored in HDF5, and every
    /// convolution has its `input_shape` (which `nir.read` requires).
    ///
    /// (`nir`'s shape inference and type check are not done here.)
    pub fn validate(&self) -> Result<()> {
        self.validate_at("")
    }

    fn validate_at(&self, path: &str) -> Result<()> {
        let invalid = |reason: String| Error::InvalidGraph {
            node: path.to_string(),
            reason,
        };
        for (name, node) in &self.nodes {
            if !valid_name(name) {
                return Err(invalid(format!(
                    "node name {name:?} cannot be an HDF5 group name (empty, `.` or contains `/`)"
                )));
            }
            let conv_without_shape = match node {
                Node::Conv1d(c) => c.input_shape.is_none(),
                Node::Conv2d(c) => c.input_shape.is_none(),
                _ => false,
            };
            if conv_without_shape {
                // nir 1.0 cannot store `None`, and `nir.read` requires the field.
                return Err(Error::InvalidValue {
                    node: join(path, name),
                    field: "input_shape".into(),
                    reason:
                        "a convolution needs its input shape to be stored (nir.read requires it)"
                            .into(),
                });
            }
            if let Node::Graph(g) = node {
                g.validate_at(&join(path, name))?;
            }
        }
        self.check_edges(path)
    }

    /// The edge checks of [`validate`](Self::validate), for this graph only.
    pub(crate) fn check_edges(&self, path: &str) -> Result<()> {
        let mut seen = BTreeSet::new();
        for (src, dst) in &self.edges {
            for end in [src, dst] {
                if !self.nodes.contains_key(end) {
                    return Err(Error::InvalidGraph {
                        node: path.to_string(),
                        reason: format!(
                            "edge ({src:?}, {dst:?}) names node {end:?}, which is not in the graph"
                        ),
                    });
                }
            }
            if !seen.insert((src, dst)) {
                return Err(Error::InvalidGraph {
                    node: path.to_string(),
                    reason: format!("duplicate edge ({src:?}, {dst:?})"),
                });
            }
        }
        Ok(())
    }
}

/// Whether `name` can be an HDF5 link name.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && !name.contains('/') && !name.contains('\0')
}

/// The dotted path of node `name` in the graph at `path`.
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}
