//! The bump allocator's arithmetic, kept free of wasm so host tests can exercise it.
//!
//! Owns [`Bump`]: a region `[start, end)` handed out upward, grown on demand, and rewound by
//! [`Bump::reset`] at the start of every evaluation. It must never touch memory itself (it only
//! computes addresses), and must never hand out overlapping live blocks or wrap around.
//! On wasm32 the `runtime` feature wraps it as the global allocator.

/// A bump region over addresses `[start, end)`, next free byte at `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bump {
    start: usize,
    next: usize,
    end: usize,
}

impl Bump {
    /// An empty region that will grow on first use (`start == end`).
    pub const fn empty() -> Self {
        Bump {
            start: 0,
            next: 0,
            end: 0,
        }
    }

    /// A region handing out `[start, end)`.
    pub const fn new(start: usize, end: usize) -> Self {
        Bump {
            start,
            next: start,
            end,
        }
    }

    /// Whether the region was set up (a `new` region, or an empty one that grew).
    pub const fn is_initialized(&self) -> bool {
        self.end != 0
    }

    /// Bytes handed out since the last reset (including alignment padding).
    pub const fn used(&self) -> usize {
        self.next - self.start
    }

    /// Forgets every allocation: the whole region is free again.
    pub fn reset(&mut self) {
        self.next = self.start;
    }

    /// Allocates `size` bytes aligned to `align` (a power of two). When the region is too
    /// small, `grow(extra)` is asked for at least `extra` more bytes and returns the new end,
    /// or `None` (then this returns `None` too).
    pub fn alloc(
        &mut self,
        size: usize,
        align: usize,
        grow: impl FnOnce(usize) -> Option<usize>,
    ) -> Option<usize> {
        let at = self.next.checked_add(align - 1)? & !(align - 1);
        let new_next = at.checked_add(size)?;
        if new_next > self.end {
            let new_end = grow(new_next - self.end)?;
            if new_end < new_next {
                return None;
            }
            self.end = new_end;
        }
        self.next = new_next;
        Some(at)
    }

    /// Frees a block; only the most recent one actually returns space (stack-like use is
    /// common: temporary buffers, `Vec` growth).
    pub fn dealloc(&mut self, ptr: usize, size: usize) {
        if ptr.checked_add(size) == Some(self.next) && ptr >= self.start {
            self.next = ptr;
        }
    }

    /// Resizes the most recent block in place if possible (returns `true`); otherwise the
    /// caller allocates, copies and frees.
    pub fn resize_last(
        &mut self,
        ptr: usize,
        old_size: usize,
        new_size: usize,
        grow: impl FnOnce(usize) -> Option<usize>,
    ) -> bool {
        if ptr.checked_add(old_size) != Some(self.next) || ptr < self.start {
            return false;
        }
        let Some(new_next) = ptr.checked_add(new_size) else {
            return false;
        };
        if new_next > self.end {
            match grow(new_next - self.end) {
                Some(new_end) if new_end >= new_next => self.end = new_end,
                _ => return false,
            }
        }
        self.next = new_next;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_grow(_: usize) -> Option<usize> {
        None
    }

    #[test]
    fn aligns_and_never_overlaps() {
        let mut b = Bump::new(1001, 2000);
        let a = b.alloc(3, 1, no_grow).unwrap();
        let c = b.alloc(8, 8, no_grow).unwrap();
        assert_eq!(a, 1001);
        assert_eq!(c, 1008);
        assert!(c >= a + 3);
        assert_eq!(b.used(), 15);
    }

    #[test]
    fn grows_by_what_is_missing() {
        let mut b = Bump::new(0x100, 0x200);
        let mut asked = 0;
        let p = b
            .alloc(0x180, 1, |extra| {
                asked = extra;
                Some(0x200 + 0x10000)
            })
            .unwrap();
        assert_eq!(p, 0x100);
        assert_eq!(asked, 0x80);
        assert_eq!(b.alloc(0x10, 1, no_grow), Some(0x280));
    }

    #[test]
    fn failed_growth_leaves_state_unchanged() {
        let mut b = Bump::new(16, 32);
        let before = b;
        assert_eq!(b.alloc(64, 1, no_grow), None);
        assert_eq!(b.alloc(64, 1, |_| Some(40)), None, "too little growth");
        assert_eq!(b, before);
    }

    #[test]
    fn reset_reclaims_everything() {
        let mut b = Bump::new(64, 128);
        b.alloc(40, 4, no_grow).unwrap();
        assert_eq!(b.alloc(40, 4, no_grow), None);
        b.reset();
        assert_eq!(b.alloc(40, 4, no_grow), Some(64));
    }

    #[test]
    fn dealloc_of_last_block_only() {
        let mut b = Bump::new(0, 100);
        let x = b.alloc(10, 1, no_grow).unwrap();
        let y = b.alloc(10, 1, no_grow).unwrap();
        b.dealloc(x, 10);
        assert_eq!(b.used(), 20, "not the last block: kept");
        b.dealloc(y, 10);
        assert_eq!(b.used(), 10);
    }

    #[test]
    fn resize_in_place_only_at_the_top() {
        let mut b = Bump::new(0, 100);
        let x = b.alloc(10, 1, no_grow).unwrap();
        assert!(b.resize_last(x, 10, 30, no_grow));
        assert_eq!(b.used(), 30);
        let y = b.alloc(5, 1, no_grow).unwrap();
        assert!(!b.resize_last(x, 30, 40, no_grow));
        assert!(b.resize_last(y, 5, 2, no_grow));
        assert!(!b.resize_last(y, 2, 1000, no_grow));
        assert_eq!(b.used(), 32);
    }

    #[test]
    fn address_overflow_is_refused() {
        let mut b = Bump::new(usize::MAX - 8, usize::MAX);
        assert_eq!(b.alloc(4, 16, no_grow), None);
        assert_eq!(b.alloc(usize::MAX, 1, no_grow), None);
    }

    #[test]
    fn empty_region_grows_on_first_use() {
        let mut b = Bump::empty();
        assert!(!b.is_initialized());
        assert_eq!(b.alloc(1, 1, |_| None), None);
    }
}
