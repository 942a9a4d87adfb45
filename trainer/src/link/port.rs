//! The byte link to a board: a TCP socket (QEMU's `-serial tcp:…`, a
//! serial-to-network bridge) or a serial device (`/dev/ttyACM0`, …; set its
//! line speed with `stty` first, see the README). A reader thread decodes
//! the board's frames into a channel.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slayer_core::link::{decode, FrameReader, FromBoard, MAX_FRAME};

use crate::error::{Error, Result};

enum Inner {
    Tcp(TcpStream),
    Serial(File),
}

/// An open link.
pub struct Port {
    inner: Inner,
    name: String,
    bad_frames: Arc<AtomicU32>,
}

impl Port {
    /// Opens `spec` (`tcp:HOST:PORT`, or a device path); a TCP connection
    /// is retried until `timeout` (QEMU may still be starting).
    pub fn open(spec: &str, timeout: Duration) -> Result<(Self, Receiver<FromBoard>)> {
        let io = |e: std::io::Error| Error::io(format!("opening the link {spec}"), e);
        let (inner, reader): (Inner, Box<dyn Read + Send>) = match spec.strip_prefix("tcp:") {
            Some(addr) => {
                let deadline = Instant::now() + timeout;
                let stream = loop {
                    match TcpStream::connect(addr) {
                        Ok(s) => break s,
                        Err(e) if Instant::now() >= deadline => return Err(io(e)),
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                };
                let _ = stream.set_nodelay(true);
                // A board that stops reading must not hang the host.
                stream.set_write_timeout(Some(timeout)).map_err(io)?;
                let r = stream.try_clone().map_err(io)?;
                (Inner::Tcp(stream), Box::new(r))
            }
            None => {
                let f = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(spec)
                    .map_err(io)?;
                let r = f.try_clone().map_err(io)?;
                (Inner::Serial(f), Box::new(r))
            }
        };
        let bad_frames = Arc::new(AtomicU32::new(0));
        let (tx, rx) = mpsc::channel();
        let bad = Arc::clone(&bad_frames);
        std::thread::spawn(move || {
            let mut reader = reader;
            let mut frames = FrameReader::<MAX_FRAME>::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for &b in &buf[..n] {
                    match frames.push(b) {
                        Some(Ok(p)) => match decode::<FromBoard>(p) {
                            Ok(m) => {
                                if tx.send(m).is_err() {
                                    return;
                                }
                            }
                            Err(_) => {
                                bad.fetch_add(1, Ordering::Relaxed);
                            }
                        },
                        Some(Err(_)) => {
                            bad.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {}
                    }
                }
            }
        });
        Ok((
            Self {
                inner,
                name: spec.to_string(),
                bad_frames,
            },
            rx,
        ))
    }

    /// The link's name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Frames from the board that did not decode.
    pub fn bad_frames(&self) -> u32 {
        self.bad_frames.load(Ordering::Relaxed)
    }

    /// Writes all of `bytes`.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let r = match &mut self.inner {
            Inner::Tcp(s) => s.write_all(bytes),
            Inner::Serial(f) => f.write_all(bytes),
        };
        r.map_err(|e| Error::io(format!("writing to the link {}", self.name), e))
    }
}
