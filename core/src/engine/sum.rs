//! How partial sums are added and weights read: the primitives every
//! scatter path (and the population update, for paired sums) builds on.

/// How two partial sums are added.
pub(crate) trait Add {
    /// `a + w`.
    fn add(a: i32, w: i32) -> i32;
}

/// Saturating addition (always correct).
pub(crate) struct Sat;
/// Plain addition, for when no sum can leave `i32` (then equal to [`Sat`]).
pub(crate) struct Plain;

impl Add for Sat {
    #[inline(always)]
    fn add(a: i32, w: i32) -> i32 {
        a.saturating_add(w)
    }
}

impl Add for Plain {
    #[inline(always)]
    fn add(a: i32, w: i32) -> i32 {
        a.wrapping_add(w)
    }
}

/// True when `count` additions of magnitude at most `max` onto 0 cannot
/// leave `i32` (so [`Plain`] equals [`Sat`]).
#[inline]
pub(crate) fn no_overflow(count: u64, max: u64) -> bool {
    count.saturating_mul(max) <= i32::MAX as u64
}

/// Reads weights of one width from a blob.
pub(crate) trait Read {
    /// Bytes per weight.
    const BYTES: usize;
    /// Weight `i` (caller guarantees `i` is in range).
    fn at(blob: &[u8], i: usize) -> i32;
    /// Adds a contiguous run of weights to `acc`.
    fn add_run<A: Add>(acc: &mut [i32], blob: &[u8]);
}

pub(crate) struct I8;
pub(crate) struct I16;

impl Read for I8 {
    const BYTES: usize = 1;
    #[inline(always)]
    fn at(blob: &[u8], i: usize) -> i32 {
        i32::from(blob[i] as i8)
    }
    #[inline(always)]
    fn add_run<A: Add>(acc: &mut [i32], blob: &[u8]) {
        for (a, &w) in acc.iter_mut().zip(blob) {
            *a = A::add(*a, i32::from(w as i8));
        }
    }
}

impl Read for I16 {
    const BYTES: usize = 2;
    #[inline(always)]
    fn at(blob: &[u8], i: usize) -> i32 {
        i32::from(i16::from_le_bytes([blob[2 * i], blob[2 * i + 1]]))
    }
    #[inline(always)]
    fn add_run<A: Add>(acc: &mut [i32], blob: &[u8]) {
        for (a, w) in acc.iter_mut().zip(blob.chunks_exact(2)) {
            *a = A::add(*a, i32::from(i16::from_le_bytes([w[0], w[1]])));
        }
    }
}

/// Adds `w` to `acc` element-wise.
#[inline(always)]
pub(crate) fn add_i32<A: Add>(acc: &mut [i32], w: &[i32]) {
    for (a, &w) in acc.iter_mut().zip(w) {
        *a = A::add(*a, w);
    }
}

/// The sums of paired slots `2i` and `2i + 1` from word `i` (see
/// `scatter::conv_channel_last`).
#[inline(always)]
pub(crate) fn unpair(word: i32) -> (i32, i32) {
    let lo = (word << 16) >> 16;
    (lo, (word.wrapping_sub(lo)) >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paired sums: adding `w0 + 65536·w1` words adds both lanes exactly
    /// while each lane stays within ±32,767, at the edges too.
    #[test]
    fn paired_lanes_add_and_unpair_exactly() {
        let edges = [
            -32_767i32, -32_766, -128, -1, 0, 1, 127, 255, 32_766, 32_767,
        ];
        for &s0 in &edges {
            for &s1 in &edges {
                assert_eq!(unpair(s0 + 65_536 * s1), (s0, s1));
            }
        }
        // Sums built from int8 weight pairs, up to 255 spikes of 128.
        let mut word = 0i32;
        let (mut s0, mut s1) = (0i32, 0i32);
        for i in 0..255i32 {
            let (w0, w1) = (if i % 2 == 0 { -128 } else { 127 }, -128 + (i % 7));
            word = word.wrapping_add(w0 + 65_536 * w1);
            (s0, s1) = (s0 + w0, s1 + w1);
            assert_eq!(unpair(word), (s0, s1), "after {i}");
        }
        assert!(s1.unsigned_abs() > 30_000);
    }
}
