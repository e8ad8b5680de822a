//! The adopting allocator: how foreign memory becomes candle storage without a copy.
//!
//! candle's CPU storage owns a `Vec<T>` and frees it when the last tensor using it drops.
//! Foreign memory (a NumPy array, a memory map) is not candle's to free. The
//! [`AdoptingAllocator`] wraps the real global allocator and keeps a registry of *adopted*
//! blocks, keyed by their exact `(address, byte length)`. Sharing registers the block with its
//! keep-alive owner, then builds a `Vec` over it with `Vec::from_raw_parts`; when candle drops
//! that `Vec`, `dealloc` recognises the key and releases the owner instead of freeing.
//!
//! The final binary opts in (a library cannot choose the global allocator):
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: candle_numpy::adopt::AdoptingAllocator = candle_numpy::adopt::AdoptingAllocator::system();
//! ```
//!
//! Without it, [`installed`] is false, `Sharing::Share` of foreign memory fails with
//! [`Error::SharingUnavailable`](crate::Error::SharingUnavailable) and `Sharing::Auto` copies.
//!
//! ## Properties (each one was needed by the founders' prototype)
//! - **Fast path**: `dealloc` costs one relaxed atomic load while nothing is adopted, and a
//!   counting filter (65,536 buckets) lets unrelated frees skip the lock while something is.
//! - **Nothing allocates under the registry lock**: the registry is a fixed, statically
//!   allocated table; no Python (or other foreign) code runs inside the allocator.
//! - **Owners released where it is safe**: an owner registered with [`Release::Drop`] is dropped
//!   right after the lock is released; one registered with [`Release::Defer`] (Python objects,
//!   whose release may run arbitrary code and needs the GIL) is parked and released later by
//!   [`drain_released`], which the Python layer calls with the GIL held. A hook
//!   ([`set_release_hook`]) is told when something was parked, so a binding can schedule a
//!   drain (e.g. with `Py_AddPendingCall` for tensors dropped on other threads).
//! - **Exact keys**: the same `(address, length)` adopted again for the same owner identity is
//!   reference-counted; for a different owner identity it is refused
//!   ([`AdoptError::KeyOwnedElsewhere`]), since two owners cannot both be the one to release it.
//! - **`realloc` copies out**: a `Vec` over adopted memory that grows is moved to memory of
//!   our own and the adoption released.
//! - **Read-only is recorded with the block**: a block registered with
//!   [`register_read_only`] (a read-only array, a `PROT_READ` map) answers true to
//!   [`is_read_only`] for as long as it stays adopted, so every tensor over that storage (any
//!   view, however it was derived) can be refused writes by looking at its storage rather
//!   than at a flag copied along by hand. If the same block is also shared writable at the
//!   same time (a writable array and a read-only view of it), the block is read-only for all
//!   of them until the last tensor over it is dropped: the safe side of an ambiguity the
//!   storage cannot resolve.
//!
//! ## Hazards (the same as `torch.from_numpy`)
//! - Writing to the foreign memory (from NumPy, another thread) while candle computes on it
//!   gives torn results, exactly as with torch.
//! - Resizing the owner in place (`ndarray.resize(refcheck=False)`) frees memory candle still
//!   uses: never do that while a shared tensor lives.
//! - `fork()` while another thread holds the registry lock leaves the child's lock held; fork
//!   before sharing or from a quiet moment (as with any process-global lock).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::array::Owner;

/// Maximum number of distinct blocks adopted at once.
pub const MAX_ADOPTED: usize = 1 << 14;
const SLOTS: usize = MAX_ADOPTED * 2;
const BUCKETS: usize = 1 << 16;
/// Released owners parked for [`drain_released`].
const PARKED: usize = MAX_ADOPTED;

/// How an owner is released when its last adopted `Vec` is freed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Drop it on the freeing thread, right after the registry lock is released (owners whose
    /// drop is plain Rust: memory maps, `Vec`s).
    Drop,
    /// Park it until [`drain_released`] runs (owners that must be released under a lock such as
    /// Python's GIL).
    Defer,
}

/// Why a block could not be adopted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdoptError {
    /// The allocator is not the global allocator of this binary.
    #[error("the adopting allocator is not installed as #[global_allocator]")]
    NotInstalled,
    /// The same block is already adopted for a different owner.
    #[error(
        "the memory block at {address:#x} ({len} bytes) is already shared on behalf of a \
         different owner object; copy one of them first"
    )]
    KeyOwnedElsewhere {
        /// Block address.
        address: usize,
        /// Block length.
        len: usize,
    },
    /// The fixed registry is full.
    #[error("too many arrays shared at once (limit {limit}); drop some shared tensors or copy")]
    Full {
        /// The limit.
        limit: usize,
    },
}

/// One registry entry; `owner` is `Some` exactly for live entries.
struct Slot {
    ptr: usize,
    len: usize,
    identity: usize,
    refs: usize,
    release: Release,
    read_only: bool,
    owner: Option<Owner>,
}

impl Slot {
    const EMPTY: Slot =
        Slot { ptr: 0, len: 0, identity: 0, refs: 0, release: Release::Drop, read_only: false, owner: None };

    fn is_live(&self) -> bool {
        self.owner.is_some()
    }
}

struct Registry {
    slots: [Slot; SLOTS],
    live: usize,
    parked: [Option<Owner>; PARKED],
    parked_len: usize,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    slots: [const { Slot::EMPTY }; SLOTS],
    live: 0,
    parked: [const { None }; PARKED],
    parked_len: 0,
});
/// Number of live adopted blocks: the one load of the fast path.
static ADOPTED: AtomicUsize = AtomicUsize::new(0);
/// Per-bucket counts of adopted blocks, so unrelated frees skip the lock.
static FILTER: [AtomicU32; BUCKETS] = [const { AtomicU32::new(0) }; BUCKETS];
/// Set once the allocator has served the probe allocation of [`installed`].
static INSTALLED: AtomicBool = AtomicBool::new(false);
/// Owners that could not be parked (parking space full) and were kept alive on purpose.
static LEAKED: AtomicUsize = AtomicUsize::new(0);
/// Number of parked owners (readable without the lock, for a cheap "anything to drain?").
static PARKED_COUNT: AtomicUsize = AtomicUsize::new(0);
/// Told (outside the lock) whenever an owner was parked.
static RELEASE_HOOK: AtomicUsize = AtomicUsize::new(0);

/// An alignment no real allocation asks for, marking the probe of [`installed`].
const PROBE_ALIGN: usize = 1 << 20;
const PROBE_SIZE: usize = 3;

fn lock() -> MutexGuard<'static, Registry> {
    // A panic never happens while the lock is held (no user code runs under it), but stay
    // usable even if one did.
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

#[inline]
fn hash(ptr: usize) -> usize {
    // Fibonacci hashing of the address without its always-zero low bits.
    (ptr >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - 16)
}

#[inline]
fn bucket(ptr: usize) -> &'static AtomicU32 {
    &FILTER[hash(ptr) % BUCKETS]
}

// Open addressing with linear probing and backward-shift deletion (no tombstones, so probe
// chains stay as short as the live load allows; the table is at most half full).
impl Registry {
    /// Index of the live slot for `ptr`, if any.
    fn find(&self, ptr: usize) -> Option<usize> {
        let mut i = hash(ptr) % SLOTS;
        while self.slots[i].is_live() {
            if self.slots[i].ptr == ptr {
                return Some(i);
            }
            i = (i + 1) % SLOTS;
        }
        None
    }

    fn free_slot_for(&self, ptr: usize) -> usize {
        let mut i = hash(ptr) % SLOTS;
        while self.slots[i].is_live() {
            i = (i + 1) % SLOTS;
        }
        i
    }

    /// Empty slot `i`, shifting later members of its probe chain back.
    fn remove(&mut self, mut i: usize) {
        let mut j = i;
        loop {
            j = (j + 1) % SLOTS;
            if !self.slots[j].is_live() {
                break;
            }
            let home = hash(self.slots[j].ptr) % SLOTS;
            // slot j may stay only if its home lies cyclically in (i, j]
            let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
            if !stays {
                self.slots[i] = std::mem::replace(&mut self.slots[j], Slot::EMPTY);
                i = j;
            }
        }
        self.slots[i] = Slot::EMPTY;
    }

    /// Add a registration, recording whether it is read-only (a block is read-only once any
    /// live registration of it was); returns the owner handle back when the block was already
    /// adopted for the same identity (only a reference count is added then).
    fn register_as(
        &mut self,
        ptr: usize,
        len: usize,
        identity: usize,
        owner: Owner,
        release: Release,
        read_only: bool,
    ) -> Result<Option<Owner>, AdoptError> {
        if let Some(i) = self.find(ptr) {
            let s = &mut self.slots[i];
            if s.len != len || s.identity != identity {
                return Err(AdoptError::KeyOwnedElsewhere { address: ptr, len });
            }
            s.refs += 1;
            s.read_only |= read_only;
            return Ok(Some(owner));
        }
        if self.live >= MAX_ADOPTED {
            return Err(AdoptError::Full { limit: MAX_ADOPTED });
        }
        let i = self.free_slot_for(ptr);
        self.slots[i] = Slot { ptr, len, identity, refs: 1, release, read_only, owner: Some(owner) };
        self.live += 1;
        bucket(ptr).fetch_add(1, Ordering::Relaxed);
        ADOPTED.fetch_add(1, Ordering::Release);
        Ok(None)
    }

    /// A free of `(ptr, len)`: `None` if not adopted; `Some(owner)` with the owner to release
    /// when this was the last reference.
    fn release(&mut self, ptr: usize, len: usize) -> Option<Option<(Owner, Release)>> {
        let i = self.find(ptr)?;
        if self.slots[i].len != len {
            // Same address, different size: not the adopted Vec (cannot happen for live
            // foreign memory, which the real allocator cannot hand out again).
            return None;
        }
        Some(self.unref(i))
    }

    /// Remove one reference of the live slot `i`; returns the owner if it was the last.
    fn unref(&mut self, i: usize) -> Option<(Owner, Release)> {
        let s = &mut self.slots[i];
        s.refs -= 1;
        if s.refs > 0 {
            return None;
        }
        let owner = s.owner.take().expect("live slots hold their owner");
        let release = s.release;
        bucket(s.ptr).fetch_sub(1, Ordering::Relaxed);
        self.remove(i);
        self.live -= 1;
        ADOPTED.fetch_sub(1, Ordering::Release);
        Some((owner, release))
    }
}

/// Register `(ptr, len)` as adopted on behalf of `owner`, whose identity (the object that
/// really owns the memory) is `identity`.
///
/// Each successful call must be balanced by exactly one free of a `Vec` (or other global
/// allocation) with this address and byte length, which releases the registration; the owner
/// is released with the last one.
#[doc(hidden)] // internal: public for this crate's integration tests
pub fn register(
    ptr: *const u8,
    len: usize,
    identity: usize,
    owner: Owner,
    release: Release,
) -> Result<(), AdoptError> {
    register_access(ptr, len, identity, owner, release, false)
}

/// [`register`] for memory that must never be written (a read-only array, a read-only map):
/// [`is_read_only`] answers true for the block until its last registration is released.
#[doc(hidden)] // internal: public for this crate's integration tests
pub fn register_read_only(
    ptr: *const u8,
    len: usize,
    identity: usize,
    owner: Owner,
    release: Release,
) -> Result<(), AdoptError> {
    register_access(ptr, len, identity, owner, release, true)
}

fn register_access(
    ptr: *const u8,
    len: usize,
    identity: usize,
    owner: Owner,
    release: Release,
    read_only: bool,
) -> Result<(), AdoptError> {
    if !installed() {
        return Err(AdoptError::NotInstalled);
    }
    let mut reg = lock();
    match reg.register_as(ptr as usize, len, identity, owner, release, read_only) {
        Ok(None) => Ok(()),
        Ok(Some(duplicate)) => {
            // a second handle to the same identity: drop it after the lock is released
            drop(reg);
            drop(duplicate);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Whether `(ptr, len)` is currently adopted, and how many times.
pub fn adoption_count(ptr: *const u8, len: usize) -> usize {
    let reg = lock();
    reg.find(ptr as usize).map(|i| &reg.slots[i]).filter(|s| s.len == len).map_or(0, |s| s.refs)
}

/// Whether `(ptr, len)` is adopted as read-only memory (see [`register_read_only`]): the
/// storage of every tensor over it must never be written. Lock-free (one atomic load) while
/// nothing is adopted or the address's filter bucket is empty.
pub fn is_read_only(ptr: *const u8, len: usize) -> bool {
    if ADOPTED.load(Ordering::Acquire) == 0 || bucket(ptr as usize).load(Ordering::Relaxed) == 0 {
        return false;
    }
    let reg = lock();
    reg.find(ptr as usize).map(|i| &reg.slots[i]).is_some_and(|s| s.len == len && s.read_only)
}

/// Number of distinct blocks adopted right now.
pub fn adopted_blocks() -> usize {
    ADOPTED.load(Ordering::Acquire)
}

/// Release an adoption on a free of `(ptr, len)`. Returns whether the block was adopted (and so
/// must not reach the real allocator). Never allocates or runs foreign code under the lock.
#[inline]
fn release_on_free(ptr: *mut u8, len: usize) -> bool {
    if ADOPTED.load(Ordering::Acquire) == 0 {
        return false;
    }
    if bucket(ptr as usize).load(Ordering::Relaxed) == 0 {
        return false;
    }
    release_slow(ptr as usize, len)
}

#[cold]
fn release_slow(ptr: usize, len: usize) -> bool {
    let mut reg = lock();
    let Some((owner, release)) = (match reg.release(ptr, len) {
        None => return false,
        Some(last) => last,
    }) else {
        return true;
    };
    match release {
        Release::Drop => {
            drop(reg);
            drop(owner);
        }
        Release::Defer => {
            if reg.parked_len < PARKED {
                let n = reg.parked_len;
                reg.parked[n] = Some(owner);
                reg.parked_len += 1;
                PARKED_COUNT.store(reg.parked_len, Ordering::Release);
                drop(reg);
                notify_hook();
            } else {
                // No room to park and no safe place to release: keep it alive for good.
                std::mem::forget(owner);
                LEAKED.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    true
}

fn notify_hook() {
    let hook = RELEASE_HOOK.load(Ordering::Acquire);
    if hook != 0 {
        // SAFETY: only ever stored from a `fn()` in set_release_hook.
        let f: fn() = unsafe { std::mem::transmute::<usize, fn()>(hook) };
        f();
    }
}

/// Set the function told (outside the lock, possibly on any thread) that an owner was parked
/// for [`drain_released`]. It must not allocate-and-block or run foreign code itself; it should
/// only schedule a drain.
#[doc(hidden)] // internal: public for this crate's integration tests
pub fn set_release_hook(hook: fn()) {
    RELEASE_HOOK.store(hook as usize, Ordering::Release);
}

/// Release every parked owner (call where releasing is safe, e.g. with the GIL held). Returns
/// how many were released. The owners are dropped after the lock is released.
#[doc(hidden)] // internal: public for this crate's integration tests
pub fn drain_released() -> usize {
    if parked_owners() == 0 {
        return 0;
    }
    // small: most drains release one owner (a dropped tensor), and the batch is cleared each time
    let mut batch: [Option<Owner>; 16] = [const { None }; 16];
    let mut total = 0;
    loop {
        let mut reg = lock();
        let n = reg.parked_len.min(batch.len());
        if n == 0 {
            return total;
        }
        let start = reg.parked_len - n;
        for (k, slot) in batch.iter_mut().enumerate().take(n) {
            *slot = reg.parked[start + k].take();
        }
        reg.parked_len = start;
        PARKED_COUNT.store(start, Ordering::Release);
        drop(reg);
        for slot in batch.iter_mut().take(n) {
            drop(slot.take());
        }
        total += n;
    }
}

/// Number of owners parked for [`drain_released`] right now (no lock taken).
pub fn parked_owners() -> usize {
    PARKED_COUNT.load(Ordering::Acquire)
}

/// Owners kept alive forever because parking space ran out (should stay 0).
pub fn leaked_owners() -> usize {
    LEAKED.load(Ordering::Relaxed)
}

/// Whether an [`AdoptingAllocator`] is this binary's global allocator.
pub fn installed() -> bool {
    if INSTALLED.load(Ordering::Relaxed) {
        return true;
    }
    // black_box: an allocation whose pointer is unused may be elided by the optimiser, which
    // would skip the probe (seen in release builds).
    let layout =
        std::hint::black_box(Layout::from_size_align(PROBE_SIZE, PROBE_ALIGN).expect("valid probe layout"));
    // SAFETY: a non-zero-size layout; the block is freed with the same layout right away.
    unsafe {
        let p = std::hint::black_box(std::alloc::alloc(layout));
        if !p.is_null() {
            std::alloc::dealloc(p, layout);
        }
    }
    INSTALLED.load(Ordering::Relaxed)
}

/// A global allocator that can adopt foreign memory (see the module docs). Wraps `A`, which
/// does all real allocation.
pub struct AdoptingAllocator<A: GlobalAlloc = System> {
    inner: A,
}

impl AdoptingAllocator<System> {
    /// Wrap the system allocator.
    pub const fn system() -> Self {
        AdoptingAllocator { inner: System }
    }
}

impl<A: GlobalAlloc> AdoptingAllocator<A> {
    /// Wrap another allocator (e.g. mimalloc or jemalloc).
    pub const fn new(inner: A) -> Self {
        AdoptingAllocator { inner }
    }

    /// The wrapped allocator (e.g. a [`BlockCache`](crate::block_cache::BlockCache) to tune).
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every request is served by the inner allocator, except frees and reallocs of blocks
// registered as adopted: those never reach it (the memory belongs to the registered owner),
// and reallocs of them get fresh memory from the inner allocator with the contents copied.
unsafe impl<A: GlobalAlloc> GlobalAlloc for AdoptingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() == PROBE_ALIGN && layout.size() == PROBE_SIZE {
            INSTALLED.store(true, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if release_on_free(ptr, layout.size()) {
            return;
        }
        // SAFETY: not adopted, so it came from the inner allocator with this layout.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ADOPTED.load(Ordering::Acquire) != 0 && bucket(ptr as usize).load(Ordering::Relaxed) != 0 {
            let adopted = {
                let reg = lock();
                reg.find(ptr as usize).is_some_and(|i| reg.slots[i].len == layout.size())
            };
            if adopted {
                // SAFETY: the new layout is valid per the realloc contract.
                let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
                // SAFETY: a valid non-zero layout, forwarded to the inner allocator.
                let new = unsafe { self.inner.alloc(new_layout) };
                if !new.is_null() {
                    // SAFETY: both blocks are valid for the copied length and do not overlap.
                    unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size)) };
                    release_on_free(ptr, layout.size());
                }
                return new;
            }
        }
        // SAFETY: not adopted: forwarded with the caller's guarantees.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Randomized model check: the registry against a HashMap model, over random
    /// register / free sequences with colliding hashes, duplicate keys and wrong sizes.
    #[test]
    fn registry_matches_a_model() {
        // the registry is large: build it on a thread with room on its stack, then on the heap
        std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let mut reg = Box::new(Registry {
                    slots: [const { Slot::EMPTY }; SLOTS],
                    live: 0,
                    parked: [const { None }; PARKED],
                    parked_len: 0,
                });
                let before = ADOPTED.load(Ordering::Acquire);
                let mut model: HashMap<usize, (usize, usize, usize)> = HashMap::new(); // ptr -> (len, id, refs)
                let mut rng = 0x2545F4914F6CDD1Du64;
                let mut next = || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                for step in 0..200_000 {
                    // few distinct addresses (heavy collisions in SLOTS) and two sizes
                    let ptr = 16 * (1 + (next() % 3000) as usize) * if next() % 4 == 0 { SLOTS } else { 1 };
                    let len = 64 + 64 * (next() % 2) as usize;
                    let id = (next() % 2) as usize;
                    if next() % 2 == 0 {
                        let got = reg.register_as(ptr, len, id, Arc::new(()), Release::Drop, false);
                        match model.get_mut(&ptr) {
                            Some((l, i, refs)) if *l == len && *i == id => {
                                assert!(matches!(got, Ok(Some(_))), "step {step}");
                                *refs += 1;
                            }
                            Some(_) => assert!(
                                matches!(got, Err(AdoptError::KeyOwnedElsewhere { .. })),
                                "step {step}"
                            ),
                            None => {
                                assert!(matches!(got, Ok(None)), "step {step}");
                                model.insert(ptr, (len, id, 1));
                            }
                        }
                    } else {
                        let got = reg.release(ptr, len);
                        match model.get_mut(&ptr) {
                            Some((l, _, refs)) if *l == len => {
                                *refs -= 1;
                                if *refs == 0 {
                                    model.remove(&ptr);
                                    assert!(matches!(got, Some(Some(_))), "step {step}");
                                } else {
                                    assert!(matches!(got, Some(None)), "step {step}");
                                }
                            }
                            _ => assert!(got.is_none(), "step {step}"),
                        }
                    }
                    assert_eq!(reg.live, model.len());
                    if step % 1000 == 0 {
                        for (&p, &(l, _, refs)) in &model {
                            let i = reg.find(p).expect("model key is findable");
                            assert_eq!((reg.slots[i].len, reg.slots[i].refs), (l, refs));
                        }
                    }
                }
                // release everything; the global counters return to where they were
                for (p, (l, _, refs)) in model.drain() {
                    for _ in 0..refs {
                        assert!(reg.release(p, l).is_some());
                    }
                }
                assert_eq!(reg.live, 0);
                assert!(reg.slots.iter().all(|s| !s.is_live()));
                assert_eq!(ADOPTED.load(Ordering::Acquire), before);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn not_installed_in_this_binary() {
        assert!(!installed());
        let err = register(std::ptr::null(), 8, 0, Arc::new(()), Release::Drop).unwrap_err();
        assert_eq!(err, AdoptError::NotInstalled);
    }
}
