//! Helpers shared by the CLI integration tests (`mod common;`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `slayer` binary with `args` in `dir`.
pub fn slayer(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slayer"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run slayer")
}

/// A fresh temporary folder per test: `slayer-<group>-<name>-<pid>`.
pub fn tempdir(group: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("slayer-{group}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
