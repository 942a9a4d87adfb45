//! `slayer-core`: the `no_std` heart of slayer-rs.
//!
//! This crate owns the types every other crate agrees on. Today it holds the
//! neuron and simulation parameters of the SRM model (SLAYER.md §1) and the
//! address-event types produced by the event-file readers; the fixed-point
//! engine and the model format join it later. It never allocates, never
//! panics on input and contains no `unsafe` code.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod event;
pub mod params;

pub use event::{Event1d, Event2d};
pub use params::{NeuronParams, SimulationParams};
