//! Checkpoints: a trained network with its experiment and optimiser state.
//!
//! Layout: the magic `SLYC`, a little-endian `u16` format version (2), a
//! postcard-encoded [`Checkpoint`], then the CRC-32/ISO-HDLC of every byte
//! before it (little-endian `u32`), so a damaged or cut file is refused
//! instead of resumed or exported. Version 1 files (no checksum) still
//! load. Written atomically (temporary file, then rename), so a killed run
//! never leaves a half-written checkpoint.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::ExperimentConfig;
use crate::error::{Error, Result};
use crate::network::Network;
use crate::optim::{Optimiser, OptimiserState};

const MAGIC: &[u8; 4] = b"SLYC";
/// Version 2 ends with a CRC-32 of every byte before it; version 1 (no
/// checksum) is still read.
const VERSION: u16 = 2;

/// Everything needed to use or continue a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The experiment, as TOML.
    pub config_toml: String,
    /// The trained network.
    pub network: Network,
    /// Optimiser moments.
    pub optimiser: OptimiserState,
    /// Epochs completed.
    pub epoch: usize,
    /// Statistics of every completed epoch.
    pub history: Vec<EpochRecord>,
}

/// What one epoch measured (a row of `metrics.csv`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Mean training loss per sample.
    pub loss: f64,
    /// Training accuracy (classification only).
    pub accuracy: Option<f64>,
    /// Mean validation loss per sample.
    pub valid_loss: Option<f64>,
    /// Validation accuracy.
    pub valid_accuracy: Option<f64>,
    /// Output spikes over the epoch's training samples.
    pub output_spikes: u64,
    /// Every training output matched its target spike train.
    pub matched: bool,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
}

impl Checkpoint {
    /// Bundles a run's state.
    pub fn new(
        cfg: &ExperimentConfig,
        network: &Network,
        opt: &Optimiser,
        history: &[EpochRecord],
    ) -> Self {
        Self {
            config_toml: cfg.to_toml(),
            network: network.clone(),
            optimiser: opt.state().clone(),
            epoch: history.len(),
            history: history.to_vec(),
        }
    }

    /// The experiment this checkpoint was trained with.
    pub fn config(&self) -> Result<ExperimentConfig> {
        ExperimentConfig::from_toml(&self.config_toml)
    }

    /// Encodes the checkpoint (header + postcard body).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(64 + self.network.param_sizes().iter().sum::<usize>() * 4);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        let body = postcard::to_stdvec(self).map_err(|e| Error::Checkpoint {
            path: "<memory>".into(),
            msg: e.to_string(),
        })?;
        out.extend_from_slice(&body);
        let crc = slayer_core::crc32(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        Ok(out)
    }

    /// Decodes and checks a checkpoint read from `path` (named in errors).
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::Checkpoint {
            path: path.into(),
            msg,
        };
        if bytes.len() < 6 || &bytes[..4] != MAGIC {
            return Err(bad("not a slayer checkpoint (bad magic)".into()));
        }
        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        let body = match version {
            1 => &bytes[6..],
            VERSION => {
                if bytes.len() < 10 {
                    return Err(bad("truncated".into()));
                }
                let (data, tail) = bytes.split_at(bytes.len() - 4);
                let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
                let found = slayer_core::crc32(data);
                if stored != found {
                    return Err(bad(format!(
                        "damaged or truncated: CRC-32 {found:08x} of the content, {stored:08x} stored"
                    )));
                }
                &data[6..]
            }
            _ => {
                return Err(bad(format!(
                    "format version {version}, this build reads 1 and {VERSION}"
                )))
            }
        };
        let ck: Self = postcard::from_bytes(body).map_err(|e| bad(format!("corrupt: {e}")))?;
        ck.network
            .check()
            .map_err(|m| bad(format!("inconsistent network: {m}")))?;
        Ok(ck)
    }

    /// Writes the checkpoint atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::files::write_atomic(path, &self.to_bytes()?)
    }

    /// Reads a checkpoint file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_truncation_is_an_error() {
        let cfg = ExperimentConfig::default_experiment();
        let net = Network::from_config(&cfg, 250, None, 1).unwrap();
        let opt = Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());
        let rec = EpochRecord {
            loss: 1.0,
            accuracy: Some(0.5),
            valid_loss: None,
            valid_accuracy: Some(0.25),
            output_spikes: 7,
            matched: false,
            seconds: 0.1,
        };
        let ck = Checkpoint::new(&cfg, &net, &opt, &[rec.clone(), rec.clone(), rec]);
        assert_eq!(ck.epoch, 3);
        let bytes = ck.to_bytes().unwrap();
        let p = Path::new("x.slyc");
        assert_eq!(Checkpoint::from_bytes(&bytes, p).unwrap(), ck);
        for len in (0..bytes.len()).step_by(97) {
            assert!(
                Checkpoint::from_bytes(&bytes[..len], p).is_err(),
                "prefix {len}"
            );
        }
        let mut wrong = bytes.clone();
        wrong[4] = 9;
        assert!(Checkpoint::from_bytes(&wrong, p)
            .unwrap_err()
            .to_string()
            .contains("version"));
        // Four bytes overwritten anywhere after the header: refused.
        for at in (6..bytes.len() - 4).step_by(31) {
            let mut bad = bytes.clone();
            for b in &mut bad[at..at + 4] {
                *b ^= 0x5a;
            }
            let err = Checkpoint::from_bytes(&bad, p).unwrap_err().to_string();
            assert!(err.contains("damaged"), "byte {at}: {err}");
        }
    }

    /// Version-1 checkpoints (no checksum, written before it existed) still load.
    #[test]
    fn version_1_checkpoints_still_load() {
        let cfg = ExperimentConfig::default_experiment();
        let net = Network::from_config(&cfg, 250, None, 1).unwrap();
        let opt = Optimiser::new(cfg.optimiser.clone(), &net.param_sizes());
        let ck = Checkpoint::new(&cfg, &net, &opt, &[]);
        let mut v1 = Vec::from(&MAGIC[..]);
        v1.extend_from_slice(&1u16.to_le_bytes());
        v1.extend_from_slice(&postcard::to_stdvec(&ck).unwrap());
        assert_eq!(
            Checkpoint::from_bytes(&v1, Path::new("old.slyc")).unwrap(),
            ck
        );
    }
}
