//! [`NirGraph`] → NIR file (what `nir.write` does), on hdf5-pure.
//!
//! The layout is `nir.write`'s: a `version` string, and the root graph as the
//! group `node` holding `type`, `nodes/<name>/…`, `edges` and, when not empty,
//! `metadata`. Strings are variable-length UTF-8 (h5py's `string_dtype()`),
//! integers int64, arrays in their tensor's dtype. Arrays are stored
//! contiguous and uncompressed (`nir.write` gzips them by default; readers
//! see no difference).

use hdf5_pure::{DatasetBuilder, FileBuilder, GroupBuilder};

use crate::error::{Error, Result};
use crate::graph::{join, Field, MetaValue, Metadata, NirGraph, Node};
use crate::tensor::{Tensor, TensorData};

/// The `nir` package version written in the file's `version` string: the
/// release whose format this crate follows.
pub const NIR_VERSION: &str = "1.0.8";

/// Serialises a graph to the bytes of a NIR file.
pub(crate) fn graph_to_bytes(graph: &NirGraph) -> Result<Vec<u8>> {
    graph.validate()?;
    let mut b = FileBuilder::new();
    b.create_dataset("version")
        .with_vlen_strings(&[NIR_VERSION])
        .with_shape(&[]);
    let mut root = b.create_group("node");
    write_graph(&mut root, graph, "");
    b.add_group(root.finish());
    b.finish().map_err(|e| Error::Hdf5 {
        node: String::new(),
        what: "file".into(),
        message: e.to_string(),
    })
}

fn write_graph(g: &mut GroupBuilder, graph: &NirGraph, path: &str) {
    text(g.create_dataset("type"), "NIRGraph");
    let mut nodes = g.create_group("nodes");
    for (name, node) in &graph.nodes {
        let mut n = nodes.create_group(name);
        write_node(&mut n, node, &join(path, name));
        nodes.add_group(n.finish());
    }
    g.add_group(nodes.finish());
    let ends: Vec<&str> = graph
        .edges
        .iter()
        .flat_map(|(a, b)| [a.as_str(), b.as_str()])
        .collect();
    if ends.is_empty() {
        // What h5py makes of an empty list (`nir.read` iterates over nothing).
        g.create_dataset("edges")
            .with_f64_data(&[])
            .with_shape(&[0]);
    } else {
        g.create_dataset("edges")
            .with_vlen_strings(&ends)
            .with_shape(&[graph.edges.len() as u64, 2]);
    }
    write_metadata(g, &graph.metadata);
}

fn write_node(g: &mut GroupBuilder, node: &Node, path: &str) {
    if let Node::Graph(sub) = node {
        write_graph(g, sub, path);
        return;
    }
    text(g.create_dataset("type"), node.type_name());
    for (name, field) in node.fields() {
        let ds = g.create_dataset(name);
        match field {
            Field::Tensor(t) => tensor(ds, t),
            Field::Int(x) => {
                ds.with_i64_data(&[x]).with_shape(&[]);
            }
            Field::Ints(v) => {
                ds.with_i64_data(&v).with_shape(&[v.len() as u64]);
            }
            Field::Text(s) => text(ds, s),
        }
    }
    write_metadata(g, node.metadata());
}

fn write_metadata(g: &mut GroupBuilder, metadata: &Metadata) {
    if metadata.is_empty() {
        return;
    }
    let mut m = g.create_group("metadata");
    write_meta_values(&mut m, metadata);
    g.add_group(m.finish());
}

fn write_meta_values(g: &mut GroupBuilder, metadata: &Metadata) {
    for (key, value) in metadata {
        match value {
            MetaValue::Text(s) => text(g.create_dataset(key), s),
            MetaValue::Array(t) => tensor(g.create_dataset(key), t),
            MetaValue::Group(sub) => {
                let mut s = g.create_group(key);
                write_meta_values(&mut s, sub);
                g.add_group(s.finish());
            }
        }
    }
}

/// A scalar variable-length UTF-8 string, as h5py's `string_dtype()`.
fn text(ds: &mut DatasetBuilder, s: &str) {
    ds.with_vlen_strings(&[s]).with_shape(&[]);
}

fn tensor(ds: &mut DatasetBuilder, t: &Tensor) {
    match t.data() {
        TensorData::F32(v) => ds.with_f32_data(v),
        TensorData::F64(v) => ds.with_f64_data(v),
        TensorData::I64(v) => ds.with_i64_data(v),
    };
    let shape: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    ds.with_shape(&shape);
}
