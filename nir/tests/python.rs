//! slayer-nir against the Python `nir` package (1.0.x), through
//! `scripts/nir_roundtrip.py`:
//!
//! * Python → Rust: `nir.write` writes graphs with every node type (seeded
//!   random float32/float64/int64 arrays, metadata, a subgraph, empty edges)
//!   and a JSON dump of what `nir.read` reads back; our reader must read the
//!   same values, bit for bit.
//! * Rust → Python: we write those graphs again, and `nir.read` must read our
//!   files exactly as it read its own; a graph built here with every node
//!   type must read in Python as we wrote it; the feed-forward networks pass
//!   `nir.read`'s type check.
//!
//! Without Python, numpy, h5py or nir the tests say they were skipped,
//! unless `SLAYER_REQUIRE_NIR=1` (as in CI, where `.ci/run` installs the
//! package into `target/py-clients`).

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn required() -> bool {
    std::env::var("SLAYER_REQUIRE_NIR").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Runs the script; its stdout, or `None` when the package is missing.
fn script(args: &[&str]) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/nir_roundtrip.py");
    let out = Command::new("python3").arg(script).args(args).output();
    let missing = |why: &str| {
        assert!(
            !required(),
            "SLAYER_REQUIRE_NIR is set but the Python nir package cannot run: {why}"
        );
        eprintln!(
            "skipped: the Python nir package is not importable ({why}); \
             pip install nir==1.0.8 h5py numpy, or run .ci/run"
        );
        None
    };
    let out = match out {
        Ok(out) => out,
        Err(e) => return missing(&format!("python3: {e}")),
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        if err.contains("ModuleNotFoundError") || err.contains("No module named") {
            return missing(err.lines().last().unwrap_or_default());
        }
        panic!("nir_roundtrip.py {args:?} failed:\n{err}");
    }
    Some(String::from_utf8(out.stdout).unwrap())
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn assert_same(ours: &Value, theirs: &Value, what: &str) {
    if ours != theirs {
        let a = serde_json::to_string_pretty(ours).unwrap();
        let b = serde_json::to_string_pretty(theirs).unwrap();
        let line = a.lines().zip(b.lines()).position(|(x, y)| x != y);
        panic!(
            "{what}: slayer-nir and nir differ from line {line:?} of the dump\n\
             --- slayer-nir\n{a}\n--- nir\n{b}"
        );
    }
}

#[test]
fn files_written_by_nir_read_here_and_ours_read_there() {
    let dir = common::scratch("py");
    let d = dir.to_str().unwrap();
    let Some(cases) = script(&["write", d]) else {
        return;
    };
    let cases: Vec<&str> = cases.lines().collect();
    assert!(cases.len() >= 4, "{cases:?}");
    for case in &cases {
        let theirs = json_file(&dir.join(format!("{case}.json")));
        // Python → Rust.
        let g = slayer_nir::read(dir.join(format!("{case}.nir")))
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_same(
            &common::graph_json(&g),
            &theirs,
            &format!("{case}: our read"),
        );
        // Rust → Python.
        let ours = dir.join(format!("{case}.rust.nir"));
        slayer_nir::write(&ours, &g).unwrap();
        let back: Value =
            serde_json::from_str(&script(&["dump", ours.to_str().unwrap()]).unwrap()).unwrap();
        assert_same(&back, &theirs, &format!("{case}: nir.read of our file"));
        eprintln!("{case}: {} nodes, identical both ways", g.nodes.len());
    }
    // nir's type check (shape inference) passes on our files of the
    // type-consistent networks.
    for case in ["network", "conv"] {
        let ours = dir.join(format!("{case}.rust.nir"));
        assert_eq!(
            script(&["check", ours.to_str().unwrap()]).unwrap().trim(),
            "ok"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_graph_built_here_reads_in_nir_as_written() {
    let dir = common::scratch("py-built");
    let path = dir.join("every_node.nir");
    let g = common::every_node_graph(7);
    slayer_nir::write(&path, &g).unwrap();
    let Some(dump) = script(&["dump", path.to_str().unwrap()]) else {
        return;
    };
    let theirs: Value = serde_json::from_str(&dump).unwrap();
    assert_same(
        &common::graph_json(&g),
        &theirs,
        "nir.read of a graph built in Rust",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
