//! Inference on the host with the core's fixed-point engine: reading event
//! files into a model's input raster, and running exported models.

use std::path::Path;

use slayer_core::{state_words, Engine, Model};

use crate::data::{self, Binning};
use crate::error::{Error, Result};
use crate::spikes::SpikeRaster;

/// Largest state arena (i32 words) the host runner allocates.
pub const MAX_STATE_WORDS: usize = 1 << 28;

/// Reads an event file into a `bins × (c·h·w)` raster for an input of shape
/// `(c, h, w)` (a flat input is `(1, 1, n)`): `.bs2` and N-MNIST `.bin`,
/// `.bs1`, AEDAT 3.1 (`.aedat`), AEDAT 4.0 (`.aedat4`) and Prophesee EVT
/// 2.0 / 3.0 (`.raw`; trigger events skipped). Times are
/// re-based to the first event; events after the model's time window are
/// dropped (SLAYER.md §6). A file with no events, or with any event whose
/// address lies outside the input (a recording of another sensor size, or
/// bytes that are not events), is an error: a model fed nothing would
/// answer with a meaningless class.
pub fn load_events(path: &Path, shape: (usize, usize, usize), b: &Binning) -> Result<SpikeRaster> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (c, h, w) = shape;
    let no_events = || Error::Config(format!("{}: no events in the file", path.display()));
    match ext.as_str() {
        "bs1" => {
            let ev = data::read_bs1(path)?;
            if ev.is_empty() {
                return Err(no_events());
            }
            let n = c * h * w;
            let p0 = ev.iter().map(|e| e.polarity).min().unwrap_or(0);
            let outside = ev
                .iter()
                .filter(|e| usize::from(e.neuron) >= n || e.polarity != p0)
                .count();
            if outside > 0 {
                return Err(Error::Shape(format!(
                    "{}: {outside} of {} events lie outside the model's {n} input channels (one polarity)",
                    path.display(),
                    ev.len()
                )));
            }
            Ok(data::bin_1d(&ev, n, 1, b))
        }
        "bs2" | "bin" | "aedat" | "aedat4" | "raw" => {
            let mut ev = match ext.as_str() {
                "aedat" => data::read_aedat31(path)?,
                "aedat4" => data::read_aedat4(path)?,
                "raw" => data::read_raw(path)?.events,
                _ => data::read_bs2(path)?,
            };
            if ev.is_empty() {
                return Err(no_events());
            }
            if matches!(ext.as_str(), "aedat" | "aedat4" | "raw") {
                let t0 = ev.iter().map(|e| e.t_us).min().unwrap_or(0);
                ev.iter_mut().for_each(|e| e.t_us -= t0);
            }
            let p0 = ev.iter().map(|e| e.polarity).min().unwrap_or(0);
            let outside = ev
                .iter()
                .filter(|e| {
                    usize::from(e.x) >= w
                        || usize::from(e.y) >= h
                        || usize::from(e.polarity - p0) >= c
                })
                .count();
            if outside > 0 {
                return Err(Error::Shape(format!(
                    "{}: {outside} of {} events lie outside the model's {w} × {h} input with {c} polarities (a recording of another sensor size?)",
                    path.display(),
                    ev.len()
                )));
            }
            Ok(data::bin_2d(&ev, w, h, c, b))
        }
        _ => Err(Error::Config(format!(
            "{}: unknown event file type (expected .bs2, .bin, .bs1, .aedat, .aedat4 or .raw)",
            path.display()
        ))),
    }
}

/// Runs an exported model with the core engine, one bin at a time.
#[derive(Debug)]
pub struct CoreRunner<'m, 'a> {
    model: &'m Model<'a>,
    state: Vec<i32>,
}

impl<'m, 'a> CoreRunner<'m, 'a> {
    /// Allocates the state arena the model needs.
    pub fn new(model: &'m Model<'a>) -> Result<Self> {
        let words = state_words(model);
        if words > MAX_STATE_WORDS {
            return Err(Error::Config(format!(
                "the model needs {words} state words, more than the host runner allows ({MAX_STATE_WORDS})"
            )));
        }
        Ok(Self {
            model,
            state: vec![0; words],
        })
    }

    /// Output spikes (`bins × outputs`) of one sample from a fresh state.
    /// The input must have the model's number of input neurons.
    pub fn run(&mut self, input: &SpikeRaster) -> Result<SpikeRaster> {
        let inputs = self.model.inputs() as usize;
        if input.neurons() != inputs {
            return Err(Error::Shape(format!(
                "the input has {} neurons but the model takes {inputs}",
                input.neurons()
            )));
        }
        let outputs = self.model.outputs() as usize;
        let mut engine = Engine::new(self.model, &mut self.state)
            .map_err(|e| Error::Config(format!("core engine: {e:?}")))?;
        engine.reset();
        let mut out = SpikeRaster::new(input.bins(), outputs);
        let mut active = Vec::new();
        for k in 0..input.bins() {
            active.clear();
            active.extend(
                input
                    .row(k)
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| s != 0)
                    .map(|(i, _)| i as u32),
            );
            engine.step(&active, |j| {
                out.set(k, j as usize);
            });
        }
        Ok(out)
    }
}

/// Decodes a model file, with the file named in the error.
pub fn decode_model<'a>(bytes: &'a [u8], path: &Path) -> Result<Model<'a>> {
    Model::decode(bytes).map_err(|e| Error::Model {
        path: path.to_path_buf(),
        msg: match e {
            // Without a length field a cut file shows as a checksum mismatch.
            slayer_core::DecodeError::Crc { .. } | slayer_core::DecodeError::Truncated => {
                format!(
                    "not a valid slayer model: truncated or damaged ({} bytes; {e})",
                    bytes.len()
                )
            }
            e => format!("not a valid slayer model: {e}"),
        },
    })
}

/// The class an output raster decides: the output neuron with the most
/// spikes (the lowest index on ties), or `None` when no output neuron
/// spiked (a silent output decides nothing; it is never class 0).
pub fn decide(out: &SpikeRaster) -> Option<usize> {
    (out.count() > 0).then(|| crate::train::predict(out))
}

/// Float network against its exported fixed-point model on the same samples.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// Number of samples.
    pub samples: usize,
    /// Accuracy of the float network.
    pub float_accuracy: f64,
    /// Accuracy of the fixed-point core.
    pub core_accuracy: f64,
    /// Fraction of samples on which both predict the same class.
    pub class_agreement: f64,
    /// Fraction of samples whose output spike trains are identical.
    pub identical_outputs: f64,
    /// Mean absolute difference of output spike counts per sample and neuron.
    pub mean_count_diff: f64,
}

/// Runs `examples` through the float network (`backend`) and the exported
/// `model` (core engine), and compares their classes and output spikes.
pub fn compare(
    backend: &dyn crate::backend::Backend,
    net: &crate::network::Network,
    model: &Model<'_>,
    examples: &[crate::dataset::Example],
    b: &Binning,
) -> Result<Comparison> {
    use crate::loss::Target;
    use crate::train::predict;
    let (mut fc, mut cc, mut agree, mut same, mut diff) = (0usize, 0usize, 0usize, 0usize, 0f64);
    let mut runner = CoreRunner::new(model)?;
    for chunk in examples.chunks(32) {
        let xs: Vec<SpikeRaster> = chunk.iter().map(|e| e.input.raster(b, None)).collect();
        let refs: Vec<&SpikeRaster> = xs.iter().collect();
        let floats = backend.infer(net, &refs)?;
        for ((x, f), e) in xs.iter().zip(&floats).zip(chunk) {
            let c = runner.run(x)?;
            let (pf, pc) = (predict(f), predict(&c));
            if let Target::Class(label) = e.target {
                fc += usize::from(pf == label);
                cc += usize::from(pc == label);
            }
            agree += usize::from(pf == pc);
            same += usize::from(f == &c);
            let (a, z) = (f.counts(), c.counts());
            diff += a
                .iter()
                .zip(&z)
                .map(|(p, q)| f64::from(p.abs_diff(*q)))
                .sum::<f64>()
                / a.len().max(1) as f64;
        }
    }
    let n = examples.len().max(1) as f64;
    Ok(Comparison {
        samples: examples.len(),
        float_accuracy: fc as f64 / n,
        core_accuracy: cc as f64 / n,
        class_agreement: agree as f64 / n,
        identical_outputs: same as f64 / n,
        mean_count_diff: diff / n,
    })
}

/// How two runs of the same samples agree, from their output spike counts
/// (one row per sample, one count per output neuron): printed by the checks
/// of imported networks against the frameworks that trained them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CountAgreement {
    /// Samples compared.
    pub samples: usize,
    /// Samples whose counts decide the same class ([`crate::train::argmax`]).
    pub same_class: usize,
    /// Output cells (samples × output neurons).
    pub cells: usize,
    /// Cells with equal counts.
    pub equal_cells: usize,
    /// Sum of `|ours − theirs|` over the cells.
    pub diff: u64,
    /// Spikes of `ours`.
    pub spikes: u64,
}

impl CountAgreement {
    /// Compares `ours` with `theirs` row by row (rows beyond the shorter
    /// side are not compared).
    pub fn of(ours: &[Vec<u64>], theirs: &[Vec<u64>]) -> Self {
        use crate::train::argmax;
        let rows = || ours.iter().zip(theirs);
        let cells = || rows().flat_map(|(a, b)| a.iter().zip(b));
        CountAgreement {
            samples: rows().count(),
            same_class: rows().filter(|(a, b)| argmax(a) == argmax(b)).count(),
            cells: cells().count(),
            equal_cells: cells().filter(|(x, y)| x == y).count(),
            diff: cells().map(|(x, y)| x.abs_diff(*y)).sum(),
            spikes: rows().flat_map(|(a, _)| a).sum(),
        }
    }
}

impl std::fmt::Display for CountAgreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "same class {}/{}, equal counts {}/{} output cells, |Δ| {} of {} spikes",
            self.same_class, self.samples, self.equal_cells, self.cells, self.diff, self.spikes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agreement_counts_classes_cells_and_spikes() {
        let ours = vec![vec![3, 1, 0], vec![0, 2, 2], vec![1, 1, 4]];
        let theirs = vec![vec![3, 1, 0], vec![0, 1, 2], vec![5, 1, 4]];
        let a = CountAgreement::of(&ours, &theirs);
        // Sample 1: [0,2,2] decides 1 (first of the tie), [0,1,2] decides 2.
        // Sample 2: 2 against 0.
        assert_eq!((a.samples, a.same_class), (3, 1));
        assert_eq!((a.cells, a.equal_cells), (9, 7));
        assert_eq!((a.diff, a.spikes), (5, 14));
        assert_eq!(
            a.to_string(),
            "same class 1/3, equal counts 7/9 output cells, |Δ| 5 of 14 spikes"
        );
    }

    #[test]
    fn a_silent_output_decides_nothing() {
        let mut out = SpikeRaster::new(4, 3);
        assert_eq!(decide(&out), None);
        out.set(0, 2);
        out.set(1, 1);
        out.set(3, 1);
        assert_eq!(decide(&out), Some(1));
    }
}
