//! The guest runtime on wasm32: the global allocator and the panic handler.
//!
//! Owns the heap. The heap is a [`Bump`] region from `__heap_base` up to the end of linear
//! memory, grown with `memory.grow`, and rewound by [`reset_heap`] at the start of every
//! evaluation: heap data never survives an evaluation, so a reused instance cannot leak or
//! run out. It must never be used from more than one thread (wasm32 capsules have one).
//!
//! The panic handler logs where the capsule panicked (file and line; the message too with the
//! `panic-message` feature, which costs `core::fmt`) through the node at level error, then
//! traps; the node counts the trap and discards the evaluation's effects.

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;
use core::panic::PanicInfo;

use crate::bump::Bump;
use crate::log::{Level, Truncating};

const PAGE: usize = 65536;

unsafe extern "C" {
    /// First byte after static data and the stack, placed by the linker (wasm-ld).
    static __heap_base: u8;
}

struct Heap(UnsafeCell<Bump>);

// SAFETY: wasm32-unknown-unknown capsules are single-threaded; nothing shares the cell.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap(UnsafeCell::new(Bump::empty()));

/// Asks the node for whole pages covering at least `extra` bytes; returns the new end.
fn grow(extra: usize) -> Option<usize> {
    let pages = extra.div_ceil(PAGE);
    let old = wasm32::memory_grow(0, pages);
    if old == usize::MAX {
        return None;
    }
    Some(old.saturating_add(pages).saturating_mul(PAGE))
}

impl Heap {
    /// The bump region, set up on first use in this instance.
    ///
    /// # Safety
    /// No other reference to the region may be alive (single-threaded, not re-entered).
    #[allow(clippy::mut_from_ref)]
    unsafe fn bump(&self) -> &mut Bump {
        // SAFETY: per the contract above.
        let bump = unsafe { &mut *self.0.get() };
        if !bump.is_initialized() {
            let start = &raw const __heap_base as usize;
            let end = wasm32::memory_size(0).saturating_mul(PAGE);
            *bump = Bump::new(start, end.max(start));
        }
        bump
    }
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: single-threaded and the allocator is never re-entered.
        let bump = unsafe { self.bump() };
        match bump.alloc(layout.size(), layout.align(), grow) {
            Some(at) => at as *mut u8,
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `alloc`.
        unsafe { self.bump() }.dealloc(ptr as usize, layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let bump = unsafe { self.bump() };
        if bump.resize_last(ptr as usize, layout.size(), new_size, grow) {
            return ptr;
        }
        // SAFETY: the caller guarantees `layout.align()` with `new_size` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as in `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are live, distinct, and at least this long.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
        }
        new
    }
}

/// Forgets every heap allocation. Called by `export_capsule!` before each evaluation.
///
/// # Safety
/// No heap data from an earlier evaluation may be used afterwards (capsules must not keep
/// heap data in statics).
pub unsafe fn reset_heap() {
    // SAFETY: per the contract above; no allocation is in progress at evaluation start.
    unsafe { HEAP.bump() }.reset();
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let mut msg = Truncating::new();
    msg.push("capsule panicked");
    // Where and why cost module bytes at every panic site: the file names and line numbers
    // (about 4 KB for the forward capsule), and the message `core::fmt` (about 8 KB more).
    // Each is a feature; by default the node's trap counter and this line say that it
    // panicked.
    #[cfg(feature = "panic-message")]
    {
        use core::fmt::Write;
        let _ = write!(msg, ": {}", info.message());
    }
    #[cfg(feature = "panic-location")]
    if let Some(at) = info.location() {
        msg.push(" at ");
        msg.push(at.file());
        msg.push(":");
        msg.push_u64(u64::from(at.line()));
    }
    #[cfg(not(any(feature = "panic-message", feature = "panic-location")))]
    let _ = info;
    let _ = msg.log(Level::Error);
    wasm32::unreachable()
}
