//! Helpers shared by the CLI integration tests (`mod common;`).
// Each test binary uses part of it.
#![allow(dead_code)]

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

/// A test's temporary folder, removed with everything in it when dropped
/// (at the end of the test, passed or failed); derefs to its path.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary folder per test: `slayer-<group>-<name>-<pid>`.
pub fn tempdir(group: &str, name: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!("slayer-{group}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}
