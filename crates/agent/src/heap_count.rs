//! A counting global allocator: [`CountingAlloc`] wraps the system
//! allocator and keeps the bytes allocated and not yet freed ("live") and
//! their peak since the last [`reset_peak`], so the benchmark can say what
//! a model really takes on the heap.
//!
//! Why not the resident set: in a long-running agent freed heap is reused,
//! so loading a small model may not grow `VmRSS` at all, and a batch's
//! activations fit in pages the process already has; the RSS figures of
//! small models read 0.0–0.1 MB where the weights alone are megabytes. The
//! allocator's own count has no such blind spot.
//!
//! Why it is registered in the agent *binary* (`main.rs`) and not here: a
//! library cannot choose the allocator of whoever links it — the console
//! links this library, and `#[global_allocator]` in a library would impose
//! the counting on it (and clash with any allocator it picks). A process
//! that wants the figures (the binary, a benchmark example) declares
//! `#[global_allocator] static A: CountingAlloc = CountingAlloc;`; elsewhere
//! [`installed`] is false and the agent reports resident memory only.
//!
//! What it counts: every allocation through Rust's allocator — tract's
//! weights, plans and per-call tensors included. Memory a native library
//! takes with its own `malloc` (ONNX Runtime) is not seen.
//!
//! Cost: one relaxed `fetch_add`/`fetch_sub` per allocation and free, and a
//! `fetch_max` only when the live figure passes the peak.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The system allocator, counting. Declare it as the process's
/// `#[global_allocator]` to make [`live_bytes`] and [`peak_bytes`] mean
/// something (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

fn grew(bytes: usize) {
    let now = LIVE_BYTES.fetch_add(bytes, Relaxed).wrapping_add(bytes);
    if now > PEAK_BYTES.load(Relaxed) {
        PEAK_BYTES.fetch_max(now, Relaxed);
    }
    // Set once; a load first so every allocation does not write the line.
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
}

fn shrank(bytes: usize) {
    LIVE_BYTES.fetch_sub(bytes, Relaxed);
}

// The workspace denies unsafe code; implementing `GlobalAlloc` cannot be
// done without it, and this is the one place that needs it.
// SAFETY: every call is forwarded to `System` with the caller's arguments
// unchanged; the counting touches only atomics and never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        // On failure the old block stays allocated and nothing changed.
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        p
    }
}

/// Whether [`CountingAlloc`] is this process's allocator (it has counted an
/// allocation); when false the other figures are zero and mean nothing.
pub fn installed() -> bool {
    INSTALLED.load(Relaxed)
}

/// Bytes allocated through the counting allocator and not yet freed.
pub fn live_bytes() -> usize {
    LIVE_BYTES.load(Relaxed)
}

/// The highest [`live_bytes`] since the process started or the last
/// [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK_BYTES.load(Relaxed)
}

/// Start a new peak at the live figure now, and return that figure. Any
/// thread's allocations count towards the peak, not only the caller's.
pub fn reset_peak() -> usize {
    let now = LIVE_BYTES.load(Relaxed);
    PEAK_BYTES.store(now, Relaxed);
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    // The library's tests do not install the allocator (only binaries do);
    // the counting is exercised through an instance called directly.
    #[test]
    #[allow(unsafe_code)] // calls the allocator's methods directly
    fn an_instance_counts_allocations_frees_and_reallocations() {
        let a = CountingAlloc;
        let layout = Layout::from_size_align(1 << 20, 8).unwrap();
        let before = live_bytes();
        // SAFETY: a non-zero layout; the block is freed with the same layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            assert!(installed());
            assert_eq!(live_bytes() - before, 1 << 20);
            assert!(peak_bytes() >= live_bytes());
            let q = a.realloc(p, layout, 3 << 20);
            assert!(!q.is_null());
            assert_eq!(live_bytes() - before, 3 << 20);
            let start = reset_peak();
            let q = a.realloc(q, Layout::from_size_align(3 << 20, 8).unwrap(), 1 << 20);
            assert_eq!(start - live_bytes(), 2 << 20);
            assert_eq!(peak_bytes(), start, "shrinking does not raise the peak");
            a.dealloc(q, layout);
        }
        assert_eq!(live_bytes(), before);
    }
}
