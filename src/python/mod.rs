//! pyo3 conversions (feature `python`): NumPy arrays in, NumPy arrays out, explicit about
//! share versus copy, with proper Python exceptions.
//!
//! For authors of Python extensions around candle models:
//!
//! | type | direction | what it does |
//! | --- | --- | --- |
//! | [`SharedTensor`] | argument | shares the array's memory (`torch.from_numpy`); refuses with a `ShareError` otherwise (read-only arrays too: a Rust caller could write) |
//! | [`AutoTensor`] | argument | shares when it can, else copies (`torch.as_tensor`) |
//! | [`CopiedTensor`] | argument | always copies (`torch.tensor`) |
//! | [`NumpyView`] | return | a NumPy array viewing the tensor's memory (CPU only) |
//! | [`NumpyCopy`] | return | a NumPy array with its own copy (any device) |
//!
//! ```ignore
//! use candle_numpy::python::{AutoTensor, NumpyCopy};
//! #[pyfunction]
//! fn forward(x: AutoTensor) -> PyResult<NumpyCopy> {
//!     let y = model().forward(&x.0).map_err(candle_numpy::Error::from)?;
//!     Ok(NumpyCopy(y))
//! }
//! ```
//!
//! DLPack (any framework's arrays, both ways) lives in [`dlpack`]:
//! [`dlpack::tensor_from_dlpack`] shares a producer's memory as a tensor and
//! [`dlpack::tensor_dlpack`] implements `__dlpack__`.
//!
//! Sharing NumPy memory needs the adopting allocator as the extension's global allocator
//! (`#[global_allocator] static A: AdoptingAllocator = AdoptingAllocator::system();`) and
//! [`install`] called once from the module initialiser; without the allocator `SharedTensor`
//! fails with a clear `ShareError` and `AutoTensor` copies. Wrapping a
//! [`BlockCache`](crate::block_cache::BlockCache)
//! (`AdoptingAllocator<BlockCache> = AdoptingAllocator::new(BlockCache::system())`, as the
//! `candle_numpy` package does) also makes repeated large copies reuse warm memory.

pub mod array;
pub mod dlpack;
pub mod errors;
pub mod export;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use candle_core::{Device, Tensor};
use numpy::PyUntypedArray;
use pyo3::prelude::*;

use crate::adopt;
use crate::convert::{to_tensor, Options, Sharing};
use crate::error::Error;

pub use array::{array_ref_from_ndarray, np_dtype, PyOwner};
pub use errors::to_pyerr;
pub use export::{tensor_to_numpy, ExportedTensor};

// ------------------------------------------------------------------------------------------
// Releasing Python owners, and interpreter shutdown
// ------------------------------------------------------------------------------------------
//
// A tensor that shares NumPy memory holds the array's root object through the adopting
// allocator. When candle frees the storage (on any thread, with or without the GIL) the owner is
// *parked* (`Release::Defer`) and released later with the GIL held: by the next binding entry
// point or tensor drop, or by a CPython pending call scheduled here for tensors freed on other
// threads.
//
// At interpreter shutdown none of that may touch Python any more. `Py_FinalizeEx` runs the
// `atexit` callbacks, then marks the runtime uninitialised (`Py_IsInitialized() == 0`), then
// collects garbage and clears every module's globals, and finally deletes the interpreter.
// Tensors freed while modules are cleared park their owners and used to schedule a pending call;
// CPython runs pending calls from the eval loop, so as soon as any Python code executed after
// that point (a `__del__` or weakref callback of torch, TensorFlow, or the user's), the pending
// call ran on an uninitialised runtime, `Python::attach` panicked in an `extern "C"` function
// and the process aborted. The rule now: an `atexit` callback registered by `install` marks the
// shutdown (after draining once more, with the interpreter intact); from then on no pending call
// is scheduled, a pending call already queued does nothing, and parked owners stay parked: they
// are leaked on purpose, since the process is ending and their release would have to run Python
// code on a dying interpreter. Every `extern "C"` entry point of this crate also runs under
// [`ffi_guard`], so even an unexpected panic cannot abort the process.

static DRAIN_SCHEDULED: AtomicBool = AtomicBool::new(false);
/// Set by the `atexit` callback: Python is shutting down.
static SHUTTING_DOWN: AtomicBool = AtomicBool::new(false);
/// Threads inside `Py_AddPendingCall` right now (the `atexit` callback waits for them).
static SCHEDULING: AtomicUsize = AtomicUsize::new(0);

/// Whether the interpreter is running normally: not yet shutting down (our `atexit` callback
/// has not run) and initialised. Cheap: two loads, no Python call.
pub fn python_alive() -> bool {
    // SAFETY: Py_IsInitialized may be called at any time, from any thread, without the GIL.
    !SHUTTING_DOWN.load(Ordering::SeqCst) && unsafe { pyo3::ffi::Py_IsInitialized() } != 0
}

/// Run `f` for a C caller (CPython, a DLPack consumer): a panic is caught and swallowed instead
/// of unwinding into C (which would abort the process). `f` must leave things safe if it stops
/// half way (ours only drop or release, so the worst case is a leak).
pub fn ffi_guard<F: FnOnce()>(f: F) {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
}

extern "C" fn drain_pending(_: *mut std::os::raw::c_void) -> std::os::raw::c_int {
    DRAIN_SCHEDULED.store(false, Ordering::Release);
    ffi_guard(|| {
        // Runs on the main thread with the GIL held (a CPython pending call), but possibly after
        // shutdown began: then the owners stay parked (see above).
        if python_alive() {
            let _ = Python::try_attach(|_| adopt::drain_released());
        }
    });
    0
}

thread_local! {
    /// Set on a thread that holds the GIL and drains parked owners itself right after the
    /// drop in progress ([`drop_then_release`]): no pending call is needed for what it parks.
    /// A `const` `Cell<bool>` has no destructor and allocates nothing, so the allocator's hook
    /// may read it at any time, also while the thread ends.
    static DRAIN_FOLLOWS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Drop `value` (typically a tensor, whose storage may hold a shared array's owner) with the
/// GIL held, then release what it parked, here and now. Cheaper than the general path, which
/// schedules a CPython pending call for every parked owner: dropping the tensor returned by
/// `cn.from_numpy(a)` costs one registry lookup instead of a pending call and its lock.
pub fn drop_then_release<T>(py: Python<'_>, value: T) {
    let previous = DRAIN_FOLLOWS.with(|d| d.replace(true));
    drop(value);
    DRAIN_FOLLOWS.with(|d| d.set(previous));
    release_parked(py);
}

/// Told by the adopting allocator that a Python owner was parked (possibly on a thread without
/// the GIL): schedule a drain on the main thread. Allocates nothing and runs no Python code.
fn schedule_drain() {
    if DRAIN_FOLLOWS.with(|d| d.get()) {
        // the thread that parked it drains right after (drop_then_release)
        return;
    }
    if SHUTTING_DOWN.load(Ordering::SeqCst) || DRAIN_SCHEDULED.swap(true, Ordering::AcqRel) {
        return;
    }
    // Announce ourselves before checking the flag; the atexit callback sets the flag before
    // reading the count (both SeqCst), so either we see the flag or it waits for us.
    SCHEDULING.fetch_add(1, Ordering::SeqCst);
    let queued = if python_alive() {
        // SAFETY: Py_AddPendingCall may be called from any thread without the GIL while the
        // interpreter exists, which it does: shutdown has not begun (checked above, and the
        // atexit callback waits for this call to return before letting finalization go on).
        // The callback is a plain function that cannot unwind (ffi_guard).
        unsafe { pyo3::ffi::Py_AddPendingCall(Some(drain_pending), std::ptr::null_mut()) == 0 }
    } else {
        false
    };
    SCHEDULING.fetch_sub(1, Ordering::SeqCst);
    if !queued {
        // queue full or shutting down: the next API entry or wrapper drop drains instead
        DRAIN_SCHEDULED.store(false, Ordering::Release);
    }
}

/// The thread that ran the `atexit` callback: the one finalizing the interpreter.
static FINALIZER: std::sync::OnceLock<std::thread::ThreadId> = std::sync::OnceLock::new();

/// `py.detach(f)` for binding code: run `f` without the GIL, then take the GIL back, except on
/// a thread other than the finalizing one once shutdown has begun. CPython (3.11 to 3.13) ends
/// such a thread (a daemon thread still inside native code) with `pthread_exit` when it asks for
/// the GIL back; that forced unwind through Rust frames aborts the process. Such a thread parks
/// for good instead: the process is about to exit, and CPython 3.14 does the same.
pub fn detach<T, F>(py: Python<'_>, f: F) -> T
where
    T: Send,
    F: Send + FnOnce() -> T,
{
    py.detach(|| {
        let out = f();
        park_if_shutting_down();
        out
    })
}

fn park_if_shutting_down() {
    if !SHUTTING_DOWN.load(Ordering::SeqCst) {
        return;
    }
    if FINALIZER.get().is_none_or(|id| *id == std::thread::current().id()) {
        return;
    }
    loop {
        std::thread::park();
    }
}

/// The `atexit` callback: drain one last time with the interpreter intact, then stop releasing
/// Python owners (they are leaked on purpose from here on).
#[pyfunction]
fn _shutdown(py: Python<'_>) {
    adopt::drain_released();
    let _ = FINALIZER.set(std::thread::current().id());
    SHUTTING_DOWN.store(true, Ordering::SeqCst);
    // Wait (without the GIL) for threads that are between their check and Py_AddPendingCall.
    py.detach(|| {
        while SCHEDULING.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
    });
}

/// Set up the release of Python owners; call once from the extension's module initialiser.
pub fn install(m: &Bound<'_, PyModule>) -> PyResult<()> {
    adopt::set_release_hook(schedule_drain);
    let shutdown = wrap_pyfunction!(_shutdown, m)?;
    m.py().import("atexit")?.call_method1("register", (shutdown,))?;
    m.add_class::<ExportedTensor>()?;
    errors::register(m)
}

/// Release Python owners parked by the allocator. Call with the GIL held (every binding entry
/// point and tensor wrapper drop does); cheap when there is nothing to release, and a no-op once
/// the interpreter is shutting down.
pub fn release_parked(_py: Python<'_>) {
    if python_alive() {
        adopt::drain_released();
    }
}

/// Convert a NumPy array to a tensor in the given mode, releasing the GIL around the work.
/// Returns the tensor and whether it is a read-only share.
pub fn tensor_from_numpy(obj: &Bound<'_, PyAny>, mode: Sharing, opts: &Options) -> PyResult<(Tensor, bool)> {
    let py = obj.py();
    release_parked(py);
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
        pyo3::exceptions::PyTypeError::new_err(format!(
            "expected a numpy.ndarray, got {ty}; convert it with np.asarray(x) first"
        ))
    })?;
    let a = array_ref_from_ndarray(arr)?;
    let readonly = a.is_readonly();
    // Sharing is O(1): no point releasing the GIL. Copies release it.
    if mode != Sharing::Copy {
        match crate::share::share(&a, opts) {
            Ok(t) => return Ok((t, readonly)),
            Err(e) if mode == Sharing::Auto && e.is_share_refusal() => {}
            Err(e) => return Err(to_pyerr(py, e)),
        }
    }
    let t = detach(py, || to_tensor(&a, Sharing::Copy, opts)).map_err(|e| to_pyerr(py, e))?;
    Ok((t, false))
}

macro_rules! extractor {
    ($(#[$doc:meta])* $name:ident, $mode:expr) => {
        $(#[$doc])*
        pub struct $name(pub Tensor);

        impl<'a, 'py> FromPyObject<'a, 'py> for $name {
            type Error = PyErr;
            fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
                let (t, _) = tensor_from_numpy(&obj.to_owned(), $mode, &Options::default())?;
                Ok($name(t))
            }
        }
    };
}

extractor!(
    /// A tensor sharing a NumPy argument's memory; conversion fails (`ShareError`) when it
    /// cannot share, including for read-only arrays.
    SharedTensor,
    Sharing::Share
);
extractor!(
    /// A tensor from a NumPy argument: shared when possible, else copied.
    AutoTensor,
    Sharing::Auto
);
extractor!(
    /// A tensor copied from a NumPy argument.
    CopiedTensor,
    Sharing::Copy
);

/// Return a tensor to Python as a NumPy array viewing its memory (CPU tensors only; a CUDA
/// tensor raises `DeviceError`: return [`NumpyCopy`] for those).
pub struct NumpyView(pub Tensor);

/// Return a tensor to Python as a NumPy array holding its own copy (from any device).
pub struct NumpyCopy(pub Tensor);

impl<'py> IntoPyObject<'py> for NumpyView {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if !self.0.device().is_cpu() {
            return Err(to_pyerr(
                py,
                Error::NotOnCpu {
                    operation: "NumpyView",
                    device: crate::device::device_name(self.0.device()),
                },
            ));
        }
        tensor_to_numpy(py, &self.0, false)
    }
}

impl<'py> IntoPyObject<'py> for NumpyCopy {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;
    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let t = self.0;
        let copy = detach(py, || -> candle_core::Result<Tensor> {
            let cpu = if t.device().is_cpu() { t.copy()? } else { t.to_device(&Device::Cpu)? };
            cpu.contiguous()
        })
        .map_err(|e| to_pyerr(py, e.into()))?;
        tensor_to_numpy(py, &copy, false)
    }
}
