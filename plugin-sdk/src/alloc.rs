//! The allocator a plug-in runs with on `wasm32`: a bump allocator over a static arena.
//!
//! Why not the default `dlmalloc`: the host gives every evaluation a fresh instance and drops
//! it afterwards, so memory freed during a call is never worth reusing, and `dlmalloc` asks
//! for its first heap with `memory.grow`. Under the host's pooling allocator a grown memory
//! costs two `mprotect` calls per evaluation (one to open the pages, one to close them when
//! the slot is reused), which was most of the sandbox's per-call cost (docs/PERFORMANCE.md).
//! The arena lives in the module's own zero-initialised data, inside its initial memory, so a
//! typical call never grows memory at all. Past the arena, memory is grown page by page as
//! before, so the host's memory limit still applies to a plug-in that allocates without end.
//!
//! Freeing is a no-op except for the most recent block, which is rolled back; reallocating
//! the most recent block grows it in place. Both cover the usual `Vec`/`String` growth.
//!
//! Enabled by the SDK's default feature `bump-alloc`; a plug-in that wants its own global
//! allocator turns default features off.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

/// Bytes of static arena. Large enough for the inputs the host accepts by default many times
/// over; larger requests fall through to `memory.grow`.
const ARENA_BYTES: usize = 64 << 10;

/// The wasm page size.
const PAGE: usize = 64 << 10;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

/// The allocator's state: the next free address and the end of the current region, plus the
/// start of the most recent block (for in-place roll-back and growth).
struct State {
    next: usize,
    end: usize,
    last: usize,
}

/// The bump allocator. One instance, installed as the global allocator by the SDK.
pub struct Bump {
    arena: Arena,
    state: UnsafeCell<State>,
}

// The allocator assumes one thread; a build with wasm threads must not get it silently.
#[cfg(all(
    target_arch = "wasm32",
    target_feature = "atomics",
    feature = "bump-alloc"
))]
compile_error!(
    "the SDK's bump allocator is single-threaded: disable the `bump-alloc` feature for a \
     wasm32 build with atomics"
);

// SAFETY: a wasm32 plug-in runs on one thread (built without the atomics feature, checked
// above), so the cells are never touched concurrently.
#[allow(unsafe_code)]
unsafe impl Sync for Bump {}

impl Bump {
    /// An empty allocator (its region is set up on first use).
    pub const fn new() -> Self {
        Self {
            arena: Arena(UnsafeCell::new([0; ARENA_BYTES])),
            state: UnsafeCell::new(State {
                next: 0,
                end: 0,
                last: 0,
            }),
        }
    }
}

impl Default for Bump {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    /// Carve `layout` from the current region, growing memory if it does not fit.
    fn carve(&mut self, layout: Layout) -> *mut u8 {
        let Some((mut start, mut stop)) = span(self.next, layout) else {
            return core::ptr::null_mut();
        };
        if stop > self.end {
            if !self.grow(start, stop) {
                return core::ptr::null_mut();
            }
            // The region may have moved to the new pages (see `grow`).
            let Some(moved) = span(self.next, layout) else {
                return core::ptr::null_mut();
            };
            (start, stop) = moved;
            // Only an alignment above the page size could still miss; refuse it.
            if stop > self.end {
                return core::ptr::null_mut();
            }
        }
        self.next = stop;
        self.last = start;
        start as *mut u8
    }

    /// Resize the most recent block in place, if `at` is it and the region can hold it.
    fn resize_last(&mut self, at: usize, old_size: usize, new_size: usize) -> bool {
        if at != self.last || at + old_size != self.next {
            return false;
        }
        let Some(stop) = at.checked_add(new_size) else {
            return false;
        };
        // Growing in place only works when the region ends where memory does.
        if stop > self.end && !(self.end == current_memory_bytes() && self.grow(at, stop)) {
            return false;
        }
        self.next = stop;
        true
    }

    /// Make room for `start..stop`. Memory from `memory.grow` is contiguous only with the end
    /// of linear memory, so a region that does not end there starts afresh at the new pages.
    fn grow(&mut self, start: usize, stop: usize) -> bool {
        let memory_end = current_memory_bytes();
        if self.end == memory_end {
            let pages = (stop - self.end).div_ceil(PAGE);
            if !grow_pages(pages) {
                return false;
            }
            self.end += pages * PAGE;
            return true;
        }
        // `stop - start` plus up to one page for the alignment of the new start.
        let pages = (stop - start).div_ceil(PAGE) + 1;
        if !grow_pages(pages) {
            return false;
        }
        self.next = memory_end;
        self.end = memory_end + pages * PAGE;
        true
    }
}

/// Where a block of `layout` starting at or after `next` would start and stop.
fn span(next: usize, layout: Layout) -> Option<(usize, usize)> {
    let start = align_up(next, layout.align())?;
    Some((start, start.checked_add(layout.size())?))
}

fn align_up(at: usize, align: usize) -> Option<usize> {
    Some(at.checked_add(align - 1)? & !(align - 1))
}

#[cfg(target_arch = "wasm32")]
fn current_memory_bytes() -> usize {
    core::arch::wasm32::memory_size(0) * PAGE
}

#[cfg(target_arch = "wasm32")]
fn grow_pages(pages: usize) -> bool {
    core::arch::wasm32::memory_grow(0, pages) != usize::MAX
}

// Off wasm32 the SDK never installs this allocator; these keep the module compiling (and
// testable) natively, where growing always fails.
#[cfg(not(target_arch = "wasm32"))]
fn current_memory_bytes() -> usize {
    0
}

#[cfg(not(target_arch = "wasm32"))]
fn grow_pages(_pages: usize) -> bool {
    false
}

#[allow(unsafe_code)]
// SAFETY: blocks never overlap (the bump pointer only moves forward, except to roll back the
// most recent block when it is freed), and every block is aligned as its layout asks.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded (see `Sync`); no reference to the state outlives this call.
        let state = unsafe { &mut *self.state.get() };
        if state.end == 0 {
            let base = self.arena.0.get() as usize;
            state.next = base;
            state.end = base + ARENA_BYTES;
        }
        state.carve(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        let state = unsafe { &mut *self.state.get() };
        let at = ptr as usize;
        if at == state.last && at + layout.size() == state.next {
            state.next = at;
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let state = unsafe { &mut *self.state.get() };
        if state.resize_last(ptr as usize, layout.size(), new_size) {
            return ptr;
        }
        // SAFETY: `layout` with `new_size` is valid (the caller's contract), and the old block
        // stays readable until we return.
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(unsafe_code)]
    fn blocks_are_aligned_disjoint_and_the_last_one_grows_in_place() {
        let bump = Box::new(Bump::new());
        // SAFETY: the layouts are valid and blocks are used only while live.
        unsafe {
            let a = bump.alloc(Layout::from_size_align(3, 1).unwrap());
            let b = bump.alloc(Layout::from_size_align(8, 8).unwrap());
            assert_eq!(b as usize % 8, 0);
            assert!(b as usize >= a as usize + 3);
            let grown = bump.realloc(b, Layout::from_size_align(8, 8).unwrap(), 64);
            assert_eq!(grown, b, "the most recent block grows in place");
            // `a` is no longer the last block: growing it moves it and copies its bytes.
            a.write_bytes(7, 3);
            let moved = bump.realloc(a, Layout::from_size_align(3, 1).unwrap(), 16);
            assert_ne!(moved, a);
            assert_eq!(*moved.add(2), 7);
            // Freeing the last block hands its space back.
            bump.dealloc(moved, Layout::from_size_align(16, 1).unwrap());
            let again = bump.alloc(Layout::from_size_align(16, 1).unwrap());
            assert_eq!(again, moved);
        }
    }

    /// Random allocations, frees and reallocations: every live block keeps its own bytes,
    /// is aligned as asked, and lies inside the arena.
    #[test]
    #[allow(unsafe_code)]
    fn random_use_never_overlaps_or_loses_bytes() {
        let bump = Box::new(Bump::new());
        let base = bump.arena.0.get() as usize;
        let mut live: Vec<(*mut u8, Layout, u8)> = Vec::new();
        let mut rounds = 0;
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let check = |live: &[(*mut u8, Layout, u8)]| {
            for &(p, l, tag) in live {
                assert_eq!(p as usize % l.align(), 0);
                assert!(p as usize >= base && p as usize + l.size() <= base + ARENA_BYTES);
                // SAFETY: `p` is a live block of `l.size()` bytes.
                let bytes = unsafe { core::slice::from_raw_parts(p, l.size()) };
                assert!(bytes.iter().all(|b| *b == tag), "a block lost its bytes");
            }
        };
        for round in 0..2_000u32 {
            let op = next() % 4;
            // SAFETY: layouts are valid, and only live blocks are freed or resized.
            unsafe {
                if op < 2 || live.is_empty() {
                    let size = 1 + (next() % 96) as usize;
                    let align = 1 << (next() % 5);
                    let layout = Layout::from_size_align(size, align).unwrap();
                    let p = bump.alloc(layout);
                    if p.is_null() {
                        break; // the arena is used up: natively memory cannot grow
                    }
                    let tag = (round % 251) as u8;
                    p.write_bytes(tag, size);
                    live.push((p, layout, tag));
                } else if op == 2 {
                    let (p, l, _) = live.swap_remove((next() as usize) % live.len());
                    bump.dealloc(p, l);
                } else {
                    let i = (next() as usize) % live.len();
                    let (p, l, tag) = live[i];
                    let size = 1 + (next() % 160) as usize;
                    let q = bump.realloc(p, l, size);
                    if q.is_null() {
                        break;
                    }
                    let layout = Layout::from_size_align(size, l.align()).unwrap();
                    // The kept prefix is intact; fill the rest so the whole block is `tag`.
                    let kept = l.size().min(size);
                    assert!(
                        core::slice::from_raw_parts(q, kept)
                            .iter()
                            .all(|b| *b == tag)
                    );
                    q.add(kept).write_bytes(tag, size - kept);
                    live[i] = (q, layout, tag);
                }
            }
            check(&live);
            rounds += 1;
        }
        assert!(
            rounds > 1_000,
            "only {rounds} rounds before the arena ran out"
        );
    }

    #[test]
    #[allow(unsafe_code)]
    fn past_the_arena_it_fails_cleanly_where_memory_cannot_grow() {
        let bump = Box::new(Bump::new());
        // SAFETY: valid layouts; natively memory never grows, so the second call must fail.
        unsafe {
            let first = bump.alloc(Layout::from_size_align(ARENA_BYTES - 16, 16).unwrap());
            assert!(!first.is_null());
            let too_much = bump.alloc(Layout::from_size_align(64, 16).unwrap());
            assert!(too_much.is_null());
        }
    }
}
