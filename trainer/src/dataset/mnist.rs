//! MNIST-style IDX images (MNIST, Fashion-MNIST), Poisson rate-encoded.

use std::path::Path;

use super::{examples, split, Augment, Dataset, Input, Item, Source};
use crate::data;
use crate::error::{Error, Result};

/// `mnist`: the `(images, labels)` IDX files of `--data` (at most `limit`
/// images) with `test` files as the validation set, or, without them,
/// `validation` of each class held out; a white pixel fires at `rate_hz`,
/// and `resample` draws fresh spikes on every training pass.
pub(super) fn build(
    src: &Source<'_>,
    (images, labels): (&str, &str),
    test: (Option<&str>, Option<&str>),
    validation: f64,
    rate_hz: f64,
    limit: Option<usize>,
    resample: bool,
) -> Result<Dataset> {
    let dir = src.dir("MNIST-style IDX images")?;
    let rate = rate_hz * src.cfg.binning().ts_ms / 1000.0;
    let seed = src.seed(6);
    let load = |i: &str, l: &str, seed, limit| load_mnist(dir, i, l, rate, seed, limit);
    let (items, size) = load(images, labels, seed, limit)?;
    let (train, valid) = match test {
        (Some(ti), Some(tl)) => {
            let (test, test_size) = load(ti, tl, !seed, None)?;
            if test_size != size {
                return Err(Error::Config(format!(
                    "mnist: test images are {test_size:?} but training images {size:?}"
                )));
            }
            (items, test)
        }
        (None, None) => split(items, validation, src.seed(5)),
        _ => {
            return Err(Error::Config(
                "mnist: give both test_images and test_labels, or neither".into(),
            ))
        }
    };
    if src.eval_list.is_some() {
        return Err(Error::Config(
            "--list is not supported for MNIST; eval uses the validation or test set".into(),
        ));
    }
    Ok(Dataset {
        inputs: size.0 * size.1,
        shape: Some((1, size.0, size.1)),
        classes: Some(10),
        train: examples(train),
        valid: examples(valid),
        augment: Augment {
            resample,
            ..Augment::default()
        },
    })
}

/// Loads MNIST-style IDX files (gzip or raw) from `dir`: `images` and
/// `labels` name the files, at most `limit` samples are kept. Each image
/// becomes an [`Input::Image`] with its own Poisson seed drawn from `seed`.
/// Returns the items and the image size `(rows, cols)`.
pub fn load_mnist(
    dir: &Path,
    images: &str,
    labels: &str,
    rate_per_bin: f64,
    seed: u64,
    limit: Option<usize>,
) -> Result<(Vec<Item>, (usize, usize))> {
    let (ipath, lpath) = (dir.join(images), dir.join(labels));
    let imgs = data::idx::read_images(&ipath)?;
    let labs = data::idx::read_labels(&lpath)?;
    if imgs.len() != labs.len() {
        return Err(Error::Config(format!(
            "{} holds {} images but {} holds {} labels",
            ipath.display(),
            imgs.len(),
            lpath.display(),
            labs.len()
        )));
    }
    let n = limit.map_or(imgs.len(), |l| l.min(imgs.len()));
    let items = (0..n)
        .map(|i| Item {
            name: format!("{images}#{i}"),
            input: Input::Image {
                pixels: imgs.image(i).to_vec(),
                rate_per_bin,
                seed: seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            },
            label: usize::from(labs[i]),
        })
        .collect();
    Ok((items, (imgs.rows, imgs.cols)))
}
