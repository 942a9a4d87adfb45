//! Rust → Rust round trips, and malformed files: every bad input is an
//! `Err` naming the node, never a panic.

mod common;

use hdf5_pure::{FileBuilder, GroupBuilder};
use slayer_nir::{
    from_bytes, read, to_bytes, write, Error, Input, MetaValue, NirGraph, Node, Output, Tensor,
    TensorData,
};

#[test]
fn every_node_type_round_trips_in_memory_and_on_disk() {
    let g = common::every_node_graph(1);
    let bytes = to_bytes(&g).unwrap();
    assert_eq!(from_bytes(bytes.clone()).unwrap(), g);
    let dir = common::scratch("rr");
    let path = dir.join("g.nir");
    write(&path, &g).unwrap();
    assert_eq!(read(&path).unwrap(), g);
    // Deterministic bytes: the same graph gives the same file.
    assert_eq!(to_bytes(&g).unwrap(), bytes);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_graph_and_empty_tensors_round_trip() {
    let g = NirGraph::new();
    assert_eq!(from_bytes(to_bytes(&g).unwrap()).unwrap(), g);
    let mut g = NirGraph::new();
    g.nodes.insert(
        "scale".into(),
        Node::Scale(slayer_nir::Scale {
            scale: Tensor::f32(vec![0, 3], vec![]).unwrap(),
            metadata: Default::default(),
        }),
    );
    g.nodes.insert(
        "scalar".into(),
        Node::Scale(slayer_nir::Scale {
            scale: Tensor::f64(vec![], vec![2.5]).unwrap(),
            metadata: Default::default(),
        }),
    );
    assert_eq!(from_bytes(to_bytes(&g).unwrap()).unwrap(), g);
}

#[test]
fn invalid_graphs_are_refused_before_writing() {
    let input = || {
        Node::Input(Input {
            shape: vec![1],
            ..Default::default()
        })
    };
    let mut g = NirGraph::new();
    g.nodes.insert("a/b".into(), input());
    assert!(matches!(to_bytes(&g), Err(Error::InvalidGraph { .. })));

    let mut g = NirGraph::new();
    g.nodes.insert("in".into(), input());
    g.edges.push(("in".into(), "nowhere".into()));
    let e = to_bytes(&g).unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");

    let mut g = NirGraph::new();
    g.nodes.insert("in".into(), input());
    g.nodes.insert(
        "out".into(),
        Node::Output(Output {
            shape: vec![1],
            ..Default::default()
        }),
    );
    g.edges = vec![("in".into(), "out".into()), ("in".into(), "out".into())];
    let e = to_bytes(&g).unwrap_err();
    assert!(e.to_string().contains("duplicate edge"), "{e}");

    // A convolution without its input shape: nir.read would refuse the file.
    let mut g = common::every_node_graph(4);
    let Some(Node::Conv2d(c)) = g.nodes.get_mut("conv2d") else {
        panic!()
    };
    c.input_shape = None;
    let e = to_bytes(&g).unwrap_err();
    assert!(
        matches!(&e, Error::InvalidValue { node, field, .. } if node == "conv2d" && field == "input_shape"),
        "{e}"
    );

    // In a subgraph, the error names the subgraph.
    let mut sub = NirGraph::new();
    sub.edges.push(("x".into(), "y".into()));
    let mut g = NirGraph::new();
    g.nodes.insert("sub".into(), Node::Graph(sub));
    let e = to_bytes(&g).unwrap_err();
    assert!(e.to_string().starts_with("node `sub`"), "{e}");
}

#[test]
fn truncated_files_are_errors() {
    let bytes = to_bytes(&common::every_node_graph(2)).unwrap();
    let mut cuts: Vec<usize> = (0..bytes.len()).step_by(41).collect();
    cuts.extend([1, 7, 8, 9, 95, 96, 97, bytes.len() - 1]);
    for cut in cuts {
        assert!(
            from_bytes(bytes[..cut].to_vec()).is_err(),
            "cut at {cut} of {}",
            bytes.len()
        );
    }
}

#[test]
fn corrupted_files_never_panic() {
    // Every byte of a small file, each set to three values in turn: the read
    // may succeed (a byte of a weight) or fail, but must return.
    let mut g = NirGraph::new();
    g.nodes.insert(
        "in".into(),
        Node::Input(Input {
            shape: vec![2],
            ..Default::default()
        }),
    );
    g.nodes.insert(
        "lif".into(),
        Node::Lif(slayer_nir::Lif {
            tau: Tensor::from_f32(vec![0.5; 2]),
            r: Tensor::from_f32(vec![1.0; 2]),
            v_leak: Tensor::from_f32(vec![0.0; 2]),
            v_threshold: Tensor::from_f32(vec![1.0; 2]),
            v_reset: Tensor::from_f32(vec![0.0; 2]),
            metadata: Default::default(),
        }),
    );
    g.edges.push(("in".into(), "lif".into()));
    let bytes = to_bytes(&g).unwrap();
    let (mut ok, mut err) = (0, 0);
    for i in 0..bytes.len() {
        for v in [0x00, 0xff, bytes[i] ^ 0x10] {
            let mut b = bytes.clone();
            b[i] = v;
            match from_bytes(b) {
                Ok(_) => ok += 1,
                Err(_) => err += 1,
            }
        }
    }
    assert!(err > 0 && ok > 0, "{ok} read, {err} refused");
}

#[test]
fn not_hdf5_is_an_error() {
    assert!(matches!(from_bytes(Vec::new()), Err(Error::Hdf5 { .. })));
    assert!(matches!(
        from_bytes(b"NIR? no, a text file\n".to_vec()),
        Err(Error::Hdf5 { .. })
    ));
    let e = read("/nonexistent/graph.nir").unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
}

/// A file with the layout of `nir.write` around one node group that `fill`
/// builds (the node is called `n`).
fn file_with_node(fill: impl FnOnce(&mut GroupBuilder)) -> Vec<u8> {
    file_with_graph(
        |nodes| {
            let mut n = nodes.create_group("n");
            fill(&mut n);
            nodes.add_group(n.finish());
        },
        &[],
    )
}

fn file_with_graph(fill: impl FnOnce(&mut GroupBuilder), edges: &[&str]) -> Vec<u8> {
    let mut b = FileBuilder::new();
    b.create_dataset("version")
        .with_vlen_strings(&["1.0.8"])
        .with_shape(&[]);
    let mut node = b.create_group("node");
    node.create_dataset("type")
        .with_vlen_strings(&["NIRGraph"])
        .with_shape(&[]);
    let mut nodes = node.create_group("nodes");
    fill(&mut nodes);
    node.add_group(nodes.finish());
    if edges.is_empty() {
        node.create_dataset("edges")
            .with_f64_data(&[])
            .with_shape(&[0]);
    } else {
        node.create_dataset("edges")
            .with_vlen_strings(edges)
            .with_shape(&[edges.len() as u64 / 2, 2]);
    }
    b.add_group(node.finish());
    b.finish().unwrap()
}

fn string(g: &mut GroupBuilder, name: &str, s: &str) {
    g.create_dataset(name)
        .with_vlen_strings(&[s])
        .with_shape(&[]);
}

#[test]
fn unknown_node_type_names_the_node() {
    let bytes = file_with_node(|n| string(n, "type", "Spiky"));
    let e = from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&e, Error::UnknownNodeType { node, ty } if node == "n" && ty == "Spiky"),
        "{e}"
    );
    assert_eq!(e.to_string(), "node `n`: unknown NIR node type `Spiky`");
}

#[test]
fn missing_weight_names_node_and_field() {
    let bytes = file_with_node(|n| {
        string(n, "type", "Affine");
        n.create_dataset("bias").with_f32_data(&[1.0, 2.0]);
    });
    let e = from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&e, Error::MissingField { node, field } if node == "n" && field == "weight"),
        "{e}"
    );
    assert_eq!(e.to_string(), "node `n`: missing field `weight`");
}

#[test]
fn missing_type_is_a_missing_field() {
    let bytes = file_with_node(|n| {
        n.create_dataset("weight").with_f32_data(&[1.0]);
    });
    let e = from_bytes(bytes).unwrap_err();
    assert!(
        matches!(&e, Error::MissingField { field, .. } if field == "type"),
        "{e}"
    );
}

#[test]
fn wrong_dtypes_and_shapes_are_errors() {
    // A string where an array belongs.
    let e = from_bytes(file_with_node(|n| {
        string(n, "type", "Linear");
        string(n, "weight", "heavy");
    }))
    .unwrap_err();
    assert!(
        matches!(&e, Error::WrongDtype { field, .. } if field == "weight"),
        "{e}"
    );
    // Floats where integers belong.
    let e = from_bytes(file_with_node(|n| {
        string(n, "type", "SumPool2d");
        n.create_dataset("kernel_size").with_f32_data(&[2.0, 2.0]);
        n.create_dataset("stride").with_i64_data(&[2, 2]);
        n.create_dataset("padding").with_i64_data(&[0, 0]);
    }))
    .unwrap_err();
    assert!(
        matches!(&e, Error::WrongDtype { field, .. } if field == "kernel_size"),
        "{e}"
    );
    // Three numbers for a (height, width) pair.
    let e = from_bytes(file_with_node(|n| {
        string(n, "type", "SumPool2d");
        n.create_dataset("kernel_size").with_i64_data(&[2, 2]);
        n.create_dataset("stride").with_i64_data(&[2, 2, 2]);
        n.create_dataset("padding").with_i64_data(&[0, 0]);
    }))
    .unwrap_err();
    assert!(
        matches!(&e, Error::WrongShape { field, found, .. } if field == "stride" && found == &[3]),
        "{e}"
    );
    // A type that is not one string.
    let e = from_bytes(file_with_node(|n| {
        n.create_dataset("type").with_vlen_strings(&["LIF", "LI"]);
    }))
    .unwrap_err();
    assert!(
        matches!(&e, Error::WrongShape { field, .. } if field == "type"),
        "{e}"
    );
    // A padding string torch does not know.
    let e = from_bytes(file_with_node(|n| {
        string(n, "type", "Conv2d");
        n.create_dataset("weight")
            .with_f32_data(&[1.0])
            .with_shape(&[1, 1, 1, 1]);
        n.create_dataset("bias").with_f32_data(&[0.0]);
        n.create_dataset("stride").with_i64_data(&[1, 1]);
        string(n, "padding", "full");
        n.create_dataset("dilation").with_i64_data(&[1, 1]);
        n.create_dataset("groups")
            .with_i64_data(&[1])
            .with_shape(&[]);
    }))
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidValue { field, .. } if field == "padding"),
        "{e}"
    );
}

#[test]
fn defaults_as_nir_reads_them() {
    // LIF without v_reset: zeros like v_threshold; CubaLIF without w_in: ones.
    let g = from_bytes(file_with_node(|n| {
        string(n, "type", "CubaLIF");
        for f in ["tau_mem", "tau_syn", "r", "v_leak"] {
            n.create_dataset(f).with_f64_data(&[1.0, 2.0]);
        }
        n.create_dataset("v_threshold").with_f64_data(&[3.0, 4.0]);
    }))
    .unwrap();
    let Node::CubaLif(c) = &g.nodes["n"] else {
        panic!("{g:?}")
    };
    assert_eq!(c.v_reset.data(), &TensorData::F64(vec![0.0, 0.0]));
    assert_eq!(c.w_in.data(), &TensorData::F64(vec![1.0, 1.0]));
    // A scalar stride reads as a pair, narrower integers as int64.
    let g = from_bytes(file_with_node(|n| {
        string(n, "type", "SumPool2d");
        n.create_dataset("kernel_size")
            .with_i32_data(&[3])
            .with_shape(&[]);
        n.create_dataset("stride").with_i32_data(&[2, 1]);
        n.create_dataset("padding").with_u8_data(&[0, 1]);
    }))
    .unwrap();
    let Node::SumPool2d(p) = &g.nodes["n"] else {
        panic!("{g:?}")
    };
    assert_eq!(
        (p.kernel_size, p.stride, p.padding),
        ([3, 3], [2, 1], [0, 1])
    );
}

#[test]
fn broken_edges_are_errors() {
    let e = from_bytes(file_with_graph(
        |nodes| {
            let mut n = nodes.create_group("a");
            string(&mut n, "type", "Input");
            n.create_dataset("shape").with_i64_data(&[1]);
            nodes.add_group(n.finish());
        },
        &["a", "b"],
    ))
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidGraph { node, .. } if node.is_empty()),
        "{e}"
    );
    assert!(e.to_string().contains("\"b\""), "{e}");
}

#[test]
fn files_without_nir_layout_are_not_nir() {
    let mut b = FileBuilder::new();
    b.create_dataset("data").with_f64_data(&[1.0]);
    let e = from_bytes(b.finish().unwrap()).unwrap_err();
    assert!(matches!(e, Error::NotNir(_)), "{e}");
    // `nir.write` of a lone node: readable by `nir.read`, but not a graph.
    let mut b = FileBuilder::new();
    let mut node = b.create_group("node");
    string(&mut node, "type", "Threshold");
    node.create_dataset("threshold").with_f64_data(&[1.0]);
    b.add_group(node.finish());
    let e = from_bytes(b.finish().unwrap()).unwrap_err();
    assert!(e.to_string().contains("`Threshold`"), "{e}");
}

#[test]
fn metadata_values_round_trip() {
    let g = common::every_node_graph(3);
    let back = from_bytes(to_bytes(&g).unwrap()).unwrap();
    let Node::Input(i) = &back.nodes["input"] else {
        panic!()
    };
    assert_eq!(i.metadata["text"], MetaValue::Text("snn ✓".into()));
    assert!(matches!(&i.metadata["nested"], MetaValue::Group(m) if m.contains_key("k")));
}
