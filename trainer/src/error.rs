//! The trainer's error type: one enum, one line of text per failure.

use std::path::PathBuf;

/// Everything that can go wrong in the trainer. Each variant renders as one
/// readable line naming the file, offset, layer or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A data file is truncated or corrupt.
    #[error("{}: {msg} at byte offset {offset}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Byte offset of the first bad byte.
        offset: u64,
        /// What is wrong there.
        msg: String,
    },
    /// An experiment configuration is malformed or inconsistent.
    #[error("config: {0}")]
    Config(String),
    /// Tensor or layer shapes do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A checkpoint could not be decoded or does not fit the network.
    #[error("checkpoint {}: {msg}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A plot could not be drawn.
    #[error("plot {}: {msg}", path.display())]
    Plot {
        /// The image being written.
        path: PathBuf,
        /// The drawing error.
        msg: String,
    },
    /// The requested device is not available in this build or on this machine.
    #[error("device: {0}")]
    Device(String),
}

/// Shorthand for results of the trainer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
