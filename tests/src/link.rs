//! The link firmware in QEMU: the four targets, building each, starting a
//! board with a model image loaded into its model region and the UART on a
//! local TCP port (`slayer link --port tcp:…`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{ensure, Context, Result};

use crate::firmware::{cargo_build, missing_tools, repo_root, REQUIRE_VAR};

/// A firmware target and the QEMU board that runs it.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Short name (`m4`, …).
    pub name: &'static str,
    /// What it stands for.
    pub what: &'static str,
    /// The Rust target.
    pub triple: &'static str,
    /// The QEMU program.
    pub qemu: &'static str,
    /// Machine (and CPU) arguments.
    pub machine: &'static [&'static str],
    /// Address of the model region (`firmware/memory/*.x`).
    pub model_addr: u64,
}

/// Every target the firmware supports in QEMU.
pub const TARGETS: [Target; 4] = [
    Target {
        name: "m0",
        what: "Cortex-M0/M0+ (thumbv6m; QEMU mps2-an385, whose Cortex-M3 runs the ARMv6-M code)",
        triple: "thumbv6m-none-eabi",
        qemu: "qemu-system-arm",
        machine: &["-machine", "mps2-an385"],
        model_addr: 0x0020_0000,
    },
    Target {
        name: "m4",
        what: "Cortex-M4F (QEMU mps2-an386)",
        triple: "thumbv7em-none-eabihf",
        qemu: "qemu-system-arm",
        machine: &["-machine", "mps2-an386", "-cpu", "cortex-m4"],
        model_addr: 0x0020_0000,
    },
    Target {
        name: "m7",
        what: "Cortex-M7 (QEMU mps2-an500)",
        triple: "thumbv7em-none-eabihf",
        qemu: "qemu-system-arm",
        machine: &["-machine", "mps2-an500", "-cpu", "cortex-m7"],
        model_addr: 0x0020_0000,
    },
    Target {
        name: "riscv",
        what: "RISC-V RV32IMAC (QEMU virt)",
        triple: "riscv32imac-unknown-none-elf",
        qemu: "qemu-system-riscv32",
        machine: &["-machine", "virt", "-bios", "none"],
        model_addr: 0x8040_0000,
    },
];

/// Why `t` cannot be built and run here (`None`: it can).
pub fn missing(t: &Target) -> Option<String> {
    missing_tools(t.triple, t.qemu)
}

/// The targets a test runs: those named in `SLAYER_LINK_TARGETS`
/// (comma-separated; all of [`TARGETS`] when unset) that can be built and run
/// here. A target that cannot prints `skipped: {what} on …`, or panics when
/// `SLAYER_REQUIRE_QEMU=1` (CI).
pub fn runnable(what: &str) -> Vec<&'static Target> {
    let require = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    let only = std::env::var("SLAYER_LINK_TARGETS").unwrap_or_default();
    TARGETS
        .iter()
        .filter(|t| only.is_empty() || only.split(',').any(|n| n == t.name))
        .filter(|t| match missing(t) {
            None => true,
            Some(why) => {
                assert!(!require, "{REQUIRE_VAR}=1 but {why}");
                eprintln!("skipped: {what} on {}: {why}", t.name);
                false
            }
        })
        .collect()
}

/// Writes `model` as a model image (`encode_image`) to `dir/name`.
pub fn write_image(dir: &Path, name: &str, model: &[u8]) -> Result<PathBuf> {
    let image =
        slayer_core::model::encode_image(model).context("the model does not fit a model image")?;
    let p = dir.join(name);
    std::fs::write(&p, image).with_context(|| format!("writing {}", p.display()))?;
    Ok(p)
}

/// Builds the link firmware for `t` (release, default sizes) and returns
/// its ELF.
pub fn build(t: &Target) -> Result<PathBuf> {
    cargo_build(
        t.triple,
        &[],
        &[],
        &repo_root().join("target/firmware-link"),
    )
}

/// A board running in QEMU; killed when dropped.
pub struct Board {
    child: Child,
    /// `tcp:127.0.0.1:PORT` for `slayer link --port`.
    pub port: String,
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `elf` on `t`'s board with `image` (a model image) in the model
/// region, the UART on a free local TCP port (QEMU waits for the host).
pub fn start(t: &Target, elf: &Path, image: Option<&Path>) -> Result<Board> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free port")?
        .port();
    let mut c = Command::new(t.qemu);
    c.args(t.machine)
        .args([
            "-nographic",
            "-monitor",
            "none",
            "-icount",
            "shift=0,sleep=off",
        ])
        .arg("-serial")
        .arg(format!("tcp:127.0.0.1:{port},server=on,wait=on"))
        .arg("-kernel")
        .arg(elf);
    if t.triple.starts_with("thumb") {
        c.args(["-semihosting-config", "enable=on,target=native"]);
    }
    if let Some(img) = image {
        c.arg("-device").arg(format!(
            "loader,file={},addr={:#x},force-raw=on",
            img.display(),
            t.model_addr
        ));
    }
    let child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", t.qemu))?;
    Ok(Board {
        child,
        port: format!("tcp:127.0.0.1:{port}"),
    })
}

/// Flash and static RAM of a firmware ELF of any target, from the section
/// table (`size -A`, GNU binutils): code and read-only data, initialised
/// data, zero-initialised RAM; the stack and heap reservations (`.stack`,
/// `.heap`: riscv-rt lists them as sections) are not static RAM.
pub fn sections_size(elf: &Path) -> Result<crate::firmware::Size> {
    let out = Command::new("size")
        .arg("-A")
        .arg(elf)
        .output()
        .context("running size -A (GNU binutils)")?;
    ensure!(
        out.status.success(),
        "size -A {} failed: {}",
        elf.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut size = crate::firmware::Size {
        text: 0,
        data: 0,
        bss: 0,
    };
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(name), Some(bytes)) = (f.next(), f.next().and_then(|b| b.parse::<u64>().ok()))
        else {
            continue;
        };
        match name {
            ".vector_table" | ".text" | ".rodata" | ".gnu.sgstubs" | ".init" | ".trap" => {
                size.text += bytes;
            }
            ".data" | ".sdata" => size.data += bytes,
            ".bss" | ".sbss" | ".uninit" => size.bss += bytes,
            _ => {}
        }
    }
    ensure!(
        size.text > 0,
        "no code sections in {}: {text}",
        elf.display()
    );
    Ok(size)
}
