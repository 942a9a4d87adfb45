//! `slayer stream`: bin-for-bin parity with the offline core runner, stdin
//! input, clean errors, and corrupted streams (seeded byte flips, deleted
//! ranges and truncations of a real DVS Gesture AEDAT 3.1 recording) that
//! must never stop the stream and may only lose the damaged packets.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::data::Binning;
use slayer_trainer::infer::{self, CoreRunner};
use slayer_trainer::stream::{self, Format, NullSink, Sink, Source, StreamOptions};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/dvs-gesture")
}

fn aedat() -> PathBuf {
    data().join("aedat31/slayer10_concat.aedat")
}

/// A fresh temporary folder per test.
fn tempdir(name: &str) -> common::TempDir {
    common::tempdir("stream", name)
}

/// A small random-weight model on the DVS128 input (2×128×128): pool 4,
/// conv 4c3, pool 2, delays, dense 10, 600 bins of 1 ms; active enough
/// that its outputs spike on real gesture data.
fn model_bytes(bins: usize) -> Vec<u8> {
    let text = format!(
        "name = \"s\"\n[simulation]\nts = 1.0\nbins = {bins}\n[neuron]\ntheta = 10.0\ntau_s = 10.0\n\
         tau_r = 1.0\nscale_ref = 2.0\n[network]\nlayers = [\
         {{ type = \"pool\", size = 4 }}, \
         {{ type = \"conv\", channels = 4, kernel = 3, padding = 1, weight_scale = 60.0 }}, \
         {{ type = \"pool\", size = 2 }}, {{ type = \"delay\", init_max = 3.0, max_delay = 5.0 }}, \
         {{ type = \"flatten\" }}, {{ type = \"dense\", outputs = 10, weight_scale = 40.0 }}]\n\
         [loss]\ntype = \"spike_time\"\n[data]\ntype = \"poisson_pattern\"\ninputs = 32768\n\
         input_rate_hz = 50.0\ntarget_rate_hz = 20.0\ndead_time_ms = 5.0\n"
    );
    let cfg = ExperimentConfig::from_toml(&text).unwrap();
    let shape = (2, 128, 128);
    let net =
        slayer_trainer::network::Network::from_config(&cfg, 2 * 128 * 128, Some(shape), 5).unwrap();
    slayer_trainer::export::export(&net, Some(shape), bins, 8)
        .unwrap()
        .bytes
}

/// The AEDAT 3.1 text header and the byte ranges of the packets of `bytes`.
fn packets(bytes: &[u8]) -> (usize, Vec<(usize, usize, u32)>) {
    let end = b"#!END-HEADER";
    let at = bytes.windows(end.len()).position(|w| w == end).unwrap();
    let mut i = at + bytes[at..].iter().position(|&b| b == b'\n').unwrap() + 1;
    let header = i;
    let mut out = Vec::new();
    while i + 28 <= bytes.len() {
        let le = |o: usize| u32::from_le_bytes(bytes[i + o..i + o + 4].try_into().unwrap());
        let (size, cap, number) = (le(4) as usize, le(16) as usize, le(20));
        out.push((i, i + 28 + size * cap, number));
        i += 28 + size * cap;
    }
    (header, out)
}

/// The text header plus the first `n` packets of the recording.
/// `part.aedat` in `d`: the recording cut after its first `n` packets.
fn part_file(d: &Path, n: usize) -> PathBuf {
    let file = d.join("part.aedat");
    std::fs::write(&file, first_packets(n).0).unwrap();
    file
}

fn first_packets(n: usize) -> (Vec<u8>, Vec<(usize, usize, u32)>) {
    let bytes = std::fs::read(aedat()).unwrap();
    let (_, p) = packets(&bytes);
    let n = n.min(p.len());
    (bytes[..p[n - 1].1].to_vec(), p[..n].to_vec())
}

fn slayer(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slayer"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run slayer");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait_with_output().unwrap()
}

/// The last stdout line, parsed as JSON (after checking the exit status).
fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "slayer failed ({:?}): {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        text
    );
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {text}"))
}

/// `slayer stream MODEL --input INPUT --json -q`'s JSON line.
fn stream_json(model: &str, input: &str, stdin: Option<&[u8]>) -> serde_json::Value {
    json(&slayer(
        &["stream", model, "--input", input, "--json", "-q"],
        stdin,
    ))
}

fn field(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or_else(|| panic!("no {k} in {v}"))
}

/// Collects every bin's output spikes.
#[derive(Default)]
struct Bins(Vec<Vec<u32>>);

impl Sink for Bins {
    fn on_bin(&mut self, bin: u64, outputs: &[u32]) {
        assert_eq!(bin as usize, self.0.len(), "bins arrive in order");
        self.0.push(outputs.to_vec());
    }
}

/// Streams `path` through the model and checks every bin's output spikes
/// against the offline runner on the whole file.
fn check_parity(bytes: &[u8], path: &Path) -> usize {
    check_parity_with(bytes, path, &StreamOptions::default())
}

/// [`check_parity`] with other options.
fn check_parity_with(bytes: &[u8], path: &Path, opts: &StreamOptions) -> usize {
    let model = infer::decode_model(bytes, Path::new("model")).unwrap();
    let s = model.input_shape();
    let b = Binning {
        ts_ms: f64::from(model.ts()),
        bins: model.bins() as usize,
    };
    let x = infer::load_events(path, (s.c as usize, s.h as usize, s.w as usize), &b).unwrap();
    let offline = CoreRunner::new(&model).unwrap().run(&x).unwrap();
    let mut source = Source::open(path).unwrap();
    let mut bins = Bins::default();
    let r = stream::run(&model, &mut source, opts, &mut bins).unwrap();
    let n = bins.0.len().min(offline.bins());
    assert!(
        n + 2 >= offline.bins().min(r.counters.bins as usize),
        "{n} bins compared"
    );
    let mut spikes = 0;
    for (k, outs) in bins.0.iter().take(n).enumerate() {
        let want: Vec<u32> = (0..offline.neurons())
            .filter(|&j| offline.get(k, j))
            .map(|j| j as u32)
            .collect();
        assert_eq!(outs, &want, "{}: output spikes of bin {k}", path.display());
        spikes += outs.len();
    }
    assert_eq!(r.counters.dropped(), 0, "{:?}", r.counters);
    spikes
}

#[test]
fn stream_matches_the_offline_runner_bin_for_bin() {
    let d = tempdir("parity");
    let bytes = model_bytes(1500);
    // AEDAT 3.1: the first 12 packets (about 1.3 s of gestures).
    let a = part_file(&d, 12);
    let spikes = check_parity(&bytes, &a);
    assert!(
        spikes > 20,
        "the model should spike ({spikes} output spikes)"
    );
    // .bs2: a whole clip, in file time.
    let spikes = check_parity(&bytes, &data().join("3.bs2"));
    assert!(
        spikes > 20,
        "the model should spike ({spikes} output spikes)"
    );
}

/// Two threads (the network cut into a pipeline of two stages) give the
/// offline runner's spikes in every bin: cut where the first 500 bins say,
/// and cut at every layer from the first bin.
#[test]
fn two_threads_give_the_same_spikes_at_every_cut() {
    let d = tempdir("threads");
    let bytes = model_bytes(1500);
    let a = part_file(&d, 12);
    let one = check_parity(&bytes, &a);
    let layers = infer::decode_model(&bytes, Path::new("model"))
        .unwrap()
        .layers()
        .len();
    for cut in std::iter::once(None).chain((1..layers).map(Some)) {
        let opts = StreamOptions {
            threads: 2,
            cut,
            ..StreamOptions::default()
        };
        assert_eq!(check_parity_with(&bytes, &a, &opts), one, "cut {cut:?}");
    }
    // The report says where it cut; one thread never cuts.
    let model = infer::decode_model(&bytes, Path::new("model")).unwrap();
    let run = |opts: &StreamOptions| {
        stream::run(&model, &mut Source::open(&a).unwrap(), opts, &mut NullSink)
    };
    let two = StreamOptions {
        threads: 2,
        cut: Some(2),
        ..StreamOptions::default()
    };
    assert_eq!(run(&two).unwrap().cut_at, Some(2));
    assert_eq!(run(&StreamOptions::default()).unwrap().cut_at, None);
    // Bad thread counts and cuts are clean errors.
    for (threads, cut) in [
        (3, None),
        (0, None),
        (2, Some(0)),
        (2, Some(layers)),
        (1, Some(2)),
    ] {
        let opts = StreamOptions {
            threads,
            cut,
            ..StreamOptions::default()
        };
        assert!(run(&opts).is_err(), "threads {threads} cut {cut:?}");
    }
}

#[test]
fn stdin_and_files_give_the_same_stream() {
    let d = tempdir("stdin");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(600)).unwrap();
    let (aedat, p) = first_packets(8);
    let file = d.join("part.aedat");
    std::fs::write(&file, &aedat).unwrap();
    let m = model.to_str().unwrap();
    let from_file = stream_json(m, file.to_str().unwrap(), None);
    let from_stdin = json(&slayer(
        &["stream", m, "--input", "-", "--json"],
        Some(&aedat),
    ));
    for k in ["events_in", "binned", "bins", "output_spikes", "packets"] {
        assert_eq!(field(&from_file, k), field(&from_stdin, k), "{k}");
    }
    assert_eq!(from_file["output_counts"], from_stdin["output_counts"]);
    let events: u64 = p.iter().map(|x| u64::from(x.2)).sum();
    assert_eq!(field(&from_file, "events_in"), events);
    assert_eq!(field(&from_file, "malformed"), 0);
    // Three copies back to back (headers in mid-stream): three segments,
    // three times the events, a continuous clock, nothing dropped.
    let three = [aedat.clone(), aedat.clone(), aedat].concat();
    let v = stream_json(m, "-", Some(&three));
    assert_eq!(field(&v, "segments"), 3);
    assert_eq!(field(&v, "events_in"), 3 * events);
    assert_eq!(field(&v, "dropped"), 0);
    let bins = field(&from_file, "bins");
    assert!((3 * bins..3 * bins + 4).contains(&field(&v, "bins")), "{v}");
}

#[test]
fn bad_models_and_sources_are_clean_errors() {
    /// Arguments, standard input, and what the error line must say.
    type Case<'a> = (Vec<&'a str>, Option<&'a [u8]>, &'a str);
    let d = tempdir("errors");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(100)).unwrap();
    let junk = d.join("junk.slym");
    std::fs::write(&junk, b"SLYM\x01 not a model at all").unwrap();
    let (aedat, _) = first_packets(1);
    let file = d.join("one.aedat");
    std::fs::write(&file, &aedat).unwrap();
    let text = d.join("notes.aedat");
    std::fs::write(&text, b"hello, this is no camera\n").unwrap();
    let cases: [Case; 6] = [
        (
            vec![
                "stream",
                junk.to_str().unwrap(),
                "--input",
                file.to_str().unwrap(),
            ],
            None,
            "not a valid slayer model",
        ),
        (
            vec!["stream", "missing.slym", "--input", file.to_str().unwrap()],
            None,
            "missing.slym",
        ),
        (
            vec![
                "stream",
                model.to_str().unwrap(),
                "--input",
                "missing.aedat",
            ],
            None,
            "missing.aedat",
        ),
        (
            vec![
                "stream",
                model.to_str().unwrap(),
                "--input",
                text.to_str().unwrap(),
            ],
            None,
            "not an AEDAT 3.1 stream",
        ),
        (
            vec!["stream", model.to_str().unwrap(), "--input", "-"],
            Some(b"garbage".as_slice()),
            "not an AEDAT 3.1 stream",
        ),
        (
            vec!["stream", model.to_str().unwrap(), "--input", "x.txt"],
            None,
            "unknown stream type",
        ),
    ];
    for (args, stdin, needle) in cases {
        let out = slayer(&args, stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {err}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(needle),
            "{args:?}: {err}"
        );
    }
    let out = slayer(
        &[
            "stream",
            model.to_str().unwrap(),
            "--input",
            file.to_str().unwrap(),
            "--speed",
            "0",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

/// Damage applied to a copy of the recording.
#[derive(Debug)]
struct Damage {
    bytes: Vec<u8>,
    /// Indices of the packets that lost or had changed bytes.
    damaged: Vec<usize>,
}

/// Seeded damage to the packet area (the text header stays intact): a few
/// byte flips, sometimes a deleted range, sometimes a truncation.
fn damage(clean: &[u8], p: &[(usize, usize, u32)], seed: u64) -> Damage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let start = p[0].0;
    let mut bytes = clean.to_vec();
    let mut hit = std::collections::BTreeSet::new();
    let packet_of = |at: usize| p.iter().position(|x| x.0 <= at && at < x.1).unwrap();
    for _ in 0..rng.random_range(1..=6) {
        // Half of the flips hit packet headers, where they do the most harm.
        let at = if rng.random_bool(0.5) {
            p[rng.random_range(0..p.len())].0 + rng.random_range(0..28)
        } else {
            rng.random_range(start..clean.len())
        };
        bytes[at] ^= rng.random_range(1..=255u8);
        hit.insert(packet_of(at));
    }
    if rng.random_bool(0.4) {
        // Bytes lost in transit: everything from the first damaged packet
        // to the packet holding the end of the range.
        let a = rng.random_range(start..clean.len() - 1);
        let len = rng.random_range(1..5000).min(clean.len() - a - 1);
        bytes.drain(a..a + len);
        for k in packet_of(a)..=packet_of(a + len) {
            hit.insert(k);
        }
    }
    if rng.random_bool(0.3) {
        // Truncation: every packet from the cut on is lost (its bytes after
        // the cut are gone; the deleted range above shifted nothing before it).
        let cut = rng.random_range(start..bytes.len());
        let cut_clean = cut.min(clean.len() - 1);
        bytes.truncate(cut);
        for k in packet_of(cut_clean)..p.len() {
            hit.insert(k);
        }
    }
    Damage {
        bytes,
        damaged: hit.into_iter().collect(),
    }
}

/// Parses a damaged stream without the engine: never an error, and every
/// event accounted for.
fn parse_all(bytes: &[u8]) -> stream::Counters {
    let mut source = Source::from_reader(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        Format::Aedat31,
        Path::new("-"),
    )
    .unwrap();
    source.set_sensor(128, 128);
    let mut f = stream::Faults::new(3);
    let mut ev = Vec::new();
    loop {
        ev.clear();
        match source.next(&mut ev, &mut f).unwrap() {
            stream::Chunk::End => break,
            _ => {
                assert!(ev.iter().all(|e| e.x < 128 && e.y < 128));
                f.counters.binned += ev.len() as u64;
            }
        }
    }
    f.counters
}

#[test]
fn corrupted_streams_lose_only_the_damaged_packets() {
    let (clean, p) = first_packets(100);
    let total: u64 = p.iter().map(|x| u64::from(x.2)).sum();
    let clean_count = parse_all(&clean);
    assert_eq!(clean_count.binned, total);
    // Many damaged copies through the parser alone (fast).
    let mut resyncs = 0;
    for seed in 0..300 {
        let d = damage(&clean, &p, seed);
        let c = parse_all(&d.bytes);
        let lost: u64 = d.damaged.iter().map(|&k| u64::from(p[k].2)).sum();
        assert!(
            c.binned + lost + 16 >= total,
            "seed {seed}: {} of {total} events decoded, only {lost} in damaged packets {:?}; {c:?}",
            c.binned,
            d.damaged
        );
        assert!(c.binned <= total + 8, "seed {seed}: {} > {total}", c.binned);
        resyncs += c.bad_packets + c.desyncs;
    }
    assert!(
        resyncs > 50,
        "the damage should make the parser resynchronise ({resyncs})"
    );
}

#[test]
fn corrupted_streams_never_stop_slayer_stream() {
    let d = tempdir("fuzz");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(600)).unwrap();
    let m = model.to_str().unwrap();
    let (clean, p) = first_packets(40);
    let v = json(&slayer(
        &["stream", m, "--input", "-", "--json", "-q"],
        Some(&clean),
    ));
    let clean_binned = field(&v, "binned");
    assert_eq!(field(&v, "malformed"), 0);
    let mut faults = 0;
    for seed in 0..8 {
        let dmg = damage(&clean, &p, 1000 + seed);
        let out = slayer(
            &[
                "stream",
                m,
                "--input",
                "-",
                "--json",
                "-q",
                "--show-faults",
                "2",
            ],
            Some(&dmg.bytes),
        );
        let v = json(&out);
        let lost: u64 = dmg.damaged.iter().map(|&k| u64::from(p[k].2)).sum();
        let binned = field(&v, "binned");
        assert!(
            binned + lost + 16 >= clean_binned,
            "seed {seed}: {binned} binned, clean {clean_binned}, damaged packets {:?} hold {lost}: {v}",
            dmg.damaged
        );
        faults += field(&v, "faults");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.lines().all(|l| l.starts_with("warning: ")), "{err}");
        assert!(err.lines().count() <= 2, "--show-faults 2: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    assert!(faults > 0);
}

#[test]
fn labels_are_scored_per_window() {
    let d = tempdir("labels");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(300)).unwrap();
    let file = part_file(&d, 30);
    let labels = data().join("aedat31/slayer10_concat_labels.csv");
    let args = [
        "stream",
        model.to_str().unwrap(),
        "--input",
        file.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--window-ms",
        "300",
        "--report-ms",
        "250",
    ];
    let with = |extra: &[&str]| {
        let mut a = args.to_vec();
        a.extend(extra);
        slayer(&a, None)
    };
    let out = with(&["--json"]);
    let v = json(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    // 30 packets reach past the first label window (1.00 s to 2.45 s) only.
    let windows = v["labels"]["windows"].as_u64().unwrap();
    assert!((1..=3).contains(&windows), "{v}");
    let lines = text.lines().filter(|l| l.starts_with("window ")).count();
    assert_eq!(lines as u64, windows, "{text}");
    assert!(text.contains("label 0"), "{text}");
    assert!(text.lines().any(|l| l.contains(" ms  class")), "{text}");
    // Two threads print the same decisions and windows (the cut from the
    // first bin, so the pipeline runs the whole stream).
    let one = with(&[]);
    let two = with(&["--threads", "2", "--cut", "3"]);
    assert!(
        two.status.success(),
        "{}",
        String::from_utf8_lossy(&two.stderr)
    );
    let decisions = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| {
                l.contains(" ms  class")
                    || l.starts_with("window ")
                    || l.starts_with("label windows")
                    || l.starts_with("output spikes")
            })
            .map(str::to_string)
            .collect()
    };
    let want = decisions(&one);
    assert!(want.len() > 10, "{want:?}");
    assert_eq!(decisions(&two), want);
    let _ = NullSink;
}

/// An AEDAT 3.1 byte stream of polarity packets (`events` split into
/// packets of `per_packet`), times in µs.
fn aedat31(events: &[(u16, u16, u8, u64)], per_packet: usize) -> Vec<u8> {
    let mut out = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n".to_vec();
    for chunk in events.chunks(per_packet) {
        let overflow = (chunk[0].3 >> 31) as i32;
        let n = chunk.len() as i32;
        for v in [1i16, 1] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [8, 4, overflow, n, n, n] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for &(x, y, p, t) in chunk {
            let data = u32::from(x) << 17 | u32::from(y) << 2 | u32::from(p) << 1 | 1;
            out.extend_from_slice(&data.to_le_bytes());
            out.extend_from_slice(&((t & 0x7fff_ffff) as u32).to_le_bytes());
        }
    }
    out
}

/// Streams AEDAT 3.1 `bytes` through the small model with `opts`.
fn run_bytes(bytes: Vec<u8>, opts: &StreamOptions) -> stream::StreamReport {
    let model_bytes = model_bytes(100);
    let model = infer::decode_model(&model_bytes, Path::new("model")).unwrap();
    let mut source = Source::from_reader(
        Box::new(std::io::Cursor::new(bytes)),
        Format::Aedat31,
        Path::new("-"),
    )
    .unwrap();
    stream::run(&model, &mut source, opts, &mut NullSink).unwrap()
}

/// A steady synthetic stream: one event every `dt` µs from `t0`.
fn steady(n: usize, t0: u64, dt: u64) -> Vec<(u16, u16, u8, u64)> {
    (0..n)
        .map(|i| {
            (
                (i * 7 % 128) as u16,
                (i * 13 % 128) as u16,
                (i % 2) as u8,
                t0 + i as u64 * dt,
            )
        })
        .collect()
}

#[test]
fn clock_faults_are_counted_not_followed() {
    let opts = StreamOptions::default();
    // 2,000 events over 1 s: 1,001 bins.
    let clean = run_bytes(aedat31(&steady(2000, 5_000_000, 500), 100), &opts);
    assert_eq!(clean.counters.bins, 1000 + 1);
    assert_eq!(clean.dropped, 0);
    // One timestamp 10 minutes ahead: dropped, the clock does not follow.
    let mut ev = steady(2000, 5_000_000, 500);
    ev[700].3 += 600_000_000;
    let r = run_bytes(aedat31(&ev, 100), &opts);
    assert_eq!(r.counters.time_outliers, 1, "{:?}", r.counters);
    assert_eq!(r.counters.bins, clean.counters.bins);
    assert_eq!(r.counters.binned, 1999);
    // One event 100 ms late: dropped as late.
    let mut ev = steady(2000, 5_000_000, 500);
    ev[900].3 -= 100_000;
    let r = run_bytes(aedat31(&ev, 100), &opts);
    assert_eq!(
        (r.counters.late, r.counters.binned),
        (1, 1999),
        "{:?}",
        r.counters
    );
    // The clock restarts at 0 for the second half: after RESET_RUN late
    // events the stream re-anchors and goes on.
    let mut ev = steady(1000, 5_000_000, 500);
    ev.extend(steady(1000, 0, 500));
    let r = run_bytes(aedat31(&ev, 100), &opts);
    assert_eq!(r.counters.segments, 2, "{:?}", r.counters);
    assert_eq!(r.counters.late, u64::from(stream::RESET_RUN) - 1);
    assert_eq!(r.counters.binned + r.counters.late, 2000);
    // A 20 s silence with --max-gap-ms 1000: cut to 1 s.
    let mut ev = steady(1000, 5_000_000, 500);
    ev.extend(steady(1000, 25_500_000, 500));
    let cut = StreamOptions {
        max_gap_ms: 1000.0,
        ..StreamOptions::default()
    };
    let r = run_bytes(aedat31(&ev, 100), &cut);
    assert_eq!(r.counters.gaps_cut, 1, "{:?}", r.counters);
    assert_eq!(r.dropped, 0);
    assert!((1995..=2005).contains(&r.counters.bins), "{:?}", r.counters);
    // With a longer limit all 20 s are simulated.
    let long = StreamOptions {
        max_gap_ms: 60_000.0,
        ..StreamOptions::default()
    };
    let r = run_bytes(aedat31(&ev, 100), &long);
    assert_eq!(r.counters.gaps_cut, 0);
    assert!(r.counters.bins > 20_900, "{:?}", r.counters);
}

#[test]
fn aedat4_files_stream_every_polarity_event() {
    let path = data().join("../event-fixtures/tonic_sample.aedat4");
    let all = slayer_trainer::data::read_aedat4(&path).unwrap();
    let bytes = model_bytes(100);
    let model = infer::decode_model(&bytes, Path::new("model")).unwrap();
    let mut source = Source::open(&path).unwrap();
    let r = stream::run(
        &model,
        &mut source,
        &StreamOptions::default(),
        &mut NullSink,
    )
    .unwrap();
    assert_eq!(r.counters.events_in, all.len() as u64);
    assert_eq!(r.malformed, 0);
    // The recording's 320×240 sensor is cropped to the 128×128 input.
    assert!(r.input_map.contains("320x240"), "{}", r.input_map);
    assert_eq!(
        r.counters.binned + r.counters.cropped,
        r.counters.events_in,
        "{:?}",
        r.counters
    );
    let t = |e: &slayer_core::Event2d| e.t_us;
    let span_ms = (all.iter().map(t).max().unwrap() - all.iter().map(t).min().unwrap()) / 1000;
    assert!(
        r.counters.bins.abs_diff(span_ms) <= 2,
        "{} bins, {span_ms} ms",
        r.counters.bins
    );
}

/// An EVT 3.0 (and 2.0) recording streams like the same events from an
/// AEDAT 3.1 file: the same bins, output spikes and decisions, from a file
/// and from standard input.
#[test]
fn prophesee_raw_streams_like_the_same_events_from_aedat() {
    use slayer_trainer::data::prophesee::{encode_raw, EvtFormat};
    let d = tempdir("raw");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(600)).unwrap();
    let (aedat, _) = first_packets(8);
    let file = d.join("part.aedat");
    std::fs::write(&file, &aedat).unwrap();
    let events = slayer_trainer::data::parse_aedat31(&aedat).unwrap();
    assert!(events.len() > 1000);
    let m = model.to_str().unwrap();
    let run = |input: &Path, stdin: Option<&[u8]>| {
        let arg = if stdin.is_some() {
            "-".to_string()
        } else {
            input.display().to_string()
        };
        stream_json(m, &arg, stdin)
    };
    let reference = run(&file, None);
    for format in [EvtFormat::Evt3, EvtFormat::Evt2] {
        let raw = encode_raw(format, (128, 128), &events, &[], false).unwrap();
        let path = d.join(format!("part-{format:?}.raw"));
        std::fs::write(&path, &raw).unwrap();
        for (how, v) in [
            ("file", run(&path, None)),
            ("stdin", run(&path, Some(&raw))),
        ] {
            for k in ["events_in", "binned", "bins", "output_spikes"] {
                assert_eq!(field(&reference, k), field(&v, k), "{format:?} {how}: {k}");
            }
            assert_eq!(
                reference["output_counts"], v["output_counts"],
                "{format:?} {how}"
            );
            for k in ["final_class", "decision_changes"] {
                assert_eq!(reference[k], v[k], "{format:?} {how}: {k}");
            }
            assert_eq!(field(&v, "malformed"), 0, "{format:?} {how}: {v}");
        }
    }
}

/// The data kit's AEDAT 4 recording and its packets: `(offset, polarity
/// events)` each, the end of the packets and the end of the header.
struct Aedat4Packets {
    bytes: Vec<u8>,
    packets: Vec<(usize, u64)>,
    data_end: usize,
    header_end: usize,
}

fn aedat4_packets() -> Aedat4Packets {
    use slayer_trainer::data::Aedat4Reader;
    let bytes = std::fs::read(data().join("../event-fixtures/tonic_sample.aedat4")).unwrap();
    let mut packets = Vec::new();
    let mut r = Aedat4Reader::new(std::io::Cursor::new(&bytes)).unwrap();
    let ev_stream = r.header().event_stream().map(|s| s.id);
    let data_end = r.header().data_table_position.unwrap_or(bytes.len() as u64) as usize;
    let header_end = r.header().data_offset as usize;
    while let Some(p) = r.next_packet().unwrap() {
        let mut ev = Vec::new();
        if Some(p.stream_id) == ev_stream && p.identifier() == Some(*b"EVTS") {
            p.polarity_events(&mut ev).unwrap();
        }
        packets.push((p.offset as usize, ev.len() as u64));
    }
    Aedat4Packets {
        bytes,
        packets,
        data_end,
        header_end,
    }
}

/// AEDAT 4.0 resync: a damaged packet (a size field too large, too small or
/// absurd, a compression frame that does not decode) costs that packet, is
/// counted, and the stream goes on at the next packet (seeded trials).
#[test]
fn damaged_aedat4_packets_cost_only_themselves() {
    use rand::{Rng, SeedableRng};
    let Aedat4Packets {
        bytes: clean,
        packets,
        ..
    } = aedat4_packets();
    let total: u64 = packets.iter().map(|p| p.1).sum();
    let with_events: Vec<usize> = (0..packets.len() - 1)
        .filter(|&i| packets[i].1 > 0)
        .collect();
    assert!(with_events.len() >= 3, "{packets:?}");
    let stream_all = |bytes: Vec<u8>| {
        let mut src = Source::from_reader(
            Box::new(std::io::Cursor::new(bytes)),
            slayer_trainer::stream::Format::Aedat4,
            Path::new("damaged.aedat4"),
        )
        .unwrap();
        let mut f = slayer_trainer::stream::Faults::new(8);
        let mut ev = Vec::new();
        while src.next(&mut ev, &mut f).unwrap() != slayer_trainer::stream::Chunk::End {}
        (ev.len() as u64, f.counters, f.take_messages())
    };
    let (n, c, _) = stream_all(clean.clone());
    assert_eq!((n, c.bad_packets), (total, 0));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(15);
    for trial in 0..24 {
        let k = with_events[rng.random_range(0..with_events.len())];
        let (at, lost) = packets[k];
        let mut bytes = clean.clone();
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        let how = trial % 4;
        match how {
            0 => bytes[at + 4..at + 8].copy_from_slice(&(size + 17).to_le_bytes()),
            1 => bytes[at + 4..at + 8].copy_from_slice(&(size - 17).to_le_bytes()),
            2 => bytes[at + 4..at + 8].copy_from_slice(&u32::MAX.to_le_bytes()),
            _ => bytes[at + 8..at + 12].copy_from_slice(b"junk"),
        }
        let (n, c, msgs) = stream_all(bytes);
        assert_eq!(
            n,
            total - lost,
            "trial {trial} (damage {how} at packet {k}): lost more than the damaged packet; {c:?} {msgs:?}"
        );
        assert!(
            c.bad_packets >= 1 && !msgs.is_empty(),
            "trial {trial}: {c:?}"
        );
    }
}

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `slayer stream --input tcp://…` against the DV network server of the
/// `dv-processing` package (scripts/dv_server.py serving an AEDAT 4
/// recording): the same events, bins, output counts and decision as
/// streaming the file itself. Skipped without Python and dv-processing,
/// unless `SLAYER_REQUIRE_DV=1` (as in CI, where `.ci/run` installs it).
#[test]
fn dv_network_stream_gives_the_same_decisions_as_the_file() {
    let file = data().join("../event-fixtures/tonic_sample.aedat4");
    let d = tempdir("dv-net");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(600)).unwrap();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/dv_server.py");
    let mut server = match std::process::Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("python3: {e}"),
    };
    // Wait for "listening" (or an import error).
    let mut out = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    if !line.starts_with("listening") {
        let mut err = String::new();
        std::io::Read::read_to_string(server.stderr.as_mut().unwrap(), &mut err).unwrap();
        let _ = server.wait();
        let required = std::env::var("SLAYER_REQUIRE_DV").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(
            !required && err.contains("No module named"),
            "dv_server.py: {err}"
        );
        eprintln!("skipped: dv-processing not installed (pip install dv-processing)");
        return;
    }
    let m = model.to_str().unwrap();
    let addr = format!("tcp://127.0.0.1:{port}");
    let net = stream_json(m, &addr, None);
    let _ = server.wait();
    let reference = stream_json(m, file.to_str().unwrap(), None);
    for k in ["events_in", "binned", "bins", "output_spikes"] {
        assert_eq!(field(&reference, k), field(&net, k), "{k}: {net}");
    }
    assert_eq!(reference["output_counts"], net["output_counts"]);
    assert_eq!(reference["final_class"], net["final_class"]);
    assert_eq!(field(&net, "bad_packets"), 0, "{net}");
}

/// A server that drops the connection in the middle of a packet and then
/// comes back: the client reconnects, reports the gap, loses only the cut
/// packet, and ends when the server is gone for good.
#[test]
fn network_stream_survives_a_connection_dropped_mid_packet() {
    let Aedat4Packets {
        bytes,
        packets,
        data_end,
        header_end,
    } = aedat4_packets();
    let total: u64 = packets.iter().map(|p| p.1).sum();
    let k = (1..packets.len() - 1).find(|&i| packets[i].1 > 0).unwrap();
    let (cut_at, lost) = packets[k];
    let end_k = packets[k + 1].0;
    // What each connection sends: the header (without the file's magic
    // line), then packets; the first stops half-way through packet k.
    let header = bytes[14..header_end].to_vec();
    let first = [
        &header[..],
        &bytes[header_end..cut_at + (end_k - cut_at) / 2],
    ]
    .concat();
    let second = [&header[..], &bytes[end_k..data_end]].concat();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for part in [first, second] {
            let (mut s, _) = listener.accept().unwrap();
            std::io::Write::write_all(&mut s, &part).unwrap();
        }
        // The listener closes: later reconnections are refused.
    });
    let d = tempdir("net-drop");
    let model = d.join("m.slym");
    std::fs::write(&model, model_bytes(600)).unwrap();
    let addr = format!("tcp://127.0.0.1:{port}");
    let out = slayer(
        &[
            "stream",
            model.to_str().unwrap(),
            "--input",
            &addr,
            "--json",
            "-q",
        ],
        None,
    );
    server.join().unwrap();
    let v = json(&out);
    assert_eq!(field(&v, "events_in"), total - lost, "{v}");
    assert_eq!(field(&v, "reconnects"), 1, "{v}");
    assert_eq!(field(&v, "segments"), 2, "{v}");
    assert!(field(&v, "bad_packets") >= 1, "{v}");
    let faults = v["first_faults"].to_string();
    assert!(faults.contains("reconnected after"), "{faults}");
}
