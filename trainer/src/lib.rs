//! `slayer-trainer`: SLAYER training of spiking neural networks.
//!
//! Shrestha & Orchard, "SLAYER: Spike Layer Error Reassignment in Time"
//! (NeurIPS 2018): spike-response-model (SRM) neurons trained by
//! backpropagating the error through a spike-state-change density, with
//! learnable axonal delays. The math, defaults and file formats this crate
//! implements are fixed in `SLAYER.md` (shipped beside the repository).
#![warn(missing_docs)]

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod dataset;
pub mod error;
pub mod export;
pub mod files;
pub mod infer;
pub mod layers;
pub mod link;
pub mod loss;
pub mod network;
pub mod neuron;
pub mod nir;
pub mod optim;
pub mod plot;
#[cfg(test)]
mod reference;
pub mod report;
pub mod spikes;
pub mod stream;
pub mod train;

pub use error::{Error, Result};
pub use spikes::{SpikeRaster, SpikeTrain};
