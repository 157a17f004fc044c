//! Shared by the property-based fuzz targets (`fuzz_*.rs` here and in the root crate's
//! `tests/`): a counting global allocator that measures the peak heap a closure takes on
//! the calling thread, and the proptest settings every target uses.
//!
//! Case count: `PROPTEST_CASES` (256 unless set), so CI's run is short and a longer one
//! is `PROPTEST_CASES=100000 cargo test --test fuzz_…` (FUZZING.md).

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::test_runner::Config;

pub mod toml_edit;

/// Counts the bytes live on each thread; `peak_heap` reads the high-water mark.
pub struct CountingAlloc;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(bytes: isize) {
    // `try_with`: no counting while a thread's locals are being torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes;
        live.set(now);
        let _ = PEAK.try_with(|peak| {
            if now > peak.get() {
                peak.set(now);
            }
        });
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters are
// thread-local cells with const initialisers, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Runs `f` and returns its result with the most heap (bytes) it held at once on this
/// thread, beyond what was live before.
pub fn peak_heap<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    let peak = PEAK.with(Cell::get) - base;
    (out, peak.max(0) as usize)
}

/// The heap a parser may take for an input of `len` bytes: a generous linear bound (a
/// decoded message is a few times its text) plus a fixed allowance for buffers and
/// error messages. Unbounded growth from a small input breaks it by orders of magnitude.
pub fn heap_budget(len: usize) -> usize {
    256 * 1024 + 64 * len
}

/// Proptest settings: `PROPTEST_CASES` cases (default 256), no regression files written
/// into the source tree (found inputs are kept as named regression tests instead).
pub fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}
