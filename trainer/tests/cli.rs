//! The `slayer` binary as a user runs it: exit codes, one-line errors,
//! `--json` results and the files a run writes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use slayer_trainer::checkpoint::Checkpoint;

mod common;

/// A fresh temporary folder for this test file.
fn tempdir(name: &str) -> common::TempDir {
    common::tempdir("cli", name)
}

use common::slayer;

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs")
}

fn oxford_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/slayer-reference/oxford")
}

/// The last stdout line, parsed as JSON.
fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {text}"))
}

/// Fails with exit status 2 and a single `error:` line containing `needle`.
fn assert_clean_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(
        lines[0].contains(needle),
        "{err:?} should mention {needle:?}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn help_explains_the_commands() {
    let d = tempdir("help");
    let out = slayer(&["--help"], &d);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["train", "bench", "--json"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let out = slayer(&["train", "--help"], &d);
    let text = String::from_utf8_lossy(&out.stdout);
    for word in ["--data", "--seed", "--out", "--device", "Poisson"] {
        assert!(text.contains(word), "train --help lacks {word}: {text}");
    }
}

#[test]
fn default_train_matches_the_target_and_writes_its_outputs() {
    let d = tempdir("train");
    let out = slayer(&["train", "--json", "--out", "run"], &d);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let conv = v["converged_epoch"]
        .as_u64()
        .expect("the default experiment converges");
    assert!(conv < 739, "converged at {conv}, the paper needed 739");
    assert_eq!(v["epochs"].as_u64(), Some(conv + 1));
    assert!(v["samples_per_s"].as_f64().unwrap() > 0.0);
    let run = d.join("run");
    for png in ["loss.png", "raster.png"] {
        let bytes = std::fs::read(run.join(png)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{png}");
    }
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("epoch,loss,"));
    assert_eq!(csv.lines().count() as u64, conv + 2);
    let ck = Checkpoint::load(&d.join(v["checkpoint"].as_str().unwrap())).unwrap();
    assert_eq!(ck.epoch as u64, conv + 1);
    assert_eq!(ck.network.inputs, 250);
    assert_eq!(ck.network.outputs(), 1);
    // Same seed, same run.
    let again = json(&slayer(
        &["train", "--json", "--quiet", "--out", "run2"],
        &d,
    ));
    assert_eq!(again["converged_epoch"], v["converged_epoch"]);
    assert_eq!(again["final_loss"], v["final_loss"]);
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let d = tempdir("errors");
    assert_clean_error(&slayer(&["train", "nope.toml"], &d), "nope.toml");
    let garbage = write(&d, "garbage.toml", "this is [not toml");
    assert_clean_error(
        &slayer(&["train", garbage.to_str().unwrap()], &d),
        "garbage.toml",
    );
    let poisson = std::fs::read_to_string(configs().join("poisson.toml")).unwrap();
    let unknown = write(
        &d,
        "unknown.toml",
        &poisson.replacen("type = \"dense\"", "type = \"lstm\"", 1),
    );
    assert_clean_error(&slayer(&["train", unknown.to_str().unwrap()], &d), "lstm");
    let oxford = configs().join("oxford.toml");
    assert_clean_error(&slayer(&["train", oxford.to_str().unwrap()], &d), "--data");
    assert_clean_error(
        &slayer(
            &[
                "train",
                oxford.to_str().unwrap(),
                "--data",
                "/nonexistent/dir",
            ],
            &d,
        ),
        "/nonexistent/dir/input.bs1",
    );
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    write(&empty, "input.bs1", "");
    assert_clean_error(
        &slayer(
            &[
                "train",
                oxford.to_str().unwrap(),
                "--data",
                empty.to_str().unwrap(),
            ],
            &d,
        ),
        "no events",
    );
    write(&empty, "input.bs1", "123456");
    assert_clean_error(
        &slayer(
            &[
                "train",
                oxford.to_str().unwrap(),
                "--data",
                empty.to_str().unwrap(),
            ],
            &d,
        ),
        "byte offset 5",
    );
    let text = std::fs::read_to_string(&oxford).unwrap();
    let wrong = write(
        &d,
        "wrong.toml",
        &text.replace("outputs = 200", "outputs = 100"),
    );
    let data = oxford_data();
    assert_clean_error(
        &slayer(
            &[
                "train",
                wrong.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
            &d,
        ),
        "shape mismatch",
    );
    assert_clean_error(
        &slayer(&["train", "--device", "cuda", "--out", "x"], &d),
        "CUDA",
    );
    let out = slayer(&["train", "--device", "tpu"], &d);
    assert_ne!(out.status.code(), Some(0));
    assert_clean_error(&slayer(&["bench", "--case", "resnet"], &d), "resnet");
}

#[test]
fn oxford_trains_from_bs1_files() {
    let d = tempdir("oxford");
    let cfg = configs().join("oxford.toml");
    let data = oxford_data();
    let out = slayer(
        &[
            "train",
            cfg.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "80",
            "--json",
            "--out",
            "ox",
        ],
        &d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["epochs"], 80);
    let csv = std::fs::read_to_string(d.join("ox/metrics.csv")).unwrap();
    let losses: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    // The reference notebook's loss at epoch 0 is 223,909 (same definition, its own random weights).
    assert!(
        (200_000.0..250_000.0).contains(&losses[0]),
        "epoch 0 loss {}",
        losses[0]
    );
    // The output is silent for the first ~15 epochs, then the loss falls.
    let last = losses[losses.len() - 1];
    assert!(
        last < 0.8 * losses[0],
        "loss must fall: {} -> {last}",
        losses[0]
    );
}

#[test]
fn bench_reports_json() {
    let d = tempdir("bench");
    let out = slayer(
        &["bench", "--case", "oxford", "--seconds", "0.2", "--json"],
        &d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["rows"][0]["shape"], "200-256-200");
    assert!(v["rows"][0]["train_samples_per_s"].as_f64().unwrap() > 0.0);
}

fn nmnist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/nmnist-small")
}

/// A small N-MNIST experiment: the first `n` samples of train1K.txt, `epochs` epochs.
fn small_nmnist_config(d: &Path, n: usize, epochs: usize) -> PathBuf {
    let list: String = std::fs::read_to_string(nmnist().join("train1K.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .take(n)
        .map(|l| format!("{l}\n"))
        .collect();
    let list_path = write(d, "small.txt", &list);
    let text = std::fs::read_to_string(configs().join("nmnist_mlp.toml"))
        .unwrap()
        .replace(
            "validation = 0.1",
            &format!("validation = 0.2\nlist = {:?}", list_path.to_str().unwrap()),
        )
        .replace("epochs = 30", &format!("epochs = {epochs}"));
    write(d, "small.toml", &text)
}

#[test]
fn resume_after_kill_gives_the_uninterrupted_result_and_eval_scores_it() {
    let d = tempdir("resume");
    let cfg = small_nmnist_config(&d, 120, 4);
    let (cfg, data) = (cfg.to_str().unwrap(), nmnist());
    let data = data.to_str().unwrap();
    let full = slayer(
        &["train", cfg, "--data", data, "--out", "full", "--quiet"],
        &d,
    );
    assert!(
        full.status.success(),
        "{}",
        String::from_utf8_lossy(&full.stderr)
    );

    // Start the same run, kill -9 it once its first checkpoint exists, resume.
    let mut child = Command::new(env!("CARGO_BIN_EXE_slayer"))
        .args(["train", cfg, "--data", data, "--out", "cut", "--quiet"])
        .current_dir(&d)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ck = d.join("cut/checkpoint.slyc");
    let t0 = std::time::Instant::now();
    while !ck.exists() && t0.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = Checkpoint::load(&ck).unwrap().epoch;
    eprintln!("killed after epoch {before} of 4");
    assert!(
        before < 4,
        "the run finished before the kill: make it longer"
    );
    let resumed = slayer(
        &[
            "train", "--resume", "cut", "--data", data, "--quiet", "--json",
        ],
        &d,
    );
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(json(&resumed)["epochs"], 4);
    let a = Checkpoint::load(&d.join("full/checkpoint.slyc")).unwrap();
    let b = Checkpoint::load(&ck).unwrap();
    assert_eq!(
        a.network, b.network,
        "resumed after epoch {before}: weights differ"
    );
    assert_eq!(a.optimiser, b.optimiser);
    let loss = |h: &[slayer_trainer::checkpoint::EpochRecord]| {
        h.iter().map(|r| r.loss).collect::<Vec<_>>()
    };
    assert_eq!(loss(&a.history), loss(&b.history));
    let csv = std::fs::read_to_string(d.join("cut/metrics.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "one header and one row per epoch:\n{csv}"
    );

    // eval: the validation split (24 of 120) by default, every listed sample with --list.
    let ev = slayer(
        &["eval", "full/checkpoint.slyc", "--data", data, "--json"],
        &d,
    );
    assert!(
        ev.status.success(),
        "{}",
        String::from_utf8_lossy(&ev.stderr)
    );
    let v = json(&ev);
    assert_eq!(v["samples"], 24);
    let acc = v["accuracy"].as_f64().unwrap();
    assert_eq!(
        Some(acc),
        a.history.last().unwrap().valid_accuracy,
        "eval agrees with training's validation"
    );
    let confusion: u64 = v["confusion"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(confusion, 24);
    let text = String::from_utf8_lossy(&ev.stdout);
    assert!(text.contains("confusion matrix"), "{text}");
    let listed = slayer(
        &[
            "eval",
            "full/best.slyc",
            "--data",
            data,
            "--list",
            "small.txt",
            "--json",
        ],
        &d,
    );
    assert_eq!(json(&listed)["samples"], 120);
    assert_clean_error(&slayer(&["eval", "missing.slyc"], &d), "missing.slyc");
    write(&d, "junk.slyc", "not a checkpoint");
    assert_clean_error(&slayer(&["eval", "junk.slyc"], &d), "bad magic");

    // export → the fixed-point core, scored next to the float network by
    // `eval --model`: the export's JSON and the core's scores.
    let export_eval = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "export",
            "full/best.slyc",
            "--out",
            model,
            "--bits",
            "16",
            "--json",
        ];
        args.extend_from_slice(extra);
        let ex = slayer(&args, &d);
        assert!(
            ex.status.success(),
            "{}",
            String::from_utf8_lossy(&ex.stderr)
        );
        let ev = slayer(
            &[
                "eval",
                "full/best.slyc",
                "--data",
                data,
                "--model",
                model,
                "--json",
            ],
            &d,
        );
        assert!(
            ev.status.success(),
            "{}",
            String::from_utf8_lossy(&ev.stderr)
        );
        (ex, json(&ev)["core"].clone())
    };
    // int16 follows the float network closely.
    let (ex, core) = export_eval("m16.slym", &[]);
    let v = json(&ex);
    assert_eq!(v["bits"], 16);
    let bytes = std::fs::metadata(d.join("m16.slym")).unwrap().len();
    assert_eq!(v["bytes"].as_u64(), Some(bytes));
    assert!(
        core["class_agreement"].as_f64().unwrap() >= 0.95,
        "int16 core vs float: {core}"
    );
    assert!(core["mean_count_diff"].as_f64().unwrap() < 0.5, "{core}");

    // Coarse filter coefficients: every filter on the 15-bit grid (τ of a
    // few bins), and the core still follows the float network.
    let (ex, core) = export_eval("coarse.slym", &["--coefficients", "coarse"]);
    let c = &json(&ex)["coefficients"];
    assert_eq!(c["requested"], "coarse");
    let n = c["neuron_layers"].as_u64().unwrap();
    assert!(n > 0 && c["coarse_eps"] == n && c["coarse_nu"] == n, "{c}");
    let text = String::from_utf8_lossy(&ex.stdout);
    assert!(
        text.contains(&format!("coefficients: 15-bit on ε of {n}/{n} layers")),
        "{text}"
    );
    assert!(
        core["class_agreement"].as_f64().unwrap() >= 0.95,
        "coarse int16 core vs float: {core}"
    );
    let bad = slayer(
        &[
            "export",
            "full/best.slyc",
            "--out",
            "x.slym",
            "--coefficients",
            "half",
        ],
        &d,
    );
    assert!(!bad.status.success());

    // infer on event files, with the float network alongside.
    let files: Vec<String> = ["1", "2", "3"]
        .iter()
        .map(|id| nmnist().join(format!("{id}.bs2")).display().to_string())
        .collect();
    let mut args = vec!["infer", "m16.slym"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["--float", "full/best.slyc", "--json"]);
    let inf = slayer(&args, &d);
    assert!(
        inf.status.success(),
        "{}",
        String::from_utf8_lossy(&inf.stderr)
    );
    let v = json(&inf);
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r["counts"].as_array().unwrap().len(), 10, "{r}");
        let (c, f) = (
            r["counts"].as_array().unwrap(),
            r["float_counts"].as_array().unwrap(),
        );
        let diff: i64 = c
            .iter()
            .zip(f)
            .map(|(a, b)| (a.as_i64().unwrap() - b.as_i64().unwrap()).abs())
            .sum();
        assert!(diff <= 5, "core and float counts far apart: {r}");
    }
    assert_clean_error(
        &slayer(&["infer", "junk.slyc", files[0].as_str()], &d),
        "not a valid slayer model",
    );
    assert_clean_error(
        &slayer(
            &["export", "full/best.slyc", "--out", "x.slym", "--bits", "4"],
            &d,
        ),
        "8 or 16",
    );
}
