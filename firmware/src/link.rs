//! Link mode: the model from its region, events in over the UART, decisions
//! out (see `slayer_core::link` for the protocol and the session).

use slayer_core::link::ErrorCode;
use slayer_core::link::{
    decode, encode, Binner, FromBoard, Session, SessionError, StepCost, Stepper, ToBoard, MAX_FRAME,
};
use slayer_core::{image_model, model_crc, Engine, ImageError, Model};

use crate::sizes::{ARENA_WORDS, MAX_INPUTS};
use crate::{arch, ring, stack};

/// Bytes of the largest frame the board sends (identity, decisions and
/// summaries are far below this).
const TX_FRAME: usize = 384;

/// Times each engine step on the board's cost clock.
struct Timed {
    cost: StepCost,
    late: u32,
    budget: u32,
}

impl Stepper for Timed {
    fn step(&mut self, engine: &mut Engine<'_, '_, '_>, input: &[u32], counts: &mut [u32]) {
        let start = arch::stamp();
        engine.step_counts(input, counts);
        let ticks = arch::elapsed(start);
        self.cost.steps = self.cost.steps.saturating_add(1);
        self.cost.ticks = self.cost.ticks.saturating_add(u64::from(ticks));
        self.cost.max_ticks = self.cost.max_ticks.max(ticks);
        if ticks > self.budget {
            self.late = self.late.saturating_add(1);
        }
    }

    fn cost(&self) -> (StepCost, u32) {
        let mut cost = self.cost;
        cost.stack_bytes = stack::high_water();
        (cost, self.late)
    }

    fn reset(&mut self) {
        self.cost = StepCost::default();
        self.late = 0;
    }
}

/// Encodes and sends one message.
fn send(msg: &FromBoard) {
    let (mut raw, mut out) = ([0u8; TX_FRAME], [0u8; TX_FRAME + 8]);
    if let Ok(n) = encode(msg, &mut raw, &mut out) {
        arch::send(&out[..n]);
    }
}

/// Boots and serves the link forever.
pub fn run() -> ! {
    arch::init();
    let mut state = [0i32; ARENA_WORDS];
    let mut seen = [0u32; MAX_INPUTS.div_ceil(32)];
    let mut active = [0u32; MAX_INPUTS];
    let error = match open(arch::model_region()) {
        Ok((model, crc)) => {
            #[cfg(all(target_arch = "arm", feature = "defmt"))]
            defmt::info!(
                "model {=u32:08x}: {=u32} inputs -> {=u32} outputs",
                crc,
                model.inputs(),
                model.outputs()
            );
            let binner = Binner::new(&mut seen, &mut active);
            match Session::new(
                &model,
                crc,
                &mut state,
                binner,
                arch::target(),
                arch::INSTRUCTIONS_PER_TICK,
            ) {
                Ok(session) => serve(session),
                Err(e) => e,
            }
        }
        Err(e) => e,
    };
    refuse(error)
}

/// The model in the region and its CRC, or the error code to report.
fn open(region: &'static [u8]) -> Result<(Model<'static>, u32), SessionError> {
    let bytes = image_model(region).map_err(|e| SessionError {
        code: match e {
            ImageError::Missing => ErrorCode::ModelMissing,
            _ => ErrorCode::ModelCorrupt,
        },
        detail: 0,
    })?;
    let model = Model::decode(bytes).map_err(|_| SessionError {
        code: ErrorCode::ModelCorrupt,
        detail: 0,
    })?;
    Ok((model, model_crc(bytes).unwrap_or(0)))
}

/// Feeds every received byte to `on_byte`, sleeping when there is none.
fn pump(mut on_byte: impl FnMut(u8, u32)) -> ! {
    let mut chunk = [0u8; 64];
    loop {
        let n = ring::take(&mut chunk);
        if n == 0 {
            arch::idle();
            continue;
        }
        let overruns = ring::take_overruns();
        for (i, &b) in chunk[..n].iter().enumerate() {
            on_byte(b, if i == 0 { overruns } else { 0 });
        }
    }
}

/// Runs the session: frames in, answers out.
fn serve(mut session: Session<'_, '_, '_, '_>) -> ! {
    let mut reader = slayer_core::link::FrameReader::<MAX_FRAME>::new();
    let mut stepper = Timed {
        cost: StepCost::default(),
        late: 0,
        budget: session.identity().ts_us.saturating_mul(arch::TICKS_PER_US),
    };
    send(&FromBoard::Ready(session.identity().clone()));
    pump(|byte, overruns| {
        if overruns > 0 {
            session.rx_overrun(overruns);
        }
        match reader.push(byte) {
            Some(Ok(payload)) => match decode::<ToBoard>(payload) {
                Ok(msg) => session.handle(&msg, &mut stepper, &mut |m| send(m)),
                Err(e) => session.frame_error(e),
            },
            Some(Err(e)) => session.frame_error(e),
            None => {}
        }
    })
}

/// No usable model: answers every frame (and says once at boot) why.
fn refuse(e: SessionError) -> ! {
    #[cfg(all(target_arch = "arm", feature = "defmt"))]
    defmt::error!("cannot run: {} (detail {=u32})", e.code, e.detail);
    let msg = FromBoard::Error {
        code: e.code,
        detail: e.detail,
    };
    send(&msg);
    let mut reader = slayer_core::link::FrameReader::<MAX_FRAME>::new();
    pump(|byte, _| {
        if let Some(Ok(_)) = reader.push(byte) {
            send(&msg);
        }
    })
}
