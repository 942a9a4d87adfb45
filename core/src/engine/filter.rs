//! The double-pole filter step shared by every path of the neuron update:
//! Q2.30 products summed in `i64`, rounded half up, saturated to `i32`.

use crate::fixed::COEF_FRAC_BITS;

/// Rounding constant of the Q2.30 products (round half up).
pub(crate) const HALF: i64 = 1 << (COEF_FRAC_BITS - 1);

/// `sat(acc >> 30)`: the Q2.30 sum narrowed to `i32`, saturating. On
/// 32-bit Arm one cheap test of the high word replaces a 64-bit clamp; on
/// hosts the clamp vectorises (vector min/max). Both give the same value.
#[inline(always)]
fn narrow(acc: i64) -> i32 {
    #[cfg(target_arch = "arm")]
    {
        let hi = (acc >> 32) as i32;
        if (hi.wrapping_add(1 << 29) as u32) < (1 << 30) {
            (acc >> COEF_FRAC_BITS) as i32
        } else if hi < 0 {
            i32::MIN
        } else {
            i32::MAX
        }
    }
    #[cfg(not(target_arch = "arm"))]
    {
        (acc >> COEF_FRAC_BITS).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
    }
}

/// One step of the double-pole filter `y = 2a·y1 − a²·y2 + drive` with Q2.30
/// coefficients (`neg_a_sq = −a²`) and `start = drive + ½` in Q2.30 state
/// units, rounded half up and saturated. Written as three multiply-adds onto
/// `start` (one `smlal` each on a Cortex-M4). With `0 ≤ a2 < 2^31`,
/// `0 ≤ a² ≤ 2^30` and `|drive| ≤ 2^61` the sum cannot overflow `i64`.
#[inline(always)]
pub(crate) fn pole(a2: i32, neg_a_sq: i32, y1: i32, y2: i32, start: i64) -> i32 {
    let mut acc = start;
    acc += i64::from(a2) * i64::from(y1);
    acc += i64::from(neg_a_sq) * i64::from(y2);
    narrow(acc)
}

/// The dead band `[lo, hi]` of an undriven double pole: the values `v` with
/// `pole(a2, −a², v, v, ½) = v`. With `e = 2^30 − (2a − a²)` (in Q2.30) the
/// update is `v + ⌊(2^29 − e·v) / 2^30⌋`, which equals `v` exactly when
/// `−2^29 < e·v ≤ 2^29`. `None` when the filter does not decay (`e ≤ 0`).
pub(crate) fn dead_band(a2: i32, a_sq: i32) -> Option<(i32, i32)> {
    let e = (1i64 << COEF_FRAC_BITS) - i64::from(a2) + i64::from(a_sq);
    if e <= 0 {
        return None;
    }
    let hi = HALF / e;
    let lo = 1 - (HALF + e - 1) / e;
    let (lo, hi) = (i32::try_from(lo).ok()?, i32::try_from(hi).ok()?);
    // Belt and braces: the ends are fixed points and the next values out are not.
    let fixed = |v: i32| pole(a2, -a_sq, v, v, HALF) == v;
    (fixed(lo) && fixed(hi) && !fixed(hi.checked_add(1)?) && !fixed(lo.checked_sub(1)?))
        .then_some((lo, hi))
}
