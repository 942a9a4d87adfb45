//! Networks trained by other frameworks, deployed through NIR (issue 14):
//! an snnTorch `Leaky` network with biases (NIR `Affine` and `LIF`), the
//! same with a recurrent hidden layer (`RLeaky`: a loop `LIF → Affine →
//! LIF`), an snnTorch `Synaptic` one (`CubaLIF`), a Norse `LIFBoxCell` one (`LIF`), a Sinabs `IAF` one
//! (`IF`, reset by subtraction), and two convolutional ones: Sinabs `IAF`
//! layers after `Conv2d` and `SumPool2d`, and snnTorch `Leaky` layers after
//! a biased `Conv2d`, then `AvgPool2d` and `Flatten`; each trained by
//! `scripts/snn_lif.py` on the N-MNIST kit and written by the framework's
//! own NIR exporter, imported by slayer (`slayer_trainer::nir::lif_model`,
//! what `slayer import --model` runs) as int16 and int8 core models:
//!
//! * on the held-out samples slayer's float simulation of the graph
//!   (`slayer_trainer::nir::lif_network`) and the int16 core engine decide
//!   the class of the
//!   framework's own simulation on ≥ 99 % of them, and the int8 core the
//!   class of the framework's simulation of the same network with its
//!   weights rounded to the int8 grid (spike counts reported, and int8
//!   against the unrounded network);
//! * on the firmware in QEMU, fed the first held-out recordings over the
//!   serial link (10, 3 for the convolutional models), every model gives the host core engine's decisions and counts
//!   bit for bit, and its first 300 bins the counts the framework was
//!   compared with.
//!
//! Needs PyTorch, snnTorch, Norse and Sinabs (`.ci/run` installs them into
//! `target/py-torch` and `target/py-sinabs` and sets `SLAYER_TORCH_PYTHONPATH` and
//! `SLAYER_REQUIRE_SNNTORCH=1`), and for the QEMU part the firmware targets
//! and QEMU (`SLAYER_REQUIRE_QEMU=1`; `SLAYER_LINK_TARGETS=m0,m4` picks
//! targets); each part says `skipped: …` without them otherwise.
//! `SLAYER_FRAMEWORKS=leaky,sinabs_conv` runs only the kinds named.

use std::path::{Path, PathBuf};
use std::process::Command;

use slayer_core::{LifReset, Model};
use slayer_tests::link::{build, runnable, start, write_image};
use slayer_trainer::data::Binning;
use slayer_trainer::dataset::read_list;
use slayer_trainer::infer::{load_events, CoreRunner, CountAgreement};
use slayer_trainer::link::{load_recording, Board, Hello, LinkOptions};
use slayer_trainer::nir::{lif_model, lif_network, LifOptions};
use slayer_trainer::SpikeRaster;

use crate::common::shared_data;

/// Samples of the kit used: the first `TRAIN` train, the rest are held out.
const SAMPLES: usize = 120;
const TRAIN: usize = 60;
/// Bins of 1 ms per sample (the N-MNIST saccades last ≈ 300 ms).
const BINS: usize = 300;
/// The networks: (kind of `scripts/snn_lif.py`, dt of the import, reset,
/// the core model's layers but flatten).
const KINDS: [(&str, f64, LifReset, &[&str]); 7] = [
    ("leaky", 1e-4, LifReset::Zero, &["lif_bias", "lif_bias"]),
    ("rleaky", 1e-4, LifReset::Zero, &["lif_rec", "lif_bias"]),
    ("synaptic", 1e-4, LifReset::Zero, &["lif", "lif"]),
    ("norse", 1e-6, LifReset::Zero, &["lif", "lif"]),
    ("sinabs", 1.0, LifReset::Subtract, &["lif", "lif"]),
    (
        "sinabs_conv",
        1.0,
        LifReset::Subtract,
        &["lif_conv2d", "lif_conv2d", "lif"],
    ),
    (
        "leaky_conv",
        1e-4,
        LifReset::Zero,
        &["lif_conv2d", "lif_bias"],
    ),
];
/// Held-out recordings each model gets over the link in QEMU.
const LINK_RECORDINGS: usize = 10;
/// The same for the convolutional models, which take 15–30× the
/// instructions of a dense one per bin (and QEMU's time).
const CONV_LINK_RECORDINGS: usize = 3;
/// Decision window of the link, bins (`BINS` is a multiple).
const WINDOW_BINS: u32 = 50;

fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether `SLAYER_FRAMEWORKS` (kinds separated by commas; all when unset)
/// picks `kind`.
fn picked(kind: &str) -> bool {
    std::env::var("SLAYER_FRAMEWORKS").map_or(true, |v| v.split(',').any(|k| k.trim() == kind))
}

fn workdir() -> PathBuf {
    let d = slayer_tests::firmware::firmware_target_dir().join("frameworks-test");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The first `SAMPLES` recordings of the kit's list, their labels and
/// rasters (2 × 34 × 34 inputs, `BINS` bins of 1 ms).
fn samples() -> (Vec<PathBuf>, Vec<u8>, Vec<SpikeRaster>) {
    let dir = shared_data().join("nmnist-small");
    let list = read_list(&dir.join("train1K.txt")).unwrap();
    assert!(list.len() >= SAMPLES, "the kit lists {}", list.len());
    let b = Binning {
        ts_ms: 1.0,
        bins: BINS,
    };
    let mut out = (Vec::new(), Vec::new(), Vec::new());
    for e in &list[..SAMPLES] {
        let path = dir.join(format!("{}.bs2", e.id));
        out.2.push(load_events(&path, (2, 34, 34), &b).unwrap());
        out.1.push(u8::try_from(e.label).unwrap());
        out.0.push(path);
    }
    out
}

/// What `scripts/snn_lif.py` hands back for one network.
struct Trained {
    /// The framework's NIR file.
    nir: PathBuf,
    /// Output spike counts of the framework's simulation, per held-out sample.
    original: Vec<Vec<u64>>,
    /// The same from the network the framework re-imports from its file,
    /// or why it could not.
    reimported: Result<Vec<Vec<u64>>, String>,
    /// The same with the weights rounded to the int8 grid of the import.
    int8_grid: Vec<Vec<u64>>,
    /// Its accuracy on the training samples.
    train_accuracy: f64,
}

/// Trains `kind` for 6 epochs with `scripts/snn_lif.py`; `None` when
/// PyTorch or the framework is missing and not required.
fn train(dir: &Path, kind: &str) -> Option<Trained> {
    let out = dir.join(kind);
    let mut python = Command::new("python3");
    if let Some(p) = std::env::var_os("SLAYER_TORCH_PYTHONPATH") {
        python.env("PYTHONPATH", p);
    }
    let script = slayer_tests::firmware::repo_root().join("scripts/snn_lif.py");
    let run = python
        .arg(script)
        .arg(dir.join("all.u8"))
        .arg(dir.join("labels.u8"))
        .args([
            SAMPLES.to_string(),
            BINS.to_string(),
            (2 * 34 * 34).to_string(),
            TRAIN.to_string(),
        ])
        .arg(&out)
        .args([kind, "1", "6"])
        .output()
        .unwrap();
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        let required = flag("SLAYER_REQUIRE_SNNTORCH");
        assert!(
            err.contains("No module named") && !required,
            "snn_lif.py {kind} failed (SLAYER_REQUIRE_SNNTORCH={required}): {err}"
        );
        eprintln!("skipped: snnTorch / Norse / Sinabs / PyTorch not available");
        return None;
    }
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let counts = |key: &str| -> Vec<Vec<u64>> { serde_json::from_value(j[key].clone()).unwrap() };
    Some(Trained {
        nir: out.join("net.nir"),
        original: counts("original"),
        reimported: match &j["reimported"] {
            serde_json::Value::String(e) => Err(e.clone()),
            _ => Ok(counts("reimported")),
        },
        int8_grid: counts("int8_grid"),
        train_accuracy: j["train_accuracy"].as_f64().unwrap(),
    })
}

/// Output spike counts of every raster on the host core engine.
fn core_counts(model: &[u8], rasters: &[SpikeRaster]) -> Vec<Vec<u64>> {
    let model = Model::decode(model).unwrap();
    let mut runner = CoreRunner::new(&model).unwrap();
    rasters
        .iter()
        .map(|r| {
            let out = runner.run(r).unwrap();
            out.counts().into_iter().map(u64::from).collect()
        })
        .collect()
}

fn report(ours: &[Vec<u64>], theirs: &[Vec<u64>], what: &str) -> CountAgreement {
    let a = CountAgreement::of(ours, theirs);
    eprintln!("{what}: {a}");
    a
}

#[test]
fn framework_networks_run_the_same_on_the_core_and_in_qemu() {
    let dir = workdir();
    let (files, labels, rasters) = samples();
    let mut bytes = Vec::new();
    for r in &rasters {
        bytes.extend_from_slice(r.data());
    }
    std::fs::write(dir.join("all.u8"), bytes).unwrap();
    std::fs::write(dir.join("labels.u8"), &labels).unwrap();
    let held_out = &rasters[TRAIN..];

    // (kind, dt, reset, the core layers but flatten): Norse writes τ as
    // dt·τ, so its files import at dt² (docs/nir.md); Sinabs' IAF resets by
    // subtraction (an IF has no τ: dt does not enter); snnTorch's Leaky
    // networks have biases (NIR Affine, Conv2d with bias): LifBias layers
    // and biased LifConv ones. The convolutional kinds fold each layer's
    // Conv2d / pool chain into one convolution (docs/nir.md).
    let mut models = Vec::new();
    for (kind, dt, reset, layers) in KINDS {
        if !picked(kind) {
            continue;
        }
        let Some(t) = train(&dir, kind) else { return };
        match &t.reimported {
            Ok(back) => {
                report(
                    back,
                    &t.original,
                    &format!("{kind}: re-imported by the framework from NIR vs the framework"),
                );
            }
            Err(e) => eprintln!("{kind}: the framework cannot re-import its NIR file: {e}"),
        }
        let graph = slayer_nir::read(&t.nir).unwrap();
        for bits in [16, 8] {
            let o = LifOptions {
                dt,
                reset,
                bits,
                bins: BINS as u32,
                ts_ms: 1.0,
                input_shape: Some((2, 34, 34)),
            };
            let model = lif_model(&graph, &o).unwrap().bytes;
            let kinds: Vec<&str> = Model::decode(&model)
                .unwrap()
                .layers()
                .iter()
                .map(slayer_core::Layer::kind)
                .filter(|&k| k != "flatten")
                .collect();
            assert_eq!(kinds, layers, "{kind}");
            let ours = core_counts(&model, held_out);
            if bits == 16 {
                // The trainer's float simulation of the graph (what the
                // core model rounds) against the framework's.
                let net = lif_network(&graph, &o).unwrap();
                let float: Vec<Vec<u64>> = held_out.iter().map(|r| net.run(r)).collect();
                let g = report(
                    &float,
                    &t.original,
                    &format!("{kind}: slayer's float network vs the framework"),
                );
                assert!(
                    g.same_class * 100 >= g.samples * 99,
                    "{kind}: the float network has the class of the framework on {} of {}",
                    g.same_class,
                    g.samples
                );
            }
            if bits == 8 {
                report(
                    &ours,
                    &t.original,
                    &format!("{kind}: core int8 vs the framework"),
                );
            }
            // int16 against the trained network, int8 against the same
            // network with its weights on the int8 grid (the framework's own
            // simulation of what an int8 import runs).
            let (theirs, of) = if bits == 16 {
                (&t.original, "the framework")
            } else {
                (&t.int8_grid, "the framework on the int8 grid")
            };
            let g = report(&ours, theirs, &format!("{kind}: core int{bits} vs {of}"));
            assert!(g.spikes > 0, "{kind}: the network should spike");
            assert!(
                g.same_class * 100 >= g.samples * 99,
                "{kind} int{bits}: same class as {of} on {} of {}",
                g.same_class,
                g.samples
            );
            if bits == 16 {
                let correct = ours
                    .iter()
                    .zip(&labels[TRAIN..])
                    .filter(|(c, &l)| slayer_trainer::train::argmax(c) == usize::from(l))
                    .count();
                eprintln!(
                    "{kind}: train accuracy {:.3}, held-out accuracy of the core int16 {correct}/{}",
                    t.train_accuracy,
                    ours.len()
                );
                if let Ok(back) = &t.reimported {
                    report(
                        &ours,
                        back,
                        &format!("{kind}: core int16 vs the framework's re-import"),
                    );
                }
            }
            let sent = if layers.contains(&"lif_conv2d") {
                CONV_LINK_RECORDINGS
            } else {
                LINK_RECORDINGS
            };
            models.push((format!("{kind} int{bits}"), model, ours, sent));
        }
    }
    run_in_qemu(&dir, &models, &files[TRAIN..TRAIN + LINK_RECORDINGS]);
}

/// An imported model: its name, bytes, host core counts per held-out
/// sample, and how many of the recordings to send it.
type Imported = (String, Vec<u8>, Vec<Vec<u64>>, usize);

/// Every model on every target over the link, against the host core
/// engine (decisions, counts, counters) and, over the first `BINS` bins,
/// against `counts` (the core counts compared with the framework).
fn run_in_qemu(dir: &Path, models: &[Imported], files: &[PathBuf]) {
    let recs: Vec<_> = files
        .iter()
        .map(|f| load_recording(f, None, (34, 34)).unwrap())
        .collect();
    for t in runnable("framework models") {
        let elf = build(t).unwrap_or_else(|e| panic!("{e:#}"));
        for (name, model, counts, sent) in models {
            let img = write_image(dir, "model.img", model).unwrap();
            let qemu = start(t, &elf, Some(&img)).unwrap();
            let options = LinkOptions {
                window_bins: WINDOW_BINS,
                timeout: std::time::Duration::from_secs(20),
                ..LinkOptions::default()
            };
            let mut board = Board::connect(&qemu.port, options).unwrap();
            let id = match board.hello().unwrap() {
                Hello::Ready(id) => id,
                Hello::Refused(code, d) => panic!("{}: {name}: refused: {code} ({d})", t.name),
            };
            let m = Model::decode(model).unwrap();
            let (mut ticks, mut bins, mut worst) = (0u64, 0u64, 0u32);
            for (k, rec) in recs.iter().take(*sent).enumerate() {
                let c = board
                    .check(&m, rec, k as u64)
                    .unwrap_or_else(|e| panic!("{}: {name}: {}: {e}", t.name, rec.name));
                let (b, h) = (&c.board, &c.host);
                assert!(
                    c.identical,
                    "{}: {name}: {}: board and host differ\nboard: {:?} {:?}\nhost:  {:?} {:?}",
                    t.name, rec.name, b.counts, b.counters, h.counts, h.counters
                );
                assert_eq!(b.counters.frames_lost, 0, "{}: {name}", t.name);
                // The windows inside the sample's bins add up to the counts
                // of the raster the framework's simulation was compared on.
                let mut first = vec![0u64; m.outputs() as usize];
                for (_, last_bin, _, wc) in &b.decisions {
                    if (*last_bin as usize) < BINS {
                        for (s, &v) in first.iter_mut().zip(wc) {
                            *s += u64::from(v);
                        }
                    }
                }
                assert_eq!(
                    first, counts[k],
                    "{}: {name}: {}: the board's first {BINS} bins",
                    t.name, rec.name
                );
                ticks += b.cost.ticks;
                bins += u64::from(b.cost.steps);
                worst = worst.max(b.cost.max_ticks);
            }
            let ipt = u64::from(id.instructions_per_tick);
            eprintln!(
                "{}: {name}: {} held-out recordings identical to the host ({bins} bins; \
                 instructions per bin: mean {}, worst {})",
                t.name,
                recs.len().min(*sent),
                ticks * ipt / bins.max(1),
                u64::from(worst) * ipt
            );
        }
    }
}
