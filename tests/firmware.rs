//! Bit-exact across targets (issue 4): the core engine on this host and the
//! firmware on a Cortex-M4F (QEMU `mps2-an386`) give identical output spike
//! counts for an int8 N-MNIST MLP (2312 → 128 → 10, random weights drawn
//! from a fixed seed: nothing is trained) over 20 real N-MNIST samples; and
//! the same for a model of LIF layers (issue 14: 2312 → 64 → 10, LIF then
//! CUBA-LIF neurons).
//!
//! Needs the `thumbv7em-none-eabihf` target and `qemu-system-arm`; without
//! them the test prints `skipped: …` and passes, unless
//! `SLAYER_REQUIRE_QEMU=1` (CI sets it after installing both).

use std::path::Path;

use slayer_core::Model;
use slayer_tests::firmware::{
    build, firmware_target_dir, host_counts, missing_toolchain, pack_nmnist, run_qemu,
    runner_counts, REQUIRE_VAR,
};
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::export::export;
use slayer_trainer::network::Network;
use slayer_trainer::train::input_shape;

use crate::common::{random_lif_model, shared_data};

/// The footprint model's experiment (`trainer/configs/nmnist_mlp128.toml`).
const CONFIG: &str = include_str!("../trainer/configs/nmnist_mlp128.toml");
/// Its output layer, and the same with larger random weights: untrained,
/// `weight_scale = 10` leaves most samples without an output spike.
const OUTPUT_LAYER: &str = r#"{ type = "dense", outputs = 10, weight_scale = 10.0 }"#;
const LOUD_OUTPUT_LAYER: &str = r#"{ type = "dense", outputs = 10, weight_scale = 40.0 }"#;
const SEED: u64 = 7;
const SAMPLES: usize = 20;
const N_INPUTS: usize = 2 * 34 * 34;

/// Writes `bytes` to `path` unless it already holds them (keeps the
/// firmware build incremental across runs).
fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn qemu_counts_equal_host_engine() {
    let require = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    if let Some(why) = missing_toolchain() {
        assert!(!require, "{REQUIRE_VAR}=1 but {why}");
        eprintln!("skipped: firmware parity in QEMU: {why}");
        return;
    }

    assert!(
        CONFIG.contains(OUTPUT_LAYER),
        "the config's output layer changed"
    );
    let cfg =
        ExperimentConfig::from_toml(&CONFIG.replace(OUTPUT_LAYER, LOUD_OUTPUT_LAYER)).unwrap();
    let net = Network::from_config(&cfg, N_INPUTS, Some((2, 34, 34)), SEED).unwrap();
    let shape = input_shape(&cfg, &net);
    let ex = export(&net, Some(shape), cfg.simulation.bins, 8).unwrap();
    let model = Model::decode(&ex.bytes).unwrap();
    assert_eq!((model.inputs(), model.outputs()), (N_INPUTS as u32, 10));

    check_in_qemu("srm", &ex.bytes, cfg.simulation.bins);

    // The same for a LIF model (dense synapses and LIF / CUBA-LIF neurons,
    // the layers `slayer import` makes of snnTorch's networks).
    check_in_qemu("lif", &random_lif_model(SEED), 300);
}

/// Packs the first N-MNIST samples for `bytes`, runs them on the host
/// engine and in the firmware on QEMU's Cortex-M4F, and checks every
/// sample's output counts are identical.
fn check_in_qemu(name: &str, bytes: &[u8], bins: usize) {
    let model = Model::decode(bytes).unwrap();
    let packed = pack_nmnist(&model, &shared_data().join("nmnist-small"), SAMPLES).unwrap();
    let host = host_counts(&model, &packed.bytes).unwrap();
    // The pack replays exactly the rasters `slayer infer` would run.
    let runner = runner_counts(&model, &packed.rasters).unwrap();
    let host_only: Vec<Vec<u32>> = host.iter().map(|s| s.counts.clone()).collect();
    assert_eq!(host_only, runner, "the pack does not replay the rasters");
    // A parity check on silent outputs would prove little.
    let spiking = host
        .iter()
        .filter(|s| s.counts.iter().any(|&c| c > 0))
        .count();
    let total: u32 = host.iter().flat_map(|s| &s.counts).sum();
    eprintln!("host ({name} model): {total} output spikes, {spiking}/{SAMPLES} samples with some");
    assert!(
        spiking >= SAMPLES / 2,
        "only {spiking}/{SAMPLES} samples make an output spike: raise weight_scale"
    );

    let dir = firmware_target_dir().join(format!("parity-test-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (model_path, samples_path) = (dir.join("model.slyr"), dir.join("samples.slys"));
    write_if_changed(&model_path, bytes);
    write_if_changed(&samples_path, &packed.bytes);
    let elf = build(&model_path, &samples_path, &firmware_target_dir())
        .unwrap_or_else(|e| panic!("{e:#}"));
    let run = run_qemu(&elf).unwrap_or_else(|e| panic!("{e:#}"));

    assert_eq!(run.samples.len(), SAMPLES, "output:\n{}", run.stdout);
    for (i, (fw, h)) in run.samples.iter().zip(&host).enumerate() {
        assert_eq!(
            fw,
            h,
            "sample {i} ({}): firmware and host engine differ",
            packed.files[i].display()
        );
    }
    assert_eq!(run.steps, (SAMPLES * bins) as u64);
    assert!(run.mean_instructions > 0.0);
    assert!(run.max_instructions as f64 >= run.mean_instructions);
    eprintln!(
        "firmware ({name} model): {SAMPLES} samples identical; {:.1} instructions per step on average, {} at most",
        run.mean_instructions, run.max_instructions
    );
}
