//! The edge firmware over its serial link (issue 13), in QEMU on every
//! target: N-MNIST and DVS Gesture recordings sent as event frames give
//! the host core engine's decisions and counts, frame for frame; a model
//! swapped without rebuilding the firmware likewise; a damaged link loses
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
use slayer_tests::firmware::REQUIRE_VAR;
use slayer_tests::link::{build, missing, start, Target, TARGETS};
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::export::export;
use slayer_trainer::link::{
    damage, load_recording, run_host, wire_of, Board, Hello, LinkOptions, Recording,
};
use slayer_trainer::train::{build_network, input_shape};

use crate::common::shared_data;

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
) -> Vec<u8> {
    assert!(
        config.contains(out_layer),
        "the config's output layer changed"
    );
    let cfg = ExperimentConfig::from_toml(&config.replace(out_layer, loud)).unwrap();
    let net = build_network(&cfg, inputs, Some(shape), seed).unwrap();
    let shape = input_shape(&cfg, &net);
    export(&net, Some(shape), cfg.simulation.bins, 8)
        .unwrap()
        .bytes
}

fn nmnist_model(seed: u64) -> Vec<u8> {
    model(
        include_str!("../trainer/configs/nmnist_mlp128.toml"),
        r#"{ type = "dense", outputs = 10, weight_scale = 10.0 }"#,
        r#"{ type = "dense", outputs = 10, weight_scale = 40.0 }"#,
        2 * 34 * 34,
        (2, 34, 34),
        seed,
    )
}

fn gesture_model(seed: u64) -> Vec<u8> {
    model(
        include_str!("../trainer/configs/dvs_gesture_mcu.toml"),
        r#"{ type = "dense", outputs = 11, weight_scale = 3.0 }"#,
        r#"{ type = "dense", outputs = 11, weight_scale = 12.0 }"#,
        2 * 32 * 32,
        (2, 32, 32),
        seed,
    )
}

fn write_image(dir: &Path, name: &str, model: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, encode_image(model).unwrap()).unwrap();
    p
}

fn recordings() -> (Vec<PathBuf>, Vec<PathBuf>) {
    let data = shared_data();
    let nmnist = (1..=NMNIST_RECORDINGS)
        .map(|i| data.join(format!("nmnist-small/{i}.bs2")))
        .collect();
    let gesture = (0..10)
        .map(|i| data.join(format!("dvs-gesture/{i}.bs2")))
        .collect();
    (nmnist, gesture)
}

fn options() -> LinkOptions {
    LinkOptions {
        window_bins: WINDOW_BINS,
        timeout: std::time::Duration::from_secs(20),
        ..LinkOptions::default()
    }
}

/// Sends `files` to the board and checks every result against the host.
fn check_files(
    board: &mut Board,
    model: &[u8],
    files: &[PathBuf],
    rate: Option<(f64, u64)>,
) -> (u32, u64, u32) {
    let m = Model::decode(model).unwrap();
    let shape = m.input_shape();
    let (mut lost, mut bins, mut worst) = (0u32, 0u64, 0u32);
    for (k, f) in files.iter().enumerate() {
        let rec: Recording = load_recording(f, None, (shape.w, shape.h)).unwrap();
        let (mut wire, times) = wire_of(&rec).unwrap();
        let n = wire.len() as u32;
        if let Some((r, seed)) = rate {
            damage(&mut wire, r, seed + k as u64);
        }
        let host = run_host(&m, rec.sensor, WINDOW_BINS, &wire, n).unwrap();
        let got = board
            .run(&rec, &wire, &times)
            .unwrap_or_else(|e| panic!("{}: {e}", rec.name));
        assert!(
            got.agrees_with(&host),
            "{}: board and host differ\nboard: {:?} {:?}\nhost:  {:?} {:?}",
            rec.name,
            got.counts,
            got.counters,
            host.counts,
            host.counters
        );
        assert_eq!(got.counters.bins, got.cost.steps);
        lost += got.counters.frames_lost;
        bins += u64::from(got.counters.bins);
        worst = worst.max(got.cost.max_ticks);
    }
    (lost, bins, worst)
}

fn run_target(t: &Target, dir: &Path) {
    let elf = build(t).unwrap_or_else(|e| panic!("{e:#}"));
    let (nmnist, gesture) = recordings();
    let nm = nmnist_model(7);
    let ge = gesture_model(11);
    let nm_img = write_image(dir, "nmnist.img", &nm);
    let ge_img = write_image(dir, "gesture.img", &ge);

    // The N-MNIST model, then the gesture model on the same ELF.
    for (img, model, files) in [(&nm_img, &nm, &nmnist), (&ge_img, &ge, &gesture)] {
        let qemu = start(t, &elf, Some(img)).unwrap();
        let mut board = Board::connect(&qemu.port, options()).unwrap();
        let id = match board.hello().unwrap() {
            Hello::Ready(id) => id,
            Hello::Refused(code, d) => panic!("{}: the board refused: {code} ({d})", t.name),
        };
        let m = Model::decode(model).unwrap();
        assert_eq!((id.inputs, id.outputs), (m.inputs(), m.outputs()));
        let (lost, bins, worst) = check_files(&mut board, model, files, None);
        assert_eq!(lost, 0);
        eprintln!(
            "{}: {} recordings identical to the host ({} bins, worst step {} ticks, {})",
            t.name,
            files.len(),
            bins,
            worst,
            id.target
        );
    }

    // A damaged link: seeded flips and drops in the event frames.
    let qemu = start(t, &elf, Some(&nm_img)).unwrap();
    let mut board = Board::connect(&qemu.port, options()).unwrap();
    let (lost, _, _) = check_files(&mut board, &nm, &nmnist[..4], Some((2e-3, 99)));
    assert!(lost > 0, "the damage hit no frame: raise the rate");

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
        let mut board = Board::connect(&qemu.port, options()).unwrap();
        match board.hello().unwrap() {
            Hello::Refused(code, _) => assert_eq!(code, want, "{}", t.name),
            Hello::Ready(_) => panic!("{}: a board without a valid model said ready", t.name),
        }
    }
}

#[test]
fn firmware_link_matches_host_on_every_target() {
    let require = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    let dir = slayer_tests::firmware::firmware_target_dir().join("link-test");
    std::fs::create_dir_all(&dir).unwrap();
    let only = std::env::var("SLAYER_LINK_TARGETS").unwrap_or_default();
    for t in TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.split(',').any(|n| n == t.name))
    {
        if let Some(why) = missing(t) {
            assert!(!require, "{REQUIRE_VAR}=1 but {why}");
            eprintln!("skipped: firmware link on {}: {why}", t.name);
            continue;
        }
        run_target(t, &dir);
    }
}
