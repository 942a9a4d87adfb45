//! DVS128 Gesture: hand gestures on a 128×128 two-polarity event camera,
//! from the original AEDAT 3.1 recordings or a list of `.bs2` clips.

use std::path::Path;

use slayer_core::Event2d;

use super::{examples, read_list, split, Augment, Dataset, Input, Item, Source};
use crate::data;
use crate::error::{Error, Result};

/// `dvs_gesture`: the recordings of `--data` on the sensor divided by
/// `downsample`, `validation` of each class held out by a seeded split,
/// `augment` on training inputs (`eval`'s list file is refused).
pub(super) fn build(
    src: &Source<'_>,
    validation: f64,
    augment: Augment,
    downsample: usize,
) -> Result<Dataset> {
    let dir = src.dir("DVS Gesture recordings")?;
    if src.eval_list.is_some() {
        return Err(Error::Config(
            "--list is not supported for DVS Gesture; eval uses the validation split".into(),
        ));
    }
    let items = load_dvs_gesture(dir, downsample)?;
    let (train, valid) = split(items, validation, src.seed(5));
    let s = data::dvs_gesture::SENSOR_SIZE / downsample;
    Ok(Dataset {
        inputs: 2 * s * s,
        shape: Some((2, s, s)),
        classes: Some(11),
        train: examples(train),
        valid: examples(valid),
        augment,
    })
}

/// Loads DVS Gesture samples from `dir`: the original data set's layout
/// (`trials_to_train.txt` listing AEDAT 3.1 recordings, each gesture of a
/// recording's `_labels.csv` one sample) when that list exists, otherwise a
/// list file of `.bs2` clips (`labels.txt`: `id<TAB>class`, 0-based, as the
/// data kit's `dvs-gesture/`). `downsample` (1 = none) divides pixel
/// coordinates, as `slayer stream` maps a 128×128 camera onto a
/// `128/d`-sided input (the sensor divides evenly, so nothing is cropped).
pub fn load_dvs_gesture(dir: &Path, downsample: usize) -> Result<Vec<Item>> {
    use data::dvs_gesture::{list_trials, load_trial, Split, SENSOR_SIZE};
    let d = downsample;
    if d == 0 || !SENSOR_SIZE.is_multiple_of(d) {
        return Err(Error::Config(format!(
            "downsample = {d}: must divide the sensor's {SENSOR_SIZE} pixels"
        )));
    }
    let events_input = |mut events: Vec<Event2d>| {
        if d > 1 {
            for e in &mut events {
                e.x /= d as u16;
                e.y /= d as u16;
            }
        }
        Input::Events2d {
            events,
            width: SENSOR_SIZE / d,
            height: SENSOR_SIZE / d,
            polarities: 2,
        }
    };
    let mut items = Vec::new();
    if dir.join(Split::Train.list_file()).is_file() {
        for trial in list_trials(dir, Split::Train)? {
            let name = trial.display().to_string();
            for (i, (events, label)) in load_trial(&trial)?.into_iter().enumerate() {
                items.push(Item {
                    name: format!("{name}#{i}"),
                    input: events_input(events),
                    label,
                });
            }
        }
    } else {
        for e in read_list(&dir.join("labels.txt"))? {
            let p = dir.join(format!("{}.bs2", e.id));
            items.push(Item {
                name: p.display().to_string(),
                input: events_input(data::read_bs2(&p)?),
                label: e.label,
            });
        }
    }
    if items.is_empty() {
        return Err(Error::Config(format!(
            "no DVS Gesture samples found in {}",
            dir.display()
        )));
    }
    Ok(items)
}
