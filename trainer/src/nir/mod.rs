//! NIR interchange: a SLAYER [`Network`](crate::network::Network) as a NIR
//! graph ([`to_nir`]) and back ([`from_nir`]).
//!
//! NIR describes neurons in continuous time; the SRM neuron of SLAYER is an
//! exact subgraph of NIR's nodes (`docs/nir.md`, "SLAYER networks in NIR"):
//!
//! * the synapse: `Linear` (dense, `[out, in]`), `Conv2d` (bias zero) or
//!   `SumPool2d` followed by a `Scale` (the pool's tap weight);
//! * the spike response `ε(t) = (t/τs)·e^{1−t/τs}`: a `CubaLI` with
//!   `τ_syn = τ_mem = τs`, `r = 1`, `w_in = e·τs` (two equal first-order
//!   filters in cascade; a unit-area spike gives exactly `ε`);
//! * the spike: a `Threshold` at `θ` (SLAYER fires at `u ≥ θ`);
//! * the refractory response `ν(t) = −scaleRef·θ·(t/τr)·e^{1−t/τr}`: the
//!   `Threshold`'s spikes fed back through a `CubaLI` with `τ_syn = τ_mem =
//!   τr`, `r = 1`, `w_in = −scaleRef·θ·e·τr`, into the `Threshold` again
//!   (NIR sums a node's inputs);
//! * the axonal delays: a `Delay` in seconds (`d·Ts`);
//! * where a spatial layer feeds a dense one, a `Flatten`.
//!
//! Times are seconds in NIR and milliseconds here. What NIR has no word for
//! (the time step, the spike-pdf width ρ, the kernel mode, the delays'
//! clamp, dropout, and the experiment config) travels in the graph's
//! metadata under [`META_KEY`] and [`CONFIG_KEY`], so that slayer → NIR →
//! slayer gives the identical network; a graph without them imports with
//! the defaults.

mod chain;
mod export;
mod float_lif;
mod import;
mod lif;

pub use export::to_nir;
pub use float_lif::{LifLayer, LifNetwork};
pub use import::{config_for, from_nir, Imported};
pub use lif::{is_lif_graph, lif_model, lif_network, LifOptions};

/// The graph metadata key holding SLAYER's own settings (a JSON text).
pub const META_KEY: &str = "slayer";
/// The graph metadata key holding the experiment config (TOML text).
pub const CONFIG_KEY: &str = "slayer_config";

/// SLAYER's settings that NIR has no node field for (the JSON under [`META_KEY`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Extras {
    /// Time step, ms.
    ts_ms: f32,
    /// ρ's width relative to θ.
    tau_rho: f32,
    /// ρ's peak scale.
    scale_rho: f32,
    /// How ε is sampled.
    kernel: crate::neuron::KernelMode,
    /// `(layer index, max_delay)` of every delay layer.
    max_delay: Vec<(usize, f32)>,
    /// `(layer index, p)` of every dropout layer (identity in inference, so no node).
    dropout: Vec<(usize, f32)>,
}

/// Milliseconds → seconds, in `f64` (NIR's unit).
fn seconds(ms: f32) -> f64 {
    f64::from(ms) * 1e-3
}

/// Seconds → milliseconds, rounded to `f32` (exact for values [`seconds`] made).
#[allow(clippy::cast_possible_truncation)]
fn millis(s: f64) -> f32 {
    (s * 1e3) as f32
}

#[cfg(test)]
mod lif_tests;
#[cfg(test)]
mod tests;
