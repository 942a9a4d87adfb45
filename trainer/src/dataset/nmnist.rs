//! N-MNIST: saccade recordings of MNIST digits on a 34×34 two-polarity
//! sensor, read from a list file of `.bs2` samples or the downloaded
//! dataset's folders.

use std::path::{Path, PathBuf};

use super::{examples, read_list, split, Augment, Dataset, Input, Item, Source};
use crate::data;
use crate::error::{Error, Result};

/// `nmnist`: the samples of `list` (relative to `--data`; `eval`'s list file
/// instead when given, every sample then for validation), `validation` of
/// each class held out by a seeded split, `augment` on training inputs.
pub(super) fn build(
    src: &Source<'_>,
    list: Option<&str>,
    validation: f64,
    augment: Augment,
) -> Result<Dataset> {
    let dir = src.dir("N-MNIST samples")?;
    let list_path = src
        .eval_list
        .map(Path::to_path_buf)
        .or_else(|| list.map(|l| dir.join(l)));
    let items = load_nmnist(dir, list_path.as_deref())?;
    let (train, valid) = if src.eval_list.is_some() {
        (Vec::new(), items)
    } else {
        split(items, validation, src.seed(5))
    };
    Ok(Dataset {
        inputs: 2 * NMNIST_SIZE * NMNIST_SIZE,
        shape: Some((2, NMNIST_SIZE, NMNIST_SIZE)),
        classes: Some(10),
        train: examples(train),
        valid: examples(valid),
        augment,
    })
}

/// N-MNIST sensor size.
pub const NMNIST_SIZE: usize = 34;

/// Loads N-MNIST samples from `dir`: either the downloaded dataset's layout
/// (`dir/Train/<digit>/<id>.bin`, used when `dir/Train` exists and no list is
/// given) or a list file (`id<TAB>label`, default `train1K.txt` in `dir`) of
/// `<id>.bs2` (or `<id>.bin`) files. Files are read in parallel.
pub fn load_nmnist(dir: &Path, list: Option<&Path>) -> Result<Vec<Item>> {
    let train = dir.join("Train");
    let files: Vec<(PathBuf, usize)> = if list.is_none() && train.is_dir() {
        let mut files = Vec::new();
        for digit in 0..10 {
            let d = train.join(digit.to_string());
            if !d.is_dir() {
                continue;
            }
            let rd = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
            let mut names: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "bin" || x == "bs2"))
                .collect();
            names.sort();
            files.extend(names.into_iter().map(|p| (p, digit)));
        }
        files
    } else {
        let list = list.map_or_else(|| dir.join("train1K.txt"), Path::to_path_buf);
        read_list(&list)?
            .into_iter()
            .map(|e| {
                let bs2 = dir.join(format!("{}.bs2", e.id));
                let bin = dir.join(format!("{}.bin", e.id));
                match (bs2.exists(), bin.exists()) {
                    (true, _) => Ok((bs2, e.label)),
                    (false, true) => Ok((bin, e.label)),
                    (false, false) => Err(Error::Config(format!(
                        "{}: sample {} of {} not found ({}.bs2 or {}.bin)",
                        dir.display(),
                        e.id,
                        list.display(),
                        e.id,
                        e.id
                    ))),
                }
            })
            .collect::<Result<_>>()?
    };
    if files.is_empty() {
        return Err(Error::Config(format!(
            "no N-MNIST samples found in {}",
            dir.display()
        )));
    }
    let load = |(p, label): &(PathBuf, usize)| -> Result<Item> {
        let events = data::read_bs2(p)?;
        Ok(Item {
            name: p.display().to_string(),
            input: Input::Events2d {
                events,
                width: NMNIST_SIZE,
                height: NMNIST_SIZE,
                polarities: 2,
            },
            label: *label,
        })
    };
    #[cfg(feature = "parallel")]
    {
        use rayon::prelude::*;
        files.par_iter().map(load).collect()
    }
    #[cfg(not(feature = "parallel"))]
    {
        files.iter().map(load).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Binning;
    use crate::dataset::tests::data_dir;

    #[test]
    fn nmnist_small_loads_and_splits_stratified() {
        let items = load_nmnist(&data_dir().join("nmnist-small"), None).unwrap();
        assert_eq!(items.len(), 1000);
        let (train, valid) = split(items.clone(), 0.1, 1);
        assert_eq!(train.len() + valid.len(), 1000);
        assert!((95..=105).contains(&valid.len()), "{}", valid.len());
        for c in 0..10 {
            let n = valid.iter().filter(|i| i.label == c).count();
            let total = items.iter().filter(|i| i.label == c).count();
            assert_eq!(n, (total as f64 * 0.1).round() as usize, "class {c}");
        }
        let (_, again) = split(items, 0.1, 1);
        assert_eq!(
            again.iter().map(|i| &i.name).collect::<Vec<_>>(),
            valid.iter().map(|i| &i.name).collect::<Vec<_>>()
        );
        let r = train[0].input.raster(
            &Binning {
                ts_ms: 1.0,
                bins: 300,
            },
            None,
        );
        assert_eq!(r.neurons(), 2 * 34 * 34);
        assert!(r.count() > 1000);
    }

    #[test]
    fn downloaded_folder_layout_is_read_without_a_list() {
        let root = std::env::temp_dir().join(format!("slayer-nmnist-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (digit, id) in [(0usize, "2"), (5, "1")] {
            let d = root.join("Train").join(digit.to_string());
            std::fs::create_dir_all(&d).unwrap();
            std::fs::copy(
                data_dir().join(format!("nmnist-small/{id}.bs2")),
                d.join(format!("{id}.bin")),
            )
            .unwrap();
        }
        let items = load_nmnist(&root, None).unwrap();
        assert_eq!(
            items.iter().map(|i| i.label).collect::<Vec<_>>(),
            vec![0, 5]
        );
        let _ = std::fs::remove_dir_all(root);
    }
}
