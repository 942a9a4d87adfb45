//! Address events as they come off a sensor or out of an event file.

use serde::{Deserialize, Serialize};

/// An event of a 1-D sensor (a cochlea, or a generic neuron population): `.bs1` files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event1d {
    /// Channel (neuron) address.
    pub neuron: u16,
    /// Polarity bit.
    pub polarity: u8,
    /// Timestamp in µs.
    pub t_us: u64,
}

/// An event of a 2-D sensor (an event camera): `.bs2`, N-MNIST `.bin`, AEDAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event2d {
    /// Column.
    pub x: u16,
    /// Row.
    pub y: u16,
    /// Polarity bit (0 = OFF, 1 = ON).
    pub polarity: u8,
    /// Timestamp in µs.
    pub t_us: u64,
}
