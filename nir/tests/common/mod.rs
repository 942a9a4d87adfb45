//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{json, Map, Value};
use slayer_nir::{
    Affine, Conv1d, Conv2d, CubaLi, CubaLif, Delay, Field, Flatten, If, Input, Integrator, Li, Lif,
    Linear, MetaValue, Metadata, NirGraph, Node, Output, Padding, Pool2d, Scale, Tensor,
    TensorData, Threshold,
};

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slayer-nir-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The dump format of `scripts/nir_roundtrip.py` for a tensor.
pub fn tensor_json(t: &Tensor) -> Value {
    let mut m = Map::new();
    m.insert("dtype".into(), json!(t.dtype()));
    m.insert("shape".into(), json!(t.shape()));
    match t.data() {
        TensorData::F32(v) => m.insert(
            "bits".into(),
            json!(v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
        ),
        TensorData::F64(v) => m.insert(
            "bits".into(),
            json!(v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()),
        ),
        TensorData::I64(v) => m.insert("data".into(), json!(v)),
    };
    Value::Object(m)
}

fn ints_json(v: &[i64], shape: &[usize]) -> Value {
    json!({"dtype": "int64", "shape": shape, "data": v})
}

fn metadata_json(m: &Metadata) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| {
                let v = match v {
                    MetaValue::Text(s) => json!({ "str": s }),
                    MetaValue::Array(t) => tensor_json(t),
                    MetaValue::Group(g) => json!({ "group": metadata_json(g) }),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

/// The dump format of `scripts/nir_roundtrip.py` for a node.
pub fn node_json(node: &Node) -> Value {
    if let Node::Graph(g) = node {
        return graph_json(g);
    }
    let fields: Map<String, Value> = node
        .fields()
        .into_iter()
        .map(|(name, f)| {
            let v = match f {
                Field::Tensor(t) => tensor_json(t),
                Field::Int(x) => ints_json(&[x], &[]),
                Field::Ints(v) => ints_json(&v, &[v.len()]),
                Field::Text(s) => json!({ "str": s }),
            };
            (name.to_string(), v)
        })
        .collect();
    json!({"type": node.type_name(), "fields": fields, "metadata": metadata_json(node.metadata())})
}

/// The dump format of `scripts/nir_roundtrip.py` for a graph.
pub fn graph_json(g: &NirGraph) -> Value {
    let nodes: Map<String, Value> = g
        .nodes
        .iter()
        .map(|(k, n)| (k.clone(), node_json(n)))
        .collect();
    let edges: Vec<Value> = g.edges.iter().map(|(a, b)| json!([a, b])).collect();
    json!({"type": "NIRGraph", "nodes": nodes, "edges": edges, "metadata": metadata_json(&g.metadata)})
}

/// A small deterministic generator (xorshift) for test arrays.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
    pub fn f32(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::f32(shape.to_vec(), (0..n).map(|_| self.unit() as f32).collect()).unwrap()
    }
    pub fn f64(&mut self, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::f64(shape.to_vec(), (0..n).map(|_| self.unit()).collect()).unwrap()
    }
}

/// A graph with every node type and field form, built in Rust.
pub fn every_node_graph(seed: u64) -> NirGraph {
    let mut r = Rng::new(seed);
    let mut g = NirGraph::new();
    let mut add = |name: &str, node: Node| {
        g.nodes.insert(name.to_string(), node);
    };
    let meta: Metadata = [
        ("text".to_string(), MetaValue::Text("snn ✓".into())),
        (
            "dt".to_string(),
            MetaValue::Array(Tensor::f64(vec![], vec![1e-3]).unwrap()),
        ),
        (
            "nested".to_string(),
            MetaValue::Group(
                [(
                    "k".to_string(),
                    MetaValue::Array(Tensor::i64(vec![2], vec![4, -5]).unwrap()),
                )]
                .into(),
            ),
        ),
    ]
    .into();
    add(
        "input",
        Node::Input(Input {
            shape: vec![3],
            metadata: meta.clone(),
        }),
    );
    add(
        "output",
        Node::Output(Output {
            shape: vec![2],
            metadata: Metadata::new(),
        }),
    );
    add(
        "affine",
        Node::Affine(Affine {
            weight: r.f32(&[4, 3]),
            bias: r.f32(&[4]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "linear",
        Node::Linear(Linear {
            weight: r.f64(&[2, 4]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "int_linear",
        Node::Linear(Linear {
            weight: Tensor::i64(vec![2, 2], vec![1, -2, 3, i64::MIN]).unwrap(),
            metadata: Metadata::new(),
        }),
    );
    add(
        "scale",
        Node::Scale(Scale {
            scale: r.f32(&[5]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "conv1d",
        Node::Conv1d(Conv1d {
            input_shape: Some(10),
            weight: r.f32(&[2, 1, 3]),
            stride: 1,
            padding: Padding::Same,
            dilation: 1,
            groups: 1,
            bias: r.f32(&[2]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "conv2d",
        Node::Conv2d(Conv2d {
            input_shape: Some([8, 6]),
            weight: r.f32(&[4, 2, 3, 3]),
            stride: [2, 1],
            padding: Padding::Explicit([1, 0]),
            dilation: [1, 2],
            groups: 1,
            bias: r.f32(&[4]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "conv2d_valid",
        Node::Conv2d(Conv2d {
            input_shape: Some([5, 5]),
            weight: r.f64(&[2, 2, 1, 1]),
            stride: [1, 1],
            padding: Padding::Valid,
            dilation: [1, 1],
            groups: 2,
            bias: r.f64(&[2]),
            metadata: meta.clone(),
        }),
    );
    add(
        "sumpool",
        Node::SumPool2d(Pool2d {
            kernel_size: [2, 2],
            stride: [2, 2],
            padding: [0, 0],
            metadata: Metadata::new(),
        }),
    );
    add(
        "avgpool",
        Node::AvgPool2d(Pool2d {
            kernel_size: [3, 1],
            stride: [1, 1],
            padding: [1, 0],
            metadata: Metadata::new(),
        }),
    );
    add(
        "flatten",
        Node::Flatten(Flatten {
            input_type: Some(vec![4, 4, 3]),
            start_dim: 0,
            end_dim: -1,
            metadata: Metadata::new(),
        }),
    );
    add(
        "flatten_untyped",
        Node::Flatten(Flatten {
            input_type: None,
            start_dim: 1,
            end_dim: 2,
            metadata: Metadata::new(),
        }),
    );
    add(
        "delay",
        Node::Delay(Delay {
            delay: r.f32(&[3]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "threshold",
        Node::Threshold(Threshold {
            threshold: r.f32(&[2, 2]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "i",
        Node::I(Integrator {
            r: r.f64(&[3]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "if",
        Node::If(If {
            r: r.f32(&[3]),
            v_threshold: r.f32(&[3]),
            v_reset: r.f32(&[3]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "li",
        Node::Li(Li {
            tau: r.f32(&[3]),
            r: r.f32(&[3]),
            v_leak: r.f32(&[3]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "lif",
        Node::Lif(Lif {
            tau: r.f32(&[4]),
            r: r.f32(&[4]),
            v_leak: r.f32(&[4]),
            v_threshold: r.f32(&[4]),
            v_reset: r.f32(&[4]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "cubali",
        Node::CubaLi(CubaLi {
            tau_mem: r.f64(&[2]),
            tau_syn: r.f64(&[2]),
            r: r.f64(&[2]),
            v_leak: r.f64(&[2]),
            w_in: r.f64(&[2]),
            metadata: Metadata::new(),
        }),
    );
    add(
        "cubalif",
        Node::CubaLif(CubaLif {
            tau_mem: r.f32(&[2]),
            tau_syn: r.f32(&[2]),
            r: r.f32(&[2]),
            v_leak: r.f32(&[2]),
            v_threshold: r.f32(&[2]),
            v_reset: r.f32(&[2]),
            w_in: r.f32(&[2]),
            metadata: Metadata::new(),
        }),
    );
    let mut sub = NirGraph::new();
    sub.nodes.insert(
        "in".into(),
        Node::Input(Input {
            shape: vec![2],
            metadata: Metadata::new(),
        }),
    );
    sub.nodes.insert(
        "scale".into(),
        Node::Scale(Scale {
            scale: r.f32(&[2]),
            metadata: Metadata::new(),
        }),
    );
    sub.nodes.insert(
        "out".into(),
        Node::Output(Output {
            shape: vec![2],
            metadata: Metadata::new(),
        }),
    );
    sub.edges = vec![
        ("in".into(), "scale".into()),
        ("scale".into(), "out".into()),
    ];
    sub.metadata = meta;
    add("sub", Node::Graph(sub));
    g.edges = [
        ("input", "affine"),
        ("affine", "lif"),
        ("lif", "linear"),
        ("linear", "sub"),
        ("sub", "output"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    g
}
