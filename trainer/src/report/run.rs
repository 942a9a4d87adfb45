//! What a training run writes besides its checkpoints, and where:
//! `config.toml`, `metrics.csv` (a row per epoch), `loss.png`,
//! `accuracy.png`, `confusion.png` and `raster.png` in the run folder, and
//! the line printed per epoch. The drawing itself is [`crate::plot`]'s.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkpoint::EpochRecord;
use crate::config::ExperimentConfig;
use crate::data::Binning;
use crate::dataset::Example;
use crate::error::{Error, Result};
use crate::loss::Target;
use crate::network::{Layer, Network};
use crate::plot;
use crate::spikes::SpikeRaster;

/// The files of a run folder that are not checkpoints; `metrics.csv` stays
/// open for a row per epoch.
#[derive(Debug)]
pub struct RunFiles {
    out_dir: PathBuf,
    metrics_path: PathBuf,
    metrics: File,
}

impl RunFiles {
    /// Creates `out_dir` if missing, writes `config.toml` (the experiment as
    /// run) and starts `metrics.csv` afresh with the rows of `history` (a
    /// resumed run drops rows of epochs after its checkpoint).
    pub fn create(cfg: &ExperimentConfig, out_dir: &Path, history: &[EpochRecord]) -> Result<Self> {
        std::fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        let cfg_path = out_dir.join("config.toml");
        std::fs::write(&cfg_path, cfg.to_toml()).map_err(|e| Error::io(&cfg_path, e))?;
        let metrics_path = out_dir.join("metrics.csv");
        write_metrics(&metrics_path, history)?;
        let metrics = std::fs::OpenOptions::new()
            .append(true)
            .open(&metrics_path)
            .map_err(|e| Error::io(&metrics_path, e))?;
        Ok(Self {
            out_dir: out_dir.to_path_buf(),
            metrics_path,
            metrics,
        })
    }

    /// Appends the row of `epoch` (0-based) to `metrics.csv`.
    pub fn epoch(&mut self, epoch: usize, rec: &EpochRecord) -> Result<()> {
        writeln!(self.metrics, "{}", metrics_row(epoch, rec))
            .map_err(|e| Error::io(&self.metrics_path, e))
    }

    /// Writes `confusion.png`: the `confusion[true][predicted]` counts of
    /// `classes` classes on the validation set after `epoch` (0-based).
    pub fn confusion(
        &self,
        cfg: &ExperimentConfig,
        epoch: usize,
        classes: usize,
        confusion: &[Vec<u64>],
    ) -> Result<()> {
        plot::confusion_matrix(
            &self.out_dir.join("confusion.png"),
            &format!("{}: validation, epoch {}", cfg.name, epoch + 1),
            &(0..classes).map(|i| i.to_string()).collect::<Vec<_>>(),
            confusion,
        )
    }

    /// Writes the plots of a finished run: `loss.png`, `accuracy.png` where
    /// training accuracies are known, and, given `raster`, `raster.png` of
    /// that network on that example.
    pub fn finish(
        &self,
        cfg: &ExperimentConfig,
        history: &[EpochRecord],
        raster: Option<(&Network, &Example, &Binning)>,
    ) -> Result<()> {
        write_curves(cfg, history, &self.out_dir)?;
        if let Some((net, ex, b)) = raster {
            write_raster(net, ex, b, &self.out_dir.join("raster.png"), &cfg.name)?;
        }
        Ok(())
    }
}

const METRICS_HEADER: &str =
    "epoch,loss,accuracy,valid_loss,valid_accuracy,output_spikes,matched,seconds";

fn metrics_row(epoch: usize, r: &EpochRecord) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| v.to_string());
    format!(
        "{epoch},{},{},{},{},{},{},{:.3}",
        r.loss,
        opt(r.accuracy),
        opt(r.valid_loss),
        opt(r.valid_accuracy),
        r.output_spikes,
        u8::from(r.matched),
        r.seconds
    )
}

/// Writes `metrics.csv` afresh with the header and the given epochs (a
/// resumed run drops rows of epochs after its checkpoint).
fn write_metrics(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let mut text = String::from(METRICS_HEADER);
    text.push('\n');
    for (i, r) in history.iter().enumerate() {
        text.push_str(&metrics_row(i, r));
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Writes `loss.png` (training and, where measured, validation loss) and,
/// when training accuracies are known, `accuracy.png`.
fn write_curves(cfg: &ExperimentConfig, history: &[EpochRecord], out_dir: &Path) -> Result<()> {
    let train_loss: Vec<f64> = history.iter().map(|r| r.loss).collect();
    let valid_loss: Vec<f64> = history
        .iter()
        .map(|r| r.valid_loss.unwrap_or(f64::NAN))
        .collect();
    let mut series = vec![plot::Series {
        label: "train",
        values: &train_loss,
    }];
    if history.iter().any(|r| r.valid_loss.is_some()) {
        series.push(plot::Series {
            label: "validation",
            values: &valid_loss,
        });
    }
    plot::curves(
        &out_dir.join("loss.png"),
        &format!("{}: loss", cfg.name),
        "loss",
        &series,
        true,
    )?;
    if history.iter().any(|r| r.accuracy.is_some()) {
        let pct = |f: fn(&EpochRecord) -> Option<f64>| -> Vec<f64> {
            history
                .iter()
                .map(|r| f(r).map_or(f64::NAN, |a| 100.0 * a))
                .collect()
        };
        let (tr, va) = (pct(|r| r.accuracy), pct(|r| r.valid_accuracy));
        plot::curves(
            &out_dir.join("accuracy.png"),
            &format!("{}: accuracy", cfg.name),
            "accuracy (%)",
            &[
                plot::Series {
                    label: "train",
                    values: &tr,
                },
                plot::Series {
                    label: "validation",
                    values: &va,
                },
            ],
            false,
        )?;
    }
    Ok(())
}

/// Spike raster of one example: input, first hidden layer, output vs target.
fn write_raster(net: &Network, ex: &Example, b: &Binning, path: &Path, name: &str) -> Result<()> {
    let srm = net.srm();
    let x = ex.input.raster(b, None);
    let trace = net.forward::<rand_chacha::ChaCha8Rng>(&srm, &x, None);
    let ts = f64::from(net.ts);
    let events = |r: &SpikeRaster| -> Vec<(f64, u32)> {
        (0..r.bins())
            .flat_map(|k| {
                (0..r.neurons())
                    .filter(move |&n| r.get(k, n))
                    .map(move |n| (k as f64 * ts, n as u32))
            })
            .collect()
    };
    let input = events(&x);
    let out_r = trace.output().to_raster();
    let out = events(&out_r);
    let hidden = net
        .layers
        .iter()
        .position(|l| matches!(l, Layer::Dense(_)))
        .filter(|&l| l + 1 < net.layers.len())
        .map(|l| trace.spikes(l).to_raster());
    let hid = hidden.as_ref().map(events);
    let tgt = match &ex.target {
        Target::Spikes(t) => events(t),
        Target::Class(_) => Vec::new(),
    };
    let mut panels = vec![plot::RasterPanel {
        title: "input",
        rows: x.neurons(),
        layers: vec![plot::RasterLayer {
            label: "input",
            spikes: &input,
        }],
    }];
    if let (Some(h), Some(hr)) = (&hid, &hidden) {
        panels.push(plot::RasterPanel {
            title: "hidden",
            rows: hr.neurons(),
            layers: vec![plot::RasterLayer {
                label: "hidden",
                spikes: h,
            }],
        });
    }
    let mut out_layers = vec![plot::RasterLayer {
        label: "output",
        spikes: &out,
    }];
    if !tgt.is_empty() {
        out_layers.push(plot::RasterLayer {
            label: "target",
            spikes: &tgt,
        });
    }
    panels.push(plot::RasterPanel {
        title: "output vs target",
        rows: out_r.neurons(),
        layers: out_layers,
    });
    plot::spike_raster(
        path,
        &format!("{name}: spikes after training"),
        x.bins() as f64 * ts,
        &panels,
    )
}

/// One epoch as a line of text: loss, accuracies where known, seconds.
pub(crate) fn epoch_line(epoch: usize, epochs: usize, rec: &EpochRecord) -> String {
    let pct = |a: Option<f64>| a.map_or("-".into(), |a| format!("{:.1} %", 100.0 * a));
    let mut line = format!("epoch {:>3}/{epochs}: loss {:.4}", epoch + 1, rec.loss);
    if rec.accuracy.is_some() || rec.valid_accuracy.is_some() {
        line.push_str(&format!(
            "  train {}  validation {}",
            pct(rec.accuracy),
            pct(rec.valid_accuracy)
        ));
    } else {
        line.push_str(&format!("  output spikes {}", rec.output_spikes));
    }
    line.push_str(&format!("  ({:.1} s)", rec.seconds));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `metrics.csv`: the header, the rows of an earlier run, then a row per
    /// epoch; optional values empty, `matched` 0/1, seconds to the ms.
    #[test]
    fn metrics_csv_keeps_its_columns() {
        let dir = std::env::temp_dir().join(format!("slayer-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = ExperimentConfig::default_experiment();
        let rec = |loss, accuracy| EpochRecord {
            loss,
            accuracy,
            valid_loss: None,
            valid_accuracy: accuracy.map(|a: f64| a / 2.0),
            output_spikes: 7,
            matched: accuracy.is_none(),
            seconds: 1.23456,
        };
        let mut files = RunFiles::create(&cfg, &dir, &[rec(2.5, None)]).unwrap();
        files.epoch(1, &rec(0.5, Some(0.5))).unwrap();
        drop(files);
        let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        assert_eq!(
            text,
            "epoch,loss,accuracy,valid_loss,valid_accuracy,output_spikes,matched,seconds\n\
             0,2.5,,,,7,1,1.235\n\
             1,0.5,0.5,,0.25,7,0,1.235\n"
        );
        assert!(dir.join("config.toml").is_file());
        let _ = std::fs::remove_dir_all(dir);
    }
}
