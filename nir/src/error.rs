//! The one error type of the crate.

use std::path::PathBuf;

/// What went wrong reading or writing a NIR file.
///
/// Errors about the contents of a file name the node they concern: `node
/// `a.b`` is node `b` of the subgraph node `a` of the root graph, and "the
/// root graph" is the graph stored under the file's `node` group.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The HDF5 layer failed (not an HDF5 file, truncated or corrupt
    /// structures, an unsupported filter...).
    #[error("HDF5 error at {} ({what}): {message}", at(node))]
    Hdf5 {
        /// The node being read or written ("" for the file itself or the root graph).
        node: String,
        /// What was being read or written.
        what: String,
        /// The HDF5 library's message.
        message: String,
    },
    /// An HDF5 file without NIR's layout (no `node` group, a root node that is
    /// not a graph...).
    #[error("not a NIR graph file: {0}")]
    NotNir(String),
    /// A node's `type` is not a NIR 1.0 node type.
    #[error("{}: unknown NIR node type `{ty}`", at(node))]
    UnknownNodeType {
        /// The node.
        node: String,
        /// Its `type` string.
        ty: String,
    },
    /// A field that the node type requires is absent.
    #[error("{}: missing field `{field}`", at(node))]
    MissingField {
        /// The node.
        node: String,
        /// The field.
        field: String,
    },
    /// A field holds the wrong kind of data (a string for an array, floats for
    /// integers...).
    #[error("{}: field `{field}` is {found}, expected {expected}", at(node))]
    WrongDtype {
        /// The node.
        node: String,
        /// The field.
        field: String,
        /// What NIR stores there.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
    /// A field has the wrong shape.
    #[error(
        "{}: field `{field}` has shape {found:?}, expected {expected}",
        at(node)
    )]
    WrongShape {
        /// The node.
        node: String,
        /// The field.
        field: String,
        /// The shape NIR expects, in words.
        expected: String,
        /// The shape in the file.
        found: Vec<u64>,
    },
    /// A field is larger than this crate reads (checked before allocating).
    #[error(
        "{}: field `{field}` has {size} {unit}, more than the limit of {limit}",
        at(node)
    )]
    TooLarge {
        /// The node.
        node: String,
        /// The field (or `nodes` for the node count of a graph).
        field: String,
        /// Its size.
        size: u64,
        /// The unit of `size` and `limit` ("elements", "bytes", "nodes", "levels").
        unit: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A field's value is not allowed (a padding string other than `same` or
    /// `valid`, an integer out of range, a non-UTF-8 string...).
    #[error("{}: field `{field}`: {reason}", at(node))]
    InvalidValue {
        /// The node.
        node: String,
        /// The field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The graph's structure is broken (an edge to a node that does not exist,
    /// a duplicate edge, a node name HDF5 cannot store).
    #[error("{}: {reason}", at(node))]
    InvalidGraph {
        /// The graph.
        node: String,
        /// Why.
        reason: String,
    },
    /// A tensor's data does not fill its shape.
    #[error("tensor of shape {shape:?} needs {expected} values, got {len}")]
    TensorShape {
        /// The shape.
        shape: Vec<usize>,
        /// The number of values the shape holds (saturated at `usize::MAX`).
        expected: usize,
        /// The number of values given.
        len: usize,
    },
}

/// `node `a.b`` or `the root graph`.
fn at(node: &str) -> String {
    if node.is_empty() {
        "the root graph".into()
    } else {
        format!("node `{node}`")
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
