//! The filter updates of `population.rs` in an *offset-unsigned* form that
//! vectorises on hosts whose vector units lack signed 64-bit arithmetic
//! (x86-64's SSE2 baseline has unsigned 32 × 32 → 64 products, 64-bit
//! additions and logical shifts, but no signed products, arithmetic
//! shifts or 64-bit compares).
//!
//! A signed product `k·y` (`k` a Q2.30 coefficient, `y` an `i32`) is
//! `|k|·u − o` with `u = y + 2^31` (`k ≥ 0`) or `u = 2^31 − 1 − y` (`k < 0`),
//! an unsigned 32-bit value (`y` with its sign bit, or every other bit,
//! flipped), and a per-layer constant `o`. All terms are summed modulo
//! `2^64` together with the rounding half and a bias `2^60`; when the biased
//! sum is below `2^61` the true sum lies in `[−2^60, 2^60)`, so the result
//! `⌊sum / 2^30⌋` lies in `[−2^30, 2^30)` and is read off with a logical
//! shift. Nothing is approximated: a block where any value falls outside
//! that range (about `±1024·θ`, reached only by saturating layers) is
//! flagged and recomputed by the exact update, which also saturates.
//!
//! With `p` and `r` both in `[−2^30, 2^30)`, `p + r` cannot overflow `i32`,
//! so the threshold test is a 32-bit compare.
//!
//! Blocks whose values all lie in `[−2^27, 2^27)` (in practice: every block;
//! `θ` sits near `2^20`) need no flag at all: [`Offset::bounded`] checks
//! that in one cheap pass and [`Offset::step_word`] then updates both
//! filters and tests the threshold in place, in one pass.

use crate::fixed::{NeuronConsts, COEF_FRAC_BITS};

/// Added to every sum so that the in-range ones are non-negative.
const BIAS: u64 = 1 << 60;

/// The rounding half of the Q2.30 products.
const HALF: u64 = 1 << (COEF_FRAC_BITS - 1);

/// Offset of the results read off the biased sum (`BIAS >> 30`).
const RESULT_OFFSET: u32 = 1 << 30;

/// A coefficient `k` prepared so that `k·y = mag·(y ^ mask) − offset`
/// (modulo `2^64`, with `y ^ mask` read as `u32`).
#[derive(Debug, Clone, Copy)]
struct Coef {
    mag: u32,
    mask: u32,
    offset: u64,
}

impl Coef {
    fn new(k: i32) -> Self {
        let mag = k.unsigned_abs();
        if k >= 0 {
            // y ^ 0x8000_0000 = y + 2^31
            Self {
                mag,
                mask: 0x8000_0000,
                offset: u64::from(mag) << 31,
            }
        } else {
            // y ^ 0x7fff_ffff = 2^31 − 1 − y, and k·y = |k|·(2^31 − 1 − y) − |k|·(2^31 − 1)
            Self {
                mag,
                mask: 0x7fff_ffff,
                offset: u64::from(mag) * 0x7fff_ffff,
            }
        }
    }

    /// `k·y + offset`, exact in `u64`.
    #[inline(always)]
    fn times(self, y: i32) -> u64 {
        u64::from(self.mag) * u64::from(y as u32 ^ self.mask)
    }
}

/// `⌊sum / 2^30⌋` of a biased sum, and whether it left `[−2^30, 2^30)`
/// (non-zero flag).
#[inline(always)]
fn read_off(biased: u64) -> (i32, u32) {
    let flag = (biased >> 61) as u32;
    let v = ((biased >> COEF_FRAC_BITS) as u32).wrapping_sub(RESULT_OFFSET) as i32;
    (v, flag)
}

/// A layer's constants prepared for the offset form.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offset {
    eps_a2: Coef,
    eps_neg_a_sq: Coef,
    eps_c: Coef,
    /// `½ + BIAS −` the offsets of the three `ε` products.
    eps_base: u64,
    nu_a2: Coef,
    nu_neg_a_sq: Coef,
    /// `½ + BIAS −` the offsets of the two `ν` products.
    nu_base: u64,
    /// `nu_base + (ν1 << 30)`: the same after a spike.
    nu_kicked: u64,
    /// `|ν1| < 2^27` (see [`Offset::bounded`]).
    nu_small: bool,
    frac_bits: u32,
    theta: i32,
}

impl Offset {
    /// Kept out of line: inlined into the update, it lets the optimiser
    /// fold the coefficients into the loops and lose track of their
    /// 32-bit width, which turns each product back into an emulated
    /// 64 × 64 one (three times the multiplies on SSE2).
    #[inline(never)]
    pub(crate) fn new(k: &NeuronConsts) -> Self {
        let (eps_a2, eps_neg_a_sq, eps_c) = (
            Coef::new(k.eps_a2),
            Coef::new(k.eps_a_sq.wrapping_neg()),
            Coef::new(k.eps_c),
        );
        let (nu_a2, nu_neg_a_sq) = (Coef::new(k.nu_a2), Coef::new(k.nu_a_sq.wrapping_neg()));
        let eps_base = (HALF + BIAS)
            .wrapping_sub(eps_a2.offset)
            .wrapping_sub(eps_neg_a_sq.offset)
            .wrapping_sub(eps_c.offset);
        let nu_base = (HALF + BIAS)
            .wrapping_sub(nu_a2.offset)
            .wrapping_sub(nu_neg_a_sq.offset);
        let kick = (i64::from(k.nu_1) << COEF_FRAC_BITS) as u64;
        Self {
            eps_a2,
            eps_neg_a_sq,
            eps_c,
            eps_base,
            nu_a2,
            nu_neg_a_sq,
            nu_base,
            nu_kicked: nu_base.wrapping_add(kick),
            nu_small: k.nu_1.unsigned_abs() < 1 << 27,
            frac_bits: u32::from(k.frac_bits),
            theta: k.theta,
        }
    }

    /// The biased `ε` sum of one neuron (`x`: its input in state units).
    #[inline(always)]
    fn eps_sum(&self, p1: i32, p2: i32, x: i32) -> u64 {
        self.eps_base
            .wrapping_add(self.eps_a2.times(p1))
            .wrapping_add(self.eps_neg_a_sq.times(p2))
            .wrapping_add(self.eps_c.times(x))
    }

    /// The biased `ν` sum of one neuron (`spiked`: in the last bin).
    #[inline(always)]
    fn nu_sum(&self, spiked: bool, r1: i32, r2: i32) -> u64 {
        let start = if spiked { self.nu_kicked } else { self.nu_base };
        start
            .wrapping_add(self.nu_a2.times(r1))
            .wrapping_add(self.nu_neg_a_sq.times(r2))
    }

    /// The `ε` update of `population::psp` into `out` (`y1`, `y2`: the last
    /// two values, `a`: the input). Returns non-zero when some result left
    /// `[−2^30, 2^30)`; `out` is then not the exact update.
    #[inline]
    pub(crate) fn psp(&self, y1: &[i32], y2: &[i32], a: &[i32], out: &mut [i32]) -> u32 {
        let f = self.frac_bits;
        // `a` in [lo, hi] ⇒ `a << f` fits i32 exactly; beyond, it saturates.
        let hi = i32::MAX >> f;
        let lo = -hi - 1;
        let mut flag = 0u32;
        for (((&p1, &p2), &x), o) in y1.iter().zip(y2).zip(a).zip(out) {
            let x = x.clamp(lo, hi) << f;
            let (v, bad) = read_off(self.eps_sum(p1, p2, x));
            *o = v;
            flag |= bad;
        }
        flag
    }

    /// True when a block can take [`Offset::step_word`]: every filter value
    /// (`p1`, `p2`, `r1`, `r2`) and every input `a << frac_bits` lies in
    /// `[−2^27, 2^27)` and so does `ν1`. Then each Q2.30 sum is below
    /// `2^31·2^27 + 2·2^30·2^27 + 2^29 < 2^60` in magnitude, so every new
    /// value lies in `[−2^30, 2^30)` (no saturation, no flag) and `p + r`
    /// fits `i32`.
    #[inline]
    pub(crate) fn bounded(
        &self,
        p1: &[i32],
        p2: &[i32],
        r1: &[i32],
        r2: &[i32],
        a: &[i32],
    ) -> bool {
        const B: u32 = 1 << 27;
        if !self.nu_small {
            return false;
        }
        let out = |v: i32| (v as u32).wrapping_add(B) >> 28;
        let ab = B >> self.frac_bits;
        let mut bad = 0u32;
        for ((((&p1, &p2), &r1), &r2), &a) in p1.iter().zip(p2).zip(r1).zip(r2).zip(a) {
            bad |= out(p1)
                | out(p2)
                | out(r1)
                | out(r2)
                | u32::from((a as u32).wrapping_add(ab) >= 2 * ab);
        }
        bad == 0
    }

    /// Both filters and the threshold test of up to 32 neurons of a block
    /// that is [`bounded`](Offset::bounded), in place: `p.1` and `r.1` (the
    /// older values) become the newest; the new spike bits are returned.
    /// Exactly `population::psp` then `population::fire`.
    #[inline]
    // `p` and `r` are (older, newer) pairs of one filter's two states.
    #[allow(clippy::needless_pass_by_value)]
    pub(crate) fn step_word(
        &self,
        p: (&[i32], &mut [i32]),
        r: (&[i32], &mut [i32]),
        a: &[i32],
        old: u32,
    ) -> u32 {
        let f = self.frac_bits;
        let mut new = 0u32;
        let lanes =
            p.0.iter()
                .zip(p.1.iter_mut())
                .zip(r.0.iter().zip(r.1.iter_mut()))
                .zip(a);
        for (b, (((&p1, p2), (&r1, r2)), &x)) in lanes.enumerate() {
            // Bounded: `x << f` is exact (no clamp needed).
            let x = x << f;
            // Bounded: the sums stay in range, the flags are 0.
            let (p, _) = read_off(self.eps_sum(p1, *p2, x));
            *p2 = p;
            let (r, _) = read_off(self.nu_sum((old >> b) & 1 != 0, r1, *r2));
            *r2 = r;
            new |= u32::from(p + r >= self.theta) << b;
        }
        new
    }

    /// The `ν` update and threshold test of `population::fire` for up to 32
    /// neurons: `r` into `out`, spike bits returned. `flag` becomes
    /// non-zero when some `r` or `p` lies outside `[−2^30, 2^30)`; the
    /// results are then not exact.
    #[inline]
    pub(crate) fn fire(
        &self,
        p: &[i32],
        y1: &[i32],
        y2: &[i32],
        old: u32,
        out: &mut [i32],
        flag: &mut u32,
    ) -> u32 {
        let mut new = 0u32;
        let mut bad = 0u32;
        for (b, (((&r1, &r2), &p), o)) in y1.iter().zip(y2).zip(p).zip(out).enumerate() {
            let (r, f) = read_off(self.nu_sum((old >> b) & 1 != 0, r1, r2));
            *o = r;
            bad |= f | ((p as u32).wrapping_add(RESULT_OFFSET) >> 31);
            // Exact when nothing is flagged (both in [−2^30, 2^30)).
            new |= u32::from(p.wrapping_add(r) >= self.theta) << b;
        }
        *flag |= bad;
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::filter::pole;

    /// Values at and around every boundary the offset form cares about.
    fn edges() -> impl Iterator<Item = i32> {
        let ends = [
            0i32,
            1 << 30,
            -(1 << 30),
            i32::MAX,
            i32::MIN,
            1 << 29,
            1 << 31 >> 1,
        ];
        ends.into_iter()
            .flat_map(|e| (-3..=3).map(move |d| e.wrapping_add(d)))
            .chain([12_345, -98_765, 55, -55, 1 << 20, -(1 << 20)])
    }

    /// A small deterministic generator (xorshift) for wide random values.
    fn randoms(seed: u64, n: usize) -> impl Iterator<Item = i32> {
        let mut s = seed | 1;
        (0..n).map(move |i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Mix wide and narrow magnitudes.
            (s as i32) >> (i % 12)
        })
    }

    fn consts(eps_c: i32, nu_1: i32, frac_bits: u8) -> NeuronConsts {
        let q = |v: f64| (v * f64::from(1u32 << 30)).round() as i32;
        let (a, b) = ((-0.1f64).exp(), (-1.0f64).exp());
        NeuronConsts {
            frac_bits,
            theta: 1 << 20,
            eps_a2: q(2.0 * a),
            eps_a_sq: q(a * a),
            eps_c,
            nu_a2: q(2.0 * b),
            nu_a_sq: q(b * b),
            nu_1,
        }
    }

    /// The fast form agrees with `pole` wherever it does not flag, and
    /// flags exactly when the exact result leaves `[−2^30, 2^30)`.
    #[test]
    fn offset_form_is_exact_or_flagged() {
        let vals: std::vec::Vec<i32> = edges().chain(randoms(7, 400)).collect();
        let in_range = |v: i32| (-(1 << 30)..(1 << 30)).contains(&v);
        let mut checked = [0usize; 2];
        for (eps_c, nu_1, f) in [
            (1 << 30, -(1 << 21), 4u8),
            (-(1 << 30), 1 << 20, 0),
            (-12_345_678, i32::MIN, 24),
            (300_000_000, i32::MAX, 10),
        ] {
            let k = consts(eps_c, nu_1, f);
            let fast = Offset::new(&k);
            let hi = i32::MAX >> f;
            for (i, &y1) in vals.iter().enumerate() {
                // y2 and the input sweep the values too, shifted.
                let y2 = vals[(i * 7 + 3) % vals.len()];
                for (j, &x) in vals.iter().enumerate().step_by(5) {
                    let mut out = [0i32];
                    let flag = fast.psp(&[y1], &[y2], &[x], &mut out);
                    let xs = x.clamp(-hi - 1, hi) << f;
                    let start = i64::from(k.eps_c) * i64::from(xs) + (1 << 29);
                    let want = pole(k.eps_a2, -k.eps_a_sq, y1, y2, start);
                    assert_eq!(flag == 0, in_range(want), "psp {y1} {y2} {x} {k:?}");
                    if flag == 0 {
                        assert_eq!(out[0], want);
                    }
                    checked[usize::from(flag == 0)] += 1;

                    let spiked = j % 3 == 0;
                    let kick = if spiked { i64::from(k.nu_1) << 30 } else { 0 };
                    let r = pole(k.nu_a2, -k.nu_a_sq, y1, y2, kick + (1 << 29));
                    let p = x;
                    let mut flag = 0;
                    let mut out = [0i32];
                    let bits =
                        fast.fire(&[p], &[y1], &[y2], u32::from(spiked), &mut out, &mut flag);
                    assert_eq!(flag == 0, in_range(r) && in_range(p), "fire {y1} {y2} {p}");
                    if flag == 0 {
                        assert_eq!(out[0], r);
                        let want = i64::from(p) + i64::from(r) >= i64::from(k.theta);
                        assert_eq!(bits, u32::from(want));
                    }
                }
            }
        }
        // Both outcomes were exercised, many times.
        assert!(checked[0] > 1000 && checked[1] > 1000, "{checked:?}");
    }

    /// The one-pass update of a bounded block equals `pole` for both filters
    /// and the i64 threshold test, at the edges of the bound and inside it;
    /// one value past the bound makes the block unbounded.
    #[test]
    fn bounded_words_match_the_exact_update() {
        const B: i32 = 1 << 27;
        for (eps_c, nu_1, f) in [
            (1 << 30, -(B - 1), 4u8),
            (-(1 << 30), B - 1, 0),
            (77_777_777, -(1 << 21), 9),
        ] {
            let k = consts(eps_c, nu_1, f);
            let fast = Offset::new(&k);
            let ab = B >> f;
            let edge = [-B, B - 1, 0, -1, 1, k.theta, -k.theta];
            let mut rnd = randoms(u64::from(f) + 3, 4 * 32 * 40).map(|v| v >> 5);
            for round in 0..40 {
                let mut v = [[0i32; 32]; 4];
                for (i, lane) in v.iter_mut().flatten().enumerate() {
                    let r = rnd.next().unwrap_or(0);
                    *lane = if (i + round) % 5 == 0 {
                        edge[(i / 5) % edge.len()]
                    } else {
                        r
                    };
                }
                let a: std::vec::Vec<i32> = (0..32)
                    .map(|i| [-ab, ab - 1, 0, 3, -7][(i + round) % 5])
                    .collect();
                let [p1, p2, r1, r2] = v;
                assert!(fast.bounded(&p1, &p2, &r1, &r2, &a));
                let old = 0x9249_2492u32.rotate_left(round as u32);
                let (mut q2, mut s2) = (p2, r2);
                let bits = fast.step_word((&p1, &mut q2), (&r1, &mut s2), &a, old);
                for b in 0..32 {
                    let x = i64::from(a[b] << f);
                    let want_p = pole(
                        k.eps_a2,
                        -k.eps_a_sq,
                        p1[b],
                        p2[b],
                        i64::from(k.eps_c) * x + (1 << 29),
                    );
                    let kick = if (old >> b) & 1 != 0 {
                        i64::from(k.nu_1) << 30
                    } else {
                        0
                    };
                    let want_r = pole(k.nu_a2, -k.nu_a_sq, r1[b], r2[b], kick + (1 << 29));
                    assert_eq!((q2[b], s2[b]), (want_p, want_r), "lane {b} round {round}");
                    let spike = i64::from(want_p) + i64::from(want_r) >= i64::from(k.theta);
                    assert_eq!((bits >> b) & 1, u32::from(spike));
                }
                // One value out of bounds anywhere: not bounded.
                for which in 0..5 {
                    let mut w = [p1, p2, r1, r2];
                    let mut a2 = a.clone();
                    if which < 4 {
                        w[which][7] = if round % 2 == 0 { B } else { -B - 1 };
                    } else {
                        a2[7] = if round % 2 == 0 { ab } else { -ab - 1 };
                    }
                    assert!(!fast.bounded(&w[0], &w[1], &w[2], &w[3], &a2), "{which}");
                }
            }
        }
        // A refractory step of 2^27 or more never takes the bounded path.
        let k = consts(1 << 29, -(B), 4);
        let z = [0i32; 8];
        assert!(!Offset::new(&k).bounded(&z, &z, &z, &z, &z));
    }

    /// Bits land at their lane: 32 neurons, every other one kicked.
    #[test]
    fn fire_packs_bits_by_lane() {
        let k = consts(1 << 29, -(1 << 21), 8);
        let fast = Offset::new(&k);
        let p: std::vec::Vec<i32> = (0..32)
            .map(|i| if i % 3 == 0 { k.theta } else { 0 })
            .collect();
        let (y1, y2) = ([0i32; 32], [0i32; 32]);
        let (mut out, mut flag) = ([0i32; 32], 0u32);
        let bits = fast.fire(&p, &y1, &y2, 0xaaaa_aaaa, &mut out, &mut flag);
        assert_eq!(flag, 0);
        let mut want = 0u32;
        for (b, (&p, &r)) in p.iter().zip(&out).enumerate() {
            let kicked = b % 2 == 1;
            assert_eq!(r, if kicked { k.nu_1 } else { 0 }, "lane {b}");
            want |= u32::from(p + r >= k.theta) << b;
        }
        assert_eq!(bits, want);
        assert_ne!(bits, 0);
    }
}
