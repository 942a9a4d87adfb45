//! NIR file → [`NirGraph`] (what `nir.read` does), on hdf5-pure.
//!
//! Every size is checked before anything is allocated for it: element
//! counts against [`MAX_ELEMENTS`], string payloads against
//! [`MAX_STRING_BYTES`], nodes per graph against [`MAX_NODES`], nesting
//! against [`MAX_DEPTH`].

use std::collections::BTreeSet;

use hdf5_pure::{DType, Dataset, Group, VlenStringReadOptions};

use crate::error::{Error, Result};
use crate::graph::{
    join, Affine, Conv1d, Conv2d, CubaLi, CubaLif, Delay, Flatten, If, Input, Integrator, Li, Lif,
    Linear, MetaValue, Metadata, NirGraph, Node, Output, Padding, Pool2d, Scale, Threshold,
};
use crate::tensor::{Tensor, TensorData};

/// The most values one array may hold (2^28: 1 GiB of float32).
pub const MAX_ELEMENTS: u64 = 1 << 28;
/// The most bytes of string data one string field may hold.
pub const MAX_STRING_BYTES: u64 = 1 << 24;
/// The most nodes one graph may hold.
pub const MAX_NODES: u64 = 1 << 20;
/// The deepest nesting of subgraphs (and of metadata groups).
pub const MAX_DEPTH: usize = 32;

/// An hdf5-pure error as ours.
fn h5(node: &str, what: &str, e: &hdf5_pure::Error) -> Error {
    Error::Hdf5 {
        node: node.to_string(),
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Reads the graph of a NIR file held in memory.
pub(crate) fn graph_from_bytes(bytes: Vec<u8>) -> Result<NirGraph> {
    let file = hdf5_pure::File::from_bytes(bytes).map_err(|e| h5("", "file", &e))?;
    let root = file.root();
    let groups = names(&root, "", "file", Group::groups)?;
    if !groups.contains("node") {
        return Err(Error::NotNir(
            "no `node` group (the graph `nir.write` stores)".into(),
        ));
    }
    let top = root.group("node").map_err(|e| h5("", "node", &e))?;
    let fields = Fields::new(&top, "")?;
    let ty = fields.text("type")?;
    if ty != "NIRGraph" {
        return Err(Error::NotNir(format!(
            "the root node is a `{ty}`, not a `NIRGraph`"
        )));
    }
    read_graph(&fields, 0)
}

/// The names of a group's member groups or datasets.
fn names(
    group: &Group,
    node: &str,
    what: &str,
    list: fn(&Group) -> std::result::Result<Vec<String>, hdf5_pure::Error>,
) -> Result<BTreeSet<String>> {
    Ok(list(group)
        .map_err(|e| h5(node, what, &e))?
        .into_iter()
        .collect())
}

/// The members of one node's group, with the node's dotted path for errors.
struct Fields<'a> {
    group: &'a Group,
    node: &'a str,
    datasets: BTreeSet<String>,
    groups: BTreeSet<String>,
}

impl<'a> Fields<'a> {
    fn new(group: &'a Group, node: &'a str) -> Result<Self> {
        Ok(Self {
            group,
            node,
            datasets: names(group, node, "list of datasets", Group::datasets)?,
            groups: names(group, node, "list of groups", Group::groups)?,
        })
    }

    fn has(&self, field: &str) -> bool {
        self.datasets.contains(field)
    }

    fn dataset(&self, field: &str) -> Result<Dataset> {
        if !self.has(field) {
            return Err(Error::MissingField {
                node: self.node.to_string(),
                field: field.to_string(),
            });
        }
        self.group
            .dataset(field)
            .map_err(|e| h5(self.node, field, &e))
    }

    fn err_h5(&self, field: &str) -> impl Fn(hdf5_pure::Error) -> Error + '_ {
        let field = field.to_string();
        move |e| h5(self.node, &field, &e)
    }

    fn wrong_dtype(&self, field: &str, expected: &'static str, found: &DType) -> Error {
        Error::WrongDtype {
            node: self.node.to_string(),
            field: field.to_string(),
            expected,
            found: format!("{found}"),
        }
    }

    fn wrong_shape(&self, field: &str, expected: &str, found: &[u64]) -> Error {
        Error::WrongShape {
            node: self.node.to_string(),
            field: field.to_string(),
            expected: expected.to_string(),
            found: found.to_vec(),
        }
    }

    /// The shape of a dataset and its element count, bounded.
    fn shape(&self, field: &str, ds: &Dataset) -> Result<(Vec<u64>, u64)> {
        let shape = ds.shape().map_err(self.err_h5(field))?;
        let count = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d))
            .unwrap_or(u64::MAX);
        if count > MAX_ELEMENTS {
            return Err(Error::TooLarge {
                node: self.node.to_string(),
                field: field.to_string(),
                size: count,
                unit: "elements",
                limit: MAX_ELEMENTS,
            });
        }
        Ok((shape, count))
    }

    /// A numeric array of any float or integer dtype.
    fn tensor(&self, field: &str) -> Result<Tensor> {
        let ds = self.dataset(field)?;
        self.tensor_of(field, &ds)
    }

    fn tensor_of(&self, field: &str, ds: &Dataset) -> Result<Tensor> {
        let (shape, count) = self.shape(field, ds)?;
        let dtype = ds.dtype().map_err(self.err_h5(field))?;
        let e = self.err_h5(field);
        let data = match dtype {
            DType::F32 => TensorData::F32(ds.read_f32().map_err(e)?),
            DType::F64 => TensorData::F64(ds.read_f64().map_err(e)?),
            DType::I8 | DType::I16 | DType::I32 | DType::I64 | DType::U8 | DType::U16 => {
                TensorData::I64(ds.read_i64().map_err(e)?)
            }
            DType::U32 => TensorData::I64(
                ds.read_u32()
                    .map_err(e)?
                    .into_iter()
                    .map(i64::from)
                    .collect(),
            ),
            DType::U64 => {
                let v = ds.read_u64().map_err(e)?;
                let v: std::result::Result<Vec<i64>, _> =
                    v.into_iter().map(i64::try_from).collect();
                TensorData::I64(v.map_err(|_| Error::InvalidValue {
                    node: self.node.to_string(),
                    field: field.to_string(),
                    reason: "uint64 value above the int64 range".into(),
                })?)
            }
            // h5py stores a Python bool as an enum of int8 (FALSE, TRUE).
            DType::Enum(ref members) if members.len() <= 2 => {
                TensorData::I64(ds.read_i64().map_err(e)?)
            }
            ref other => return Err(self.wrong_dtype(field, "a numeric array", other)),
        };
        if data.len() as u64 != count {
            return Err(Error::InvalidValue {
                node: self.node.to_string(),
                field: field.to_string(),
                reason: format!("{} values for shape {shape:?}", data.len()),
            });
        }
        // `count` ≤ MAX_ELEMENTS, so every dimension fits a usize.
        let shape = shape.iter().map(|&d| d as usize).collect();
        Tensor::new(shape, data)
    }

    /// An integer array (any integer dtype), values and shape.
    fn ints(&self, field: &str) -> Result<(Vec<u64>, Vec<i64>)> {
        let ds = self.dataset(field)?;
        let t = self.tensor_of(field, &ds)?;
        let shape = t.shape().iter().map(|&d| d as u64).collect();
        match t.data() {
            TensorData::I64(v) => Ok((shape, v.clone())),
            _ => Err(Error::WrongDtype {
                node: self.node.to_string(),
                field: field.to_string(),
                expected: "integers",
                found: t.dtype().to_string(),
            }),
        }
    }

    /// An integer scalar (shape `[]`, or `[1]`).
    fn int(&self, field: &str) -> Result<i64> {
        let (shape, v) = self.ints(field)?;
        match v[..] {
            [x] => Ok(x),
            _ => Err(self.wrong_shape(field, "a scalar", &shape)),
        }
    }

    /// A 1-D integer array.
    fn int_vec(&self, field: &str) -> Result<Vec<i64>> {
        let (shape, v) = self.ints(field)?;
        if shape.len() != 1 {
            return Err(self.wrong_shape(field, "a 1-D array", &shape));
        }
        Ok(v)
    }

    /// A pair (height, width): two integers, or one scalar for both.
    fn pair(&self, field: &str) -> Result<[i64; 2]> {
        let (shape, v) = self.ints(field)?;
        match (shape.len(), &v[..]) {
            (0 | 1, &[x]) => Ok([x, x]),
            (1, &[a, b]) => Ok([a, b]),
            _ => Err(self.wrong_shape(field, "2 integers or a scalar", &shape)),
        }
    }

    /// The strings of a string dataset (fixed- or variable-length), bounded.
    fn strings(&self, field: &str, ds: &Dataset) -> Result<(Vec<u64>, Vec<String>)> {
        let (shape, count) = self.shape(field, ds)?;
        let e = self.err_h5(field);
        let v = match ds.dtype().map_err(&e)? {
            DType::VariableLengthString => {
                let payload = ds.vlen_string_payload_size().map_err(&e)?;
                if payload > MAX_STRING_BYTES {
                    return Err(self.too_many_bytes(field, payload));
                }
                ds.read_vlen_strings(
                    VlenStringReadOptions::new()
                        .with_max_elements(usize::try_from(count).unwrap_or(usize::MAX))
                        .with_max_payload_bytes(MAX_STRING_BYTES as usize),
                )
                .map_err(&e)?
            }
            DType::String => {
                let bytes = ds.element_size().map_err(&e)?.saturating_mul(count);
                if bytes > MAX_STRING_BYTES {
                    return Err(self.too_many_bytes(field, bytes));
                }
                ds.read_string().map_err(&e)?
            }
            ref other => return Err(self.wrong_dtype(field, "a string", other)),
        };
        Ok((shape, v))
    }

    fn too_many_bytes(&self, field: &str, size: u64) -> Error {
        Error::TooLarge {
            node: self.node.to_string(),
            field: field.to_string(),
            size,
            unit: "bytes",
            limit: MAX_STRING_BYTES,
        }
    }

    /// A string scalar (shape `[]` or `[1]`).
    fn text(&self, field: &str) -> Result<String> {
        let ds = self.dataset(field)?;
        let (shape, v) = self.strings(field, &ds)?;
        match <[String; 1]>::try_from(v) {
            Ok([s]) => Ok(s),
            Err(_) => Err(self.wrong_shape(field, "a single string", &shape)),
        }
    }

    /// A field that is a string in some files and numbers in others.
    fn is_string(&self, field: &str) -> Result<bool> {
        let ds = self.dataset(field)?;
        Ok(matches!(
            ds.dtype().map_err(self.err_h5(field))?,
            DType::String | DType::VariableLengthString
        ))
    }

    /// A padding: `"same"`, `"valid"` or integers read by `explicit`.
    fn padding<T>(&self, explicit: impl Fn(&Self) -> Result<T>) -> Result<Padding<T>> {
        if !self.is_string("padding")? {
            return explicit(self).map(Padding::Explicit);
        }
        match self.text("padding")?.as_str() {
            "same" => Ok(Padding::Same),
            "valid" => Ok(Padding::Valid),
            other => Err(Error::InvalidValue {
                node: self.node.to_string(),
                field: "padding".into(),
                reason: format!("padding {other:?} is neither \"same\" nor \"valid\""),
            }),
        }
    }

    /// The node's `metadata` group, empty when absent.
    fn metadata(&self, depth: usize) -> Result<Metadata> {
        if !self.groups.contains("metadata") {
            return Ok(Metadata::new());
        }
        let group = self
            .group
            .group("metadata")
            .map_err(self.err_h5("metadata"))?;
        read_metadata(&group, self.node, "metadata", depth)
    }

    /// A numeric tensor, or `fill` like `like` when the field is absent.
    fn tensor_or(&self, field: &str, like: &Tensor, fill: f64) -> Result<Tensor> {
        if self.has(field) {
            self.tensor(field)
        } else {
            Ok(like.filled_like(fill))
        }
    }
}

fn read_metadata(group: &Group, node: &str, path: &str, depth: usize) -> Result<Metadata> {
    if depth > MAX_DEPTH {
        return Err(too_deep(node));
    }
    let f = Fields::new(group, node)?;
    let mut out = Metadata::new();
    for key in &f.datasets {
        let field = format!("{path}/{key}");
        let ds = f.dataset(key)?;
        let dtype = ds.dtype().map_err(f.err_h5(&field))?;
        let value = match dtype {
            DType::String | DType::VariableLengthString => {
                let (shape, v) = f.strings(&field, &ds)?;
                match <[String; 1]>::try_from(v) {
                    Ok([s]) => MetaValue::Text(s),
                    Err(_) => return Err(f.wrong_shape(&field, "a single string", &shape)),
                }
            }
            _ => MetaValue::Array(f.tensor_of(&field, &ds)?),
        };
        out.insert(key.clone(), value);
    }
    for key in &f.groups {
        let field = format!("{path}/{key}");
        let sub = group.group(key).map_err(f.err_h5(&field))?;
        out.insert(
            key.clone(),
            MetaValue::Group(read_metadata(&sub, node, &field, depth + 1)?),
        );
    }
    Ok(out)
}

fn too_deep(node: &str) -> Error {
    Error::TooLarge {
        node: node.to_string(),
        field: "nodes".into(),
        size: MAX_DEPTH as u64 + 1,
        unit: "levels of nesting",
        limit: MAX_DEPTH as u64,
    }
}

/// A `NIRGraph` node's group (its `type` already checked).
fn read_graph(f: &Fields, depth: usize) -> Result<NirGraph> {
    if depth > MAX_DEPTH {
        return Err(too_deep(f.node));
    }
    if !f.groups.contains("nodes") {
        return Err(Error::MissingField {
            node: f.node.to_string(),
            field: "nodes".into(),
        });
    }
    let nodes_group = f.group.group("nodes").map_err(f.err_h5("nodes"))?;
    let names = names(&nodes_group, f.node, "nodes", Group::groups)?;
    if names.len() as u64 > MAX_NODES {
        return Err(Error::TooLarge {
            node: f.node.to_string(),
            field: "nodes".into(),
            size: names.len() as u64,
            unit: "nodes",
            limit: MAX_NODES,
        });
    }
    let mut graph = NirGraph {
        metadata: f.metadata(0)?,
        ..NirGraph::default()
    };
    for name in names {
        let path = join(f.node, &name);
        let group = nodes_group
            .group(&name)
            .map_err(|e| h5(&path, "group", &e))?;
        let node = read_node(&Fields::new(&group, &path)?, depth)?;
        graph.nodes.insert(name, node);
    }
    graph.edges = read_edges(f)?;
    // Edges to missing nodes and duplicates are errors, as in `nir`
    // (subgraphs were checked as they were read).
    graph.check_edges(f.node)?;
    Ok(graph)
}

/// The `edges` of a graph: an `[n, 2]` array of strings (h5py writes an
/// empty list as a float64 array of shape `[0]`).
fn read_edges(f: &Fields) -> Result<Vec<(String, String)>> {
    let ds = f.dataset("edges")?;
    let (shape, count) = f.shape("edges", &ds)?;
    if count == 0 {
        return Ok(Vec::new());
    }
    if shape.len() != 2 || shape[1] != 2 {
        return Err(f.wrong_shape("edges", "[n, 2] (source, destination)", &shape));
    }
    let (_, v) = f.strings("edges", &ds)?;
    let mut it = v.into_iter();
    let mut edges = Vec::with_capacity((count / 2) as usize);
    while let (Some(src), Some(dst)) = (it.next(), it.next()) {
        edges.push((src, dst));
    }
    Ok(edges)
}

/// One node's group.
fn read_node(f: &Fields, depth: usize) -> Result<Node> {
    let ty = f.text("type")?;
    let metadata = f.metadata(0)?;
    let t = |field: &str| f.tensor(field);
    Ok(match ty.as_str() {
        "NIRGraph" => Node::Graph(read_graph(f, depth + 1)?),
        "Input" => Node::Input(Input {
            shape: f.int_vec("shape")?,
            metadata,
        }),
        "Output" => Node::Output(Output {
            shape: f.int_vec("shape")?,
            metadata,
        }),
        "Affine" => Node::Affine(Affine {
            weight: t("weight")?,
            bias: t("bias")?,
            metadata,
        }),
        "Linear" => Node::Linear(Linear {
            weight: t("weight")?,
            metadata,
        }),
        "Scale" => Node::Scale(Scale {
            scale: t("scale")?,
            metadata,
        }),
        "Conv1d" => Node::Conv1d(Conv1d {
            input_shape: if f.has("input_shape") {
                Some(f.int("input_shape")?)
            } else {
                None
            },
            weight: t("weight")?,
            stride: f.int("stride")?,
            padding: f.padding(|f| f.int("padding"))?,
            dilation: f.int("dilation")?,
            groups: f.int("groups")?,
            bias: t("bias")?,
            metadata,
        }),
        "Conv2d" => Node::Conv2d(Conv2d {
            input_shape: if f.has("input_shape") {
                Some(f.pair("input_shape")?)
            } else {
                None
            },
            weight: t("weight")?,
            stride: f.pair("stride")?,
            padding: f.padding(|f| f.pair("padding"))?,
            dilation: f.pair("dilation")?,
            groups: f.int("groups")?,
            bias: t("bias")?,
            metadata,
        }),
        "SumPool2d" | "AvgPool2d" => {
            let pool = Pool2d {
                kernel_size: f.pair("kernel_size")?,
                stride: f.pair("stride")?,
                padding: f.pair("padding")?,
                metadata,
            };
            if ty == "SumPool2d" {
                Node::SumPool2d(pool)
            } else {
                Node::AvgPool2d(pool)
            }
        }
        "Flatten" => Node::Flatten(Flatten {
            input_type: if f.has("input_type") {
                Some(f.int_vec("input_type")?)
            } else {
                None
            },
            start_dim: f.int("start_dim")?,
            end_dim: f.int("end_dim")?,
            metadata,
        }),
        "Delay" => Node::Delay(Delay {
            delay: t("delay")?,
            metadata,
        }),
        "Threshold" => Node::Threshold(Threshold {
            threshold: t("threshold")?,
            metadata,
        }),
        "I" => Node::I(Integrator {
            r: t("r")?,
            metadata,
        }),
        "IF" => {
            let v_threshold = t("v_threshold")?;
            Node::If(If {
                r: t("r")?,
                v_reset: f.tensor_or("v_reset", &v_threshold, 0.0)?,
                v_threshold,
                metadata,
            })
        }
        "LI" => Node::Li(Li {
            tau: t("tau")?,
            r: t("r")?,
            v_leak: t("v_leak")?,
            metadata,
        }),
        "LIF" => {
            let v_threshold = t("v_threshold")?;
            Node::Lif(Lif {
                tau: t("tau")?,
                r: t("r")?,
                v_leak: t("v_leak")?,
                v_reset: f.tensor_or("v_reset", &v_threshold, 0.0)?,
                v_threshold,
                metadata,
            })
        }
        "CubaLI" => {
            let v_leak = t("v_leak")?;
            Node::CubaLi(CubaLi {
                tau_mem: t("tau_mem")?,
                tau_syn: t("tau_syn")?,
                r: t("r")?,
                w_in: f.tensor_or("w_in", &v_leak, 1.0)?,
                v_leak,
                metadata,
            })
        }
        "CubaLIF" => {
            let v_threshold = t("v_threshold")?;
            Node::CubaLif(CubaLif {
                tau_mem: t("tau_mem")?,
                tau_syn: t("tau_syn")?,
                r: t("r")?,
                v_leak: t("v_leak")?,
                v_reset: f.tensor_or("v_reset", &v_threshold, 0.0)?,
                w_in: f.tensor_or("w_in", &v_threshold, 1.0)?,
                v_threshold,
                metadata,
            })
        }
        _ => {
            return Err(Error::UnknownNodeType {
                node: f.node.to_string(),
                ty,
            })
        }
    })
}
