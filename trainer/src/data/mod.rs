//! Datasets: event-file readers, binning, synthetic spike patterns.
//!
//! * [`events`]: the 40-bit `.bs1` / `.bs2` / N-MNIST `.bin` event files;
//! * [`binning`]: events → dense [`SpikeRaster`](crate::spikes::SpikeRaster)
//!   (round-half-even bins, OR binning, polarity re-basing);
//! * [`poisson`]: seeded Poisson inputs and dead-time spike targets.

pub mod binning;
pub mod events;
pub mod poisson;

pub use binning::{
    bin_1d, bin_1d_counted, bin_2d, bin_2d_counted, raster_to_events_1d, round_half_even, Binned,
    Binning,
};
pub use events::{
    encode_bs1, encode_bs2, parse_bs1, parse_bs2, read_bs1, read_bs2, write_bs1, write_bs2,
    FormatError,
};
pub use poisson::{dead_time_bins, poisson_raster, poisson_target, seeded_rng};
