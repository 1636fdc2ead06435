//! Accrue: a commission engine for affiliate and partner revenue sharing.
//!
//! Dependencies point inward: [`http`] → `engine` → `domain`; `engine` → [`plugins`]
//! (the Wasm runtime) and `store`. See `docs/ARCHITECTURE.md` for the map.

#![deny(unsafe_code)]

pub mod cli;
pub mod domain;
pub mod engine;
pub mod http;
pub mod ids;
pub mod plugins;
pub mod server;
pub mod store;
pub mod testing;

/// The test binary's allocator: the system's, counting what each thread allocates, so a
/// test can prove the host did not copy something (an oversized plug-in answer) before
/// refusing it.
#[cfg(test)]
#[allow(unsafe_code)]
pub(crate) mod counting_alloc {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCATED: Cell<u64> = const { Cell::new(0) };
    }

    struct Counting;

    // SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
    // const-initialised thread-local, which needs no allocation.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size() as u64));
            // SAFETY: the caller's contract is passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract is passed on.
            unsafe { System.dealloc(ptr, layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size as u64));
            // SAFETY: the caller's contract is passed on.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    /// Bytes allocated by this thread since it started.
    pub fn allocated_here() -> u64 {
        ALLOCATED.with(Cell::get)
    }
}
