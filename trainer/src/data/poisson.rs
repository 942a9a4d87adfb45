//! Seeded synthetic spike patterns: Poisson inputs and dead-time targets.
//!
//! Every generator takes the caller's random number generator, so equal seeds
//! give equal patterns; [`seeded_rng`] builds the project's standard one
//! (`ChaCha8Rng`, portable and stable across platforms and rand versions).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::spikes::SpikeRaster;

/// Redraws of [`poisson_target`] before it falls back to a single spike.
pub const MAX_TARGET_REDRAWS: usize = 10_000;

/// The project's seeded generator: `ChaCha8Rng::seed_from_u64(seed)`.
pub fn seeded_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A `bins × neurons` raster in which every cell spikes independently with
/// probability `rate_hz · Ts` (`Ts = ts_ms / 1000` s): the Bernoulli
/// approximation of a Poisson process of rate `rate_hz`, exact in the limit
/// of small `rate·Ts`. The probability is clamped to `[0, 1]`; a NaN rate gives
/// a silent raster. Cells are drawn time-major (bin by bin, then neuron).
pub fn poisson_raster(
    rng: &mut impl Rng,
    neurons: usize,
    bins: usize,
    ts_ms: f64,
    rate_hz: f64,
) -> SpikeRaster {
    let p = (rate_hz * ts_ms / 1000.0).clamp(0.0, 1.0);
    let mut r = SpikeRaster::new(bins, neurons);
    for k in 0..bins {
        for n in 0..neurons {
            // `random::<f64>()` is in [0, 1): p = 1 always spikes, p = 0 (or NaN) never.
            if rng.random::<f64>() < p {
                r.set(k, n);
            }
        }
    }
    r
}

/// The minimum spacing in bins of spikes `dead_time_ms` apart:
/// `ceil(dead_time / Ts)`, at least 1 (one spike per bin). A relative slack of
/// 1e-9 absorbs float noise (1.1 ms at 0.1 ms is 11 bins, not 12). A negative
/// or NaN dead time counts as 0.
pub fn dead_time_bins(dead_time_ms: f64, ts_ms: f64) -> usize {
    let q = dead_time_ms / ts_ms;
    if q > 0.0 && q.is_finite() {
        ((q - 1e-9 * q.max(1.0)).ceil() as usize).max(1)
    } else if q == f64::INFINITY {
        usize::MAX
    } else {
        1
    }
}

/// The spike bins (increasing) of one Poisson spike train with a dead time,
/// within `bins` bins of `ts_ms` ms.
///
/// The train is a renewal process in continuous time, started at t = 0 as if
/// a spike had just occurred there: each inter-spike interval is
/// `dead_time + Exp(mean 1/rate − dead_time)`, so the mean interval is exactly
/// `1/rate` and the rate is `rate_hz` (when `1/rate ≤ dead_time` the exponential
/// part vanishes and the train is regular at the dead time, the highest rate
/// it allows). Spike times are rounded to bins half-to-even, and every spike
/// is placed at least `g = dead_time_bins(dead_time_ms, ts_ms)` bins after the
/// previous one, the virtual spike at bin 0 included: no spike falls before
/// bin `g ≥ 1` (the neuron needs some input history) and no two spikes are
/// closer than the dead time. Rounding and this spacing cost a little rate
/// when `rate·Ts` is not small.
///
/// The train has at least one spike: a draw with no spike in the window is
/// redrawn; after [`MAX_TARGET_REDRAWS`] empty draws (an extremely low rate)
/// one spike is placed uniformly in `[g, bins)`. The result is empty only when
/// no spike can fit (`bins ≤ g`) or the rate is not positive (or NaN), or
/// `ts_ms` is not a positive finite number.
pub fn poisson_target(
    rng: &mut impl Rng,
    bins: usize,
    ts_ms: f64,
    rate_hz: f64,
    dead_time_ms: f64,
) -> Vec<usize> {
    let gap = dead_time_bins(dead_time_ms, ts_ms);
    let usable = rate_hz > 0.0 && ts_ms > 0.0 && ts_ms.is_finite();
    if !usable || bins <= gap {
        return Vec::new();
    }
    let dead_ms = if dead_time_ms > 0.0 {
        dead_time_ms
    } else {
        0.0
    };
    let mean_ms = (1000.0 / rate_hz - dead_ms).max(0.0);
    for _ in 0..MAX_TARGET_REDRAWS {
        let mut spikes = Vec::new();
        let mut t_ms = 0.0f64;
        let mut prev = 0usize;
        loop {
            // 1 − U is in (0, 1]: the logarithm is finite.
            let u: f64 = rng.random();
            t_ms += dead_ms - mean_ms * (1.0 - u).ln();
            let k = (t_ms / ts_ms).round_ties_even();
            // k ≥ prev + gap > prev: the loop ends within `bins` spikes.
            let k = if k < bins as f64 { k as usize } else { bins };
            let k = k.max(prev.saturating_add(gap));
            if k >= bins {
                break;
            }
            spikes.push(k);
            prev = k;
        }
        if !spikes.is_empty() {
            return spikes;
        }
    }
    vec![rng.random_range(gap..bins)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_rate_within_tolerance() {
        let mut rng = seeded_rng(1);
        let (neurons, bins) = (200, 5000);
        for (ts_ms, rate) in [(1.0, 20.0), (0.5, 60.0)] {
            let r = poisson_raster(&mut rng, neurons, bins, ts_ms, rate);
            assert_eq!((r.bins(), r.neurons()), (bins, neurons));
            let expect = neurons as f64 * bins as f64 * rate * ts_ms / 1000.0;
            let got = r.count() as f64;
            // 3% is more than 4 standard deviations here.
            assert!((got - expect).abs() < 0.03 * expect, "{got} vs {expect}");
            // Every neuron near its own rate (±40% at 100 expected spikes).
            let per = expect / neurons as f64;
            assert!(r
                .counts()
                .iter()
                .all(|&c| (f64::from(c) - per).abs() < 0.4 * per));
        }
    }

    #[test]
    fn raster_edge_rates() {
        let mut rng = seeded_rng(2);
        assert_eq!(poisson_raster(&mut rng, 5, 10, 1.0, 0.0).count(), 0);
        assert_eq!(poisson_raster(&mut rng, 5, 10, 1.0, f64::NAN).count(), 0);
        assert_eq!(poisson_raster(&mut rng, 5, 10, 1.0, 1000.0).count(), 50);
        assert_eq!(poisson_raster(&mut rng, 5, 10, 1.0, 5000.0).count(), 50);
        assert_eq!(poisson_raster(&mut rng, 0, 10, 1.0, 10.0).count(), 0);
    }

    #[test]
    fn equal_seeds_equal_patterns() {
        let a = poisson_raster(&mut seeded_rng(42), 50, 300, 1.0, 30.0);
        let b = poisson_raster(&mut seeded_rng(42), 50, 300, 1.0, 30.0);
        let c = poisson_raster(&mut seeded_rng(43), 50, 300, 1.0, 30.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let ta = poisson_target(&mut seeded_rng(9), 1000, 1.0, 40.0, 5.0);
        let tb = poisson_target(&mut seeded_rng(9), 1000, 1.0, 40.0, 5.0);
        let tc = poisson_target(&mut seeded_rng(10), 1000, 1.0, 40.0, 5.0);
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
    }

    #[test]
    fn dead_time_bins_rounds_up() {
        assert_eq!(dead_time_bins(0.0, 1.0), 1);
        assert_eq!(dead_time_bins(-3.0, 1.0), 1);
        assert_eq!(dead_time_bins(f64::NAN, 1.0), 1);
        assert_eq!(dead_time_bins(1.0, 1.0), 1);
        assert_eq!(dead_time_bins(1.5, 1.0), 2);
        assert_eq!(dead_time_bins(5.0, 1.0), 5);
        assert_eq!(dead_time_bins(1.1, 0.1), 11); // 11.000000000000002 in f64
        assert_eq!(dead_time_bins(0.3, 0.1), 3);
        assert_eq!(dead_time_bins(3.0, 0.1), 30);
        assert_eq!(dead_time_bins(1.0, 0.0), usize::MAX);
    }

    #[test]
    fn target_respects_dead_time() {
        for (ts_ms, rate, dead) in [
            (1.0, 50.0, 1.5),
            (1.0, 200.0, 5.0),
            (0.1, 100.0, 1.1),
            (1.0, 2000.0, 0.0),
            (1.0, 400.0, 3.0), // 1/rate < dead: regular at the dead time
        ] {
            let g = dead_time_bins(dead, ts_ms);
            let mut rng = seeded_rng(5);
            for _ in 0..200 {
                let s = poisson_target(&mut rng, 500, ts_ms, rate, dead);
                assert!(!s.is_empty());
                assert!(s[0] >= g, "first spike {} before the dead time", s[0]);
                assert!(*s.last().unwrap_or(&0) < 500);
                assert!(
                    s.windows(2).all(|w| w[1] >= w[0] + g),
                    "gap < {g} bins: {s:?}"
                );
            }
        }
        // 1/rate < dead time: spikes every g or g+1 bins.
        let s = poisson_target(&mut seeded_rng(6), 1000, 1.0, 1000.0, 4.0);
        assert!(s.windows(2).all(|w| (4..=5).contains(&(w[1] - w[0]))));
    }

    #[test]
    fn target_rate_is_the_requested_rate() {
        let mut rng = seeded_rng(7);
        for (rate, dead) in [(20.0, 2.0), (50.0, 5.0), (10.0, 0.0)] {
            let bins = 200_000; // 200 s at 1 ms
            let s = poisson_target(&mut rng, bins, 1.0, rate, dead);
            let expect = rate * 200.0;
            let got = s.len() as f64;
            assert!(
                (got - expect).abs() < 0.05 * expect,
                "{rate} Hz: {got} vs {expect}"
            );
        }
    }

    #[test]
    fn target_has_at_least_one_spike() {
        let mut rng = seeded_rng(8);
        // 1 Hz over 50 ms: most draws are empty and get redrawn.
        for _ in 0..100 {
            let s = poisson_target(&mut rng, 50, 1.0, 1.0, 2.0);
            assert!(!s.is_empty() && s[0] >= 2 && s[0] < 50);
        }
        // So low a rate that every draw is empty: the fallback spike.
        let s = poisson_target(&mut rng, 50, 1.0, 1e-9, 2.0);
        assert_eq!(s.len(), 1);
        assert!((2..50).contains(&s[0]));
        // Nothing can fit, or nothing is asked for.
        assert!(poisson_target(&mut rng, 3, 1.0, 10.0, 3.0).is_empty());
        assert!(poisson_target(&mut rng, 100, 1.0, 0.0, 1.0).is_empty());
        assert!(poisson_target(&mut rng, 100, 1.0, f64::NAN, 1.0).is_empty());
        assert!(poisson_target(&mut rng, 100, 0.0, 10.0, 1.0).is_empty());
    }
}
