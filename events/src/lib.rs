//! `slayer-events`: event-camera file readers and writers, and binning of
//! events into spike rasters (SLAYER.md §6).
//!
//! * [`aedat`]: iniVation's AEDAT 3.1 (one packet decoder under a strict
//!   whole-file reader and a resynchronising reader for live streams) and
//!   AEDAT 4.0 (LZ4, Zstd or uncompressed packets; XML info node);
//! * [`bs`]: the 40-bit `.bs1` / `.bs2` / original N-MNIST `.bin` files
//!   (readers and writers);
//! * [`prophesee`]: Prophesee `.raw` files, EVT 2.0 and EVT 3.0 (an
//!   incremental decoder, and a writer for test fixtures);
//! * [`binning`]: events → dense [`SpikeRaster`] (round-half-even bins, OR
//!   binning, polarity re-basing);
//! * [`raster`]: the [`SpikeRaster`] itself;
//! * [`error`]: [`FormatError`] (bad bytes at an offset), [`AedatError`] (an
//!   incremental reader's failure) and [`Error`] (either, naming a file).
//!
//! Events are `slayer-core`'s [`Event1d`](slayer_core::Event1d) and
//! [`Event2d`](slayer_core::Event2d). Every size read from a file is bounded
//! before anything is allocated for it; malformed input gives an error
//! naming its byte offset, never a panic.
//!
//! Features: `serde` (`Serialize`/`Deserialize` for [`SpikeRaster`]),
//! `fixtures` (seeded random Prophesee fixtures, `prophesee::random_fixture`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod aedat;
pub mod binning;
pub mod bs;
mod bytes;
pub mod error;
mod le;
pub mod prophesee;
pub mod raster;

pub use aedat::{
    parse_aedat31, parse_aedat4, read_aedat31, read_aedat4, Aedat31Reader, Aedat31Stream,
    Aedat4Reader,
};
pub use binning::{
    bin_1d, bin_1d_counted, bin_2d, bin_2d_counted, raster_to_events_1d, Binned, Binning,
};
pub use bs::{
    encode_bs1, encode_bs2, parse_bs1, parse_bs2, read_bs1, read_bs2, write_bs1, write_bs2,
    Bs2Decoder,
};
pub use error::{AedatError, Error, FormatError, Result};
pub use prophesee::{parse_raw, read_raw, read_raw_header, EvtDecoder, EvtFormat};
pub use raster::SpikeRaster;

/// What one call of an incremental reader (e.g. [`Aedat31Stream::next`])
/// delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    /// Events were appended (possibly none, e.g. after a skipped packet).
    Events,
    /// A new recording starts here (a file header in mid-stream): the
    /// events that follow have their own time base.
    NewSegment,
    /// The stream has ended.
    End,
}

#[cfg(test)]
pub(crate) mod test_data {
    use std::path::{Path, PathBuf};

    use crate::Error;

    /// Expects an [`Error::Format`] for `path` at `offset`, message containing `needle`.
    pub(crate) fn expect_format<T: std::fmt::Debug>(
        r: crate::Result<T>,
        path: &Path,
        offset: u64,
        needle: &str,
    ) {
        match r {
            Err(Error::Format {
                path: p,
                offset: o,
                msg,
            }) => {
                assert_eq!(p, path);
                assert_eq!(o, offset, "{msg}");
                assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
            }
            other => panic!("expected a format error at {offset}, got {other:?}"),
        }
    }

    /// The shared data kit (`/work/shared/data` beside the repository), or
    /// `$SLAYER_DATA_DIR` when set.
    pub(crate) fn data_dir() -> PathBuf {
        let dir = std::env::var_os("SLAYER_DATA_DIR").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"),
            PathBuf::from,
        );
        assert!(
            dir.is_dir(),
            "data kit not found at {} (set SLAYER_DATA_DIR)",
            dir.display()
        );
        dir
    }
}
