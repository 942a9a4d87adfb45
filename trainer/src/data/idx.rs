//! MNIST / Fashion-MNIST IDX files and Poisson rate encoding of images.
//!
//! The IDX format (LeCun et al.) is a big-endian header followed by raw
//! bytes: a magic number `0x0000_08DD` (`08` = unsigned bytes, `DD` = number
//! of dimensions), one `u32` per dimension, then the data. Images use
//! `0x0000_0803` (`n × rows × cols`), labels `0x0000_0801` (`n`).
//!
//! Files may be gzip-compressed (`train-images-idx3-ubyte.gz`, as the
//! datasets are distributed) or raw; the reader tells them apart by the gzip
//! magic bytes `1f 8b`, not by the file name. Concatenated gzip members are
//! accepted.
//!
//! Corrupt input is an [`Error::Format`] naming the file and a byte offset:
//! a wrong magic number, zero or overflowing dimensions, a payload shorter or
//! longer than the header declares, a truncated or corrupt gzip stream. For a
//! gzip file the offset counts bytes of the *decompressed* stream (the message
//! says so). The declared size is never allocated up front: the payload is
//! read as it arrives and compared with the declaration, so a header claiming
//! 4 G images cannot exhaust memory.
//!
//! [`poisson_encode`] turns an image into a spike raster, one input neuron per
//! pixel (row-major, `y · cols + x`), firing in each bin with a probability
//! proportional to the pixel intensity.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use rand::Rng;

use crate::error::{Error, Result};
use crate::spikes::SpikeRaster;

/// Magic number of an IDX file of unsigned-byte images (`n × rows × cols`).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (`n`).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Most bytes reserved up front for a payload; it grows beyond this only as
/// data actually arrives.
const MAX_PREALLOC: usize = 1 << 24;

/// A set of greyscale images of equal size, as stored in an IDX file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Height of every image in pixels.
    pub rows: usize,
    /// Width of every image in pixels.
    pub cols: usize,
    /// All pixels, `n × rows × cols`, image after image, each row-major
    /// (0 = background, 255 = full ink for MNIST).
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image, `rows × cols`.
    pub fn image_size(&self) -> usize {
        self.rows * self.cols
    }

    /// Number of images (0 when an image has no pixels).
    pub fn len(&self) -> usize {
        self.pixels
            .len()
            .checked_div(self.image_size())
            .unwrap_or(0)
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pixels of image `i`, row-major (`rows × cols` bytes).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[u8] {
        let size = self.image_size();
        assert!(
            i < self.len(),
            "image {i} out of range ({} images)",
            self.len()
        );
        &self.pixels[i * size..(i + 1) * size]
    }

    /// Iterates over the images in file order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.pixels.chunks_exact(self.image_size().max(1))
    }
}

/// Reads an IDX image file (magic `0x00000803`), gzip-compressed or raw.
///
/// Fails with [`Error::Io`] when the file cannot be read and with
/// [`Error::Format`] when it is not a well-formed image file: wrong magic,
/// a zero dimension, a declared size that overflows or does not match the
/// data (truncated or with trailing bytes), or a corrupt gzip stream.
pub fn read_images(path: impl AsRef<Path>) -> Result<Images> {
    let path = path.as_ref();
    let mut src = IdxSource::open(path)?;
    let header = src.read_header(IMAGES_MAGIC, 3)?;
    let (n, rows, cols) = (header[0], header[1], header[2]);
    if rows == 0 || cols == 0 {
        return Err(src.format(
            8,
            format!("image dimensions {rows}×{cols}: an image needs at least one pixel"),
        ));
    }
    let declared = n
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| {
            src.format(
                4,
                format!("absurd dimensions {n}×{rows}×{cols}: the size overflows"),
            )
        })?;
    let pixels = src.read_payload(declared, "image")?;
    Ok(Images { rows, cols, pixels })
}

/// Reads an IDX label file (magic `0x00000801`), gzip-compressed or raw:
/// one byte per sample. The label values are not checked (MNIST and
/// Fashion-MNIST use 0..10).
///
/// Fails like [`read_images`].
pub fn read_labels(path: impl AsRef<Path>) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let mut src = IdxSource::open(path)?;
    let header = src.read_header(LABELS_MAGIC, 1)?;
    src.read_payload(header[0], "label")
}

/// Poisson (Bernoulli) rate code of one image: a `bins × image.len()` raster
/// in which pixel `i` (= neuron `i`) spikes in each bin independently with
/// probability `image[i] / 255 · max_rate_per_bin`, clamped to `[0, 1]`
/// (a NaN rate gives a silent raster).
///
/// Cells are drawn time-major (bin by bin, then pixel); pixels with zero
/// probability draw no random number, so equal seeds give equal rasters and
/// black backgrounds cost nothing. For a rate in Hz at a time step `Ts` ms,
/// pass `max_rate_per_bin = rate_hz · Ts / 1000`.
pub fn poisson_encode(
    image: &[u8],
    bins: usize,
    max_rate_per_bin: f64,
    rng: &mut (impl Rng + ?Sized),
) -> SpikeRaster {
    let scale = if max_rate_per_bin.is_nan() {
        0.0
    } else {
        max_rate_per_bin / 255.0
    };
    let probs: Vec<(usize, f64)> = image
        .iter()
        .enumerate()
        .map(|(i, &v)| (i, (f64::from(v) * scale).clamp(0.0, 1.0)))
        .filter(|&(_, p)| p > 0.0)
        .collect();
    let mut raster = SpikeRaster::new(bins, image.len());
    for k in 0..bins {
        for &(i, p) in &probs {
            // `random::<f64>()` is in [0, 1): p = 1 always spikes.
            if rng.random::<f64>() < p {
                raster.set(k, i);
            }
        }
    }
    raster
}

/// An open IDX file: the (possibly decompressing) byte stream and how many
/// bytes of it have been consumed.
struct IdxSource {
    path: PathBuf,
    gzip: bool,
    /// Bytes of the (decompressed) stream consumed so far.
    pos: u64,
    /// Size of the file on disk (an upper bound for a raw payload).
    file_len: u64,
    reader: Box<dyn Read>,
}

impl IdxSource {
    /// Opens `path` and sniffs the gzip magic.
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let mut file = BufReader::new(file);
        let head = std::io::BufRead::fill_buf(&mut file).map_err(|e| Error::io(path, e))?;
        let gzip = head.starts_with(&GZIP_MAGIC);
        let reader: Box<dyn Read> = if gzip {
            Box::new(MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        Ok(Self {
            path: path.to_path_buf(),
            gzip,
            pos: 0,
            file_len,
            reader,
        })
    }

    /// A format error at `offset` of the (decompressed) stream.
    fn format(&self, offset: u64, msg: impl Into<String>) -> Error {
        let mut msg = msg.into();
        if self.gzip {
            msg.push_str(" (offset in the decompressed gzip stream)");
        }
        Error::Format {
            path: self.path.clone(),
            offset,
            msg,
        }
    }

    /// Maps a read error: decompression failures are format errors at the
    /// current offset, anything else an I/O error.
    fn read_err(&self, e: std::io::Error, what: &str) -> Error {
        let corrupt = matches!(
            e.kind(),
            ErrorKind::UnexpectedEof | ErrorKind::InvalidInput | ErrorKind::InvalidData
        );
        if self.gzip && corrupt {
            self.format(
                self.pos,
                format!("corrupt or truncated gzip stream while reading the {what}: {e}"),
            )
        } else {
            Error::io(&self.path, e)
        }
    }

    /// Reads into `buf` until it is full or the stream ends; returns the
    /// number of bytes read.
    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            match self.reader.read(&mut buf[got..]) {
                Ok(0) => break,
                Ok(n) => {
                    got += n;
                    self.pos += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_err(e, what)),
            }
        }
        Ok(got)
    }

    /// Reads and checks the magic number and the `dims` dimension sizes.
    fn read_header(&mut self, magic: u32, dims: usize) -> Result<Vec<usize>> {
        let mut buf = [0u8; 4];
        let got = self.fill(&mut buf, "header")?;
        if got < 4 {
            return Err(self.format(self.pos, "file too short for the IDX magic number"));
        }
        let found = u32::from_be_bytes(buf);
        if found != magic {
            return Err(self.format(
                0,
                format!("bad IDX magic 0x{found:08x}, expected 0x{magic:08x}"),
            ));
        }
        let mut sizes = Vec::with_capacity(dims);
        for d in 0..dims {
            let got = self.fill(&mut buf, "header")?;
            if got < 4 {
                return Err(self.format(
                    self.pos,
                    format!("header truncated in dimension {d} of {dims}"),
                ));
            }
            let size = usize::try_from(u32::from_be_bytes(buf)).map_err(|_| {
                self.format(
                    self.pos - 4,
                    format!("dimension {d} does not fit in memory"),
                )
            })?;
            sizes.push(size);
        }
        Ok(sizes)
    }

    /// Reads exactly `declared` payload bytes and checks that the stream ends
    /// there. Memory grows with the data actually present, never with the
    /// declaration alone.
    fn read_payload(&mut self, declared: usize, what: &str) -> Result<Vec<u8>> {
        let start = self.pos;
        if !self.gzip {
            let present = self.file_len.saturating_sub(start);
            if (declared as u64) > present {
                return Err(self.format(
                    self.file_len,
                    format!(
                        "{what} data truncated: header declares {declared} bytes, \
                         the file holds {present}"
                    ),
                ));
            }
        }
        let mut data = Vec::with_capacity(declared.min(MAX_PREALLOC));
        let mut chunk = vec![0u8; 1 << 16];
        let what_data = format!("{what} data");
        while data.len() < declared {
            let want = (declared - data.len()).min(chunk.len());
            let got = self.fill(&mut chunk[..want], &what_data)?;
            data.extend_from_slice(&chunk[..got]);
            if got < want {
                return Err(self.format(
                    self.pos,
                    format!(
                        "{what} data truncated: header declares {declared} bytes, \
                         the stream ends after {}",
                        data.len()
                    ),
                ));
            }
        }
        // The stream must end here; reading to the end also makes the gzip
        // decoder verify its CRC and length trailer.
        let mut probe = [0u8; 1];
        if self.fill(&mut probe, &what_data)? > 0 {
            return Err(self.format(
                start + declared as u64,
                format!(
                    "trailing bytes after the {declared} bytes of {what} data the header declares"
                ),
            ));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::poisson::seeded_rng;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn mnist_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/mnist")
    }

    fn images_path() -> PathBuf {
        mnist_dir().join("train10k-images-idx3-ubyte.gz")
    }

    fn labels_path() -> PathBuf {
        mnist_dir().join("train10k-labels-idx1-ubyte.gz")
    }

    /// A fresh file path in its own directory under the system temp dir,
    /// unique per call and process; the directory is removed on drop.
    struct TempFile(PathBuf);

    impl std::ops::Deref for TempFile {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl AsRef<Path> for TempFile {
        fn as_ref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            if let Some(dir) = self.0.parent() {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }

    fn temp_file(name: &str) -> TempFile {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "slayer-idx-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join(name))
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn decompressed(path: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        MultiGzDecoder::new(File::open(path).unwrap())
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn expect_format(r: Result<impl std::fmt::Debug>, path: &Path, needle: &str) -> u64 {
        match r {
            Err(Error::Format {
                path: p,
                offset,
                msg,
            }) => {
                assert_eq!(p, path);
                assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
                offset
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn reads_real_mnist_images_and_labels() {
        let images = read_images(images_path()).unwrap();
        assert_eq!((images.rows, images.cols), (28, 28));
        assert_eq!(images.len(), 10_000);
        assert_eq!(images.image(0).len(), 784);
        assert_eq!(images.iter().count(), 10_000);
        let labels = read_labels(labels_path()).unwrap();
        assert_eq!(labels.len(), 10_000);
        assert!(labels.iter().all(|&l| l < 10));
        let mut hist = [0usize; 10];
        for &l in &labels {
            hist[l as usize] += 1;
        }
        assert!(hist.iter().all(|&c| (800..=1200).contains(&c)), "{hist:?}");
        // MNIST training images 0..5 are the digits 5 0 4 1 9.
        assert_eq!(&labels[..5], &[5, 0, 4, 1, 9]);
        // Image 0 (a "5") has ink and background, and its ink is in the centre.
        let img = images.image(0);
        let ink = img.iter().filter(|&&p| p > 128).count();
        assert!((80..250).contains(&ink), "ink pixels {ink}");
        assert!(img[..28].iter().all(|&p| p == 0), "top row is background");
        let (mut sx, mut sy, mut sw) = (0.0, 0.0, 0.0);
        for (i, &p) in img.iter().enumerate() {
            let w = f64::from(p);
            sx += w * (i % 28) as f64;
            sy += w * (i / 28) as f64;
            sw += w;
        }
        let (cx, cy) = (sx / sw, sy / sw);
        assert!((10.0..18.0).contains(&cx) && (10.0..18.0).contains(&cy));
        // Mean intensity of MNIST is about 33/255.
        let mean =
            images.pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / images.pixels.len() as f64;
        assert!((25.0..40.0).contains(&mean), "mean {mean}");
    }

    #[test]
    fn raw_and_gzip_agree() {
        let raw = decompressed(&images_path());
        let path = temp_file("images-idx3-ubyte");
        std::fs::write(&path, &raw).unwrap();
        let a = read_images(&path).unwrap();
        let b = read_images(images_path()).unwrap();
        assert_eq!(a, b);
        let raw_labels = decompressed(&labels_path());
        let lpath = temp_file("labels-idx1-ubyte");
        std::fs::write(&lpath, &raw_labels).unwrap();
        assert_eq!(
            read_labels(&lpath).unwrap(),
            read_labels(labels_path()).unwrap()
        );
        // Two concatenated gzip members read as one stream.
        let mut two = gzip(&raw_labels[..100]);
        two.extend(gzip(&raw_labels[100..]));
        let tpath = temp_file("two-members.gz");
        std::fs::write(&tpath, &two).unwrap();
        assert_eq!(read_labels(&tpath).unwrap().len(), 10_000);
    }

    #[test]
    fn truncated_gzip_stream_is_an_error() {
        let gz = std::fs::read(images_path()).unwrap();
        for cut in [5, 30, gz.len() / 2, gz.len() - 4] {
            let path = temp_file("cut-images.gz");
            std::fs::write(&path, &gz[..cut]).unwrap();
            let e = read_images(&path).unwrap_err();
            assert!(matches!(e, Error::Format { .. }), "cut {cut}: {e}");
            let text = e.to_string();
            assert!(text.contains("cut-images.gz"), "{text}");
            assert!(text.contains("decompressed"), "{text}");
        }
        // A flipped byte in the middle of the deflate data: corrupt stream or CRC mismatch.
        let mut bad = gz.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let path = temp_file("flipped.gz");
        std::fs::write(&path, &bad).unwrap();
        assert!(matches!(read_images(&path), Err(Error::Format { .. })));
    }

    #[test]
    fn truncated_payload_is_an_error() {
        let raw = decompressed(&images_path());
        // Raw file cut inside the pixels: the offset is the end of the file.
        let path = temp_file("short-idx3-ubyte");
        std::fs::write(&path, &raw[..16 + 784 * 3 + 100]).unwrap();
        let off = expect_format(read_images(&path), &path, "truncated");
        assert_eq!(off, (16 + 784 * 3 + 100) as u64);
        // The same payload, validly gzip-compressed: offset in the decompressed stream.
        let gpath = temp_file("short.gz");
        std::fs::write(&gpath, gzip(&raw[..16 + 784 * 3 + 100])).unwrap();
        let off = expect_format(read_images(&gpath), &gpath, "decompressed");
        assert_eq!(off, (16 + 784 * 3 + 100) as u64);
        // Cut inside the header.
        std::fs::write(&path, &raw[..10]).unwrap();
        expect_format(read_images(&path), &path, "header truncated");
        std::fs::write(&path, &raw[..2]).unwrap();
        expect_format(read_images(&path), &path, "too short");
        std::fs::write(&path, []).unwrap();
        expect_format(read_images(&path), &path, "too short");
        // Trailing bytes after the declared payload.
        let mut long = raw[..16 + 784].to_vec();
        long[4..8].copy_from_slice(&0u32.to_be_bytes());
        std::fs::write(&path, &long).unwrap();
        let off = expect_format(read_images(&path), &path, "trailing");
        assert_eq!(off, 16);
        // Labels: header says 10,000, 50 present.
        let labels = decompressed(&labels_path());
        std::fs::write(&path, &labels[..58]).unwrap();
        expect_format(read_labels(&path), &path, "truncated");
    }

    #[test]
    fn wrong_magic_and_absurd_dimensions() {
        let path = temp_file("bad-idx");
        let labels = decompressed(&labels_path());
        // A label file is not an image file, and the other way round.
        std::fs::write(&path, &labels).unwrap();
        let off = expect_format(read_images(&path), &path, "magic");
        assert_eq!(off, 0);
        let raw = decompressed(&images_path());
        std::fs::write(&path, &raw[..16 + 784]).unwrap();
        expect_format(read_labels(&path), &path, "0x00000803");
        // A header claiming 4 G images of 65536×65536: no allocation, an error.
        let mut huge = vec![0, 0, 8, 3];
        for d in [u32::MAX, 65_536, 65_536] {
            huge.extend(d.to_be_bytes());
        }
        huge.extend([0u8; 100]);
        std::fs::write(&path, &huge).unwrap();
        let e = read_images(&path).unwrap_err();
        assert!(matches!(e, Error::Format { .. }), "{e}");
        // 1 G images of 1000×1000 declared, gzip-compressed: must not allocate it.
        let mut big = vec![0, 0, 8, 3];
        for d in [1u32 << 30, 1000, 1000] {
            big.extend(d.to_be_bytes());
        }
        big.extend([7u8; 5000]);
        let gpath = temp_file("big.gz");
        std::fs::write(&gpath, gzip(&big)).unwrap();
        expect_format(read_images(&gpath), &gpath, "truncated");
        // Labels claiming u32::MAX entries in a raw file.
        let mut many = vec![0, 0, 8, 1];
        many.extend(u32::MAX.to_be_bytes());
        many.extend([1u8; 10]);
        std::fs::write(&path, &many).unwrap();
        expect_format(read_labels(&path), &path, "truncated");
        // Zero-sized images.
        let mut zero = vec![0, 0, 8, 3];
        for d in [5u32, 0, 28] {
            zero.extend(d.to_be_bytes());
        }
        std::fs::write(&path, &zero).unwrap();
        expect_format(read_images(&path), &path, "pixel");
        // A missing file is an I/O error naming it.
        let missing = path.with_file_name("no-such-file.gz");
        let e = read_images(&missing).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e}");
        assert!(e.to_string().contains("no-such-file.gz"));
    }

    #[test]
    fn empty_image_set_is_fine() {
        let mut empty = vec![0, 0, 8, 3];
        for d in [0u32, 28, 28] {
            empty.extend(d.to_be_bytes());
        }
        let path = temp_file("empty-idx3");
        std::fs::write(&path, &empty).unwrap();
        let images = read_images(&path).unwrap();
        assert!(images.is_empty());
        assert_eq!(images.iter().count(), 0);
    }

    #[test]
    fn poisson_rate_within_tolerance() {
        let images = read_images(images_path()).unwrap();
        let img = images.image(0);
        let bins = 2000;
        let rate = 0.2;
        let r = poisson_encode(img, bins, rate, &mut seeded_rng(3));
        assert_eq!((r.bins(), r.neurons()), (bins, 784));
        let expect: f64 = img
            .iter()
            .map(|&p| f64::from(p) / 255.0 * rate * bins as f64)
            .sum();
        let got = r.count() as f64;
        // Variance ≤ expect: 3% is many standard deviations at ~ 30k spikes.
        assert!((got - expect).abs() < 0.03 * expect, "{got} vs {expect}");
        let counts = r.counts();
        for (i, &p) in img.iter().enumerate() {
            if p == 0 {
                assert_eq!(counts[i], 0, "background pixel {i} spiked");
            }
            if p == 255 {
                let c = f64::from(counts[i]);
                let e = rate * bins as f64;
                assert!((c - e).abs() < 0.25 * e, "pixel {i}: {c} vs {e}");
            }
        }
        // Edge rates.
        let white = [255u8; 10];
        assert_eq!(
            poisson_encode(&white, 7, 1.0, &mut seeded_rng(1)).count(),
            70
        );
        assert_eq!(
            poisson_encode(&white, 7, 3.0, &mut seeded_rng(1)).count(),
            70
        );
        assert_eq!(
            poisson_encode(&white, 7, 0.0, &mut seeded_rng(1)).count(),
            0
        );
        assert_eq!(
            poisson_encode(&white, 7, f64::NAN, &mut seeded_rng(1)).count(),
            0
        );
        assert_eq!(
            poisson_encode(&white, 7, -1.0, &mut seeded_rng(1)).count(),
            0
        );
        assert_eq!(poisson_encode(&[], 7, 0.5, &mut seeded_rng(1)).neurons(), 0);
    }

    #[test]
    fn poisson_seeded_determinism() {
        let images = read_images(images_path()).unwrap();
        let img = images.image(1);
        let a = poisson_encode(img, 300, 0.1, &mut seeded_rng(42));
        let b = poisson_encode(img, 300, 0.1, &mut seeded_rng(42));
        let c = poisson_encode(img, 300, 0.1, &mut seeded_rng(43));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// Full Fashion-MNIST, when `apt-get install dataset-fashion-mnist` has
    /// put it on this machine; skipped (passes) otherwise.
    #[test]
    fn fashion_mnist_if_installed() {
        let dir = Path::new("/usr/share/datasets/fashion-mnist");
        if !dir.join("train-images-idx3-ubyte.gz").exists() {
            eprintln!("{} not installed: skipped", dir.display());
            return;
        }
        for (split, n) in [("train", 60_000), ("t10k", 10_000)] {
            let images = read_images(dir.join(format!("{split}-images-idx3-ubyte.gz"))).unwrap();
            let labels = read_labels(dir.join(format!("{split}-labels-idx1-ubyte.gz"))).unwrap();
            assert_eq!((images.len(), images.rows, images.cols), (n, 28, 28));
            assert_eq!(labels.len(), n);
            let mut hist = [0usize; 10];
            for &l in &labels {
                hist[usize::from(l)] += 1;
            }
            assert!(hist.iter().all(|&c| c == n / 10), "{split}: {hist:?}");
        }
    }
}
