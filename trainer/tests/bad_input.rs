//! Bad input from the command line, swept (issue 15): every case answers
//! with exit status 2 and one `error:` line naming the problem, before any
//! work — never a panic, a huge allocation, a leftover run folder or a
//! half-written output file.

use std::path::{Path, PathBuf};

mod common;

/// A fresh temporary folder for this test file.
fn tempdir(name: &str) -> common::TempDir {
    common::tempdir("bad", name)
}

use common::slayer;

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// The default experiment's config with `from` replaced by `to`.
fn poisson_with(from: &str, to: &str) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/poisson.toml"))
            .unwrap();
    assert!(text.contains(from), "poisson.toml has no {from:?}");
    text.replacen(from, to, 1)
}

/// One row of the table: what is run, what the error line must say, and
/// which paths (relative to the folder) must not exist afterwards.
struct Row {
    args: Vec<String>,
    needle: &'static str,
    absent: Vec<&'static str>,
}

fn row(args: &[&str], needle: &'static str, absent: &[&'static str]) -> Row {
    Row {
        args: args.iter().map(std::string::ToString::to_string).collect(),
        needle,
        absent: absent.to_vec(),
    }
}

#[test]
fn every_bad_input_is_one_error_line_and_exit_2() {
    let d = tempdir("table");
    let w = |name: &str, bytes: &[u8]| std::fs::write(d.join(name), bytes).unwrap();
    // A real run, model and event files to break.
    let ok = slayer(&["train", "--epochs", "2", "--out", "run", "--quiet"], &d);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ok = slayer(&["export", "run/checkpoint.slyc", "--out", "m.slym"], &d);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ck = std::fs::read(d.join("run/checkpoint.slyc")).unwrap();
    let mut damaged = ck.clone();
    let mid = damaged.len() / 2;
    damaged[mid..mid + 4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    w("damaged.slyc", &damaged);
    w("cut.slyc", &ck[..ck.len() / 3]);
    let model = std::fs::read(d.join("m.slym")).unwrap();
    w("cut.slym", &model[..model.len() / 2]);
    w("empty.bs2", b"");
    let aedat = std::fs::read(shared().join("dvs-gesture/aedat31/slayer10_concat.aedat")).unwrap();
    w("cut-header.aedat", &aedat[..100]);
    w("empty.slyc", b"");
    w("empty.toml", b"");
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let random: Vec<u8> = (0..4000)
        .map(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng as u8
        })
        .collect();
    w("random.bin", &random);
    w("random.slyc", &random);
    std::fs::copy(shared().join("nmnist-small/1.bs2"), d.join("nmnist.bs2")).unwrap();
    w(
        "types.toml",
        poisson_with("bins = ", "bins = \"many\" #").as_bytes(),
    );
    w(
        "unknown.toml",
        poisson_with("[simulation]", "[simulation]\nspeed = 3").as_bytes(),
    );
    w(
        "bins.toml",
        poisson_with("bins = ", "bins = 1000000000000 #").as_bytes(),
    );
    w(
        "neurons.toml",
        poisson_with("outputs = 25,", "outputs = 1000000000,").as_bytes(),
    );
    std::fs::create_dir_all(d.join("nm")).unwrap();
    std::fs::copy(shared().join("nmnist-small/1.bs2"), d.join("nm/1.bs2")).unwrap();
    w("nm/train1K.txt", b"#sample #class\n1\t5\n999\t3\n");
    let nmnist_cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs/nmnist_mlp.toml")
        .display()
        .to_string();
    w(
        "rate.toml",
        poisson_with("input_rate_hz = ", "input_rate_hz = 1e12 #").as_bytes(),
    );

    let rows = [
        // train
        row(
            &["train", "missing.toml", "--out", "o1"],
            "missing.toml",
            &["o1"],
        ),
        row(
            &["train", "empty.toml", "--out", "o2"],
            "empty.toml",
            &["o2"],
        ),
        row(&["train", "types.toml", "--out", "o3"], "bins", &["o3"]),
        row(&["train", "unknown.toml", "--out", "o4"], "speed", &["o4"]),
        row(&["train", "bins.toml", "--out", "o5"], "bins", &["o5"]),
        row(&["train", "neurons.toml", "--out", "o6"], "config", &["o6"]),
        row(&["train", "rate.toml", "--out", "o7"], "rate", &["o7"]),
        row(
            &["train", "--epochs", "0", "--out", "o8"],
            "epochs",
            &["o8"],
        ),
        row(&["train", "--batch", "0", "--out", "o9"], "batch", &["o9"]),
        row(
            &["train", "--seed", "-1", "--out", "o10"],
            "--seed",
            &["o10"],
        ),
        row(
            &["train", &nmnist_cfg, "--data", "nm", "--out", "o11"],
            "sample 999",
            &["o11"],
        ),
        row(
            &["train", "--out", "/proc/slayer-no-such/run"],
            "/proc/slayer-no-such/run",
            &[],
        ),
        row(
            &["train", "--resume", "run", "--epochs", "2"],
            "nothing to do",
            &[],
        ),
        // eval
        row(&["eval", "missing.slyc"], "missing.slyc", &[]),
        row(&["eval", "empty.slyc"], "empty.slyc", &[]),
        row(&["eval", "random.slyc"], "random.slyc", &[]),
        row(&["eval", "damaged.slyc"], "damaged", &[]),
        // export
        row(
            &["export", "damaged.slyc", "--out", "d.slym"],
            "damaged",
            &["d.slym", "d.slym.part"],
        ),
        row(
            &["export", "cut.slyc", "--out", "c.slym"],
            "cut.slyc",
            &["c.slym", "c.slym.part"],
        ),
        row(
            &[
                "export",
                "run/checkpoint.slyc",
                "--out",
                "/proc/slayer-no-such/m.slym",
            ],
            "/proc/slayer-no-such/m.slym",
            &[],
        ),
        row(
            &[
                "export",
                "run/checkpoint.slyc",
                "--out",
                "x.slym",
                "--bits",
                "4",
            ],
            "8 or 16",
            &["x.slym"],
        ),
        // infer
        row(&["infer", "m.slym", "empty.bs2"], "no events", &[]),
        row(&["infer", "m.slym", "random.bin"], "outside", &[]),
        row(&["infer", "m.slym", "nmnist.bs2"], "outside", &[]),
        row(&["infer", "m.slym", "missing.bs2"], "missing.bs2", &[]),
        row(&["infer", "cut.slym", "nmnist.bs2"], "truncated", &[]),
        row(
            &["infer", "random.slyc", "nmnist.bs2"],
            "not a valid slayer model",
            &[],
        ),
        // stream, bench
        row(
            &["stream", "m.slym", "--input", "missing.aedat"],
            "missing.aedat",
            &[],
        ),
        row(
            &["stream", "m.slym", "--input", "cut-header.aedat"],
            "truncated header",
            &[],
        ),
        // link, export --image
        row(
            &[
                "link",
                "m.slym",
                "nmnist.bs2",
                "--port",
                "tcp:127.0.0.1:1",
                "--timeout",
                "0.2",
            ],
            "tcp:127.0.0.1:1",
            &[],
        ),
        row(
            &[
                "link",
                "m.slym",
                "nmnist.bs2",
                "--port",
                "/proc/slayer-no-such/tty",
            ],
            "/proc/slayer-no-such/tty",
            &[],
        ),
        row(
            &[
                "link",
                "m.slym",
                "nmnist.bs2",
                "--port",
                "tcp:127.0.0.1:1",
                "--damage",
                "2",
            ],
            "--damage",
            &[],
        ),
        row(
            &[
                "link",
                "m.slym",
                "nmnist.bs2",
                "--port",
                "tcp:127.0.0.1:1",
                "--timeout",
                "0",
            ],
            "--timeout",
            &[],
        ),
        row(
            &[
                "link",
                "cut.slym",
                "nmnist.bs2",
                "--port",
                "tcp:127.0.0.1:1",
            ],
            "truncated",
            &[],
        ),
        row(
            &[
                "export",
                "run/checkpoint.slyc",
                "--out",
                "i.slym",
                "--image",
                "/proc/slayer-no-such/i.img",
            ],
            "/proc/slayer-no-such/i.img",
            &[],
        ),
        row(&["bench", "--case", "nope"], "nope", &[]),
        row(
            &["bench", "--device", "cpu", "--precision", "bf16"],
            "--device cuda",
            &[],
        ),
    ];
    let mut failures = Vec::new();
    for r in &rows {
        let args: Vec<&str> = r.args.iter().map(String::as_str).collect();
        let out = slayer(&args, &d);
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().collect();
        let ok = out.status.code() == Some(2)
            && lines.len() == 1
            && lines[0].starts_with("error: ")
            && lines[0].contains(r.needle)
            && !err.contains("panicked")
            && r.absent.iter().all(|p| !d.join(p).exists());
        // An I/O error names its cause once.
        let twice = ["No such file or directory", "Permission denied"]
            .iter()
            .any(|c| err.matches(c).count() > 1);
        eprintln!("slayer {}: {}", args.join(" "), err.trim());
        if !ok || twice {
            failures.push(format!(
                "slayer {}: status {:?}, stderr {err:?} (wanted one line with {:?}; absent {:?})",
                args.join(" "),
                out.status.code(),
                r.needle,
                r.absent
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&d);
}

/// A silent output is "no decision", not class 0.
#[test]
fn infer_reports_a_silent_output_as_no_decision() {
    use slayer_core::Event1d;
    use slayer_trainer::data::write_bs1;
    let d = tempdir("silent");
    let ok = slayer(&["train", "--epochs", "1", "--out", "run", "--quiet"], &d);
    assert!(ok.status.success());
    let ok = slayer(&["export", "run/checkpoint.slyc", "--out", "m.slym"], &d);
    assert!(ok.status.success());
    // One input spike cannot drive the output over threshold.
    write_bs1(
        &d.join("one.bs1"),
        &[Event1d {
            neuron: 3,
            polarity: 0,
            t_us: 10,
        }],
    )
    .unwrap();
    let out = slayer(&["infer", "m.slym", "one.bs1", "--json"], &d);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("no decision"), "{text}");
    assert!(!text.contains("class 0"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap();
    assert!(json["results"][0]["class"].is_null(), "{json}");
    let _ = std::fs::remove_dir_all(&d);
}

/// `slayer eval CHECKPOINT --data DIR --list FILE` on the spoken digits
/// reads a folder holding only the listed recordings (no `train.txt`).
#[test]
fn eval_with_a_list_reads_a_folder_of_only_the_listed_recordings() {
    let d = tempdir("fsdd-list");
    let src = shared().join("fsdd");
    let text = std::fs::read_to_string(src.join("train.txt")).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .step_by(135)
        .collect();
    assert!(rows.len() >= 10, "{} rows", rows.len());
    // A small training folder in the data kit's layout.
    std::fs::create_dir_all(d.join("train/recordings")).unwrap();
    for r in &rows {
        let f = r.split_whitespace().next().unwrap();
        std::fs::copy(
            src.join("recordings").join(f),
            d.join("train/recordings").join(f),
        )
        .unwrap();
    }
    std::fs::write(d.join("train/train.txt"), rows.join("\n")).unwrap();
    let cfg =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/fsdd.toml"))
            .unwrap()
            .replace("channels = 256", "channels = 16")
            .replace("epochs = 30", "epochs = 1");
    std::fs::write(d.join("fsdd.toml"), cfg).unwrap();
    let out = slayer(
        &[
            "train",
            "fsdd.toml",
            "--data",
            "train",
            "--out",
            "run",
            "--quiet",
        ],
        &d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The evaluation folder: three recordings and their list, nothing else.
    std::fs::create_dir_all(d.join("eval")).unwrap();
    let listed: Vec<&str> = rows.iter().take(3).copied().collect();
    for r in &listed {
        let f = r.split_whitespace().next().unwrap();
        std::fs::copy(src.join("recordings").join(f), d.join("eval").join(f)).unwrap();
    }
    std::fs::write(d.join("eval/list.txt"), listed.join("\n")).unwrap();
    let out = slayer(
        &[
            "eval",
            "run/checkpoint.slyc",
            "--data",
            "eval",
            "--list",
            "eval/list.txt",
            "--json",
        ],
        &d,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(json["samples"], 3, "{json}");
    let _ = std::fs::remove_dir_all(&d);
}
