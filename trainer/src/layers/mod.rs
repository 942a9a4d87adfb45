//! Layers: dense synapses (each followed by SRM neurons), learnable axonal
//! delays and dropout.

pub mod delay;
pub mod dense;
pub mod dropout;
pub mod synapse;

pub use delay::Delay;
pub use dense::Dense;
pub use dropout::Dropout;
pub use synapse::Synapse;
