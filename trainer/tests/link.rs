//! `slayer link` against a board emulated on the host: a TCP server that
//! runs the firmware's link session (`slayer_core::link::Session`) on the
//! host core engine. Checks the command end to end without QEMU (the QEMU
//! firmware runs are in `tests/link.rs`): agreement is reported and exit 0;
//! a board whose answers differ is caught (exit 1); a board that runs
//! another model, refuses, or never answers is one `error:` line.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread::JoinHandle;

use slayer_core::link::{
    decode, encode, Binner, FrameReader, FromBoard, Session, ToBoard, Untimed, MAX_FRAME,
};
use slayer_core::{state_words, Model};
use slayer_trainer::config::ExperimentConfig;
use slayer_trainer::export::export;
use slayer_trainer::network::Network;
use slayer_trainer::train::input_shape;

mod common;

use common::slayer;

/// How the emulated board behaves.
#[derive(Clone, Copy, PartialEq)]
enum Fake {
    /// As the firmware does.
    Honest,
    /// Adds one output spike to every summary.
    Lies,
    /// Accepts the connection and never answers.
    Mute,
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// A random-weight int8 N-MNIST model (2312-128-10) with a loud output.
fn nmnist_model(seed: u64) -> Vec<u8> {
    let text = include_str!("../configs/nmnist_mlp128.toml").replace(
        r#"{ type = "dense", outputs = 10, weight_scale = 10.0 }"#,
        r#"{ type = "dense", outputs = 10, weight_scale = 40.0 }"#,
    );
    let cfg = ExperimentConfig::from_toml(&text).unwrap();
    let net = Network::from_config(&cfg, 2 * 34 * 34, Some((2, 34, 34)), seed).unwrap();
    let shape = input_shape(&cfg, &net);
    export(&net, Some(shape), cfg.simulation.bins, 8)
        .unwrap()
        .bytes
}

fn send(out: &mut impl Write, msg: &FromBoard) {
    let (mut raw, mut buf) = (vec![0u8; MAX_FRAME], vec![0u8; MAX_FRAME + 16]);
    let n = encode(msg, &mut raw, &mut buf).unwrap();
    // The host may hang up first (after an error): that ends the board.
    let _ = out.write_all(&buf[..n]);
}

/// Serves one connection on a free local port as a board running `model`.
fn board(model: Vec<u8>, fake: Fake) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = format!("tcp:{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        // Gives up when no host comes (a failed command must not hang the test).
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut sock = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("no host connected: {e}"),
            }
        };
        sock.set_nonblocking(false).unwrap();
        let mut tx = sock.try_clone().unwrap();
        if fake == Fake::Mute {
            let mut sink = Vec::new();
            let _ = sock.read_to_end(&mut sink);
            return;
        }
        let m = Model::decode(&model).unwrap();
        let crc = slayer_core::model_crc(&model).unwrap();
        let mut state = vec![0i32; state_words(&m)];
        let n = m.inputs() as usize;
        let (mut seen, mut active) = (vec![0u32; n.div_ceil(32)], vec![0u32; n]);
        let binner = Binner::new(&mut seen, &mut active);
        let mut session = Session::new(&m, crc, &mut state, binner, "host-fake", 1).unwrap();
        send(&mut tx, &FromBoard::Ready(session.identity().clone()));
        let mut reader = FrameReader::<MAX_FRAME>::new();
        let mut buf = [0u8; 4096];
        let mut answer = |msg: &FromBoard| match (fake, msg) {
            (
                Fake::Lies,
                FromBoard::Summary {
                    counts,
                    counters,
                    cost,
                },
            ) => {
                let mut counts = counts.clone();
                counts[0] += 1;
                send(
                    &mut tx,
                    &FromBoard::Summary {
                        counts,
                        counters: *counters,
                        cost: *cost,
                    },
                );
            }
            _ => send(&mut tx, msg),
        };
        loop {
            let k = match sock.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(k) => k,
            };
            for &b in &buf[..k] {
                match reader.push(b) {
                    Some(Ok(p)) => match decode::<ToBoard>(p) {
                        Ok(msg) => session.handle(&msg, &mut Untimed, &mut answer),
                        Err(e) => session.frame_error(e),
                    },
                    Some(Err(e)) => session.frame_error(e),
                    None => {}
                }
            }
        }
    });
    (port, handle)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn link_reports_agreement_and_catches_a_differing_board() {
    let d = common::tempdir("link", "fake-board");
    let model = nmnist_model(7);
    std::fs::write(d.join("m.slym"), &model).unwrap();
    let files: Vec<String> = (1..=3)
        .map(|i| {
            shared()
                .join(format!("nmnist-small/{i}.bs2"))
                .display()
                .to_string()
        })
        .collect();
    let run = |port: &str, extra: &[&str]| {
        let mut args = vec!["link", "m.slym"];
        args.extend(files.iter().map(String::as_str));
        args.extend(["--port", port, "--window", "50", "--json"]);
        args.extend(extra);
        if !extra.contains(&"--timeout") {
            args.extend(["--timeout", "2"]);
        }
        slayer(&args, &d)
    };

    // An honest board: every recording agrees, exit 0, JSON with the results.
    let (port, h) = board(model.clone(), Fake::Honest);
    let out = run(&port, &[]);
    h.join().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("board = host").count(), 3, "{text}");
    assert!(text.contains("3/3 recordings identical"), "{text}");
    let json: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(json["identical"], 3);
    let recs = json["recordings"].as_array().unwrap();
    assert_eq!(recs.len(), 3);
    for r in recs {
        assert_eq!(r["board"]["decisions"], r["host"]["decisions"]);
        assert!(!r["board"]["decisions"].as_array().unwrap().is_empty());
    }

    // Paced at 10x recording speed: the same answers, and it takes at
    // least the paced time (3 recordings of ~0.3 s each).
    let (port, h) = board(model.clone(), Fake::Honest);
    let t0 = std::time::Instant::now();
    let paced = run(&port, &["--speed", "10"]);
    h.join().unwrap();
    assert!(
        paced.status.success(),
        "{}{}",
        stdout(&paced),
        stderr(&paced)
    );
    assert!(t0.elapsed() >= std::time::Duration::from_millis(80));
    let pj: serde_json::Value =
        serde_json::from_str(stdout(&paced).lines().last().unwrap()).unwrap();
    assert_eq!(pj["recordings"], json["recordings"]);

    // Damaged on the wire: frames are lost, board and host still agree.
    let (port, h) = board(model.clone(), Fake::Honest);
    let out = run(&port, &["--damage", "5e-4", "--seed", "5"]);
    h.join().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().last().unwrap()).unwrap();
    let lost: u64 = json["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["board"]["counters"]["frames_lost"].as_u64().unwrap())
        .sum();
    assert!(lost > 0, "{}", stdout(&out));

    // A board whose counts differ: reported, exit status 1.
    let (port, h) = board(model.clone(), Fake::Lies);
    let out = run(&port, &[]);
    h.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("BOARD DIFFERS FROM HOST"));
    assert!(stderr(&out).contains("3 of 3 recordings differ"));

    // A board running another model: one error line, nothing sent.
    let (port, h) = board(nmnist_model(8), Fake::Honest);
    let out = run(&port, &[]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("error: the board runs a different model"));
    assert_eq!(stderr(&out).lines().count(), 1);

    // A board that never answers.
    let (port, h) = board(model, Fake::Mute);
    let port = port.as_str();
    let out = run(port, &["--timeout", "0.2"]);
    h.join().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with(&format!("error: link {port}: no answer from the board")),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(&d);
}
