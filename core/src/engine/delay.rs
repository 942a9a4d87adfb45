//! Axonal delays as bit-packed rings of future outputs.
//!
//! The ring holds, for each of the next `D + 1` bins, the spikes that leave
//! the layer in that bin: an input spike of neuron `j` in bin `k` is written
//! straight into the slot of bin `k + delays[j]`. A bin then costs one write
//! per input spike plus a copy of the current slot, instead of a look-up per
//! neuron; the outputs are the same as shifting each neuron's train.

use super::spikes::{self, Spikes};
use crate::model::Delay;

/// One bin of a delay layer over its region `pos, ring[(D+1)·W], out[W]`
/// (`W = ⌈n/32⌉` words): schedules this bin's input spikes and moves the
/// spikes due now into `out`.
pub(crate) fn step(region: &mut [i32], n: usize, d: &Delay<'_>, input: Spikes<'_>) {
    let w = n.div_ceil(32);
    let slots = usize::from(d.max_delay) + 1;
    let Some((pos_word, rest)) = region.split_first_mut() else {
        return;
    };
    let (ring, rest) = rest.split_at_mut((slots * w).min(rest.len()));
    let keep = w.min(rest.len());
    let out = &mut rest[..keep];
    let pos = usize::try_from(*pos_word).unwrap_or(0) % slots;
    for i in input {
        let j = i as usize;
        // Validated models have delays ≤ max_delay; `% slots` keeps any
        // other value inside the ring.
        let dj = d.delays.get(j).map_or(0, |&v| usize::from(v) % slots);
        let slot = if pos + dj >= slots {
            pos + dj - slots
        } else {
            pos + dj
        };
        if let Some(words) = ring.get_mut(slot * w..(slot + 1) * w) {
            spikes::set(words, j);
        }
    }
    if let Some(cur) = ring.get_mut(pos * w..(pos + 1) * w) {
        for (o, c) in out.iter_mut().zip(cur.iter_mut()) {
            *o = core::mem::take(c);
        }
    } else {
        out.fill(0);
    }
    *pos_word = ((pos + 1) % slots) as i32;
}
