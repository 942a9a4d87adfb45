//! Datasets: event-file readers, binning, synthetic spike patterns.
//!
//! * [`events`]: the 40-bit `.bs1` / `.bs2` / N-MNIST `.bin` event files;
//! * [`binning`]: events → dense [`SpikeRaster`](crate::spikes::SpikeRaster)
//!   (round-half-even bins, OR binning, polarity re-basing);
//! * [`poisson`]: seeded Poisson inputs and dead-time spike targets;
//! * [`idx`]: MNIST / Fashion-MNIST IDX files (gzip or raw) and Poisson
//!   rate encoding of images;
//! * [`audio`]: WAV files and a cochlea-like filter-bank spike encoder (FSDD);
//! * [`prophesee`]: Prophesee `.raw` files, EVT 2.0 and EVT 3.0.

pub mod aedat;
pub mod audio;
pub mod binning;
pub mod dvs_gesture;
pub mod events;
pub mod idx;
pub mod poisson;
pub mod prophesee;

pub use aedat::{
    parse_aedat31, parse_aedat4, read_aedat31, read_aedat4, Aedat31Reader, Aedat4Reader, AedatError,
};
pub use audio::{read_wav, AudioEncoder};
pub use binning::{
    bin_1d, bin_1d_counted, bin_2d, bin_2d_counted, raster_to_events_1d, round_half_even, Binned,
    Binning,
};
pub use dvs_gesture::{cut_windows, list_trials, load_trial, read_labels_csv, LabelWindow, Split};
pub use events::{
    encode_bs1, encode_bs2, parse_bs1, parse_bs2, read_bs1, read_bs2, write_bs1, write_bs2,
    FormatError,
};
pub use idx::{poisson_encode, read_images, read_labels, Images};
pub use poisson::{dead_time_bins, poisson_raster, poisson_target, seeded_rng};
pub use prophesee::{parse_raw, read_raw, EvtDecoder, EvtFormat};
