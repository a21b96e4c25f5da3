//! A userspace link with delay, jitter and loss between two TUN devices
//! (this kernel has no `netem` qdisc). Packets keep their order per
//! direction, as on one wire; a dropped packet is simply not written.
//! The forwarding thread stops when told, or after a fixed lifetime.

use super::tun::Tun;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the link does to each packet, per direction.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    pub delay_ms: u64,
    /// Uniform in ±`jitter_ms` around `delay_ms`.
    pub jitter_ms: u64,
    /// Share of packets dropped, 0..=100.
    pub loss_percent: f64,
}

/// Packets forwarded and dropped so far (both directions).
#[derive(Debug, Default)]
pub struct Counters {
    pub forwarded: AtomicU64,
    pub dropped: AtomicU64,
}

/// The running link; stopped (and its TUN devices closed) on drop.
pub struct Link {
    stop: Arc<AtomicBool>,
    pub counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

/// The forwarder never outlives this, whatever the test does.
const MAX_LIFETIME: Duration = Duration::from_secs(600);
/// How long the thread sleeps when nothing is due.
const IDLE: Duration = Duration::from_micros(500);

/// xorshift64*: enough randomness for loss and jitter, reproducible by seed.
struct Rng(u64);

impl Rng {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction: packets waiting for their time.
struct Queue {
    due: VecDeque<(Instant, Vec<u8>)>,
}

impl Queue {
    fn push(&mut self, packet: Vec<u8>, imp: &Impairment, rng: &mut Rng, counters: &Counters) {
        if rng.next_f64() * 100.0 < imp.loss_percent {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let jitter = (rng.next_f64() * 2.0 - 1.0) * imp.jitter_ms as f64;
        let delay = Duration::from_secs_f64((imp.delay_ms as f64 + jitter).max(0.0) / 1000.0);
        // Never before the packet ahead of it: one wire keeps order.
        let at = (Instant::now() + delay).max(self.due.back().map_or(Instant::now(), |b| b.0));
        self.due.push_back((at, packet));
    }

    fn flush(&mut self, out: &mut Tun, counters: &Counters) {
        let now = Instant::now();
        while self.due.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, p)) = self.due.pop_front() {
                let _ = out.send(&p);
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

impl Link {
    /// Forward between `a` and `b` with `imp` in both directions.
    pub fn start(mut a: Tun, mut b: Tun, imp: Impairment, seed: u64) -> Link {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let (stop2, counters2) = (stop.clone(), counters.clone());
        let thread = std::thread::spawn(move || {
            let mut rng = Rng(seed | 1);
            let (mut ab, mut ba) = (Queue { due: VecDeque::new() }, Queue { due: VecDeque::new() });
            let mut buf = vec![0u8; 65_536];
            let started = Instant::now();
            while !stop2.load(Ordering::Relaxed) && started.elapsed() < MAX_LIFETIME {
                let mut busy = false;
                // Bounded reads per pass so one busy side cannot starve the other.
                for _ in 0..64 {
                    match a.recv(&mut buf) {
                        Ok(Some(n)) => {
                            ab.push(buf[..n].to_vec(), &imp, &mut rng, &counters2);
                            busy = true;
                        }
                        _ => break,
                    }
                }
                for _ in 0..64 {
                    match b.recv(&mut buf) {
                        Ok(Some(n)) => {
                            ba.push(buf[..n].to_vec(), &imp, &mut rng, &counters2);
                            busy = true;
                        }
                        _ => break,
                    }
                }
                ab.flush(&mut b, &counters2);
                ba.flush(&mut a, &counters2);
                if !busy {
                    std::thread::sleep(IDLE);
                }
            }
        });
        Link { stop, counters, thread: Some(thread) }
    }

    pub fn forwarded(&self) -> u64 {
        self.counters.forwarded.load(Ordering::Relaxed)
    }

    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
