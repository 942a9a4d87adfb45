//! Writing output files so that nothing half-written is ever left behind.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The temporary file beside `path` that [`write_atomic`] writes first:
/// `path` with `.part` appended to its name.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically: into [`part_path`] first, then
/// renamed over `path`, so a reader (or a killed run) sees the old file or
/// the new one, never a part. Errors name `path`, the file asked for; on
/// failure the part file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let part = part_path(path);
    let done = std::fs::write(&part, bytes).and_then(|()| std::fs::rename(&part, path));
    done.map_err(|e| {
        let _ = std::fs::remove_file(&part);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_names_the_requested_path_on_failure() {
        let dir = std::env::temp_dir().join(format!("slayer-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("model.slym");
        write_atomic(&p, b"abc").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"abc");
        assert!(!part_path(&p).exists());
        let bad = dir.join("no-such-folder").join("m.slym");
        let err = write_atomic(&bad, b"x").unwrap_err().to_string();
        assert!(err.starts_with(&bad.display().to_string()), "{err}");
        assert!(!err.contains(".part"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
