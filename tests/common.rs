//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// `../shared/data` beside the repository (CI lays it out the same way).
pub fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// Reads a whitespace-separated numeric text matrix, skipping `#` comment lines.
pub fn read_matrix(path: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is ../shared beside the repository?)",
            path.display()
        )
    });
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|v| {
                    v.parse::<f64>()
                        .unwrap_or_else(|e| panic!("{}: {v:?}: {e}", path.display()))
                })
                .collect()
        })
        .collect()
}
