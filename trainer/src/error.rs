//! The trainer's error type: one enum, one line of text per failure.

use std::path::PathBuf;

/// Everything that can go wrong in the trainer. Each variant renders as one
/// readable line naming the file, offset, layer or setting at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written. (The I/O error is part
    /// of the message, not a separate `source`, so that a chain of causes
    /// prints it once.)
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        cause: std::io::Error,
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
    /// An exported model file could not be decoded.
    #[error("model {}: {msg}", path.display())]
    Model {
        /// The model file.
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
    /// A board on the serial link did not answer, refused, or broke the
    /// protocol (`slayer link`).
    #[error("link {port}: {msg}")]
    Link {
        /// The port (`tcp:HOST:PORT` or a device).
        port: String,
        /// What happened.
        msg: String,
    },
    /// The requested device is not available in this build or on this machine.
    #[error("device: {0}")]
    Device(String),
    /// Any other error of an event file (the event readers' error type may
    /// grow variants; those reach the user as they print).
    #[error(transparent)]
    Events(slayer_events::Error),
    /// A NIR file could not be read or written, or a graph is malformed
    /// (the message names the node).
    #[error("NIR: {0}")]
    Nir(#[from] slayer_nir::Error),
}

impl Error {
    /// The I/O error kind behind this error, if it is one.
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        match self {
            Error::Io { cause, .. } => Some(cause.kind()),
            _ => None,
        }
    }
}

/// Shorthand for results of the trainer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
}

impl From<slayer_events::Error> for Error {
    /// An event file's error, as the same one-line error of the trainer.
    fn from(e: slayer_events::Error) -> Self {
        match e {
            slayer_events::Error::Io { path, cause } => Error::Io { path, cause },
            slayer_events::Error::Format { path, offset, msg } => {
                Error::Format { path, offset, msg }
            }
            other => Error::Events(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An I/O error prints its cause once, also through anyhow's `{:#}`
    /// (which appends every source in the chain).
    #[test]
    fn io_errors_print_their_cause_once() {
        let e = Error::io(
            "/x/missing.slyc",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        let text = format!("{:#}", anyhow::Error::from(e));
        assert_eq!(text.matches("not found").count(), 1, "{text}");
        assert!(text.starts_with("/x/missing.slyc: "), "{text}");
    }
}
