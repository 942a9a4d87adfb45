//! The link session takes anything a serial line can deliver without
//! panicking: random messages (any sizes, sequence numbers, times and
//! coordinates) mixed with random bytes, and its counters account for every
//! frame.

use proptest::collection::vec;
use proptest::prelude::*;
use slayer_core::link::{
    decode, encode, Binner, FrameReader, FromBoard, Session, ToBoard, Untimed, WireEvent,
    MAX_EVENTS, MAX_FRAME,
};
use slayer_core::{
    state_words, Model, ModelBuilder, NeuronConsts, NeuronParams, Shape, WeightBits,
};

/// A 2 × 4 × 4 → 3 model with weights big enough to spike.
fn model() -> Vec<u8> {
    let p = NeuronParams {
        theta: 50.0,
        tau_s: 2.0,
        tau_r: 1.0,
        scale_ref: 2.0,
    };
    let k = NeuronConsts::derive(&p, 1.0).unwrap();
    let mut b = ModelBuilder::new(1.0, 100, WeightBits::I8, Shape::new(2, 4, 4));
    let w: Vec<i32> = (0..32 * 3).map(|i| (i * 37 % 160) - 40).collect();
    b.dense(32, 3, &w, k, 0.5).unwrap();
    b.encode().unwrap()
}

fn event() -> impl Strategy<Value = WireEvent> {
    (0u32..5_000, 0u16..40, 0u16..40, 0u8..3).prop_map(|(dt_us, x, y, p)| WireEvent {
        dt_us,
        x,
        y,
        p,
    })
}

fn message() -> impl Strategy<Value = ToBoard> {
    prop_oneof![
        any::<u32>().prop_map(|nonce| ToBoard::Ping { nonce }),
        (0u16..300, 0u16..300).prop_map(|(width, height)| ToBoard::Reset { width, height }),
        (0u32..500).prop_map(|bins| ToBoard::SetWindow { bins }),
        (0u32..40).prop_map(|seq| ToBoard::Flush { seq }),
        (0u32..40, 0u64..2_000_000, vec(event(), 0..=MAX_EVENTS)).prop_map(|(seq, t_us, ev)| {
            ToBoard::Events {
                seq,
                t_us,
                events: heapless::Vec::from_slice(&ev).unwrap(),
            }
        }),
    ]
}

/// A message's frame, or random bytes (half of them delimiters-free noise).
fn chunk() -> impl Strategy<Value = Result<ToBoard, Vec<u8>>> {
    prop_oneof![
        4 => message().prop_map(Ok),
        1 => vec(any::<u8>(), 0..600).prop_map(Err),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_session_survives_any_line(chunks in vec(chunk(), 0..24)) {
        let bytes = model();
        let m = Model::decode(&bytes).unwrap();
        let mut state = vec![0i32; state_words(&m)];
        let (mut seen, mut active) = ([0u32; 1], [0u32; 32]);
        let mut session =
            Session::new(&m, 0, &mut state, Binner::new(&mut seen, &mut active), "test", 1)
                .unwrap();
        let (mut raw, mut out) = ([0u8; MAX_FRAME], [0u8; MAX_FRAME + 16]);
        let mut reader = FrameReader::<MAX_FRAME>::new();
        let (mut sent, mut answers) = (0u32, 0u32);
        let mut line = Vec::new();
        for c in &chunks {
            match c {
                Ok(msg) => {
                    let n = encode(msg, &mut raw, &mut out).unwrap();
                    line.extend_from_slice(&out[..n]);
                    sent += 1;
                }
                Err(noise) => line.extend_from_slice(noise),
            }
        }
        let mut decoded = 0u32;
        for b in line {
            match reader.push(b) {
                Some(Ok(p)) => match decode::<ToBoard>(p) {
                    Ok(msg) => {
                        decoded += 1;
                        session.handle(&msg, &mut Untimed, &mut |a: &FromBoard| {
                            // Every answer fits the largest frame.
                            let n = encode(a, &mut raw, &mut out);
                            assert!(n.is_ok(), "{a:?} does not encode: {n:?}");
                            answers += 1;
                        });
                    }
                    Err(e) => session.frame_error(e),
                },
                Some(Err(e)) => session.frame_error(e),
                None => {}
            }
        }
        // Without noise every frame arrives; the session counted each
        // handled frame (a reset clears the counters: at most) and answered
        // every ping, reset, event frame and flush.
        if chunks.iter().all(Result::is_ok) {
            prop_assert_eq!(decoded, sent);
            let asks = chunks
                .iter()
                .filter(|c| !matches!(c, Ok(ToBoard::SetWindow { .. })))
                .count() as u32;
            prop_assert!(answers >= asks);
        }
        let c = *session.counters();
        prop_assert!(c.frames <= decoded);
    }
}
