//! Layers: dense, convolutional and sum-pooling synapses (each followed by
//! SRM neurons), learnable axonal delays and dropout.

pub mod conv;
pub mod delay;
pub mod dense;
pub mod dropout;
pub mod pool;
pub mod synapse;

pub use conv::Conv2d;
pub use delay::Delay;
pub use dense::Dense;
pub use dropout::Dropout;
pub use pool::SumPool;
pub use synapse::Synapse;
