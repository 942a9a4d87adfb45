//! `slayer-core`: the `no_std` heart of slayer-rs.
//!
//! This crate owns what every target agrees on:
//!
//! * [`params`] and [`event`]: the float neuron parameters of the SRM model
//!   (SLAYER.md §1) and the address-event types of the event-file readers;
//! * [`fixed`]: the fixed-point neuron constants (Q-formats, derivation from
//!   the float parameters with `libm`);
//! * [`model`]: the deployed model format (postcard, zero-copy, CRC-checked),
//!   with an encoder behind the `alloc` feature;
//! * [`engine`]: the streaming, event-driven, integer-only simulator that runs
//!   a decoded model one time bin per call in caller-provided state;
//! * [`link`]: the serial wire protocol between a host and a board (COBS
//!   frames with CRC-32), the board's event binning and its session;
//! * [`samples`]: packs of pre-binned input spike trains (for firmware).
//!
//! Decoding and simulation never allocate, never panic on any input and
//! contain no `unsafe` code. Features: `alloc` (encoders), `std` (implies
//! `alloc`), `defmt` (`defmt::Format` on errors and small public types).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod crc32;
pub mod engine;
pub mod event;
pub mod fixed;
pub mod link;
pub mod model;
pub mod params;
pub mod samples;

pub use crc32::checksum as crc32;
pub use engine::{scratch_words, state_words, Engine, EngineError, Phase, StepStats};
pub use event::{Event1d, Event2d};
pub use fixed::{pool_tap_weight, ConstsError, LifConsts, LifReset, NeuronConsts};
pub use model::{image_model, model_crc, DecodeError, ImageError, Layer, Model, Shape, WeightBits};
pub use params::{NeuronParams, SimulationParams};
pub use samples::{Sample, SampleError, SamplePack};

#[cfg(feature = "alloc")]
pub use model::{EncodeError, ModelBuilder};
#[cfg(feature = "alloc")]
pub use samples::SamplePackBuilder;
