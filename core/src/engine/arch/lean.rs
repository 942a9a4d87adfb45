//! The engine's path for 32-bit Arm (Cortex-M): scalar loops shaped for
//! an in-order core without SIMD, where the host path's block-vectorised
//! loops cost more than they save. Same arithmetic, bit for bit: the unit
//! tests below compare the two paths, `cargo test -p slayer-core --features
//! lean` runs every core test through this one on a host, and the firmware
//! parity test compares a Cortex-M4 in QEMU with the host engine.
//!
//! * **Neuron update** ([`update`]): one pass per block of 32 neurons runs
//!   every `ε` filter straight from the accumulators (no copy, no clamp:
//!   [`fit`] keeps the input in range after the scatter) and tests `p ≥ θ`;
//!   the `ν` filter then runs only for the neurons flagged in the
//!   population's `busy` bits (`ν` state not 0) or that spiked in the last
//!   bin, and their test is redone with `r`. Every other neuron has
//!   `r1 = r2 = 0` and no kick, so its filter would compute 0 and leave
//!   its state as it is: skipping it is exact. On ARMv6-M (Cortex-M0/M0+,
//!   no 32 × 32 → 64-bit multiply) a filter whose coefficients lie on the
//!   coarse grid (`NeuronConsts::coarse`, `slayer export --coefficients
//!   coarse`) takes [`pole_coarse`]: the same sum from six 32-bit products
//!   instead of twelve 16-bit partial products and their carries, for
//!   every neuron whose state and input are below `2^27` (the general step
//!   otherwise). The saturation of the `ε`
//!   sum is a branch to a cold function (taken only when the state reaches
//!   `±2^31`) instead of a select. The accumulators are not cleared: every
//!   scatter of a population on this path overwrites them ([`dense_i8`]) or
//!   clears them first (`scatter.rs`).
//! * **Dense int8 scatter** ([`dense_i8`], when no partial sum can overflow
//!   `i32`): the input spikes are added eight at a time, a word of four
//!   weights per column and load, in 16-bit lanes (SWAR: `UXTB16` splits a
//!   word into two pairs of lanes; each weight is offset by 128 so the lanes
//!   stay non-negative, and the offsets are subtracted once per group). The
//!   sums are exact: a lane holds at most 8 · 255 < 2^16, and the
//!   plain-addition condition bounds every accumulator (wrapping adds then
//!   give the exact sum).
//!
//! On a Cortex-M4 (QEMU, N-MNIST MLP 2312-128-10 int8) this halves the
//! instructions per time step; see `docs/benchmarks.md`.

// On hosts this module is compiled only for its tests.
#![cfg_attr(
    not(any(target_arch = "arm", target_arch = "riscv32", feature = "lean")),
    allow(dead_code)
)]

use crate::engine::filter::HALF;
use crate::engine::population::{AccOrder, Population};
use crate::engine::spikes::Spikes;
use crate::engine::sum::{Plain, Read, I8};
use crate::fixed::{NeuronConsts, COEF_FRAC_BITS, COEF_GRID_STEP};

/// `sat(acc >> 30)` (as `filter::narrow`), with the saturation out
/// of line: one compare and a branch that is never taken in practice.
#[inline(always)]
fn narrow(acc: i64) -> i32 {
    let hi = (acc >> 32) as i32;
    if (hi.wrapping_add(1 << 29) as u32) < (1 << 30) {
        (acc >> COEF_FRAC_BITS) as i32
    } else {
        saturated(hi)
    }
}

/// The saturated value for a sum whose high word is `hi` (out of range).
#[cold]
#[inline(never)]
fn saturated(hi: i32) -> i32 {
    if hi < 0 {
        i32::MIN
    } else {
        i32::MAX
    }
}

/// Whether this is ARMv6-M (Cortex-M0/M0+/M1): the Arm core without a
/// 32 × 32 → 64-bit multiply (`SMULL`), told apart by its missing
/// compare-and-swap atomics.
const ARMV6M: bool = cfg!(all(target_arch = "arm", not(target_has_atomic = "32")));

/// `a · b` in 64 bits. ARMv6-M has no `SMULL`: there a product of i64s is a
/// call to the 64 × 64-bit multiply routine, and four 16 × 16-bit `MULS`
/// ([`mul_wide_parts`]) do it in a third of the instructions.
#[inline(always)]
fn mul_wide(a: i32, b: i32) -> i64 {
    if ARMV6M {
        mul_wide_parts(a, b)
    } else {
        i64::from(a) * i64::from(b)
    }
}

/// `a · b` from 16-bit halves: `a = ah·2^16 + al` (`ah` signed, `al` not),
/// likewise `b`; every partial product fits 32 bits (`|ah·bl| < 2^31`).
#[inline(always)]
fn mul_wide_parts(a: i32, b: i32) -> i64 {
    let (al, ah) = (a & 0xFFFF, a >> 16);
    let (bl, bh) = (b & 0xFFFF, b >> 16);
    let low = (al as u32) * (bl as u32);
    let mid = i64::from(ah * bl) + i64::from(al * bh);
    (i64::from(ah * bh) << 32) + (mid << 16) + i64::from(low)
}

/// [`pole`](crate::engine::filter::pole) with [`narrow`] and [`mul_wide`].
#[inline(always)]
fn pole_lean(a2: i32, neg_a_sq: i32, y1: i32, y2: i32, start: i64) -> i32 {
    let mut acc = start;
    acc += mul_wide(a2, y1);
    acc += mul_wide(neg_a_sq, y2);
    narrow(acc)
}

/// The coefficients `[2a, −a², c]` of a double pole on the coarse grid
/// (Q2.30 multiples of `2^15`, see `NeuronConsts::coarse`) as the factors
/// `q = K / 2^15` that [`pole_coarse`] multiplies by: `0 ≤ 2a_q < 2^16`,
/// `−2^15 ≤ −a²_q ≤ 0`, `|c_q| ≤ 2^15`.
#[derive(Debug, Clone, Copy)]
struct Coarse {
    a2: i32,
    neg_a_sq: i32,
    c: i32,
}

impl Coarse {
    /// The factors, when the Q2.30 coefficients lie on the grid and in the
    /// ranges `NeuronConsts::validate` guarantees (`None` otherwise).
    fn new(a2: i32, neg_a_sq: i32, c: i32) -> Option<Self> {
        let on = |v: i32| v % COEF_GRID_STEP == 0;
        let k = Self {
            a2: a2 / COEF_GRID_STEP,
            neg_a_sq: neg_a_sq / COEF_GRID_STEP,
            c: c / COEF_GRID_STEP,
        };
        let fits = (0..1 << 16).contains(&k.a2)
            && (-(1 << 15)..=0).contains(&k.neg_a_sq)
            && (-(1 << 15)..=1 << 15).contains(&k.c);
        (on(a2) && on(neg_a_sq) && on(c) && fits).then_some(k)
    }
}

/// [`pole`](crate::engine::filter::pole)`(2a, −a², y1, y2, c·x + ½)` for
/// coefficients on the coarse grid, from six 32-bit products (one `MULS`
/// each on ARMv6-M, against twelve and their carries for the 64-bit
/// products), when `|y1|, |y2|, |x| < 2^27` (`None` otherwise: the caller
/// takes the general step). Exact: with `K = q·2^15` the sum is `2^15·T +
/// 2^29`, `T = Σ q·v`; each `v = vh·2^14 + vl` (`0 ≤ vl < 2^14`) gives
/// `T = 2^14·H + L` with `H = Σ q·vh` (`|H| < 2^30`) and `L = Σ q·vl`
/// (`−2^30 < L < 2^30 + 2^29`), and `⌊(2^14·H + L + 2^14) / 2^15⌋ = (H +
/// ((L + 2^14) >> 14)) >> 1`, which fits `i32` (so nothing saturates).
#[inline(always)]
fn pole_coarse(k: Coarse, y1: i32, y2: i32, x: i32) -> Option<i32> {
    const LIMIT: i32 = 1 << 27;
    const LOW: i32 = (1 << 14) - 1;
    let lifted = y1.wrapping_add(LIMIT) | y2.wrapping_add(LIMIT) | x.wrapping_add(LIMIT);
    if lifted as u32 >= 2 * LIMIT as u32 {
        return None;
    }
    let l = k.a2 * (y1 & LOW) + k.neg_a_sq * (y2 & LOW) + k.c * (x & LOW) + (1 << 14);
    let h = k.a2 * (y1 >> 14) + k.neg_a_sq * (y2 >> 14) + k.c * (x >> 14);
    Some((h + (l >> 14)) >> 1)
}

/// Clamps a population's summed input to what the `ε` update can shift
/// into state units exactly (`|a| ≤ i32::MAX >> frac_bits`), unless
/// `bound` (on every `|a|`, from the scatter) shows that it already fits.
/// The host path clamps in its `ε` loop; the same clamp here, once after
/// the scatter, gives the same values.
pub(crate) fn fit(acc: &mut [i32], frac_bits: u8, bound: u64) {
    let hi = i32::MAX >> u32::from(frac_bits);
    if bound > hi as u64 {
        for a in acc.iter_mut() {
            *a = (*a).clamp(-hi - 1, hi);
        }
    }
}

/// One bin of a population: [`update_linear`] for linear accumulators,
/// [`Population::update`] (the host's block update) for the others. One
/// call from the engine's step, the linear update inlined here: inlining
/// it into the step costs the step's loops registers (≈ 270 instructions
/// per bin on the Cortex-M4 N-MNIST model).
#[inline(never)]
pub(crate) fn update(
    pop: &mut Population<'_>,
    k: &NeuronConsts,
    order: AccOrder,
    parity: bool,
    look: bool,
) -> bool {
    if order == AccOrder::Linear {
        update_linear(pop, k, parity);
        false
    } else {
        pop.update(k, order, parity, look)
    }
}

/// Clears the accumulators: the update left last bin's sums in them.
#[inline(always)]
pub(crate) fn fresh(acc: &mut [i32]) {
    acc.fill(0);
}

/// One bin of a population with linear accumulators (see the module
/// documentation). `parity` as for [`Population::update`].
#[inline(always)]
pub(crate) fn update_linear(pop: &mut Population<'_>, k: &NeuronConsts, parity: bool) {
    update_linear_with::<ARMV6M>(pop, k, parity);
}

/// [`update_linear`]; `NARROW` (ARMv6-M, and the tests): filters whose
/// coefficients lie on the coarse grid take [`pole_coarse`].
#[inline(always)]
fn update_linear_with<const NARROW: bool>(
    pop: &mut Population<'_>,
    k: &NeuronConsts,
    parity: bool,
) {
    let [p0, p1] = &mut pop.p;
    let (py1, py2): (&[i32], &mut [i32]) = if parity {
        (&**p1, &mut **p0)
    } else {
        (&**p0, &mut **p1)
    };
    let [r0, r1] = &mut pop.r;
    let (ry1, ry2): (&[i32], &mut [i32]) = if parity {
        (&**r1, &mut **r0)
    } else {
        (&**r0, &mut **r1)
    };
    let (nu_a2, nu_neg_a_sq, theta) = (k.nu_a2, -k.nu_a_sq, k.theta);
    let kick = (i64::from(k.nu_1) << COEF_FRAC_BITS) + HALF;
    let coarse = |a2, neg_a_sq, c| {
        if NARROW {
            Coarse::new(a2, neg_a_sq, c)
        } else {
            None
        }
    };
    let eps_coarse = coarse(k.eps_a2, -k.eps_a_sq, k.eps_c);
    // ν's input is `ν1·s` in state units: a gain of 1 (Q2.30).
    let nu_coarse = coarse(nu_a2, nu_neg_a_sq, 1 << COEF_FRAC_BITS);
    let blocks = py1
        .chunks(32)
        .zip(py2.chunks_mut(32))
        .zip(pop.acc.chunks(32))
        .zip(pop.spikes.iter_mut().zip(pop.busy.iter_mut()));
    for (b, (((p1, p2), acc), (word, busy))) in blocks.enumerate() {
        // ε, and the spike test for r = 0. `acc` is left as it is: the
        // scatter overwrites it (`dense_i8`) or clears it first.
        let mut new = match eps_coarse {
            Some(c) => eps_narrow(p1, p2, acc, k, c),
            None => eps(p1, p2, acc, k),
        };
        // ν for the neurons with a ν state or a kick; their test again.
        let old = *word as u32;
        let mut todo = old | *busy as u32;
        let mut still = 0u32;
        let j0 = 32 * b;
        while todo != 0 {
            let i = todo.trailing_zeros();
            todo &= todo - 1;
            let j = j0 + i as usize;
            let (Some(&p), Some(&r1), Some(r2)) = (p2.get(i as usize), ry1.get(j), ry2.get_mut(j))
            else {
                break;
            };
            let fired = old >> i & 1 != 0;
            let narrow =
                nu_coarse.and_then(|c| pole_coarse(c, r1, *r2, if fired { k.nu_1 } else { 0 }));
            let r = match narrow {
                Some(r) => r,
                None => pole_lean(nu_a2, nu_neg_a_sq, r1, *r2, if fired { kick } else { HALF }),
            };
            *r2 = r;
            if p.saturating_add(r) >= theta {
                new |= 1 << i;
            } else {
                new &= !(1 << i);
            }
            if r | r1 != 0 {
                still |= 1 << i;
            }
        }
        *word = new as i32;
        *busy = still as i32;
    }
}

/// The `ε` filters of a block (at most 32 neurons) take their input
/// `acc`: `p2 ← pole(p1, p2, c·(acc << f))`; returns the bits of
/// `p2 ≥ θ`. Not inlined: the loop gets the registers to itself.
#[inline(never)]
fn eps(p1: &[i32], p2: &mut [i32], acc: &[i32], k: &NeuronConsts) -> u32 {
    let f = u32::from(k.frac_bits);
    let (a2, neg_a_sq, c, theta) = (k.eps_a2, -k.eps_a_sq, k.eps_c, k.theta);
    let mut new = 0u32;
    let mut bit = 1u32;
    for ((&p1, p2), &a) in p1.iter().zip(p2.iter_mut()).zip(acc) {
        // `fit` kept `a << f` within i32.
        let x = a << f;
        let p = eps_step(a2, neg_a_sq, c, p1, *p2, x);
        *p2 = p;
        if p >= theta {
            new |= bit;
        }
        bit <<= 1;
        // Keeps LLVM from unrolling the loop (the unrolled body spills).
        core::hint::black_box(());
    }
    new
}

/// [`eps`] for coefficients on the coarse grid ([`pole_coarse`], the
/// general step for a neuron whose values are out of its range). Runs
/// from the block's last neuron down, shifting each test into the bits
/// (no bit mask to carry): fewer live values for ARMv6-M's eight low
/// registers.
#[inline(never)]
fn eps_narrow(p1: &[i32], p2: &mut [i32], acc: &[i32], k: &NeuronConsts, q: Coarse) -> u32 {
    let f = u32::from(k.frac_bits);
    let theta = k.theta;
    let n = p1.len().min(p2.len()).min(acc.len());
    let mut new = 0u32;
    for ((&p1, p2), &a) in p1[..n].iter().zip(&mut p2[..n]).zip(&acc[..n]).rev() {
        // `fit` kept `a << f` within i32.
        let x = a << f;
        let p = match pole_coarse(q, p1, *p2, x) {
            Some(p) => p,
            None => wide(p1, *p2, x, k),
        };
        *p2 = p;
        new = new << 1 | u32::from(p >= theta);
        // Keeps LLVM from unrolling the loop (the unrolled body spills).
        core::hint::black_box(());
    }
    new
}

/// The general `ε` step of one neuron: `pole(2α, −α², p1, p2, c·x + ½)`.
#[inline(always)]
fn eps_step(a2: i32, neg_a_sq: i32, c: i32, p1: i32, p2: i32, x: i32) -> i32 {
    pole_lean(a2, neg_a_sq, p1, p2, mul_wide(c, x) + HALF)
}

/// [`eps_step`] out of line (rarely taken by [`eps_narrow`]).
#[cold]
#[inline(never)]
fn wide(p1: i32, p2: i32, x: i32, k: &NeuronConsts) -> i32 {
    eps_step(k.eps_a2, -k.eps_a_sq, k.eps_c, p1, p2, x)
}

/// A word of four int8 weights: an aligned `u32` (one load on any core) or
/// four bytes (on ARMv6-M, which has no unaligned loads, four byte loads).
trait Word: Copy + 'static {
    /// The weights as a little-endian word.
    fn get(self) -> u32;
}

impl Word for u32 {
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from_le(self)
    }
}

impl Word for [u8; 4] {
    #[inline(always)]
    fn get(self) -> u32 {
        u32::from_le_bytes(self)
    }
}

/// The 16-bit lanes of bytes 0 and 2 and of bytes 1 and 3 of the four
/// int8 weights `w`, each offset by 128.
#[inline(always)]
fn lanes<W: Word>(w: W) -> (u32, u32) {
    const LOW: u32 = 0x00FF_00FF;
    let x = w.get() ^ 0x8080_8080;
    (x & LOW, (x >> 8) & LOW)
}

/// Adds `(e, o)`, the lane sums of `k` columns, less the offset of 128
/// per column, to four accumulators (`SET`: stores them instead).
#[inline(always)]
fn put<const SET: bool>(a: &mut [i32], e: u32, o: u32, k: i32) {
    let off = 128 * k;
    let v = [e & 0xFFFF, o & 0xFFFF, e >> 16, o >> 16].map(|v| v as i32 - off);
    if SET {
        a.copy_from_slice(&v);
    } else {
        for (a, v) in a.iter_mut().zip(v) {
            *a = a.wrapping_add(v);
        }
    }
    // Keeps LLVM from unrolling the loop (the unrolled body spills).
    core::hint::black_box(());
}

/// `add_k!(name, k, c0, …)`: `fn name::<W, SET>(acc, cols)` adds the first
/// `k` columns of `cols` (words of four weights) to `acc` (`SET`: stores
/// their sum), four accumulators at a time (nothing when `cols` is
/// shorter). Not inlined: each gets its own registers.
macro_rules! add_k {
    ($name:ident, $k:literal, $($c:ident),+) => {
        #[inline(never)]
        fn $name<W: Word, const SET: bool>(acc: &mut [i32], cols: &[&[W]]) {
            let [$($c,)+ ..] = cols else { return };
            let it = acc.chunks_exact_mut(4)$(.zip($c.iter()))+;
            for add_k!(@pat (a) $($c),+) in it {
                let (mut e, mut o) = (0u32, 0u32);
                $(
                    let (x, y) = lanes(*$c);
                    e += x;
                    o += y;
                )+
                put::<SET>(a, e, o, $k);
            }
        }
    };
    (@pat ($($acc:tt)*) $c:ident) => { ($($acc)*, $c) };
    (@pat ($($acc:tt)*) $c:ident, $($rest:ident),+) => {
        add_k!(@pat (($($acc)*, $c)) $($rest),+)
    };
}

add_k!(add1, 1, c0);
add_k!(add2, 2, c0, c1);
add_k!(add3, 3, c0, c1, c2);
add_k!(add4, 4, c0, c1, c2, c3);
add_k!(add5, 5, c0, c1, c2, c3, c4);
add_k!(add6, 6, c0, c1, c2, c3, c4, c5);
add_k!(add7, 7, c0, c1, c2, c3, c4, c5, c6);
add_k!(add8, 8, c0, c1, c2, c3, c4, c5, c6, c7);

/// Dense int8 scatter with plain additions: `acc` becomes the sum of the
/// weight columns `i` (`col` weights each) of the spikes `i`; its old
/// values are ignored (the lean update leaves them). Only for when no
/// partial sum can leave `i32` (the caller checks), as the host's plain
/// path.
///
/// When the columns are whole aligned words (`col` a multiple of 4 and
/// `weights` word-aligned, as a model in the firmware's model region:
/// see [`WEIGHT_ALIGN`](crate::model::WEIGHT_ALIGN)) they are read as
/// words; otherwise four bytes at a time.
pub(crate) fn dense_i8(acc: &mut [i32], weights: &[u8], col: usize, spikes: Spikes<'_>) {
    dense_i8_rows(acc, weights, col, spikes);
}

/// [`dense_i8`] on a weight blob of columns of `col` weights.
#[inline(always)]
fn dense_i8_rows(acc: &mut [i32], weights: &[u8], col: usize, spikes: Spikes<'_>) {
    let len = col.min(acc.len());
    let acc = &mut acc[..len];
    let wide = len & !3;
    if col % 4 == 0 {
        if let Ok(words) = bytemuck::try_cast_slice::<u8, u32>(weights) {
            // `wide ≤ col`: the words lie within column `at / col`.
            return scatter(acc, weights, col, spikes, |at| {
                words.get(at / 4..(at + wide) / 4)
            });
        }
    }
    scatter(acc, weights, col, spikes, |at| {
        weights
            .get(at..at + wide)
            .map(bytemuck::cast_slice::<u8, [u8; 4]>)
    });
}

/// [`dense_i8`] with the words of column `i` (its first `acc.len() & !3`
/// weights) given by `words(i · col)` (`None` for an input out of range)
/// and the rest read from `weights`; `acc` is no longer than a column.
#[inline(always)]
fn scatter<'w, W: Word>(
    acc: &mut [i32],
    weights: &[u8],
    col: usize,
    spikes: Spikes<'_>,
    words: impl Fn(usize) -> Option<&'w [W]>,
) {
    let len = acc.len();
    let wide = len & !3;
    let (acc, tail) = acc.split_at_mut(wide);
    tail.fill(0);
    let mut group: [&[W]; 8] = [&[]; 8];
    let mut n = 0usize;
    let mut fresh = true;
    for i in spikes {
        let at = i as usize * col;
        let Some(w) = words(at) else {
            continue;
        };
        if !tail.is_empty() {
            let rest = weights.get(at + wide..at + len).unwrap_or(&[]);
            I8::add_run::<Plain>(tail, rest);
        }
        group[n] = w;
        n += 1;
        if n == group.len() {
            columns(acc, &group, fresh);
            fresh = false;
            n = 0;
        }
    }
    if n > 0 {
        columns(acc, &group[..n], fresh);
    } else if fresh {
        acc.fill(0);
    }
}

/// Adds (`fresh`: stores) the sum of up to 8 columns.
fn columns<W: Word>(acc: &mut [i32], cols: &[&[W]], fresh: bool) {
    macro_rules! pick {
        ($($k:literal => $f:ident),+) => {
            match (cols.len(), fresh) {
                $(($k, true) => $f::<W, true>(acc, cols), ($k, false) => $f::<W, false>(acc, cols),)+
                _ => {}
            }
        };
    }
    pick!(
        1 => add1, 2 => add2, 3 => add3, 4 => add4, 5 => add5, 6 => add6, 7 => add7, 8 => add8
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::filter::pole;
    use crate::fixed::NeuronConsts;
    use crate::NeuronParams;

    /// A small deterministic generator (xorshift32).
    struct Rng(u32);

    impl Rng {
        fn next(&mut self) -> u32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 17;
            self.0 ^= self.0 << 5;
            self.0
        }
    }

    #[test]
    fn mul_wide_parts_is_the_product() {
        let mut rng = Rng(0x2545_F491);
        let edges = [
            0,
            1,
            -1,
            0xFFFF,
            0x1_0000,
            -0x1_0000,
            i32::MAX,
            i32::MIN,
            i32::MIN + 1,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(
                    mul_wide_parts(a, b),
                    i64::from(a) * i64::from(b),
                    "{a} · {b}"
                );
            }
        }
        for _ in 0..200_000 {
            let (a, b) = (rng.next() as i32, rng.next() as i32);
            assert_eq!(
                mul_wide_parts(a, b),
                i64::from(a) * i64::from(b),
                "{a} · {b}"
            );
            assert_eq!(mul_wide(a, b), i64::from(a) * i64::from(b));
        }
    }

    #[test]
    fn pole_coarse_is_pole() {
        const STEP: i32 = 1 << 15;
        let mut rng = Rng(0x0BAD_F00D);
        let below = (1 << 27) - 1;
        let edges = [
            0,
            1,
            -1,
            0x3FFF,
            0x4000,
            -0x4000,
            below,
            -below - 1,
            12_345_678,
        ];
        let coefs = [
            (0, 0, 0),
            ((1 << 16) - 1, -(1 << 15), 1 << 15),
            ((1 << 16) - 1, 0, -(1 << 15)),
            (59_294, -26_824, 8_056),
        ];
        let check = |(a2, na, c): (i32, i32, i32), y1: i32, y2: i32, x: i32| {
            let k = Coarse::new(a2 * STEP, na * STEP, c * STEP).unwrap();
            let want = pole(
                a2 * STEP,
                na * STEP,
                y1,
                y2,
                i64::from(c * STEP) * i64::from(x) + HALF,
            );
            assert_eq!(
                pole_coarse(k, y1, y2, x),
                Some(want),
                "{a2} {na} {c}: {y1} {y2} {x}"
            );
        };
        for &q in &coefs {
            for &y1 in &edges {
                for &y2 in &edges {
                    for &x in &edges {
                        check(q, y1, y2, x);
                    }
                }
            }
        }
        for _ in 0..300_000 {
            let q = (
                (rng.next() % (1 << 16)) as i32,
                -((rng.next() % ((1 << 15) + 1)) as i32),
                (rng.next() % ((1 << 16) + 1)) as i32 - (1 << 15),
            );
            let mut v = || (rng.next() >> 4) as i32 - (1 << 27);
            check(q, v(), v(), v());
        }
        // Out of range, or off the grid: not taken.
        let k = Coarse::new(59_294 * STEP, -26_824 * STEP, 8_056 * STEP).unwrap();
        for v in [1 << 27, -(1 << 27) - 1, i32::MAX, i32::MIN] {
            assert_eq!(pole_coarse(k, v, 0, 0), None);
            assert_eq!(pole_coarse(k, 0, v, 0), None);
            assert_eq!(pole_coarse(k, 0, 0, v), None);
        }
        assert!(Coarse::new(59_294 * STEP + 1, 0, 0).is_none());
        assert!(Coarse::new(0, -(1 << 30) - STEP, 0).is_none());
    }

    #[test]
    fn dense_i8_gives_the_plain_sums() {
        let mut rng = Rng(0x1234_5678);
        for col in [1usize, 3, 4, 5, 8, 10, 13, 128, 131] {
            let inputs = 40usize;
            // Word-backed storage: the weights at byte 0 are word-aligned
            // (the word path when `col % 4 == 0`), at byte 1 they are not.
            let mut store = vec![0u32; (col * inputs).div_ceil(4) + 1];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut store);
            for b in bytes.iter_mut() {
                *b = rng.next() as u8;
            }
            for shift in [0usize, 1] {
                let weights = &bytes[shift..shift + col * inputs];
                let aligned = bytemuck::try_cast_slice::<u8, u32>(weights).is_ok();
                if col % 4 == 0 {
                    assert_eq!(
                        aligned,
                        shift == 0,
                        "col {col}: the word path is not tested"
                    );
                }
                for spikes in 0..=20usize {
                    let list: Vec<u32> = (0..spikes)
                        .map(|_| rng.next() % (inputs as u32 + 2)) // some out of range
                        .collect();
                    let start: Vec<i32> = (0..col)
                        .map(|_| (rng.next() % 2001) as i32 - 1000)
                        .collect();
                    // `dense_i8` overwrites whatever `acc` held.
                    let mut want = vec![0i32; col];
                    for &i in &list {
                        if let Some(w) = weights.get(i as usize * col..(i as usize + 1) * col) {
                            for (a, &w) in want.iter_mut().zip(w) {
                                *a += i32::from(w as i8);
                            }
                        }
                    }
                    let mut got = start.clone();
                    dense_i8_rows(&mut got, weights, col, Spikes::list(&list, u32::MAX));
                    assert_eq!(got, want, "col {col}, shift {shift}, spikes {list:?}");
                }
            }
        }
    }

    #[test]
    fn update_matches_the_host_path() {
        let mut rng = Rng(0x9E37_79B9);
        let (mut spikes, mut busy, mut saturated) = (0u32, 0u32, 0u32);
        let cases = [
            (10.0f32, 1.0f32, 2.0f32, 1200u32),
            (5.0, 3.0, 1.0, 1200),
            (2.0, 10.0, 0.5, 1200),
            // Inputs past what `a << frac_bits` holds: the clamp, and
            // potentials that saturate.
            (10.0, 1.0, 2.0, 3_000_000),
        ];
        // Each case with the full coefficients and on the coarse grid (the
        // lean path as ARMv6-M runs it: `pole_coarse` where it applies).
        let cases = cases.iter().flat_map(|&c| [(c, false), (c, true)]);
        for ((tau_s, tau_r, scale_ref, big), coarse) in cases {
            let p = NeuronParams {
                theta: 500.0,
                tau_s,
                tau_r,
                scale_ref,
            };
            let mut k = NeuronConsts::derive(&p, 1.0).unwrap();
            if coarse {
                k = k.coarse();
                assert_eq!(k.on_coarse_grid(), (true, true), "{k:?}");
            }
            for n in [1usize, 10, 31, 32, 33, 100] {
                let words = 5 * n + 2 * n.div_ceil(32);
                let (mut host, mut lean) = (vec![0i32; words], vec![0i32; words]);
                for step in 0..200 {
                    let parity = step % 2 == 1;
                    // Bursts of input, with quiet stretches for the filters to settle.
                    let burst = (step / 25) % 2 == 0;
                    let input: Vec<i32> = (0..n)
                        .map(|_| {
                            if burst && rng.next() % 3 == 0 {
                                (rng.next() % (2 * big + 1)) as i32 - big as i32 / 4
                            } else {
                                0
                            }
                        })
                        .collect();
                    for (state, run_lean) in [(&mut host, false), (&mut lean, true)] {
                        let mut pop = Population::split(state, n);
                        pop.acc.copy_from_slice(&input);
                        if run_lean {
                            fit(pop.acc, k.frac_bits, u64::from(2 * big));
                            update_linear_with::<true>(&mut pop, &k, parity);
                            busy += pop.busy.iter().map(|w| w.count_ones()).sum::<u32>();
                        } else {
                            pop.update(&k, AccOrder::Linear, parity, step % 3 == 0);
                        }
                    }
                    // The filters and spikes must agree (the host path clears
                    // `acc`, the lean one leaves it to the scatter).
                    let used = 5 * n + n.div_ceil(32);
                    assert_eq!(host[..4 * n], lean[..4 * n], "n {n}, step {step}");
                    assert_eq!(host[5 * n..used], lean[5 * n..used], "n {n}, step {step}");
                    spikes += lean[5 * n..used]
                        .iter()
                        .map(|w| w.count_ones())
                        .sum::<u32>();
                    saturated += lean[..4 * n].iter().filter(|&&v| v == i32::MAX).count() as u32;
                }
            }
        }
        assert!(
            spikes > 1000 && busy > 1000 && saturated > 0,
            "{spikes} {busy} {saturated}"
        );
    }
}
