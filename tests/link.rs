//! The edge firmware over its serial link (issue 13), in QEMU on every
//! target: N-MNIST and DVS Gesture recordings sent as event frames give
//! the host core engine's decisions and counts, frame for frame; a model
//! swapped without rebuilding the firmware likewise (the gesture model, with
//! coarse filter coefficients, and a model of LIF layers, issue 14, on the
//! N-MNIST recordings); a damaged link loses
//! exactly the frames the host's own decoder loses, with the same
//! counters; a missing or corrupt model image answers with its error code.
//!
//! Needs the Rust targets and QEMU (`qemu-system-arm`, `qemu-system-riscv32`);
//! without them each target prints `skipped: …`, unless
//! `SLAYER_REQUIRE_QEMU=1` (CI sets it after installing them).

use std::path::{Path, PathBuf};

use slayer_core::link::ErrorCode;
use slayer_core::model::encode_image;
use slayer_core::Model;
use slayer_tests::link::{build, runnable, start, write_image, Target};
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::data::read_labels_csv;
use slayer_trainer::export::{export_with, Coefficients};
use slayer_trainer::link::{
    load_recording, run_host, wire_of, Board, Hello, LinkOptions, Recording,
};
use slayer_trainer::network::Network;
use slayer_trainer::stream::{self, Decision, Sink, Source, StreamOptions};
use slayer_trainer::train::input_shape;

use crate::common::{random_lif_model, shared_data};

const NMNIST_RECORDINGS: usize = 12;
const WINDOW_BINS: u32 = 50;

/// A random-weight int8 model of `config` (nothing trained: parity needs
/// spikes, not accuracy), with its output layer's weights scaled up.
fn model(
    config: &str,
    out_layer: &str,
    loud: &str,
    inputs: usize,
    shape: (usize, usize, usize),
    seed: u64,
    coefficients: Coefficients,
) -> Vec<u8> {
    assert!(
        config.contains(out_layer),
        "the config's output layer changed"
    );
    let cfg = ExperimentConfig::from_toml(&config.replace(out_layer, loud)).unwrap();
    let net = Network::from_config(&cfg, inputs, Some(shape), seed).unwrap();
    let shape = input_shape(&cfg, &net);
    let ex = export_with(&net, Some(shape), cfg.simulation.bins, 8, coefficients).unwrap();
    if coefficients == Coefficients::Coarse {
        let [layers, eps, nu] = ex.coarse_filters;
        assert_eq!((eps, nu), (layers, layers), "not every filter is coarse");
    }
    ex.bytes
}

fn nmnist_model(seed: u64) -> Vec<u8> {
    model(
        include_str!("../trainer/configs/nmnist_mlp128.toml"),
        r#"{ type = "dense", outputs = 10, weight_scale = 10.0 }"#,
        r#"{ type = "dense", outputs = 10, weight_scale = 40.0 }"#,
        2 * 34 * 34,
        (2, 34, 34),
        seed,
        Coefficients::Full,
    )
}

/// With coarse coefficients: the Cortex-M0's 32-bit filter step
/// (`pole_coarse`) against the host's 64-bit one.
fn gesture_model(seed: u64) -> Vec<u8> {
    model(
        include_str!("../trainer/configs/dvs_gesture_mcu.toml"),
        r#"{ type = "dense", outputs = 11, weight_scale = 3.0 }"#,
        r#"{ type = "dense", outputs = 11, weight_scale = 40.0 }"#,
        2 * 32 * 32,
        (2, 32, 32),
        seed,
        Coefficients::Coarse,
    )
}

/// Milliseconds sent of each labelled gesture window (the serial link in
/// QEMU moves about 18 KB/s; `scripts/firmware-link.sh` sends whole clips).
const GESTURE_MS: u64 = 100;

/// The N-MNIST recordings (`.bs2`) and the gesture windows, cut from the
/// real DvsGesture-style AEDAT 3.1 file by its label CSV.
fn recordings(
    nmnist_shape: (u32, u32),
    gesture_shape: (u32, u32),
) -> (Vec<Recording>, Vec<Recording>) {
    let data = shared_data();
    let nmnist = (1..=NMNIST_RECORDINGS)
        .map(|i| {
            load_recording(
                &data.join(format!("nmnist-small/{i}.bs2")),
                None,
                nmnist_shape,
            )
            .unwrap()
        })
        .collect();
    let dir = data.join("dvs-gesture/aedat31");
    let whole = load_recording(&dir.join("slayer10_concat.aedat"), None, gesture_shape).unwrap();
    let labels = read_labels_csv(&dir.join("slayer10_concat_labels.csv")).unwrap();
    assert_eq!(labels.len(), 10);
    let gesture = labels
        .iter()
        .map(|l| whole.span(l.start_us, l.start_us + GESTURE_MS * 1000))
        .collect();
    (nmnist, gesture)
}

fn options(damage: Option<(f64, u64)>) -> LinkOptions {
    LinkOptions {
        window_bins: WINDOW_BINS,
        timeout: std::time::Duration::from_secs(20),
        damage,
        ..LinkOptions::default()
    }
}

/// Sends `recs` to the board and checks every result against the host;
/// returns the frames lost, bins and the worst step (ticks).
fn check_all(board: &mut Board, model: &[u8], recs: &[Recording]) -> (u32, u64, u32) {
    let m = Model::decode(model).unwrap();
    let (mut lost, mut bins, mut worst, mut loud) = (0u32, 0u64, 0u32, 0usize);
    for (k, rec) in recs.iter().enumerate() {
        assert!(!rec.events.is_empty(), "{}: no events", rec.name);
        let c = board
            .check(&m, rec, k as u64)
            .unwrap_or_else(|e| panic!("{}: {e}", rec.name));
        let (b, h) = (&c.board, &c.host);
        assert!(
            c.identical,
            "{}: board and host differ\nboard: {:?} {:?}\nhost:  {:?} {:?}",
            rec.name, b.counts, b.counters, h.counts, h.counters
        );
        // Something happened: bins stepped, decisions made, spikes out.
        assert_eq!(b.counters.bins, b.cost.steps);
        assert!(b.counters.bins > 0 && !b.decisions.is_empty());
        loud += usize::from(b.counts.iter().sum::<u32>() > 0);
        lost += b.counters.frames_lost;
        bins += u64::from(b.counters.bins);
        worst = worst.max(b.cost.max_ticks);
    }
    assert!(
        2 * loud >= recs.len(),
        "the model is silent on most recordings"
    );
    (lost, bins, worst)
}

fn run_target(t: &Target, dir: &Path) {
    let elf = build(t).unwrap_or_else(|e| panic!("{e:#}"));
    let nm = nmnist_model(7);
    let ge = gesture_model(11);
    let (nmnist, gesture) = recordings((34, 34), (32, 32));
    let lif = random_lif_model(5);
    let nm_img = write_image(dir, "nmnist.img", &nm).unwrap();
    let ge_img = write_image(dir, "gesture.img", &ge).unwrap();
    let lif_img = write_image(dir, "lif.img", &lif).unwrap();

    // The N-MNIST model, the gesture model, then a LIF model (issue 14) on
    // the same ELF.
    for (img, model, recs) in [
        (&nm_img, &nm, &nmnist),
        (&ge_img, &ge, &gesture),
        (&lif_img, &lif, &nmnist),
    ] {
        let qemu = start(t, &elf, Some(img)).unwrap();
        let mut board = Board::connect(&qemu.port, options(None)).unwrap();
        let id = match board.hello().unwrap() {
            Hello::Ready(id) => id,
            Hello::Refused(code, d) => panic!("{}: the board refused: {code} ({d})", t.name),
        };
        let m = Model::decode(model).unwrap();
        assert_eq!((id.inputs, id.outputs), (m.inputs(), m.outputs()));
        let (lost, bins, worst) = check_all(&mut board, model, recs);
        assert_eq!(lost, 0);
        eprintln!(
            "{}: {} recordings identical to the host ({} bins, worst step {} ticks, {})",
            t.name,
            recs.len(),
            bins,
            worst,
            id.target
        );
    }

    // A damaged link: seeded flips and drops in the event frames.
    let qemu = start(t, &elf, Some(&nm_img)).unwrap();
    let mut board = Board::connect(&qemu.port, options(Some((2e-4, 99)))).unwrap();
    let (lost, _, _) = check_all(&mut board, &nm, &nmnist[..4]);
    assert!(lost > 0, "the damage hit no frame: raise the rate");
    eprintln!(
        "{}: damaged link: {lost} frames lost, the rest identical",
        t.name
    );

    // No model, and a corrupt one.
    let mut bad = encode_image(&nm).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    let bad_img = dir.join("corrupt.img");
    std::fs::write(&bad_img, bad).unwrap();
    for (img, want) in [
        (None, ErrorCode::ModelMissing),
        (Some(bad_img.as_path()), ErrorCode::ModelCorrupt),
    ] {
        let qemu = start(t, &elf, img).unwrap();
        let mut board = Board::connect(&qemu.port, options(None)).unwrap();
        match board.hello().unwrap() {
            Hello::Refused(code, _) => assert_eq!(code, want, "{}", t.name),
            Hello::Ready(_) => panic!("{}: a board without a valid model said ready", t.name),
        }
    }
}

/// The link's decisions are `slayer stream`'s: a tumbling window of W bins
/// is the stream's sliding window read every W bins.
#[test]
fn link_decisions_equal_stream_decisions() {
    struct Collect(Vec<(u32, u32, Option<u8>, Vec<u32>)>);
    impl Sink for Collect {
        fn on_decision(&mut self, d: &Decision<'_>) {
            let w = u64::from(WINDOW_BINS);
            self.0.push((
                (d.bin / w) as u32,
                d.bin as u32,
                d.class.map(|c| c as u8),
                d.counts.to_vec(),
            ));
        }
    }
    let data = shared_data();
    let nm = nmnist_model(7);
    let m = Model::decode(&nm).unwrap();
    let files: Vec<PathBuf> = (1..=NMNIST_RECORDINGS)
        .map(|i| data.join(format!("nmnist-small/{i}.bs2")))
        .chain([data.join("event-fixtures/tonic_sample_nmnist.bin")])
        .collect();
    let mut decisions = 0;
    for f in &files {
        let rec = load_recording(f, None, (34, 34)).unwrap();
        let (wire, _) = wire_of(&rec).unwrap();
        let host = run_host(&m, rec.sensor, WINDOW_BINS, &wire, wire.len() as u32).unwrap();
        let opts = StreamOptions {
            window_bins: WINDOW_BINS as usize,
            report_bins: u64::from(WINDOW_BINS),
            on_change: false,
            ..StreamOptions::default()
        };
        let mut sink = Collect(Vec::new());
        let r = stream::run(&m, &mut Source::open(f).unwrap(), &opts, &mut sink).unwrap();
        assert_eq!(host.decisions, sink.0, "{}", f.display());
        let total: Vec<u64> = host.counts.iter().map(|&c| u64::from(c)).collect();
        assert_eq!(total, r.output_counts, "{}", f.display());
        assert_eq!(
            u64::from(host.counters.bins),
            r.counters.bins,
            "{}",
            f.display()
        );
        decisions += sink.0.len();
    }
    assert!(decisions >= 6 * files.len());
}

#[test]
fn firmware_link_matches_host_on_every_target() {
    let dir = slayer_tests::firmware::firmware_target_dir().join("link-test");
    std::fs::create_dir_all(&dir).unwrap();
    for t in runnable("firmware link") {
        run_target(t, &dir);
    }
}
