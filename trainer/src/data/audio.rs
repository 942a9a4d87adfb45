//! Audio → spike trains: a small cochlea model for spoken digits (FSDD).
//!
//! [`read_wav`] loads a WAV file (PCM 8/16/24/32-bit or 32-bit float, any
//! sample rate, stereo or more channels mixed down to mono) as `f32` samples
//! in `[-1, 1]`. [`AudioEncoder::encode`] turns samples into a
//! `bins × channels` 0/1 [`SpikeRaster`]:
//!
//! 1. **Filter bank.** `channels` band-pass filters with centre frequencies
//!    evenly spaced on the mel scale from `f_min_hz` to `f_max_hz`
//!    ([`AudioEncoder::center_frequencies`]). Each filter is a cascade of two
//!    identical 2nd-order band-pass biquads (RBJ "constant 0 dB peak gain"),
//!    a 4th-order, gammatone-like response, whose −3 dB band is the channel's
//!    band between the mel midpoints to its neighbours
//!    ([`AudioEncoder::band_edges`]); adjacent channels cross near −3 dB.
//!    Filter states are `f64`. The centre frequencies do not depend on the
//!    sample rate, so a channel means the same band in every recording;
//!    channels whose band reaches above the Nyquist frequency stay silent.
//! 2. **Hair cell.** Half-wave rectification, then a critically damped
//!    two-pole low-pass of time constant `envelope_ms` per pole, averaged
//!    over each time bin of `ts_ms`: the channel's envelope.
//! 3. **Normalisation and compression.** Every envelope is divided by the
//!    peak envelope of the recording (all channels, all encoded bins), so
//!    loud and quiet speakers look alike, then compressed to a drive
//!    `v = max(0, 1 + 20·log10(env/peak) / dynamic_range_db)` in `[0, 1]`:
//!    the loudest band of the recording gets 1, anything `dynamic_range_db`
//!    or more below it 0. ([`AudioEncoder::drive`] returns these values.)
//! 4. **Spike encoder.** A deterministic integrate-and-fire neuron per
//!    channel: `acc += v · max_rate_per_bin` each bin, and when `acc ≥ 1`
//!    the channel spikes and `acc -= 1`. With `max_rate_per_bin ≤ 1` a
//!    channel spikes at most once per bin, and the spike rate follows the
//!    log-compressed envelope (a rate code with 1/`max_rate_per_bin` bins
//!    of latency at full drive).
//!
//! Audio longer than `bins · ts_ms` is cut (and the normalising peak is taken
//! over the kept part only); shorter audio leaves the bins after its end
//! silent. Nothing is random: equal inputs give equal rasters.
//!
//! Defaults ([`AudioEncoder::default`]), chosen for the Free Spoken Digit
//! Dataset (8 kHz, 0.14-2.3 s, median 0.42 s): 64 channels, 100-3800 Hz
//! (3800 Hz = 0.95 × Nyquist at 8 kHz), `ts_ms = 1`, 1000 bins (1 s; 99.3 %
//! of FSDD training recordings fit), `envelope_ms = 2`, 45 dB of dynamic
//! range, `max_rate_per_bin = 0.5` (500 Hz at full drive).

use std::io::Cursor;
use std::path::Path;

use crate::error::{Error, Result};
use crate::spikes::SpikeRaster;

/// Envelope peaks below this (about −120 dB re full scale) count as silence:
/// a digitally silent recording gives a silent raster, not amplified noise.
const SILENCE: f64 = 1e-6;
/// Largest quality factor of a filter stage (guards against a zero-width band).
const MAX_Q: f64 = 60.0;
/// The ratio of the −3 dB width of two cascaded identical band-pass stages
/// to the −3 dB width of one: `sqrt(sqrt(2) − 1)`.
const CASCADE_NARROWING: f64 = 0.643_594_252_905_582_6;

/// Hz → mel (O'Shaughnessy: `2595 · log10(1 + f/700)`).
fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

/// mel → Hz, the inverse of [`hz_to_mel`].
fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// A cochlea-like audio-to-spike encoder; see the [module docs](self) for the
/// model. All fields are public settings; [`Default`] gives the FSDD setup.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioEncoder {
    /// Number of frequency channels (= input neurons). Default 64.
    pub channels: usize,
    /// Time step of the raster in ms. Default 1.
    pub ts_ms: f64,
    /// Number of time bins; audio beyond `bins · ts_ms` is cut. Default 1000.
    pub bins: usize,
    /// Centre frequency of the lowest channel, Hz. Default 100.
    pub f_min_hz: f64,
    /// Centre frequency of the highest channel, Hz. Default 3800 (just under
    /// the 4 kHz Nyquist frequency of 8 kHz audio).
    pub f_max_hz: f64,
    /// Time constant of each of the two poles of the envelope low-pass, ms.
    /// Default 2.
    pub envelope_ms: f64,
    /// Range of envelope levels below the recording's peak that produce
    /// spikes, dB. Default 45.
    pub dynamic_range_db: f64,
    /// Spikes per bin at full drive (the recording's loudest band), clamped
    /// to `[0, 1]`. Default 0.5.
    pub max_rate_per_bin: f64,
}

impl Default for AudioEncoder {
    fn default() -> Self {
        Self {
            channels: 64,
            ts_ms: 1.0,
            bins: 1000,
            f_min_hz: 100.0,
            f_max_hz: 3800.0,
            envelope_ms: 2.0,
            dynamic_range_db: 45.0,
            max_rate_per_bin: 0.5,
        }
    }
}

/// One band-pass biquad (transposed direct form II, `f64` state).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b0: f64,
    a1: f64,
    a2: f64,
    s1: f64,
    s2: f64,
}

impl Biquad {
    /// RBJ band-pass with 0 dB peak gain at `fc`, quality factor `q`
    /// (`b1 = 0`, `b2 = −b0`).
    fn band_pass(fc: f64, q: f64, fs: f64) -> Self {
        let w0 = 2.0 * std::f64::consts::PI * fc / fs;
        let alpha = w0.sin() / (2.0 * q);
        let a0 = 1.0 + alpha;
        Self {
            b0: alpha / a0,
            a1: -2.0 * w0.cos() / a0,
            a2: (1.0 - alpha) / a0,
            s1: 0.0,
            s2: 0.0,
        }
    }

    #[inline]
    fn step(&mut self, x: f64) -> f64 {
        let y = self.b0 * x + self.s1;
        self.s1 = -self.a1 * y + self.s2;
        self.s2 = -self.b0 * x - self.a2 * y;
        y
    }
}

impl AudioEncoder {
    /// Centre frequencies of the channels in Hz, increasing, evenly spaced on
    /// the mel scale from `f_min_hz` to `f_max_hz` (one channel: `f_min_hz`).
    pub fn center_frequencies(&self) -> Vec<f64> {
        let (lo, hi) = (hz_to_mel(self.f_min_hz), hz_to_mel(self.f_max_hz));
        let step = self.mel_step();
        (0..self.channels)
            .map(|c| {
                if self.channels == 1 {
                    self.f_min_hz
                } else if c + 1 == self.channels {
                    self.f_max_hz
                } else {
                    mel_to_hz(lo + step * c as f64).min(mel_to_hz(hi))
                }
            })
            .collect()
    }

    /// Band edges in Hz, `channels + 1` of them: channel `c` covers
    /// `[edges[c], edges[c + 1])`, the mel midpoints to its neighbours (half a
    /// step beyond the outer centres). These are the filters' −3 dB points.
    pub fn band_edges(&self) -> Vec<f64> {
        let lo = hz_to_mel(self.f_min_hz);
        let step = self.mel_step();
        (0..=self.channels)
            .map(|e| mel_to_hz(lo + step * (e as f64 - 0.5)).max(0.0))
            .collect()
    }

    /// Distance of neighbouring centres on the mel scale.
    fn mel_step(&self) -> f64 {
        let span = hz_to_mel(self.f_max_hz) - hz_to_mel(self.f_min_hz);
        if self.channels > 1 {
            span / (self.channels - 1) as f64
        } else {
            span
        }
    }

    /// Samples per bin at `sample_rate`, or `None` when the settings cannot
    /// produce a raster (non-positive or non-finite time step, rate 0).
    fn samples_per_bin(&self, sample_rate: u32) -> Option<f64> {
        let spb = f64::from(sample_rate) * self.ts_ms / 1000.0;
        (spb.is_finite() && spb > 0.0).then_some(spb)
    }

    /// The per-bin envelope of every channel, before normalisation:
    /// `bins × channels`, time-major. Bins after the end of the audio are 0.
    fn envelopes(&self, samples: &[f32], sample_rate: u32) -> Vec<f64> {
        let (bins, channels) = (self.bins, self.channels);
        let mut env = vec![0.0f64; bins * channels];
        let Some(spb) = self.samples_per_bin(sample_rate) else {
            return env;
        };
        let fs = f64::from(sample_rate);
        // Sample index where bin k ends (exclusive), for the bins the audio reaches.
        let mut ends = Vec::new();
        for k in 0..bins {
            let start = (k as f64 * spb).round() as usize;
            if start >= samples.len() {
                break;
            }
            ends.push((((k + 1) as f64 * spb).round() as usize).min(samples.len()));
        }
        let used = ends.last().copied().unwrap_or(0);
        let x: Vec<f64> = samples[..used]
            .iter()
            .map(|&s| if s.is_finite() { f64::from(s) } else { 0.0 })
            .collect();
        let tau = self.envelope_ms / 1000.0 * fs;
        let a = if tau.is_finite() && tau > 0.0 {
            1.0 - (-1.0 / tau).exp()
        } else {
            1.0
        };
        let centers = self.center_frequencies();
        let edges = self.band_edges();
        let nyquist = fs / 2.0;
        for c in 0..channels {
            let fc = centers[c];
            if !(fc > 0.0 && edges[c + 1] < nyquist) {
                continue;
            }
            let width = (edges[c + 1] - edges[c]).max(fc / MAX_Q);
            let q = (fc * CASCADE_NARROWING / width).min(MAX_Q);
            let mut f1 = Biquad::band_pass(fc, q, fs);
            let mut f2 = f1;
            let (mut e1, mut e2) = (0.0f64, 0.0f64);
            let mut start = 0;
            for (k, &end) in ends.iter().enumerate() {
                let mut sum = 0.0;
                for &xi in &x[start..end] {
                    let y = f2.step(f1.step(xi)).max(0.0);
                    e1 += a * (y - e1);
                    e2 += a * (e1 - e2);
                    sum += e2;
                }
                // A bin shorter than one sample holds the current envelope.
                env[k * channels + c] = if end > start {
                    sum / (end - start) as f64
                } else {
                    e2
                };
                start = end;
            }
        }
        env
    }

    /// The normalised, log-compressed drive of every channel in `[0, 1]`:
    /// `bins × channels`, time-major; the input of the spike encoder
    /// (see the [module docs](self)). All zero for silent audio.
    pub fn drive(&self, samples: &[f32], sample_rate: u32) -> Vec<f32> {
        let env = self.envelopes(samples, sample_rate);
        let peak = env.iter().copied().fold(0.0f64, f64::max);
        if peak <= SILENCE {
            return vec![0.0; env.len()];
        }
        let range = if self.dynamic_range_db > 0.0 {
            self.dynamic_range_db
        } else {
            f64::MIN_POSITIVE
        };
        env.iter()
            .map(|&e| {
                if e > 0.0 {
                    (1.0 + 20.0 * (e / peak).log10() / range).clamp(0.0, 1.0) as f32
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Encodes mono `samples` at `sample_rate` Hz into a `bins × channels`
    /// 0/1 raster (neuron = channel, lowest frequency first).
    ///
    /// Deterministic; never panics: degenerate settings (no channels, a
    /// non-positive time step, sample rate 0) give a silent raster, and
    /// non-finite samples count as 0.
    pub fn encode(&self, samples: &[f32], sample_rate: u32) -> SpikeRaster {
        let drive = self.drive(samples, sample_rate);
        let rate = if self.max_rate_per_bin.is_nan() {
            0.0
        } else {
            self.max_rate_per_bin.clamp(0.0, 1.0)
        };
        let channels = self.channels;
        let mut raster = SpikeRaster::new(self.bins, channels);
        let mut acc = vec![0.0f64; channels];
        for (k, row) in drive.chunks_exact(channels.max(1)).enumerate() {
            for (c, (&v, a)) in row.iter().zip(acc.iter_mut()).enumerate() {
                *a += f64::from(v) * rate;
                if *a >= 1.0 {
                    *a -= 1.0;
                    raster.set(k, c);
                }
            }
        }
        raster
    }

    /// [`read_wav`] followed by [`encode`](Self::encode).
    pub fn encode_file(&self, path: impl AsRef<Path>) -> Result<SpikeRaster> {
        let (samples, rate) = read_wav(path)?;
        Ok(self.encode(&samples, rate))
    }
}

/// Reads a WAV file as mono `f32` samples in `[-1, 1]` and its sample rate.
///
/// Integer PCM of 8 to 32 bits is scaled by `2^−(bits−1)`; 32-bit float is
/// taken as it is. Several channels are mixed down by averaging each frame.
///
/// Fails with [`Error::Io`] when the file cannot be read and with
/// [`Error::Format`] (naming the file and a byte offset) when it is not a
/// readable WAV: no RIFF/WAVE header, a malformed or unsupported format
/// chunk, a sample rate of 0, or a data chunk that ends before the length
/// its header declares.
pub fn read_wav(path: impl AsRef<Path>) -> Result<(Vec<f32>, u32)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = |offset: u64, msg: String| Error::Format {
        path: path.to_path_buf(),
        offset,
        msg,
    };

    // First pass: the header, and where the samples start.
    let mut cursor = Cursor::new(bytes.as_slice());
    let (spec, declared) = match hound::WavReader::new(&mut cursor) {
        Ok(r) => (r.spec(), r.len() as usize),
        Err(e) => {
            return Err(format(
                cursor.position(),
                format!("not a readable WAV file: {e}"),
            ))
        }
    };
    let data_start = cursor.position();
    if spec.sample_rate == 0 {
        return Err(format(24, "sample rate 0 in the fmt chunk".to_string()));
    }
    let channels = usize::from(spec.channels.max(1));
    let bytes_per_sample = u64::from(spec.bits_per_sample).div_ceil(8).max(1);
    let present = (bytes.len() as u64).saturating_sub(data_start) / bytes_per_sample;
    // Never reserve more than the file can hold, whatever the header claims.
    let capacity = declared.min(present as usize);

    let mut reader = hound::WavReader::new(Cursor::new(bytes.as_slice()))
        .map_err(|e| format(0, format!("not a readable WAV file: {e}")))?;
    let bad_sample = |i: usize, e: hound::Error| {
        let offset = data_start + i as u64 * bytes_per_sample;
        let msg = match e {
            // Reading from memory, an I/O error can only be the end of the data.
            hound::Error::IoError(_) => {
                format!(
                    "data chunk truncated: header declares {declared} samples, \
                     the file ends in sample {i}"
                )
            }
            other => format!("bad sample {i} of {declared}: {other}"),
        };
        format(offset.min(bytes.len() as u64), msg)
    };
    let mut interleaved: Vec<f32> = Vec::with_capacity(capacity);
    match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / 2f64.powi(i32::from(spec.bits_per_sample.clamp(1, 32)) - 1);
            for (i, s) in reader.samples::<i32>().enumerate() {
                let s = s.map_err(|e| bad_sample(i, e))?;
                interleaved.push((f64::from(s) * scale) as f32);
            }
        }
        hound::SampleFormat::Float => {
            for (i, s) in reader.samples::<f32>().enumerate() {
                interleaved.push(s.map_err(|e| bad_sample(i, e))?);
            }
        }
    }
    let mono = if channels == 1 {
        interleaved
    } else {
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().sum::<f32>() / channels as f32)
            .collect()
    };
    Ok((mono, spec.sample_rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::argmax;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn fsdd() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd")
    }

    /// (file, digit, speaker) of the FSDD training list.
    fn fsdd_list() -> Vec<(String, u8, String)> {
        let text = std::fs::read_to_string(fsdd().join("train.txt")).unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let mut it = l.split_whitespace();
                let file = it.next().unwrap().to_string();
                let digit = it.next().unwrap().parse().unwrap();
                let speaker = it.next().unwrap().to_string();
                (file, digit, speaker)
            })
            .collect()
    }

    fn recording(name: &str) -> PathBuf {
        fsdd().join("recordings").join(name)
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "slayer-audio-{name}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn sine(f: f64, amp: f64, secs: f64, fs: u32) -> Vec<f32> {
        let n = (secs * f64::from(fs)) as usize;
        (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(fs)).sin()) as f32
            })
            .collect()
    }

    /// Mean drive of every channel.
    fn mean_drive(enc: &AudioEncoder, x: &[f32], fs: u32) -> Vec<f64> {
        let d = enc.drive(x, fs);
        let mut m = vec![0.0; enc.channels];
        for row in d.chunks_exact(enc.channels) {
            for (mi, &v) in m.iter_mut().zip(row) {
                *mi += f64::from(v) / enc.bins as f64;
            }
        }
        m
    }

    #[test]
    fn filter_bank_layout() {
        let enc = AudioEncoder::default();
        let fc = enc.center_frequencies();
        let edges = enc.band_edges();
        assert_eq!(fc.len(), 64);
        assert_eq!(edges.len(), 65);
        assert!((fc[0] - 100.0).abs() < 1e-9 && (fc[63] - 3800.0).abs() < 1e-9);
        for c in 0..64 {
            assert!(edges[c] < fc[c] && fc[c] < edges[c + 1], "channel {c}");
        }
        assert!(edges[64] < 4000.0, "top band stays under 8 kHz Nyquist");
        // Mel spacing: narrow bands at the bottom, wide at the top.
        let low = fc[1] - fc[0];
        let high = fc[63] - fc[62];
        assert!(high > 4.0 * low, "{low} vs {high}");
        let one = AudioEncoder {
            channels: 1,
            ..AudioEncoder::default()
        };
        assert_eq!(one.center_frequencies(), vec![100.0]);
    }

    #[test]
    fn sine_drives_its_band() {
        let enc = AudioEncoder::default();
        let edges = enc.band_edges();
        let mut last = 0;
        for f in [150.0, 300.0, 600.0, 1000.0, 1700.0, 2500.0, 3500.0] {
            let x = sine(f, 0.3, 0.6, 8000);
            let r = enc.encode(&x, 8000);
            let counts = r.counts();
            let best = argmax(&counts);
            let m = mean_drive(&enc, &x, 8000);
            let best_drive = m
                .iter()
                .enumerate()
                .fold(0, |b, (i, &v)| if v > m[b] { i } else { b });
            // The strongest channel is the one whose band holds f (or its neighbour:
            // spike counts are quantised).
            assert!(
                edges[best_drive] <= f && f < edges[best_drive + 1],
                "{f} Hz: channel {best_drive} covers {}..{}",
                edges[best_drive],
                edges[best_drive + 1]
            );
            assert!(
                best.abs_diff(best_drive) <= 1,
                "{f} Hz: {best} vs {best_drive}"
            );
            assert!(best_drive > last || f == 150.0, "moves up with f");
            last = best_drive;
            // Mainly that band: channels far from it spike much less.
            let peak = counts[best];
            assert!(peak > 200, "{f} Hz: {peak} spikes at the peak");
            for (c, &n) in counts.iter().enumerate() {
                if c.abs_diff(best_drive) > 10 {
                    assert!(n * 3 < peak, "{f} Hz: channel {c} has {n} vs {peak}");
                }
            }
            // Only the 0.6 s of signal spike.
            assert!(r.count() > 0 && (600..1000).all(|k| r.row(k).iter().all(|&s| s == 0)));
        }
    }

    #[test]
    fn sample_rate_and_level_independence() {
        let enc = AudioEncoder::default();
        for f in [440.0, 2000.0] {
            let a = enc.encode(&sine(f, 0.5, 0.4, 8000), 8000);
            let b = enc.encode(&sine(f, 0.5, 0.4, 16000), 16000);
            let c = enc.encode(&sine(f, 0.5, 0.4, 44100), 44100);
            let (ca, cb, cc) = (
                argmax(&a.counts()),
                argmax(&b.counts()),
                argmax(&c.counts()),
            );
            assert!(
                ca.abs_diff(cb) <= 1 && ca.abs_diff(cc) <= 1,
                "{ca} {cb} {cc}"
            );
        }
        // Loud and quiet speakers look alike: a power-of-two gain is exact.
        let (x, fs) = read_wav(recording("3_theo_7.wav")).unwrap();
        let quiet: Vec<f32> = x.iter().map(|&s| s / 8.0).collect();
        assert_eq!(enc.encode(&x, fs), enc.encode(&quiet, fs));
        // Silence is silent; so are degenerate settings.
        assert_eq!(enc.encode(&vec![0.0; 4000], 8000).count(), 0);
        assert_eq!(enc.encode(&[], 8000).count(), 0);
        assert_eq!(enc.encode(&x, 0).count(), 0);
        let nan = vec![f32::NAN; 4000];
        assert_eq!(enc.encode(&nan, 8000).count(), 0);
        for bad in [
            AudioEncoder {
                channels: 0,
                ..enc.clone()
            },
            AudioEncoder {
                ts_ms: 0.0,
                ..enc.clone()
            },
            AudioEncoder {
                ts_ms: f64::NAN,
                ..enc.clone()
            },
            AudioEncoder {
                bins: 0,
                ..enc.clone()
            },
            AudioEncoder {
                max_rate_per_bin: f64::NAN,
                ..enc.clone()
            },
        ] {
            let r = bad.encode(&x, fs);
            assert_eq!(r.count(), 0, "{bad:?}");
            assert_eq!((r.bins(), r.neurons()), (bad.bins, bad.channels));
        }
    }

    #[test]
    fn real_recordings_give_plausible_spike_counts() {
        let enc = AudioEncoder::default();
        for name in [
            "0_george_10.wav",
            "3_theo_7.wav",
            "5_jackson_20.wav",
            "7_lucas_10.wav",
            "9_yweweler_40.wav",
            "1_nicolas_12.wav",
        ] {
            let path = recording(name);
            let (x, fs) = read_wav(&path).unwrap();
            assert_eq!(fs, 8000);
            assert!(x.len() > 1000 && x.iter().all(|s| (-1.0..=1.0).contains(s)));
            let r = enc.encode_file(&path).unwrap();
            assert_eq!((r.bins(), r.neurons()), (1000, 64));
            let dur_bins = x.len().div_ceil(8).min(1000);
            let n = r.count();
            // Not silent, not saturated: between 5 % and 60 % of the maximum
            // the rate allows over the recording's duration.
            let max = (dur_bins as f64 * 64.0 * enc.max_rate_per_bin) as usize;
            assert!(n > max / 20 && n < max * 6 / 10, "{name}: {n} of max {max}");
            // At most one spike per bin and channel, none after the end.
            assert!(r.data().iter().all(|&v| v <= 1));
            assert!((dur_bins..1000).all(|k| r.row(k).iter().all(|&s| s == 0)));
            // Most channels take part.
            let active = r.counts().iter().filter(|&&c| c > 0).count();
            assert!(active > 32, "{name}: {active} active channels");
            // Deterministic.
            assert_eq!(enc.encode_file(&path).unwrap(), r);
        }
    }

    #[test]
    fn long_audio_is_cut_short_audio_ends_silent() {
        let enc = AudioEncoder {
            bins: 200,
            ..AudioEncoder::default()
        };
        let (x, fs) = read_wav(recording("0_george_10.wav")).unwrap();
        assert!(x.len() > 1600);
        assert_eq!(enc.encode(&x, fs), enc.encode(&x[..1600], fs));
        let r = enc.encode(&x[..800], fs);
        assert!(r.count() > 0);
        assert!((100..200).all(|k| r.row(k).iter().all(|&s| s == 0)));
    }

    #[test]
    fn reads_other_wav_layouts() {
        let dir = TempDir::new("layouts");
        let x = sine(500.0, 0.5, 0.2, 16000);
        // Stereo 16-bit at 16 kHz with the tone in the left channel only.
        let path = dir.0.join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for &s in &x {
            w.write_sample((s * 32767.0) as i16).unwrap();
            w.write_sample(0i16).unwrap();
        }
        w.finalize().unwrap();
        let (y, fs) = read_wav(&path).unwrap();
        assert_eq!((fs, y.len()), (16000, x.len()));
        for (a, b) in x.iter().zip(&y) {
            assert!((a / 2.0 - b).abs() < 1e-4);
        }
        // 24-bit mono and 32-bit float mono.
        for (bits, format) in [
            (24, hound::SampleFormat::Int),
            (32, hound::SampleFormat::Float),
        ] {
            let path = dir.0.join(format!("mono{bits}.wav"));
            let spec = hound::WavSpec {
                channels: 1,
                sample_rate: 11025,
                bits_per_sample: bits,
                sample_format: format,
            };
            let mut w = hound::WavWriter::create(&path, spec).unwrap();
            for &s in &x {
                match format {
                    hound::SampleFormat::Int => w.write_sample((s * 8_388_607.0) as i32).unwrap(),
                    hound::SampleFormat::Float => w.write_sample(s).unwrap(),
                }
            }
            w.finalize().unwrap();
            let (y, fs) = read_wav(&path).unwrap();
            assert_eq!((fs, y.len()), (11025, x.len()));
            assert!(x.iter().zip(&y).all(|(a, b)| (a - b).abs() < 1e-6));
        }
    }

    #[test]
    fn corrupt_wav_is_an_error_naming_the_file() {
        let dir = TempDir::new("corrupt");
        let bytes = std::fs::read(recording("0_george_10.wav")).unwrap();
        let check = |name: &str, data: &[u8], needle: &str| {
            let path = dir.0.join(name);
            std::fs::write(&path, data).unwrap();
            let e = read_wav(&path).unwrap_err();
            let text = e.to_string();
            assert!(matches!(e, Error::Format { .. }), "{name}: {text}");
            assert!(text.contains(name), "{text}");
            assert!(text.contains(needle), "{name}: {text}");
            if let Error::Format { offset, .. } = e {
                assert!(offset <= data.len() as u64, "{name}: offset {offset}");
            }
            assert!(AudioEncoder::default().encode_file(&path).is_err());
        };
        // Cut in the samples (an odd cut ends inside a sample).
        check("cut.wav", &bytes[..bytes.len() / 2], "truncated");
        check("cut-odd.wav", &bytes[..=(bytes.len() / 2)], "truncated");
        // Cut in the header, empty, not a WAV at all.
        check("header.wav", &bytes[..30], "WAV");
        check("empty.wav", &[], "WAV");
        check("text.wav", b"this is not a wav file, just some text", "WAV");
        // A data chunk claiming 2 GB in a small file.
        let mut huge = bytes.clone();
        let data = huge.windows(4).position(|w| w == b"data").unwrap();
        huge[data + 4..data + 8].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        check("huge.wav", &huge, "truncated");
        // Sample rate 0.
        let mut zero = bytes.clone();
        zero[24..28].copy_from_slice(&0u32.to_le_bytes());
        check("rate0-inconsistent.wav", &zero, "WAV");
        zero[28..32].copy_from_slice(&0u32.to_le_bytes());
        check("rate0.wav", &zero, "sample rate");
        // A missing file is an I/O error naming it.
        let e = read_wav(dir.0.join("missing.wav")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }) && e.to_string().contains("missing.wav"));
    }

    #[test]
    fn fsdd_has_the_recordings_listed() {
        let list = fsdd_list();
        assert_eq!(list.len(), 2700);
        assert!(list.iter().all(|(_, d, _)| *d < 10));
        assert!(recording(&list[0].0).exists());
    }

    /// Per-channel spike counts in `segs` equal time segments between the
    /// first and the last spike, L2-normalised.
    fn count_features(r: &SpikeRaster, segs: usize) -> Vec<f64> {
        let ch = r.neurons();
        let active: Vec<usize> = (0..r.bins())
            .filter(|&k| r.row(k).iter().any(|&s| s != 0))
            .collect();
        let mut f = vec![0.0; segs * ch];
        let (Some(&a), Some(&last)) = (active.first(), active.last()) else {
            return f;
        };
        let b = last + 1;
        for k in a..b {
            let s = ((k - a) * segs / (b - a)).min(segs - 1);
            for (c, &v) in r.row(k).iter().enumerate() {
                f[s * ch + c] += f64::from(v);
            }
        }
        let n = f.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
        f.iter().map(|x| x / n).collect()
    }

    /// The encoding keeps the digits apart: a nearest-neighbour classifier on
    /// coarse spike counts (8 time segments × 64 channels) already reaches
    /// ~97 % on held-out takes (take % 5 == 0) of all 2,700 recordings.
    #[test]
    fn fsdd_digits_are_separable() {
        let enc = AudioEncoder::default();
        let mut rows = Vec::new();
        let mut counts = Vec::new();
        for (file, digit, _) in fsdd_list() {
            let take: usize = file
                .trim_end_matches(".wav")
                .rsplit('_')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let r = enc.encode_file(recording(&file)).unwrap();
            counts.push(r.count());
            rows.push((digit, take.is_multiple_of(5), count_features(&r, 8)));
        }
        counts.sort_unstable();
        let n = counts.len();
        eprintln!(
            "FSDD spikes per recording: min {} p10 {} median {} p90 {} max {}",
            counts[0],
            counts[n / 10],
            counts[n / 2],
            counts[9 * n / 10],
            counts[n - 1]
        );
        assert!(counts[0] > 100, "a recording is almost silent");
        let (val, train): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r.1);
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let correct = val
            .iter()
            .filter(|v| {
                let nearest = train
                    .iter()
                    .max_by(|a, b| dot(&a.2, &v.2).total_cmp(&dot(&b.2, &v.2)))
                    .unwrap();
                nearest.0 == v.0
            })
            .count();
        let acc = correct as f64 / val.len() as f64;
        eprintln!(
            "1-NN on held-out takes: {correct}/{} = {:.1} %",
            val.len(),
            100.0 * acc
        );
        assert!(acc > 0.9, "accuracy {acc}");
    }
}
