//! `slayer-nir`: NIR, the Neuromorphic Intermediate Representation, in Rust.
//!
//! NIR is how the Python spiking-network frameworks (snnTorch, Norse,
//! Lava-dl, Sinabs, Rockpool, SpiNNaker2...) exchange networks: a graph of
//! nodes (affine maps, convolutions, LIF and CUBA neurons, delays...) saved as
//! an HDF5 file by the `nir` package (1.0.x). This crate holds
//!
//! * the graph model: [`NirGraph`], [`Node`] and one struct per node type,
//!   with `nir`'s field names ([`graph`]), over [`Tensor`]s that keep the
//!   file's dtype;
//! * reading and writing NIR files in pure Rust ([`read`], [`from_bytes`],
//!   [`write()`], [`to_bytes`]) with the `hdf5-pure` crate: no libhdf5, no C;
//! * one [`Error`] type: a malformed file, an unknown node type, a missing
//!   field, a wrong dtype or shape is an error naming the node, never a
//!   panic, and every size read from a file is bounded before allocating
//!   ([`MAX_ELEMENTS`] and the other limits).
//!
//! The file layout and the field of each node type are in `docs/nir.md`.
//!
//! ```
//! use slayer_nir::{from_bytes, to_bytes, Input, Lif, NirGraph, Node, Output, Tensor};
//!
//! let mut g = NirGraph::new();
//! g.nodes.insert("in".into(), Node::Input(Input { shape: vec![2], ..Default::default() }));
//! let p = |x: f32| Tensor::from_f32(vec![x; 2]);
//! g.nodes.insert("lif".into(), Node::Lif(Lif {
//!     tau: p(0.01), r: p(1.0), v_leak: p(0.0), v_threshold: p(1.0), v_reset: p(0.0),
//!     metadata: Default::default(),
//! }));
//! g.nodes.insert("out".into(), Node::Output(Output { shape: vec![2], ..Default::default() }));
//! g.edges = vec![("in".into(), "lif".into()), ("lif".into(), "out".into())];
//! let bytes = to_bytes(&g).unwrap();
//! assert_eq!(from_bytes(bytes).unwrap(), g);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod graph;
mod read;
pub mod tensor;
mod write;

use std::path::Path;

pub use error::{Error, Result};
pub use graph::{
    Affine, Conv1d, Conv2d, CubaLi, CubaLif, Delay, Field, Flatten, If, Input, Integrator, Li, Lif,
    Linear, MetaValue, Metadata, NirGraph, Node, Output, Padding, Pool2d, Scale, Threshold,
};
pub use read::{MAX_DEPTH, MAX_ELEMENTS, MAX_NODES, MAX_STRING_BYTES};
pub use tensor::{Tensor, TensorData};
pub use write::NIR_VERSION;

/// The largest file [`read`] opens (4 GiB).
pub const MAX_FILE_BYTES: u64 = 1 << 32;

/// Reads the graph of a NIR file (as `nir.read`).
pub fn read(path: impl AsRef<Path>) -> Result<NirGraph> {
    let path = path.as_ref();
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE_BYTES {
        return Err(Error::TooLarge {
            node: String::new(),
            field: "file".into(),
            size: len,
            unit: "bytes",
            limit: MAX_FILE_BYTES,
        });
    }
    from_bytes(std::fs::read(path).map_err(io)?)
}

/// Reads the graph of a NIR file held in memory.
pub fn from_bytes(bytes: Vec<u8>) -> Result<NirGraph> {
    read::graph_from_bytes(bytes)
}

/// Writes a graph as a NIR file that `nir.read` reads (after
/// [`NirGraph::validate`]).
pub fn write(path: impl AsRef<Path>, graph: &NirGraph) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(graph)?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Serialises a graph to the bytes of a NIR file.
pub fn to_bytes(graph: &NirGraph) -> Result<Vec<u8>> {
    write::graph_to_bytes(graph)
}
