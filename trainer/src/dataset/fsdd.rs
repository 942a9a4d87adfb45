//! The Free Spoken Digit Dataset: WAV recordings of spoken digits,
//! encoded into spikes by a cochlea-like filterbank.

use std::path::{Path, PathBuf};

use super::{examples, split_stratified, Augment, Dataset, Input, Item, Source};
use crate::data;
use crate::error::{Error, Result};
use crate::spikes::SpikeTrain;

/// `fsdd`: the recordings of `train.txt` (`eval`'s list file instead when
/// given, every recording then for validation), encoded into `channels`
/// input trains, `validation` of every (speaker, digit) group held out.
pub(super) fn build(src: &Source<'_>, validation: f64, channels: usize) -> Result<Dataset> {
    let dir = src.dir("FSDD recordings")?;
    let b = src.cfg.binning();
    let encoder = data::audio::AudioEncoder {
        channels,
        ts_ms: b.ts_ms,
        bins: b.bins,
        ..Default::default()
    };
    let items = load_fsdd(dir, src.eval_list, &encoder)?;
    let (train, valid) = if src.eval_list.is_some() {
        (Vec::new(), items.into_iter().map(|(it, _)| it).collect())
    } else {
        split_stratified(items, validation, src.seed(5))
    };
    Ok(Dataset {
        inputs: channels,
        shape: None,
        classes: Some(10),
        train: examples(train),
        valid: examples(valid),
        augment: Augment::default(),
    })
}

/// Loads the Free Spoken Digit Dataset from `dir`: a list file (`list`,
/// default `dir/train.txt`) of `file digit [speaker]` lines, the WAV files in
/// `dir/recordings/` or, where not there, in `dir` itself (a folder holding
/// only the listed files). Every recording is encoded once by `encoder` (in
/// parallel). Returns the items and each one's speaker (`-` when not given).
pub fn load_fsdd(
    dir: &Path,
    list: Option<&Path>,
    encoder: &data::audio::AudioEncoder,
) -> Result<Vec<(Item, String)>> {
    let list = list.map_or_else(|| dir.join("train.txt"), Path::to_path_buf);
    let text = std::fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(file), Some(digit)) = (f.first(), f.get(1)) else {
            return Err(Error::Config(format!(
                "{}:{}: expected `file digit [speaker]`",
                list.display(),
                n + 1
            )));
        };
        let label: usize = digit.parse().map_err(|_| {
            Error::Config(format!(
                "{}:{}: digit {digit:?} is not a number",
                list.display(),
                n + 1
            ))
        })?;
        let in_recordings = dir.join("recordings").join(file);
        let path = if in_recordings.exists() {
            in_recordings
        } else {
            dir.join(file)
        };
        rows.push((path, label, f.get(2).unwrap_or(&"-").to_string()));
    }
    let load = |(path, label, speaker): &(PathBuf, usize, String)| -> Result<(Item, String)> {
        let r = encoder.encode_file(path)?;
        Ok((
            Item {
                name: path.display().to_string(),
                input: Input::Sparse(SpikeTrain::from_raster(&r)),
                label: *label,
            },
            speaker.clone(),
        ))
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        rows.par_iter().map(load).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        rows.iter().map(load).collect()
    }
}
