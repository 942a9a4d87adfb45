//! Axonal delays as bit-packed ring buffers.

use super::spikes::{self, Spikes};
use crate::model::Delay;

/// One bin of a delay layer over its region `pos, ring[(D+1)·W], out[W]`
/// (`W = ⌈n/32⌉` words): stores this bin's input spikes in the ring and
/// writes neuron `j`'s input from `delays[j]` bins ago into `out`.
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
    if let Some(cur) = ring.get_mut(pos * w..(pos + 1) * w) {
        cur.fill(0);
        for i in input {
            spikes::set(cur, i as usize);
        }
    }
    out.fill(0);
    for (j, &dj) in d.delays.iter().enumerate().take(n) {
        let dj = usize::from(dj) % slots;
        let slot = if pos >= dj {
            pos - dj
        } else {
            pos + slots - dj
        };
        if spikes::get(&ring[(slot * w).min(ring.len())..], j) {
            spikes::set(out, j);
        }
    }
    *pos_word = ((pos + 1) % slots) as i32;
}
