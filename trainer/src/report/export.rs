//! `slayer export`: what the model holds and how each layer was quantised.

use std::io::{self, Write};
use std::path::Path;

use crate::export::{Coefficients, Export, LayerQuant};

/// Prints an export written to `path`: its size, weight width, input shape
/// `(c, h, w)` and bins of `ts` ms, then the [`layer_table`], then a
/// warning when weights or delays were clipped.
pub fn summary(
    out: &mut impl Write,
    path: &Path,
    ex: &Export,
    shape: (usize, usize, usize),
    bins: usize,
    ts: f32,
) -> io::Result<()> {
    writeln!(
        out,
        "{}: {} bytes, int{} weights, input {}x{}x{}, {bins} bins of {ts} ms",
        path.display(),
        ex.bytes.len(),
        ex.bits,
        shape.0,
        shape.1,
        shape.2,
    )?;
    layer_table(out, &ex.layers)?;
    if ex.coefficients == Coefficients::Coarse {
        let [n, eps, nu] = ex.coarse_filters;
        writeln!(
            out,
            "coefficients: 15-bit on ε of {eps}/{n} layers and on ν of {nu}/{n} (the others keep \
             30 bits: their kernels would move by more than 0.1 %)"
        )?;
    }
    let saturated: usize = ex.layers.iter().map(|l| l.saturated).sum();
    if saturated > 0 {
        writeln!(
            out,
            "warning: {saturated} weights or delays were clipped to the representable range"
        )?;
    }
    Ok(())
}

/// Prints one row per layer (number, kind, parameters, scale, threshold in
/// weight LSBs, saturated weights, largest rounding error) under a header.
pub fn layer_table(out: &mut impl Write, layers: &[LayerQuant]) -> io::Result<()> {
    writeln!(
        out,
        "{:>3} {:<9} {:>10} {:>12} {:>10} {:>10} {:>12}",
        "#", "layer", "params", "scale", "θ (LSB)", "saturated", "max error"
    )?;
    for (i, l) in layers.iter().enumerate() {
        writeln!(
            out,
            "{i:>3} {:<9} {:>10} {:>12.4e} {:>10.1} {:>10} {:>12.3e}",
            l.kind, l.params, l.scale, l.theta_lsb, l.saturated, l.max_error
        )?;
    }
    Ok(())
}

/// Prints where the model image (for a board's model region) went and
/// its size.
pub fn image(out: &mut impl Write, path: &Path, bytes: usize) -> io::Result<()> {
    writeln!(
        out,
        "{}: model image, {bytes} bytes (flash it at the firmware's model region)",
        path.display(),
    )
}

/// Prints a NIR graph written to `path` (`bytes` long): its nodes by type.
pub fn nir(
    out: &mut impl Write,
    path: &Path,
    graph: &slayer_nir::NirGraph,
    bytes: usize,
) -> io::Result<()> {
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for node in graph.nodes.values() {
        *kinds.entry(node.type_name()).or_default() += 1;
    }
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    writeln!(
        out,
        "{}: NIR graph, {bytes} bytes, {} nodes ({}), {} edges",
        path.display(),
        graph.nodes.len(),
        kinds.join(", "),
        graph.edges.len()
    )?;
    writeln!(
        out,
        "  SRM neurons as CubaLI → Threshold with CubaLI refractory feedback (docs/nir.md); \
         nir.read and `slayer import` read it, Norse 1.1 and snnTorch 1.0 import no CubaLI, \
         Threshold or Delay node"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::printed;

    fn export(saturated: usize) -> Export {
        Export {
            bytes: vec![0; 100],
            bits: 8,
            layers: vec![
                LayerQuant {
                    kind: "dense",
                    scale: 0.5,
                    theta_lsb: 20.0,
                    params: 300,
                    saturated,
                    max_error: 0.25,
                },
                LayerQuant {
                    kind: "delay",
                    scale: 0.0,
                    theta_lsb: 0.0,
                    params: 10,
                    saturated: 0,
                    max_error: 0.0,
                },
            ],
            coefficients: Coefficients::Full,
            coarse_filters: [1, 0, 0],
        }
    }

    #[test]
    fn summary_lists_every_layer() {
        let text = printed(|o| summary(o, Path::new("m.slym"), &export(0), (2, 34, 34), 300, 1.0));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "m.slym: 100 bytes, int8 weights, input 2x34x34, 300 bins of 1 ms",
                "  # layer         params        scale    θ (LSB)  saturated    max error",
                "  0 dense            300    5.0000e-1       20.0          0     2.500e-1",
                "  1 delay             10     0.0000e0        0.0          0      0.000e0",
            ]
        );
    }

    #[test]
    fn summary_counts_coarse_filters() {
        let mut ex = export(0);
        ex.coefficients = Coefficients::Coarse;
        ex.coarse_filters = [2, 2, 1];
        let text = printed(|o| summary(o, Path::new("m.slym"), &ex, (1, 1, 5), 10, 0.5));
        assert!(
            text.contains("coefficients: 15-bit on ε of 2/2 layers and on ν of 1/2 "),
            "{text}"
        );
        assert!(
            !printed(|o| summary(o, Path::new("m.slym"), &export(0), (1, 1, 5), 10, 0.5))
                .contains("coefficients")
        );
    }

    #[test]
    fn summary_warns_of_clipped_weights() {
        let text = printed(|o| summary(o, Path::new("m.slym"), &export(3), (1, 1, 5), 10, 0.5));
        assert!(
            text.ends_with(
                "warning: 3 weights or delays were clipped to the representable range\n"
            ),
            "{text}"
        );
        assert!(
            text.starts_with("m.slym: 100 bytes, int8 weights, input 1x1x5, 10 bins of 0.5 ms\n")
        );
    }

    #[test]
    fn image_line_gives_path_and_size() {
        assert_eq!(
            printed(|o| image(o, Path::new("m.img"), 108)),
            "m.img: model image, 108 bytes (flash it at the firmware's model region)\n"
        );
    }
}
