//! Event-driven synaptic input: each input spike adds its weights to the
//! accumulators of the neurons it reaches (saturating, never wrapping).

use super::spikes::Spikes;
use crate::model::{Conv2d, Dense, SumPool, WeightBits};

/// Reads weights of one width from a blob.
trait Read {
    /// Bytes per weight.
    const BYTES: usize;
    /// Weight `i` (caller guarantees `i` is in range).
    fn at(blob: &[u8], i: usize) -> i32;
    /// Adds a contiguous run of weights to `acc`.
    fn add_run(acc: &mut [i32], blob: &[u8]);
}

struct I8;
struct I16;

impl Read for I8 {
    const BYTES: usize = 1;
    #[inline(always)]
    fn at(blob: &[u8], i: usize) -> i32 {
        i32::from(blob[i] as i8)
    }
    #[inline(always)]
    fn add_run(acc: &mut [i32], blob: &[u8]) {
        for (a, &w) in acc.iter_mut().zip(blob) {
            *a = a.saturating_add(i32::from(w as i8));
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
    fn add_run(acc: &mut [i32], blob: &[u8]) {
        for (a, w) in acc.iter_mut().zip(blob.chunks_exact(2)) {
            *a = a.saturating_add(i32::from(i16::from_le_bytes([w[0], w[1]])));
        }
    }
}

/// Dense: every spike `i` adds weight column `w[i·outputs ..][.. outputs]`.
pub(crate) fn dense(acc: &mut [i32], d: &Dense<'_>, bits: WeightBits, spikes: Spikes<'_>) {
    match bits {
        WeightBits::I8 => dense_with::<I8>(acc, d, spikes),
        WeightBits::I16 => dense_with::<I16>(acc, d, spikes),
    }
}

fn dense_with<R: Read>(acc: &mut [i32], d: &Dense<'_>, spikes: Spikes<'_>) {
    let col = d.outputs as usize * R::BYTES;
    for i in spikes {
        let at = i as usize * col;
        if let Some(w) = d.weights.get(at..at + col) {
            R::add_run(acc, w);
        }
    }
}

/// Output coordinates `[lo, hi)` along one axis whose window covers input
/// coordinate `i` (kernel `k`, stride `s`, padding `p`, `out` outputs).
#[inline]
fn reach(i: usize, k: usize, s: usize, p: usize, out: usize) -> (usize, usize) {
    let q = i + p;
    let lo = (q + 1).saturating_sub(k).div_ceil(s);
    let hi = (q / s + 1).min(out);
    (lo, hi.max(lo))
}

/// Convolution: every spike at `(c, y, x)` adds, for each output channel,
/// the kernel taps that cover it to the outputs whose windows contain it.
pub(crate) fn conv(acc: &mut [i32], c: &Conv2d<'_>, bits: WeightBits, spikes: Spikes<'_>) {
    match bits {
        WeightBits::I8 => conv_with::<I8>(acc, c, spikes),
        WeightBits::I16 => conv_with::<I16>(acc, c, spikes),
    }
}

fn conv_with<R: Read>(acc: &mut [i32], conv: &Conv2d<'_>, spikes: Spikes<'_>) {
    let g = &conv.geometry;
    let Some(out) = g.output() else { return };
    let (ic, ih, iw) = (g.input.c as usize, g.input.h as usize, g.input.w as usize);
    let (oh, ow) = (out.h as usize, out.w as usize);
    let (kh, kw) = (g.kernel.0 as usize, g.kernel.1 as usize);
    let (sy, sx) = (g.stride.0 as usize, g.stride.1 as usize);
    let (py, px) = (g.padding.0 as usize, g.padding.1 as usize);
    let (ihw, ohw, khw) = (ih * iw, oh * ow, kh * kw);
    if ihw == 0 || ohw == 0 || sy == 0 || sx == 0 {
        return; // only for an invalid geometry, which validation rejects
    }
    for n in spikes {
        let n = n as usize;
        let (ch, iy, ix) = (n / ihw, n % ihw / iw, n % iw);
        let (y0, y1) = reach(iy, kh, sy, py, oh);
        let (x0, x1) = reach(ix, kw, sx, px, ow);
        if y0 == y1 || x0 == x1 {
            continue;
        }
        for (o, ao) in acc.chunks_exact_mut(ohw).enumerate() {
            let base = (o * ic + ch) * khw;
            let Some(wk) = conv.weights.get(base * R::BYTES..(base + khw) * R::BYTES) else {
                continue;
            };
            for oy in y0..y1 {
                let krow = (iy + py - oy * sy) * kw;
                let arow = &mut ao[oy * ow + x0..oy * ow + x1];
                for (ox, a) in (x0..x1).zip(arow) {
                    *a = a.saturating_add(R::at(wk, krow + ix + px - ox * sx));
                }
            }
        }
    }
}

/// Sum pooling: every spike adds the tap weight to the one output whose
/// window holds it (none for cells of the cropped remainder).
pub(crate) fn pool(acc: &mut [i32], p: &SumPool, spikes: Spikes<'_>) {
    let Some(out) = p.output() else { return };
    let (ih, iw) = (p.input.h as usize, p.input.w as usize);
    let (oh, ow, s) = (out.h as usize, out.w as usize, p.size as usize);
    if ih * iw == 0 || s == 0 {
        return; // only for an invalid geometry, which validation rejects
    }
    for n in spikes {
        let n = n as usize;
        let (ch, iy, ix) = (n / (ih * iw), n % (ih * iw) / iw, n % iw);
        let (oy, ox) = (iy / s, ix / s);
        if oy < oh && ox < ow {
            if let Some(a) = acc.get_mut((ch * oh + oy) * ow + ox) {
                *a = a.saturating_add(p.tap);
            }
        }
    }
}
