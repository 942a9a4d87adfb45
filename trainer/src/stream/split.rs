//! Two cores for one stream: the network cut into a head (first layers, on
//! the reading thread) and a tail (the rest, on a worker thread), run as a
//! two-stage pipeline. The tail works on bin `k` while the head works on
//! bin `k + 1`, so a bin's work may take up to twice the bin period.
//!
//! Nothing is approximated: the head's output spikes of each bin are the
//! tail's input list of that bin, which is exactly what the whole engine
//! feeds the layer after the cut (`Model::split_at`, `Engine::load_state`;
//! tested in `core/tests/engine_exact.rs` and below in `mod.rs`).

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use slayer_core::Engine;

/// Bins the stream runs on one core, timing every layer, before it cuts.
pub const CALIBRATION_BINS: u64 = 500;

/// Bins the head may run ahead of the tail.
pub const QUEUE_BINS: usize = 2;

/// How long the worker busy-waits for the next bin before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// What the reading thread sends the worker.
pub enum ToTail<'m, 'a, 's> {
    /// The tail engine, already holding the state of its layers.
    Start(Box<Engine<'m, 'a, 's>>),
    /// One bin: the head's output spikes (the tail's input list).
    Bin { k: u64, spikes: Vec<u32> },
}

/// What the worker sends back for every bin.
pub struct Done {
    /// The bin.
    pub k: u64,
    /// The model's output spikes of the bin (ascending).
    pub outs: Vec<u32>,
    /// Spikes of each tail layer in the bin ([`spike_counts`]).
    pub counts: Vec<u32>,
    /// The input list, returned for reuse.
    pub spikes: Vec<u32>,
}

/// The worker: runs the tail engine on every bin it is sent until the
/// reading thread hangs up.
// The worker owns its channel ends: dropping `tx` when it returns is what
// tells the reading thread the worker is gone.
#[allow(clippy::needless_pass_by_value)]
pub fn tail_worker(rx: Receiver<ToTail<'_, '_, '_>>, tx: SyncSender<Done>) {
    let mut tail = None;
    while let Some(msg) = recv_spinning(&rx) {
        match msg {
            ToTail::Start(engine) => tail = Some(engine),
            ToTail::Bin { k, spikes } => {
                let Some(engine) = tail.as_mut() else {
                    continue;
                };
                let mut outs = Vec::new();
                engine.step(&spikes, |j| outs.push(j));
                let counts = spike_counts(engine).collect();
                let done = Done {
                    k,
                    outs,
                    counts,
                    spikes,
                };
                if tx.send(done).is_err() {
                    return;
                }
            }
        }
    }
}

/// Spikes of each layer of `engine` in its last bin (0 for a flatten layer).
pub fn spike_counts<'e>(engine: &'e Engine<'_, '_, '_>) -> impl Iterator<Item = u32> + 'e {
    (0..engine.model().layers().len()).map(|l| engine.spike_count(l).unwrap_or(0))
}

/// The next message: busy-waits up to [`SPIN`] (a bin arrives every few
/// tens of µs at full speed; waking a sleeping thread costs about as
/// much), then sleeps. `None` once the sender is gone.
pub fn recv_spinning<T>(rx: &Receiver<T>) -> Option<T> {
    let t0 = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if t0.elapsed() < SPIN => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

/// The next result before `deadline` (`None` at the deadline or when the
/// worker is gone): busy-waits the last [`SPIN`], sleeps before.
pub fn recv_until<T>(rx: &Receiver<T>, deadline: Instant) -> Option<T> {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let left = deadline - now;
        if left > 2 * SPIN {
            match rx.recv_timeout(left - SPIN) {
                Ok(v) => return Some(v),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
        match rx.try_recv() {
            Ok(v) => return Some(v),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
}

/// Per-layer times over the calibration bins that were at least as busy
/// (input events) as the mean so far: a cut must balance the bins that
/// load the stages most, and quiet bins (the start of a recording) cost
/// little but the neuron updates.
#[derive(Debug, Default)]
pub struct Calibration {
    /// Per layer, ns summed over the counted bins.
    pub cost: Vec<u64>,
    bin: Vec<u64>,
    events: u64,
    bins: u64,
    counted: u64,
}

impl Calibration {
    /// For a model of `layers` layers.
    pub fn new(layers: usize) -> Self {
        Self {
            cost: vec![0; layers],
            bin: vec![0; layers],
            ..Self::default()
        }
    }

    /// Layer `l` took `ns` in the current bin.
    pub fn add(&mut self, l: usize, ns: u64) {
        if let Some(c) = self.bin.get_mut(l) {
            *c += ns;
        }
    }

    /// Ends a bin with `events` input events.
    pub fn end_bin(&mut self, events: usize) {
        let events = events as u64;
        self.events += events;
        self.bins += 1;
        if events * self.bins >= self.events {
            self.counted += 1;
            for (c, b) in self.cost.iter_mut().zip(&self.bin) {
                *c += b;
            }
        }
        self.bin.fill(0);
    }

    /// The share of `io_ns` (summed over all bins) of the counted bins.
    pub fn io_share(&self, io_ns: u64) -> u64 {
        (io_ns as f64 * self.counted as f64 / self.bins.max(1) as f64) as u64
    }
}

/// Where to cut a network whose layers took `cost[l]` each (any unit),
/// with `io` more on the reading thread: the cut `at` (layers `..at` in
/// the head) that minimises the slower stage, `None` when no cut takes
/// the slower stage below 90 % of the whole (nothing to gain).
pub fn choose_cut(cost: &[u64], io: u64) -> Option<usize> {
    let total: u64 = cost.iter().sum::<u64>() + io;
    let mut head = io;
    let mut best: Option<(u64, usize)> = None;
    for at in 1..cost.len() {
        head += cost[at - 1];
        let slower = head.max(total - head);
        if best.is_none_or(|(b, _)| slower < b) {
            best = Some((slower, at));
        }
    }
    best.filter(|&(slower, _)| (slower as f64) < 0.9 * total as f64)
        .map(|(_, at)| at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cut_balances_the_two_stages() {
        // The DVS Gesture network's measured per-layer times (µs).
        let cost = [34, 279, 30, 88, 247, 19, 63, 0, 115, 4, 8];
        assert_eq!(choose_cut(&cost, 30), Some(4));
        // Reading time moves the cut towards the front.
        assert_eq!(choose_cut(&[10, 10, 10, 10], 0), Some(2));
        assert_eq!(choose_cut(&[10, 10, 10, 10], 20), Some(1));
        // One dominant layer: nothing to gain.
        assert_eq!(choose_cut(&[100, 1, 1], 0), None);
        assert_eq!(choose_cut(&[5], 0), None);
        assert_eq!(choose_cut(&[], 0), None);
    }

    #[test]
    fn waiting_for_a_result_ends_at_the_deadline() {
        let (tx, rx) = std::sync::mpsc::sync_channel::<u32>(1);
        let t0 = Instant::now();
        assert_eq!(recv_until(&rx, t0 + Duration::from_millis(3)), None);
        assert!(t0.elapsed() >= Duration::from_millis(3));
        tx.send(7).unwrap();
        assert_eq!(
            recv_until(&rx, Instant::now() + Duration::from_secs(5)),
            Some(7)
        );
        drop(tx);
        assert_eq!(recv_spinning(&rx), None);
    }

    #[test]
    fn calibration_counts_the_busier_bins() {
        let mut c = Calibration::new(2);
        // A quiet bin (the first is always as busy as the mean).
        c.add(0, 5);
        c.end_bin(0);
        // Busy, quiet, busy.
        for (events, t) in [(100, [10, 30]), (1, [7, 1]), (90, [10, 20])] {
            c.add(0, t[0]);
            c.add(1, t[1]);
            c.end_bin(events);
        }
        assert_eq!(c.cost, vec![25, 50]);
        assert_eq!(c.io_share(400), 300);
    }
}
