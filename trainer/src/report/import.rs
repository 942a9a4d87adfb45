//! `slayer import`: what came out of a NIR graph.

use std::io::{self, Write};
use std::path::Path;

use crate::network::{Layer, Network};

/// Prints the checkpoint written to `path`: its layers, neuron parameters,
/// time step (from the graph's settings or the defaults) and where its
/// experiment config came from (`origin`).
pub fn summary(
    out: &mut impl Write,
    path: &Path,
    net: &Network,
    settings_from_graph: bool,
    origin: &str,
) -> io::Result<()> {
    let layers: Vec<String> = net
        .layers
        .iter()
        .map(|l| match l {
            Layer::Dense(d) => format!("dense {}", d.outputs),
            Layer::Conv(c) => format!("conv {}c{}", c.out_channels, c.kernel.0),
            Layer::Pool(p) => format!("pool {}", p.size),
            Layer::Delay(_) => "delay".into(),
            Layer::Dropout(d) => format!("dropout {}", d.p),
        })
        .collect();
    let p = &net.neuron;
    writeln!(
        out,
        "{}: {} inputs → {}, {} outputs; SRM θ = {}, τs = {} ms, τr = {} ms, scaleRef = {}; \
         Ts = {} ms ({}); experiment from {origin}",
        path.display(),
        net.inputs,
        layers.join(" → "),
        net.outputs(),
        p.theta,
        p.tau_s,
        p.tau_r,
        p.scale_ref,
        net.ts,
        if settings_from_graph {
            "SLAYER's settings in the graph"
        } else {
            "no SLAYER settings in the graph: --ts and the defaults"
        },
    )
}
