//! Helpers shared by the parser fuzz targets (included with `#[path]`).

/// Runs a `slayer stream` source over `data` to its end.
#[allow(dead_code)]
pub fn run_stream(data: &[u8], format: slayer_trainer::stream::Format) {
    let reader: Box<dyn std::io::Read> = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut source) =
        slayer_trainer::stream::Source::from_reader(reader, format, std::path::Path::new("fuzz"))
    else {
        return;
    };
    let mut faults = slayer_trainer::stream::Faults::new(4);
    let mut events = Vec::new();
    // Every call consumes input or ends: a bounded number of calls.
    for _ in 0..=data.len() + 16 {
        events.clear();
        match source.next(&mut events, &mut faults) {
            Ok(slayer_trainer::stream::Chunk::End) | Err(_) => return,
            Ok(_) => {}
        }
    }
    panic!("the source did not end after {} calls", data.len() + 16);
}

/// A file in memory-backed /dev/shm (else the temporary folder) for readers
/// that take a path.
#[allow(dead_code)]
pub fn scratch(ext: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new("/dev/shm");
    let dir = if dir.is_dir() {
        dir.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("slayer-fuzz-{}.{ext}", std::process::id()))
}
