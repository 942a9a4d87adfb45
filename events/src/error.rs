//! Errors of the readers and writers: [`FormatError`] (bytes that do not fit
//! a format, with the offset concerned), [`AedatError`] (an incremental
//! reader's I/O or format failure) and [`Error`] (either, naming a file).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// A failure reading or writing an event file. Each variant renders as one
/// line naming the file (and, for bad data, the byte offset).
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
        cause: io::Error,
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
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause: source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A malformed event buffer, or an event that does not fit the format: the
/// byte offset concerned and what is wrong there. [`FormatError::at`] turns it
/// into an [`Error::Format`] naming a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset of the first bad byte (for an encoder: where the offending
    /// event would start in the output).
    pub offset: u64,
    /// What is wrong there.
    pub msg: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte offset {}", self.msg, self.offset)
    }
}

impl std::error::Error for FormatError {}

impl FormatError {
    /// The error for this format error in file `path`.
    pub fn at(self, path: &Path) -> Error {
        Error::Format {
            path: path.to_path_buf(),
            offset: self.offset,
            msg: self.msg,
        }
    }
}

/// An error while reading a stream: the underlying reader failed, the
/// bytes are malformed, or the stream ends inside a header or packet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AedatError {
    /// The underlying reader failed (not end of file: a short stream is a
    /// [`AedatError::Format`] error).
    #[error("read error at byte offset {offset}: {source}")]
    Io {
        /// Bytes successfully read before the failure.
        offset: u64,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Corrupt data.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The stream ends inside a header or a packet: the bytes read so far
    /// fit the format, the rest is missing (a file cut short, a closed
    /// connection). Test for it with [`AedatError::is_truncated`].
    #[error(transparent)]
    Truncated(FormatError),
}

impl AedatError {
    /// The error for this error while reading file `path`: [`Error::Io`] or
    /// [`Error::Format`].
    pub fn at(self, path: &Path) -> Error {
        match self {
            AedatError::Io { source, .. } => Error::io(path, source),
            AedatError::Format(e) | AedatError::Truncated(e) => e.at(path),
        }
    }

    /// True when the stream ends inside a header or a packet
    /// ([`AedatError::Truncated`]): nothing more will come.
    pub fn is_truncated(&self) -> bool {
        matches!(self, AedatError::Truncated(_))
    }

    /// The byte offset the error concerns.
    pub fn offset(&self) -> u64 {
        match self {
            AedatError::Io { offset, .. } => *offset,
            AedatError::Format(e) | AedatError::Truncated(e) => e.offset,
        }
    }

    /// As a [`FormatError`] (an I/O failure keeps its offset, its message
    /// becomes the text): for readers over byte slices, which cannot fail.
    pub(crate) fn into_format(self) -> FormatError {
        match self {
            AedatError::Format(e) | AedatError::Truncated(e) => e,
            AedatError::Io { offset, source } => FormatError {
                offset,
                msg: source.to_string(),
            },
        }
    }
}

/// A [`AedatError::Format`] at `offset`.
pub(crate) fn format_err(offset: u64, msg: impl Into<String>) -> AedatError {
    AedatError::Format(FormatError {
        offset,
        msg: msg.into(),
    })
}

/// A [`AedatError::Truncated`] at `offset`: the stream ends there, inside a
/// header or a packet.
pub(crate) fn truncated_err(offset: u64, msg: impl Into<String>) -> AedatError {
    AedatError::Truncated(FormatError {
        offset,
        msg: msg.into(),
    })
}
