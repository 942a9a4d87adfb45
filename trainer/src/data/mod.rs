//! Datasets: event-file readers, binning, synthetic spike patterns.
