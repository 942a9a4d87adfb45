//! What the trainer reports: the files of a training run besides its
//! checkpoints ([`RunFiles`], `run.rs`), and the text the `slayer`
//! subcommands print: summaries and tables of training, evaluation (with
//! its confusion matrix), export, inference, benchmarks, streams and board
//! links.
//!
//! Every printer writes to any [`std::io::Write`] (the CLI passes its
//! locked stdout or stderr, the tests a buffer) and returns the writer's
//! error, so a closed pipe ends a command instead of panicking. The JSON
//! lines of `--json` are not made here: they are the serialised results.

pub mod bench;
pub mod eval;
pub mod export;
pub mod import;
pub mod infer;
pub mod link;
mod run;
pub mod stream;
pub mod train;

pub(crate) use run::epoch_line;
pub use run::RunFiles;

/// A decided class as text: its number, or `-` for no decision.
pub fn class_name(c: Option<usize>) -> String {
    c.map_or_else(|| "-".to_string(), |c| c.to_string())
}

/// What `print` wrote, as text (for the printers' tests).
#[cfg(test)]
fn printed(print: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> String {
    let mut buf = Vec::new();
    print(&mut buf).expect("writing to a Vec cannot fail");
    String::from_utf8(buf).expect("printers write UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_name_is_the_number_or_a_dash() {
        assert_eq!(class_name(Some(7)), "7");
        assert_eq!(class_name(None), "-");
    }
}
