//! The host path of the engine (x86-64, AArch64 and other 64-bit
//! targets): the block-vectorised population update, which clears the
//! accumulators it reads, and the grouped int8 dense scatter. See
//! [`super`] for the contract both paths keep.

use crate::engine::population::{AccOrder, Population};
use crate::engine::spikes::Spikes;
use crate::engine::sum::{Plain, Read, I8};
use crate::fixed::NeuronConsts;

/// One bin of a population: [`Population::update`].
#[inline]
pub(crate) fn update(
    pop: &mut Population<'_>,
    k: &NeuronConsts,
    order: AccOrder,
    parity: bool,
    look: bool,
) -> bool {
    pop.update(k, order, parity, look)
}

/// Nothing: the update left the accumulators at 0.
#[inline(always)]
pub(crate) fn fresh(_acc: &mut [i32]) {}

/// Nothing: the update clamps its input itself.
#[inline(always)]
pub(crate) fn fit(_acc: &mut [i32], _frac_bits: u8, _bound: u64) {}

/// Dense int8 scatter with plain additions (no sum can overflow), four
/// columns at a time: the four weights of an output are summed in 16 bits
/// (at most 4 · 128 in magnitude) and added to the accumulator once, so
/// the accumulators are read and written a quarter as often. Exact: with
/// no overflow the order of the additions does not matter.
pub(crate) fn dense_i8(acc: &mut [i32], weights: &[u8], n: usize, mut spikes: Spikes<'_>) {
    let col = |i: u32| weights.get(i as usize * n..(i as usize + 1) * n);
    loop {
        let mut g = [0u32; 4];
        let mut k = 0;
        while k < 4 {
            match spikes.next() {
                Some(i) => {
                    g[k] = i;
                    k += 1;
                }
                None => break,
            }
        }
        if k < 4 {
            for &i in &g[..k] {
                if let Some(c) = col(i) {
                    I8::add_run::<Plain>(acc, c);
                }
            }
            return;
        }
        if let (Some(c0), Some(c1), Some(c2), Some(c3)) =
            (col(g[0]), col(g[1]), col(g[2]), col(g[3]))
        {
            for ((((a, &w0), &w1), &w2), &w3) in acc.iter_mut().zip(c0).zip(c1).zip(c2).zip(c3) {
                let s = i16::from(w0 as i8)
                    + i16::from(w1 as i8)
                    + i16::from(w2 as i8)
                    + i16::from(w3 as i8);
                *a = a.wrapping_add(i32::from(s));
            }
        } else {
            // Only for a model whose weights are too short (validation
            // rejects those): add whatever columns exist.
            for &i in &g {
                if let Some(c) = col(i) {
                    I8::add_run::<Plain>(acc, c);
                }
            }
        }
    }
}
