//! Datasets: event-file readers, binning, synthetic spike patterns.
//!
//! The event-file readers and writers and the binning are the
//! `slayer-events` crate's, re-exported here under their old paths:
//!
//! * [`aedat`]: AEDAT 3.1 and AEDAT 4.0 files;
//! * [`events`]: the 40-bit `.bs1` / `.bs2` / N-MNIST `.bin` event files
//!   (`slayer_events::bs`);
//! * [`binning`]: events → dense [`SpikeRaster`](crate::spikes::SpikeRaster)
//!   (round-half-even bins, OR binning, polarity re-basing);
//! * [`prophesee`]: Prophesee `.raw` files, EVT 2.0 and EVT 3.0.
//!
//! The trainer's own:
//!
//! * [`dvs_gesture`]: DVS128 Gesture trials (AEDAT 3.1 recordings and their
//!   label windows);
//! * [`poisson`]: seeded Poisson inputs and dead-time spike targets;
//! * [`idx`]: MNIST / Fashion-MNIST IDX files (gzip or raw) and Poisson
//!   rate encoding of images;
//! * [`audio`]: WAV files and a cochlea-like filter-bank spike encoder (FSDD).

pub mod audio;
pub mod dvs_gesture;
pub mod idx;
pub mod poisson;

pub use slayer_events::{aedat, binning, bs as events, prophesee};

pub use aedat::{
    parse_aedat31, parse_aedat4, read_aedat31, read_aedat4, Aedat31Reader, Aedat4Reader, AedatError,
};
pub use audio::{read_wav, AudioEncoder};
pub use binning::{
    bin_1d, bin_1d_counted, bin_2d, bin_2d_counted, raster_to_events_1d, Binned, Binning,
};
pub use dvs_gesture::{cut_windows, list_trials, load_trial, read_labels_csv, LabelWindow, Split};
pub use events::{
    encode_bs1, encode_bs2, parse_bs1, parse_bs2, read_bs1, read_bs2, write_bs1, write_bs2,
};
pub use idx::{poisson_encode, read_images, read_labels, Images};
pub use poisson::{dead_time_bins, poisson_raster, poisson_target, seeded_rng};
pub use prophesee::{parse_raw, read_raw, EvtDecoder, EvtFormat};
pub use slayer_events::FormatError;
