//! A bounded cache of freed large blocks, for the global allocator: fresh memory is the cost of
//! a large copy, so a freed buffer is kept for the next allocation of the same size.
//!
//! A copy into fresh memory pays for every page it touches first: the kernel zeroes the page
//! and maps it (and, in a virtual machine that hands freed memory back to its host, the host
//! backs it again). On the 2-core build machine a fresh 256 MiB buffer fills at 0.2-11 GB/s
//! depending on where its pages come from, a warm one at 11-13 GB/s; glibc returns every
//! block above 32 MiB to the kernel on `free`, so a loop that converts one batch after
//! another pays the faults every time. [`BlockCache`] keeps blocks of at least
//! [`MIN_BLOCK`] bytes on `dealloc` (up to a byte limit and [`SLOTS`] blocks, oldest evicted
//! first) and serves an allocation of exactly the same size and alignment from them, so the
//! second and later conversions of a same-sized input write into memory that is already
//! mapped (with the huge pages it was given). This is what `tf.data` and PyTorch's CUDA
//! caching allocator do for their buffers; PyTorch's CPU allocator does not.
//!
//! Install it under the [`AdoptingAllocator`](crate::adopt::AdoptingAllocator) (the Python
//! extension does):
//!
//! ```ignore
//! use candle_numpy::{adopt::AdoptingAllocator, block_cache::BlockCache};
//! #[global_allocator]
//! static ALLOC: AdoptingAllocator<BlockCache> = AdoptingAllocator::new(BlockCache::system());
//! // later: ALLOC.inner().set_limit(256 << 20); ALLOC.inner().empty();
//! ```
//!
//! Only plain allocations are served from the cache: `alloc_zeroed` (`vec![0; n]`) goes to the
//! inner allocator, which maps zero pages lazily, and so does `realloc` (glibc moves large
//! blocks with `mremap`, no copy). Memory in the cache counts towards the process's resident
//! size until it is reused, evicted, or released with [`BlockCache::empty`] (Python:
//! `candle_numpy.empty_cache()`); a limit of 0 turns the cache off.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Smallest block the cache keeps (smaller blocks are served from the allocator's own arenas,
/// which reuse them already).
pub const MIN_BLOCK: usize = 4 << 20;
/// Most blocks kept at once.
pub const SLOTS: usize = 16;
/// The limit until [`BlockCache::set_limit`] is called.
pub const DEFAULT_LIMIT: usize = 1 << 30;

#[derive(Clone, Copy)]
struct Slot {
    ptr: usize,
    size: usize,
    align: usize,
    /// Insertion order: the smallest is evicted first, the largest reused first.
    age: u64,
}

impl Slot {
    const EMPTY: Slot = Slot { ptr: 0, size: 0, align: 0, age: 0 };
}

struct Table {
    slots: [Slot; SLOTS],
    next_age: u64,
}

/// What the cache holds and has done (see [`BlockCache::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// The byte limit in force.
    pub limit: usize,
    /// Bytes held now.
    pub cached_bytes: usize,
    /// Blocks held now.
    pub blocks: usize,
    /// Large allocations served from the cache.
    pub hits: u64,
    /// Large allocations the cache could not serve.
    pub misses: u64,
}

/// A global allocator wrapper that keeps freed large blocks for reuse (see the module docs).
pub struct BlockCache<A: GlobalAlloc = System> {
    inner: A,
    table: Mutex<Table>,
    cached: AtomicUsize,
    limit: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl BlockCache<System> {
    /// Wrap the system allocator.
    pub const fn system() -> Self {
        BlockCache::new(System)
    }
}

impl<A: GlobalAlloc> BlockCache<A> {
    /// Wrap another allocator, with the [`DEFAULT_LIMIT`].
    pub const fn new(inner: A) -> Self {
        BlockCache {
            inner,
            table: Mutex::new(Table { slots: [Slot::EMPTY; SLOTS], next_age: 1 }),
            cached: AtomicUsize::new(0),
            limit: AtomicUsize::new(DEFAULT_LIMIT),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Keep at most `bytes` of freed blocks (0: keep none). Blocks over the new limit are
    /// released now, oldest first.
    pub fn set_limit(&self, bytes: usize) {
        self.limit.store(bytes, Ordering::Relaxed);
        self.release_while(|cached, _| cached > bytes);
    }

    /// The byte limit in force.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Give every cached block back to the inner allocator (and so, for large blocks, to the
    /// operating system). Returns the bytes released.
    pub fn empty(&self) -> usize {
        let before = self.cached.load(Ordering::Relaxed);
        self.release_while(|cached, _| cached > 0);
        before - self.cached.load(Ordering::Relaxed).min(before)
    }

    /// Current contents and counters.
    pub fn stats(&self) -> CacheStats {
        let blocks = self.lock().slots.iter().filter(|s| s.ptr != 0).count();
        CacheStats {
            limit: self.limit(),
            cached_bytes: self.cached.load(Ordering::Relaxed),
            blocks,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        // the table holds plain numbers: a panic elsewhere cannot leave it inconsistent
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cached block of exactly this layout (the newest), or `None` after making room: on a
    /// miss, cached memory covering the request is released first (the smallest block at
    /// least as large, else the oldest blocks), so the inner allocator can hand those pages
    /// straight back instead of fresh ones. Memory the cache holds is then never the reason a
    /// new block comes from colder memory.
    fn take(&self, layout: Layout) -> Option<*mut u8> {
        if self.cached.load(Ordering::Relaxed) == 0 {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut victims = [Slot::EMPTY; SLOTS];
        let mut n = 0;
        {
            let mut t = self.lock();
            if let Some(p) = self.hit(&mut t, layout) {
                return Some(p);
            }
            // the smallest block that covers the request alone, so a 4 MiB miss does not give
            // up a 400 MiB output that the next call would reuse; else the oldest, until the
            // request is covered
            let fits = (0..SLOTS)
                .filter(|&i| t.slots[i].ptr != 0 && t.slots[i].size >= layout.size())
                .min_by_key(|&i| t.slots[i].size);
            if let Some(i) = fits {
                victims[0] = self.remove(&mut t, i);
                n = 1;
            } else {
                let mut freed = 0;
                while freed < layout.size() {
                    let Some(victim) = self.evict_oldest(&mut t) else { break };
                    freed += victim.size;
                    victims[n] = victim;
                    n += 1;
                }
            }
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.free_all(&victims[..n]);
        None
    }

    /// A cached block of exactly this layout, or `None` (nothing released).
    fn take_exact(&self, layout: Layout) -> Option<*mut u8> {
        let mut t = self.lock();
        self.hit(&mut t, layout)
    }

    /// Remove the newest block of exactly this layout from the table.
    fn hit(&self, t: &mut Table, layout: Layout) -> Option<*mut u8> {
        let i = (0..SLOTS)
            .filter(|&i| {
                let s = &t.slots[i];
                s.ptr != 0 && s.size == layout.size() && s.align == layout.align()
            })
            .max_by_key(|&i| t.slots[i].age)?;
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(self.remove(t, i).ptr as *mut u8)
    }

    /// Take the oldest block out of the table (the caller frees it after unlocking).
    fn evict_oldest(&self, t: &mut Table) -> Option<Slot> {
        let oldest = (0..SLOTS).filter(|&i| t.slots[i].ptr != 0).min_by_key(|&i| t.slots[i].age)?;
        Some(self.remove(t, oldest))
    }

    /// Take slot `i` out of the table, keeping the byte count in step.
    fn remove(&self, t: &mut Table, i: usize) -> Slot {
        let slot = std::mem::replace(&mut t.slots[i], Slot::EMPTY);
        self.cached.fetch_sub(slot.size, Ordering::Relaxed);
        slot
    }

    /// Free blocks that have left the table.
    fn free_all(&self, victims: &[Slot]) {
        for v in victims {
            // SAFETY: each block came from `inner` with exactly this size and alignment (it was
            // inserted by `dealloc` with its owner's layout) and has left the table, so it is
            // freed once.
            unsafe {
                self.inner.dealloc(v.ptr as *mut u8, Layout::from_size_align_unchecked(v.size, v.align))
            };
        }
    }

    /// Evict oldest blocks while `keep_going(cached_bytes, blocks)` holds; frees them after the
    /// lock is released.
    fn release_while(&self, keep_going: impl Fn(usize, usize) -> bool) {
        let mut victims = [Slot::EMPTY; SLOTS];
        let mut n = 0;
        {
            let mut t = self.lock();
            loop {
                let used = t.slots.iter().filter(|s| s.ptr != 0).count();
                if used == 0 || !keep_going(self.cached.load(Ordering::Relaxed), used) {
                    break;
                }
                victims[n] = self.evict_oldest(&mut t).expect("a used slot exists");
                n += 1;
            }
        }
        self.free_all(&victims[..n]);
    }
}

// SAFETY: every block handed out is either fresh from `inner` or a block `inner` allocated with
// exactly the requested size and alignment that its owner freed (it is removed from the table
// before it is returned, so no block is handed out twice); every block freed to `inner` is
// freed with the layout it was allocated with.
unsafe impl<A: GlobalAlloc> GlobalAlloc for BlockCache<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= MIN_BLOCK {
            if let Some(p) = self.take(layout) {
                return p;
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= MIN_BLOCK {
            if let Some(p) = self.take(layout) {
                // A used block must be cleared; writing warm memory is cheaper than faulting in
                // fresh zero pages, and the caller of a zeroed block of this size is about to
                // write or read all of it in practice (`vec![0; n]`, `Tensor::zeros`).
                // SAFETY: `p` is a block of `layout.size()` writable bytes that we own now.
                unsafe { std::ptr::write_bytes(p, 0, layout.size()) };
                return p;
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let size = layout.size();
        if size >= MIN_BLOCK && size <= self.limit.load(Ordering::Relaxed) {
            let mut victims = [Slot::EMPTY; SLOTS];
            let mut n = 0;
            {
                let mut t = self.lock();
                let limit = self.limit.load(Ordering::Relaxed);
                if size <= limit {
                    // make room: oldest first, until the block fits in bytes and in slots
                    loop {
                        let free_slot = t.slots.iter().any(|s| s.ptr == 0);
                        if free_slot && self.cached.load(Ordering::Relaxed) + size <= limit {
                            break;
                        }
                        victims[n] = self
                            .evict_oldest(&mut t)
                            .expect("a full table or a byte overflow has a used slot");
                        n += 1;
                    }
                    let age = t.next_age;
                    t.next_age += 1;
                    let free = t.slots.iter().position(|s| s.ptr == 0).expect("room was made");
                    t.slots[free] = Slot { ptr: ptr as usize, size, align: layout.align(), age };
                    self.cached.fetch_add(size, Ordering::Relaxed);
                    drop(t);
                    self.free_all(&victims[..n]);
                    return;
                }
            }
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A vector growing into a large size (doubling) asks for the same sizes every time it
        // is rebuilt: serve those from the cache too. Anything else is the inner allocator's
        // (glibc moves large blocks with `mremap`, no copy).
        if new_size >= MIN_BLOCK && new_size > layout.size() && self.cached.load(Ordering::Relaxed) != 0 {
            // SAFETY: the realloc contract makes (new_size, align) a valid layout.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            if let Some(new) = self.take_exact(new_layout) {
                // SAFETY: both blocks are live, distinct (the new one came out of the table, the
                // old one is still the caller's), and valid for the old size.
                unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
                // SAFETY: the caller gives up `ptr`, allocated by us with `layout`.
                unsafe { self.dealloc(ptr, layout) };
                return new;
            }
        }
        // SAFETY: forwarded with the caller's guarantees: the block came from `inner` (fresh or
        // through the cache, with this very layout).
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The system allocator with a record of live blocks, so the tests see double frees, frees
    /// with the wrong layout, and leaks.
    struct Ledger {
        live: Mutex<Option<HashMap<usize, (usize, usize)>>>,
        frees: AtomicUsize,
    }

    impl Ledger {
        const fn new() -> Self {
            Ledger { live: Mutex::new(None), frees: AtomicUsize::new(0) }
        }
        fn live(&self) -> usize {
            self.live.lock().unwrap().as_ref().map_or(0, |m| m.len())
        }
        fn frees(&self) -> usize {
            self.frees.load(Ordering::Relaxed)
        }
    }

    // SAFETY: System does the allocating; the ledger only records (and checks) layouts.
    unsafe impl GlobalAlloc for Ledger {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded with the caller's guarantees.
            let p = unsafe { System.alloc(layout) };
            assert!(!p.is_null());
            self.live
                .lock()
                .unwrap()
                .get_or_insert_with(HashMap::new)
                .insert(p as usize, (layout.size(), layout.align()));
            p
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            let got = self.live.lock().unwrap().as_mut().and_then(|m| m.remove(&(ptr as usize)));
            assert_eq!(got, Some((layout.size(), layout.align())), "freed once, with its own layout");
            self.frees.fetch_add(1, Ordering::Relaxed);
            // SAFETY: the ledger just confirmed the block is live with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    type Cache = BlockCache<Ledger>;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }
    fn get(c: &Cache, size: usize, align: usize) -> usize {
        // SAFETY: a valid non-zero layout.
        unsafe { c.alloc(layout(size, align)) as usize }
    }
    fn get_zeroed(c: &Cache, size: usize) -> usize {
        // SAFETY: as in `get`.
        unsafe { c.alloc_zeroed(layout(size, 64)) as usize }
    }
    fn put(c: &Cache, p: usize, size: usize, align: usize) {
        // SAFETY: `p` came from `get` with this layout and is freed once (the Ledger checks it).
        unsafe { c.dealloc(p as *mut u8, layout(size, align)) }
    }
    fn fill(p: usize, size: usize, byte: u8) {
        // SAFETY: `p` is a live block of `size` bytes owned by the test.
        unsafe { std::ptr::write_bytes(p as *mut u8, byte, size) }
    }
    fn bytes(p: usize, size: usize) -> &'static [u8] {
        // SAFETY: `p` is a live, initialised block of `size` bytes; the slice is dropped before
        // the block is freed.
        unsafe { std::slice::from_raw_parts(p as *const u8, size) }
    }

    #[test]
    fn a_freed_large_block_is_reused_for_the_same_layout() {
        let c = BlockCache::new(Ledger::new());
        let a = get(&c, 8 << 20, 64);
        put(&c, a, 8 << 20, 64);
        assert_eq!(c.stats().cached_bytes, 8 << 20);
        assert_eq!(c.inner.frees(), 0, "kept, not freed");
        let b = get(&c, 8 << 20, 64);
        assert_eq!(a, b, "the same layout gets the very block");
        let s = c.stats();
        assert_eq!((s.hits, s.misses, s.cached_bytes, s.blocks), (1, 1, 0, 0));
        put(&c, b, 8 << 20, 64);
        assert_eq!(c.empty(), 8 << 20);
        assert_eq!(c.inner.live(), 0, "every block went back to the inner allocator");
    }

    #[test]
    fn a_miss_releases_cached_blocks_before_asking_for_fresh_memory() {
        let c = BlockCache::new(Ledger::new());
        let blocks: Vec<_> = (0..3).map(|_| get(&c, MIN_BLOCK, 64)).collect();
        for &b in &blocks {
            put(&c, b, MIN_BLOCK, 64);
        }
        // another alignment is a miss: one block (enough bytes) is released, the oldest
        let d = get(&c, MIN_BLOCK, 4096);
        assert_eq!(c.inner.frees(), 1);
        assert_eq!(c.stats().blocks, 2);
        // a request of two blocks' worth releases two more
        let e = get(&c, 2 * MIN_BLOCK, 64);
        assert_eq!((c.inner.frees(), c.stats().blocks), (3, 0));
        put(&c, d, MIN_BLOCK, 4096);
        put(&c, e, 2 * MIN_BLOCK, 64);
        c.empty();
        assert_eq!(c.inner.live(), 0);
        assert_eq!(c.stats().hits, 0);
    }

    #[test]
    fn a_miss_gives_up_the_smallest_block_that_covers_it_not_a_large_one() {
        let c = BlockCache::new(Ledger::new());
        let big = get(&c, 64 * MIN_BLOCK, 64); // an output the next call will want back
        let small = get(&c, 2 * MIN_BLOCK, 64);
        put(&c, big, 64 * MIN_BLOCK, 64);
        put(&c, small, 2 * MIN_BLOCK, 64);
        // a temporary of a new size: the 2-block one covers it and goes; the big one stays
        let t = get(&c, MIN_BLOCK + 64, 64);
        assert_eq!(c.stats().blocks, 1);
        assert_eq!(get(&c, 64 * MIN_BLOCK, 64), big, "still cached");
        put(&c, t, MIN_BLOCK + 64, 64);
        put(&c, big, 64 * MIN_BLOCK, 64);
        c.empty();
        assert_eq!(c.inner.live(), 0);
    }

    #[test]
    fn small_blocks_bypass_and_zeroed_requests_get_cleared_blocks() {
        let c = BlockCache::new(Ledger::new());
        let a = get(&c, MIN_BLOCK - 1, 64);
        put(&c, a, MIN_BLOCK - 1, 64);
        assert_eq!(c.stats().blocks, 0, "small blocks are the system allocator's business");
        let z = get(&c, MIN_BLOCK, 64);
        fill(z, MIN_BLOCK, 0xAB);
        put(&c, z, MIN_BLOCK, 64);
        let y = get_zeroed(&c, MIN_BLOCK);
        assert_eq!(y, z, "a zeroed request reuses the block");
        assert!(bytes(y, MIN_BLOCK).iter().all(|&b| b == 0), "and clears it");
        put(&c, y, MIN_BLOCK, 64);
        c.empty();
        assert_eq!(c.inner.live(), 0);
    }

    #[test]
    fn a_vector_growing_into_a_cached_size_gets_the_cached_block() {
        let c = BlockCache::new(Ledger::new());
        let big = get(&c, 8 << 20, 8);
        put(&c, big, 8 << 20, 8);
        let small = get(&c, 1 << 20, 8);
        fill(small, 1 << 20, 7);
        // SAFETY: `small` is live with this layout; the caller gives it up.
        let grown = unsafe { c.realloc(small as *mut u8, layout(1 << 20, 8), 8 << 20) } as usize;
        assert_eq!(grown, big, "served from the cache");
        assert!(bytes(grown, 1 << 20).iter().all(|&b| b == 7), "the old contents were copied");
        assert_eq!(c.stats().hits, 1);
        // growing to a size the cache does not hold goes to the inner allocator
        // SAFETY: as above.
        let other = unsafe { c.realloc(grown as *mut u8, layout(8 << 20, 8), 12 << 20) } as usize;
        assert!(bytes(other, 1 << 20).iter().all(|&b| b == 7));
        put(&c, other, 12 << 20, 8);
        c.empty();
        assert_eq!(c.inner.live(), 0);
    }

    #[test]
    fn the_byte_limit_and_the_slot_count_evict_the_oldest() {
        let c = BlockCache::new(Ledger::new());
        c.set_limit(3 * MIN_BLOCK);
        let blocks: Vec<_> = (0..4).map(|_| get(&c, MIN_BLOCK, 64)).collect();
        for &b in &blocks {
            put(&c, b, MIN_BLOCK, 64);
        }
        let s = c.stats();
        assert_eq!((s.blocks, s.cached_bytes), (3, 3 * MIN_BLOCK));
        assert_eq!(c.inner.frees(), 1, "the oldest was freed");
        // the newest comes back first
        assert_eq!(get(&c, MIN_BLOCK, 64), blocks[3]);
        put(&c, blocks[3], MIN_BLOCK, 64);
        // a block above the limit is never kept
        let frees = c.inner.frees();
        c.set_limit(4 * MIN_BLOCK);
        let big = get(&c, 5 * MIN_BLOCK, 64);
        assert_eq!(c.stats().blocks, 0, "its miss released the others first");
        put(&c, big, 5 * MIN_BLOCK, 64);
        assert_eq!((c.stats().blocks, c.inner.frees()), (0, frees + 4));
        // lowering the limit releases now
        for b in [get(&c, MIN_BLOCK, 64), get(&c, MIN_BLOCK, 64)] {
            put(&c, b, MIN_BLOCK, 64);
        }
        assert_eq!(c.stats().blocks, 2);
        c.set_limit(MIN_BLOCK);
        assert_eq!(c.stats().blocks, 1);
        c.set_limit(0);
        assert_eq!(c.stats().blocks, 0);
        // more blocks than slots under a large limit: the oldest go
        c.set_limit(usize::MAX);
        let many: Vec<_> = (0..SLOTS + 5).map(|_| get(&c, MIN_BLOCK, 64)).collect();
        for &b in &many {
            put(&c, b, MIN_BLOCK, 64);
        }
        assert_eq!(c.stats().blocks, SLOTS);
        assert_eq!(get(&c, MIN_BLOCK, 64), many[SLOTS + 4]);
        put(&c, many[SLOTS + 4], MIN_BLOCK, 64);
        c.empty();
        assert_eq!(c.inner.live(), 0);
    }

    #[test]
    fn concurrent_use_hands_no_block_out_twice() {
        let c = BlockCache::new(Ledger::new());
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let c = &c;
                s.spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..300 {
                        let size = MIN_BLOCK + 64 * ((i + t as usize) % 3);
                        let p = get(c, size, 64);
                        // a block handed to two threads at once would show the other's byte
                        fill(p, size, t);
                        held.push((p, size));
                        if i % 2 == 1 {
                            for (p, size) in held.drain(..) {
                                let b = bytes(p, size);
                                // one byte per page and the last (debug builds run this too)
                                let seen = b.iter().step_by(4096).chain(b.last());
                                assert!(seen.into_iter().all(|&x| x == t), "block {p:#x} shared");
                                put(c, p, size, 64);
                            }
                        }
                    }
                });
            }
        });
        c.empty();
        assert_eq!(c.inner.live(), 0, "the Ledger saw each block freed once, with its layout");
        assert!(c.stats().hits > 0);
    }
}
