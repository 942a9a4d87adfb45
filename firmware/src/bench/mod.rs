//! Bench mode (`--features bench`): runs the compiled-in model over every
//! sample of the compiled-in pack and reports each sample's output spike
//! counts and the cost of a time step.
//!
//! The model and the sample pack are chosen at build time (`SLAYER_MODEL`,
//! `SLAYER_SAMPLES`; see `build.rs`), live in flash (`include_bytes!`,
//! decoded zero-copy) and the engine state is one statically sized buffer.
//! For each sample the engine is reset and stepped over every bin; SysTick
//! times each step (`cost.rs`). The firmware exits through semihosting:
//! status 0 when every sample ran, 1 on an error.

mod cost;
mod report;

/// The embedded model and samples, and the sizes `build.rs` computed.
mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

use cortex_m_semihosting::debug::{self, ExitStatus};
use slayer_core::{Engine, Model, SamplePack};

use cost::Cost;
use embedded::{MAX_BIN, MODEL, OUTPUTS, SAMPLES, STATE_WORDS};
use report::{Console, Header};

/// Runs every sample and exits.
pub fn run() -> ! {
    let mut state = [0i32; STATE_WORDS];
    let mut input = [0u32; MAX_BIN];
    let mut console = Console::new();
    let status = match run_samples(&mut console, &mut state, &mut input) {
        Ok(()) => debug::EXIT_SUCCESS,
        Err(()) => debug::EXIT_FAILURE,
    };
    exit(status)
}

/// Decodes, runs every sample and reports; errors are printed here.
fn run_samples(console: &mut Console, state: &mut [i32], input: &mut [u32]) -> Result<(), ()> {
    let model = Model::decode(MODEL).map_err(|e| console.error("model", &e))?;
    let pack = SamplePack::decode(SAMPLES).map_err(|e| console.error("samples", &e))?;
    let mut engine = Engine::new(&model, state).map_err(|e| console.error("engine", &e))?;
    console.header(&Header {
        inputs: model.inputs(),
        outputs: model.outputs(),
        layers: model.layers().len(),
        bits: model.bits().bits(),
        bins: pack.bins(),
        samples: pack.len(),
        state_words: STATE_WORDS,
    });

    let Some(mut peripherals) = cortex_m::Peripherals::take() else {
        console.error("peripherals", &"already taken");
        return Err(());
    };
    let mut cost = Cost::start(&mut peripherals.SYST);
    for (i, sample) in pack.iter().enumerate() {
        engine.reset();
        let mut counts = [0u32; OUTPUTS];
        for bin in sample.bins() {
            let spikes = bin.fill(input);
            if spikes.len() != bin.len() {
                console.error("samples", &"a bin holds more indices than MAX_BIN");
                return Err(());
            }
            cost.step(&mut engine, spikes, &mut counts);
        }
        console.sample(i, sample.label, &counts);
    }
    console.cost(&cost);
    Ok(())
}

/// Ends the run with a semihosting exit (QEMU and probe-rs stop there); if
/// no debugger answers, waits forever.
fn exit(status: ExitStatus) -> ! {
    debug::exit(status);
    loop {
        cortex_m::asm::wfi();
    }
}
