//! Copy kernels: any strides, byte swapping, casting and widening, into fresh C-order memory.
//!
//! The walk visits the source in C order of its logical shape, so the output is always
//! row-major. Adjacent axes that are contiguous with each other are merged first, so a
//! C-contiguous array is one run however many axes it has. Large copies are split into chunks
//! of the output and run on rayon's pool; a contiguous same-dtype copy becomes a parallel
//! `memcpy`.
//!
//! Casting follows NumPy's `astype` (C `as` semantics: integer casts wrap, float-to-integer
//! saturates, NaN becomes 0); the half-precision types round to nearest even. The one checked
//! conversion is the table's default `uint64 -> I64`, which refuses values above `i64::MAX`.

use std::mem::MaybeUninit;

use candle_core::cpu_backend::CpuStorage;
use candle_core::DType;
use float8::F8E4M3;
use half::{bf16, f16};
use rayon::prelude::*;

use crate::array::ArrayRef;
use crate::dtype::{ByteOrder, Mapping, NpDType};
use crate::error::{Error, Result};

/// Below this many output bytes a copy runs on the calling thread.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 20;
/// Target size of one parallel chunk of output, in bytes.
const CHUNK_BYTES: usize = 1 << 19;

/// A source element type: plain bits that can be byte-swapped. Implemented for the element
/// types of the dtype table only.
pub trait Elem: Copy + Send + Sync + 'static {
    /// The element with its bytes reversed.
    fn swap(self) -> Self;
}

macro_rules! elem_int {
    ($($t:ty),*) => {$(impl Elem for $t { #[inline(always)] fn swap(self) -> Self { self.swap_bytes() } })*};
}
elem_int!(i8, i16, i32, i64, u8, u16, u32, u64);
impl Elem for f32 {
    #[inline(always)]
    fn swap(self) -> Self {
        f32::from_bits(self.to_bits().swap_bytes())
    }
}
impl Elem for f64 {
    #[inline(always)]
    fn swap(self) -> Self {
        f64::from_bits(self.to_bits().swap_bytes())
    }
}
impl Elem for f16 {
    #[inline(always)]
    fn swap(self) -> Self {
        f16::from_bits(self.to_bits().swap_bytes())
    }
}
impl Elem for bf16 {
    #[inline(always)]
    fn swap(self) -> Self {
        bf16::from_bits(self.to_bits().swap_bytes())
    }
}
impl Elem for F8E4M3 {
    #[inline(always)]
    fn swap(self) -> Self {
        self
    }
}

/// NumPy's bool: one byte, any non-zero value is true.
#[derive(Clone, Copy)]
#[repr(transparent)]
pub struct NpBool(u8);
impl Elem for NpBool {
    #[inline(always)]
    fn swap(self) -> Self {
        self
    }
}

/// Conversion of one element to a candle element type (NumPy `astype` semantics).
pub trait CastTo<D>: Elem {
    /// Convert.
    fn cast(self) -> D;
}

// Primitive to primitive: C `as` semantics (NumPy astype).
macro_rules! cast_as {
    ($s:ty => $($d:ty),*) => {$(
        impl CastTo<$d> for $s { #[inline(always)] fn cast(self) -> $d { self as $d } }
    )*};
}
// Primitive to the narrow float types: round once, from f64 (exact for every source but
// 64-bit integers above 2^53, which overflow these types anyway).
macro_rules! cast_prim_to_narrow {
    ($($s:ty),*) => {$(
        impl CastTo<f16> for $s { #[inline(always)] fn cast(self) -> f16 { f16::from_f64(self as f64) } }
        impl CastTo<bf16> for $s { #[inline(always)] fn cast(self) -> bf16 { bf16::from_f64(self as f64) } }
        impl CastTo<F8E4M3> for $s { #[inline(always)] fn cast(self) -> F8E4M3 { F8E4M3::from_f64(self as f64) } }
    )*};
}
// Narrow floats to anything: through f32, which holds them exactly.
macro_rules! cast_narrow {
    ($s:ty => $($d:ty),*) => {
        cast_narrow!(@prim $s => u8, u32, i16, i32, i64, f32, f64);
        $(impl CastTo<$d> for $s { #[inline(always)] fn cast(self) -> $d { <$d>::from_f32(self.to_f32()) } })*
        // the identity keeps every bit (NaN payloads included)
        impl CastTo<$s> for $s { #[inline(always)] fn cast(self) -> $s { self } }
    };
    (@prim $s:ty => $($d:ty),*) => {$(
        impl CastTo<$d> for $s { #[inline(always)] fn cast(self) -> $d { self.to_f32() as $d } }
    )*};
}
macro_rules! cast_bool {
    ($($d:ty),*) => {$(
        impl CastTo<$d> for NpBool { #[inline(always)] fn cast(self) -> $d { <u8 as CastTo<$d>>::cast((self.0 != 0) as u8) } }
    )*};
}

cast_as!(i8 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(i16 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(i32 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(i64 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(u8 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(u16 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(u32 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(u64 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(f32 => u8, u32, i16, i32, i64, f32, f64);
cast_as!(f64 => u8, u32, i16, i32, i64, f32, f64);
// identity casts used to move raw element bits (file writing)
cast_as!(u16 => u16);
cast_as!(u64 => u64);
cast_prim_to_narrow!(i8, i16, i32, i64, u8, u16, u32, u64, f64);
// f32 rounds directly (from_f32 is the faster routine and gives the same result).
impl CastTo<f16> for f32 {
    #[inline(always)]
    fn cast(self) -> f16 {
        f16::from_f32(self)
    }
}
impl CastTo<bf16> for f32 {
    #[inline(always)]
    fn cast(self) -> bf16 {
        bf16::from_f32(self)
    }
}
impl CastTo<F8E4M3> for f32 {
    #[inline(always)]
    fn cast(self) -> F8E4M3 {
        F8E4M3::from_f32(self)
    }
}
cast_narrow!(f16 => bf16, F8E4M3);
cast_narrow!(bf16 => f16, F8E4M3);
cast_narrow!(F8E4M3 => f16, bf16);
cast_bool!(u8, u32, i16, i32, i64, f32, f64, f16, bf16, F8E4M3);

/// The walk of an array in C order, with mergeable axes merged and size-1 axes dropped.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Walk {
    /// Axis lengths, outermost first (never empty: a scalar is one axis of length 1).
    pub shape: Vec<usize>,
    /// Byte strides matching `shape`.
    pub strides: Vec<isize>,
}

impl Walk {
    pub fn new(shape: &[usize], strides: &[isize]) -> Walk {
        let mut out_shape: Vec<usize> = Vec::with_capacity(shape.len());
        let mut out_strides: Vec<isize> = Vec::with_capacity(shape.len());
        for (&n, &s) in shape.iter().zip(strides) {
            if n == 1 {
                continue;
            }
            if let (Some(&ln), Some(&ls)) = (out_shape.last(), out_strides.last()) {
                // the previous (outer) axis steps exactly over this whole axis: merge them
                if ls == s * n as isize {
                    *out_shape.last_mut().unwrap() = ln * n;
                    *out_strides.last_mut().unwrap() = s;
                    continue;
                }
            }
            out_shape.push(n);
            out_strides.push(s);
        }
        if out_shape.is_empty() || shape.contains(&0) {
            let n = if shape.contains(&0) { 0 } else { 1 };
            return Walk { shape: vec![n], strides: vec![0] };
        }
        Walk { shape: out_shape, strides: out_strides }
    }

    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Copy one run of `out.len()` elements, `stride` bytes apart, starting at `p`.
///
/// # Safety
/// Every address `p + i * stride` for `i < out.len()` must be readable for `size_of::<S>()`
/// bytes.
#[inline(always)]
unsafe fn run<S: CastTo<D>, D>(p: *const u8, stride: isize, swap: bool, out: &mut [MaybeUninit<D>]) {
    let size = std::mem::size_of::<S>() as isize;
    if stride == size && !swap && (p as usize) % std::mem::align_of::<S>() == 0 {
        // SAFETY: the caller guarantees out.len() contiguous readable elements at `p`, and the
        // alignment was just checked; element types are plain bits (every pattern valid).
        let src = unsafe { std::slice::from_raw_parts(p.cast::<S>(), out.len()) };
        for (o, &x) in out.iter_mut().zip(src) {
            o.write(x.cast());
        }
    } else if stride == -size && !swap && !out.is_empty() && (p as usize) % std::mem::align_of::<S>() == 0 {
        // A reversed contiguous run (`a[::-1]`): read it as a slice, backwards, so the loop
        // vectorises (the generic strided loop below does one unaligned load per element).
        // SAFETY: the caller guarantees p - i * size readable for i < out.len(): that is the
        // contiguous range starting at `first`, which is aligned because `p` is and `size` is a
        // multiple of the alignment.
        let src = unsafe {
            let first = p.offset(-(out.len() as isize - 1) * size);
            std::slice::from_raw_parts(first.cast::<S>(), out.len())
        };
        for (o, &x) in out.iter_mut().zip(src.iter().rev()) {
            o.write(x.cast());
        }
    } else if swap {
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: in bounds by the caller's guarantee; read_unaligned has no alignment need.
            let x = unsafe { p.offset(i as isize * stride).cast::<S>().read_unaligned() };
            o.write(x.swap().cast());
        }
    } else {
        for (i, o) in out.iter_mut().enumerate() {
            // SAFETY: as above.
            let x = unsafe { p.offset(i as isize * stride).cast::<S>().read_unaligned() };
            o.write(x.cast());
        }
    }
}

/// Copy flat (C-order) elements `start .. start + out.len()` of the walk.
///
/// # Safety
/// `base` plus every offset the walk addresses must be readable for `size_of::<S>()` bytes.
unsafe fn gather_range<S: CastTo<D>, D>(
    base: *const u8,
    walk: &Walk,
    swap: bool,
    start: usize,
    out: &mut [MaybeUninit<D>],
) {
    let rank = walk.shape.len();
    let inner_n = walk.shape[rank - 1];
    let inner_s = walk.strides[rank - 1];
    // multi-index of `start`
    let mut idx = vec![0usize; rank];
    let mut rem = start;
    for ax in (0..rank).rev() {
        idx[ax] = rem % walk.shape[ax];
        rem /= walk.shape[ax];
    }
    let mut done = 0;
    while done < out.len() {
        let offset: isize = idx.iter().zip(&walk.strides).map(|(&i, &s)| i as isize * s).sum();
        let n = (inner_n - idx[rank - 1]).min(out.len() - done);
        // SAFETY: `offset` and the next n-1 inner steps are addresses of the walk.
        unsafe { run::<S, D>(base.offset(offset), inner_s, swap, &mut out[done..done + n]) };
        done += n;
        // advance the multi-index by n elements (the inner axis wraps at most once)
        idx[rank - 1] += n;
        let mut ax = rank - 1;
        while ax > 0 && idx[ax] == walk.shape[ax] {
            idx[ax] = 0;
            ax -= 1;
            idx[ax] += 1;
        }
    }
}

/// Fill `out` (C order) from the array, converting each element with `CastTo`, on several
/// threads when it is large.
fn gather_into<S: CastTo<D>, D: Send>(src: &ArrayRef, out: &mut [MaybeUninit<D>], swap: bool, threads: bool) {
    let walk = Walk::new(src.shape(), src.strides());
    debug_assert_eq!(walk.len(), out.len());
    let base = SendPtr(src.data_ptr());
    let bytes = std::mem::size_of_val(out);
    let parallel = threads && bytes >= PARALLEL_THRESHOLD;
    if let Some(t) = Transpose::of::<S>(&walk) {
        // Rows of the output are columns of the source: copy in tiles so both sides stay in
        // cache (a plain walk reads one element per cache line).
        let row_len = t.cols;
        let rows_per_chunk = if parallel {
            (CHUNK_BYTES / (row_len * std::mem::size_of::<D>()).max(1)).max(TILE)
        } else {
            out.len() / row_len
        };
        out.par_chunks_mut(rows_per_chunk.max(1) * row_len)
            .enumerate()
            .with_min_len(if parallel { 1 } else { usize::MAX })
            .for_each(|(i, part)| {
                // SAFETY: every element the walk addresses lies inside the live buffer (checked at
                // construction); each chunk covers whole, disjoint output rows.
                unsafe { t.copy_rows::<S, D>(base.get(), swap, i * rows_per_chunk.max(1), part) };
            });
        return;
    }
    if !parallel {
        // SAFETY: ArrayRef guarantees (checked at construction) that every element it
        // describes lies inside the live buffer.
        unsafe { gather_range::<S, D>(base.get(), &walk, swap, 0, out) };
        return;
    }
    let chunk = (CHUNK_BYTES / std::mem::size_of::<D>().max(1)).max(1);
    out.par_chunks_mut(chunk).enumerate().for_each(|(i, part)| {
        // SAFETY: as above; each chunk addresses a disjoint range of flat indices.
        unsafe { gather_range::<S, D>(base.get(), &walk, swap, i * chunk, part) };
    });
}

/// Side of the square tiles of the transposing copy.
const TILE: usize = 32;

/// A walk whose last output axis is strided in the source while the one before it is
/// contiguous there: a (batched) transpose.
struct Transpose<'a> {
    walk: &'a Walk,
    /// Length of the contiguous source axis (output rows per matrix).
    rows: usize,
    /// Length of the last output axis (output row length).
    cols: usize,
    /// Byte stride of the last output axis in the source.
    col_stride: isize,
    /// Byte stride of the contiguous axis (the element size, possibly negative).
    row_stride: isize,
}

impl<'a> Transpose<'a> {
    fn of<S>(walk: &'a Walk) -> Option<Transpose<'a>> {
        let r = walk.shape.len();
        let size = std::mem::size_of::<S>() as isize;
        if r < 2 || walk.shape[r - 1] < 2 || walk.shape[r - 2] < 2 {
            return None;
        }
        let (row_stride, col_stride) = (walk.strides[r - 2], walk.strides[r - 1]);
        if row_stride.abs() != size || col_stride.abs() == size {
            return None;
        }
        Some(Transpose { walk, rows: walk.shape[r - 2], cols: walk.shape[r - 1], col_stride, row_stride })
    }

    /// Byte offset of the first element of output row `row` (counting across matrices).
    fn row_offset(&self, row: usize) -> isize {
        let r = self.walk.shape.len();
        let (matrix, i) = (row / self.rows, row % self.rows);
        let mut rem = matrix;
        let mut off = i as isize * self.row_stride;
        for ax in (0..r - 2).rev() {
            off += (rem % self.walk.shape[ax]) as isize * self.walk.strides[ax];
            rem /= self.walk.shape[ax];
        }
        off
    }

    /// Copy whole output rows starting at `first_row` into `out` (a multiple of `cols` long).
    ///
    /// # Safety
    /// `base` plus every offset of the walk must be readable for `size_of::<S>()` bytes.
    unsafe fn copy_rows<S: CastTo<D>, D>(
        &self,
        base: *const u8,
        swap: bool,
        first_row: usize,
        out: &mut [MaybeUninit<D>],
    ) {
        let n_rows = out.len() / self.cols;
        let mut r0 = 0;
        while r0 < n_rows {
            // a block of rows that stays inside one matrix
            let row = first_row + r0;
            let r1 = (r0 + TILE).min(n_rows).min(r0 + (self.rows - row % self.rows));
            let start = self.row_offset(row);
            for j0 in (0..self.cols).step_by(TILE) {
                let j1 = (j0 + TILE).min(self.cols);
                for i in r0..r1 {
                    let row = start + (i - r0) as isize * self.row_stride;
                    let dst = &mut out[i * self.cols + j0..i * self.cols + j1];
                    for (k, o) in dst.iter_mut().enumerate() {
                        // SAFETY: row `first_row + i`, column `j0 + k` is an element of the walk.
                        let x = unsafe {
                            base.offset(row + (j0 + k) as isize * self.col_stride)
                                .cast::<S>()
                                .read_unaligned()
                        };
                        o.write(if swap { x.swap() } else { x }.cast());
                    }
                }
            }
            r0 = r1;
        }
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*const u8);

impl SendPtr {
    // a method (not field access) so closures capture the whole Send + Sync wrapper
    fn get(self) -> *const u8 {
        self.0
    }
}
// SAFETY: the pointer is only read, and the ArrayRef's owner keeps the memory alive and
// unchanged for the duration of the copy (the same contract NumPy gives torch).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// A `Vec` of `n` elements filled by `fill`, which must initialise every element. The buffer
/// is allocated fallibly: a failure is [`Error::AllocationFailed`], not an abort.
fn filled_vec<D>(n: usize, fill: impl FnOnce(&mut [MaybeUninit<D>])) -> Result<Vec<D>> {
    // SAFETY: every caller's `fill` writes all n elements (gather_into and memcpy_into write
    // exactly out.len() elements; unit tests compare every value).
    unsafe {
        try_filled_vec(n, "copying an array", |out| {
            fill(out);
            Ok(())
        })
    }
}

/// A `Vec` of `n` elements written by `fill`, without zeroing them first (a large output is
/// written once, not cleared and then written). Allocated fallibly ([`Error::AllocationFailed`]
/// naming `operation`), with huge pages advised for a large buffer; an error from `fill` is
/// returned and the partly written buffer freed.
///
/// # Safety
/// When `fill` returns `Ok`, it must have initialised every one of the `n` elements.
pub(crate) unsafe fn try_filled_vec<D>(
    n: usize,
    operation: &'static str,
    fill: impl FnOnce(&mut [MaybeUninit<D>]) -> Result<()>,
) -> Result<Vec<D>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::allocation::<D>(operation, n))?;
    advise_huge_pages(v.spare_capacity_mut());
    fill(&mut v.spare_capacity_mut()[..n])?;
    // SAFETY: `fill` returned Ok, so (the caller's contract) all n elements are initialised.
    unsafe { v.set_len(n) };
    Ok(v)
}

/// Ask the kernel for transparent huge pages on a large fresh buffer before first touch: with
/// THP in `madvise` mode this halves the page-fault cost of filling it (NumPy does the same).
fn advise_huge_pages<D>(buf: &mut [MaybeUninit<D>]) {
    advise_huge_pages_of(buf)
}

/// [`advise_huge_pages`] for any buffer not yet touched (e.g. a large `vec![0; n]`, which the
/// allocator maps lazily).
pub(crate) fn advise_huge_pages_of<D>(buf: &mut [D]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let bytes = std::mem::size_of_val(buf);
        if bytes < 4 * HUGE {
            return;
        }
        let start = buf.as_ptr() as usize;
        let aligned = (start + HUGE - 1) & !(HUGE - 1);
        let end = (start + bytes) & !(HUGE - 1);
        if end > aligned {
            // SAFETY: [aligned, end) lies inside `buf`, which we own; MADV_HUGEPAGE is only a
            // hint and never changes the contents or validity of the mapping.
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, end - aligned, libc::MADV_HUGEPAGE);
            }
        }
    }
}

/// Copy contiguous bytes into `out`, several threads for large buffers.
fn memcpy_into<D: Send>(src: *const u8, out: &mut [MaybeUninit<D>], threads: bool) {
    let bytes = std::mem::size_of_val(out);
    // SAFETY: `out` is exactly `bytes` long; MaybeUninit<D> has no invalid bit patterns.
    let dst: &mut [MaybeUninit<u8>] =
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast(), bytes) };
    let src = SendPtr(src);
    let copy = move |offset: usize, part: &mut [MaybeUninit<u8>]| {
        let src = src;
        // SAFETY: the source holds `bytes` contiguous readable bytes (a C-contiguous array
        // checked by the caller) and `part` is a disjoint slice of fresh memory.
        unsafe { std::ptr::copy_nonoverlapping(src.get().add(offset), part.as_mut_ptr().cast(), part.len()) }
    };
    if !threads || bytes < PARALLEL_THRESHOLD {
        copy(0, dst);
    } else {
        dst.par_chunks_mut(CHUNK_BYTES * 8).enumerate().for_each(|(i, part)| copy(i * CHUNK_BYTES * 8, part));
    }
}

/// Copy `src` into `out` (C order), converting to `D`. `out.len()` must equal `src.len()`.
pub(crate) fn copy_into<S: CastTo<D>, D: Send + 'static>(
    src: &ArrayRef,
    out: &mut [MaybeUninit<D>],
    threads: bool,
) {
    assert_eq!(out.len(), src.len(), "copy_into: output length must equal the element count");
    if out.is_empty() {
        return;
    }
    let same_type = std::any::TypeId::of::<S>() == std::any::TypeId::of::<D>();
    if same_type && src.is_native_byte_order() && src.is_c_contiguous() {
        memcpy_into(src.data_ptr(), out, threads);
    } else {
        gather_into::<S, D>(src, out, !src.is_native_byte_order(), threads);
    }
}

fn to_vec<S: CastTo<D>, D: Send + 'static>(src: &ArrayRef, threads: bool) -> Result<Vec<D>> {
    filled_vec(src.len(), |out| copy_into::<S, D>(src, out, threads))
}

/// Find the first element (flat C index) for which `bad` holds.
fn find_first<S: Elem>(src: &ArrayRef, bad: impl Fn(S) -> bool) -> Option<(usize, S)> {
    let walk = Walk::new(src.shape(), src.strides());
    let swap = !src.is_native_byte_order();
    let rank = walk.shape.len();
    let mut idx = vec![0usize; rank];
    for flat in 0..walk.len() {
        let offset: isize = idx.iter().zip(&walk.strides).map(|(&i, &s)| i as isize * s).sum();
        // SAFETY: the offset addresses an element of the array (checked at construction).
        let x = unsafe { src.data_ptr().offset(offset).cast::<S>().read_unaligned() };
        let x = if swap { x.swap() } else { x };
        if bad(x) {
            return Some((flat, x));
        }
        let mut ax = rank - 1;
        idx[ax] += 1;
        while ax > 0 && idx[ax] == walk.shape[ax] {
            idx[ax] = 0;
            ax -= 1;
            idx[ax] += 1;
        }
    }
    None
}

/// Dispatch on the source dtype: binds `$S` to its Rust element type.
macro_rules! with_source {
    ($np:expr, $S:ident => $body:expr) => {
        match $np {
            NpDType::Bool => {
                type $S = NpBool;
                $body
            }
            NpDType::Int8 => {
                type $S = i8;
                $body
            }
            NpDType::Int16 => {
                type $S = i16;
                $body
            }
            NpDType::Int32 => {
                type $S = i32;
                $body
            }
            NpDType::Int64 => {
                type $S = i64;
                $body
            }
            NpDType::UInt8 => {
                type $S = u8;
                $body
            }
            NpDType::UInt16 => {
                type $S = u16;
                $body
            }
            NpDType::UInt32 => {
                type $S = u32;
                $body
            }
            NpDType::UInt64 => {
                type $S = u64;
                $body
            }
            NpDType::Float16 => {
                type $S = f16;
                $body
            }
            NpDType::Float32 => {
                type $S = f32;
                $body
            }
            NpDType::Float64 => {
                type $S = f64;
                $body
            }
            NpDType::BFloat16 => {
                type $S = bf16;
                $body
            }
            NpDType::Float8E4M3FN => {
                type $S = F8E4M3;
                $body
            }
        }
    };
}

/// The candle dtype a copy of `np` produces when the caller names none (the table's default).
pub(crate) fn default_target(np: NpDType) -> DType {
    np.mapping().target()
}

/// Copy (gather, byte-swap, cast) `src` into a fresh C-order CPU storage of `target`.
///
/// `target = None` applies the table: exact types keep their dtype, `int8`/`uint16`/`bool`
/// widen, and `uint64` becomes `I64` after checking every value fits.
pub fn copy_to_storage(src: &ArrayRef, target: Option<DType>) -> Result<CpuStorage> {
    copy_to_storage_with(src, target, true)
}

/// As [`copy_to_storage`], choosing whether large copies may use several threads.
pub fn copy_to_storage_with(src: &ArrayRef, target: Option<DType>, threads: bool) -> Result<CpuStorage> {
    let np = src.dtype();
    let target = target.unwrap_or_else(|| default_target(np));
    if np.mapping() == Mapping::RangeChecked(target) {
        if let Some((index, value)) = find_first::<u64>(src, |x| x > i64::MAX as u64) {
            return Err(Error::ValueOutOfRange {
                dtype: "uint64",
                value: value.to_string(),
                index,
                target: "I64",
            });
        }
    }
    Ok(with_source!(np, S => match target {
        DType::U8 => CpuStorage::U8(to_vec::<S, u8>(src, threads)?),
        DType::U32 => CpuStorage::U32(to_vec::<S, u32>(src, threads)?),
        DType::I16 => CpuStorage::I16(to_vec::<S, i16>(src, threads)?),
        DType::I32 => CpuStorage::I32(to_vec::<S, i32>(src, threads)?),
        DType::I64 => CpuStorage::I64(to_vec::<S, i64>(src, threads)?),
        DType::F16 => CpuStorage::F16(to_vec::<S, f16>(src, threads)?),
        DType::BF16 => CpuStorage::BF16(to_vec::<S, bf16>(src, threads)?),
        DType::F32 => CpuStorage::F32(to_vec::<S, f32>(src, threads)?),
        DType::F64 => CpuStorage::F64(to_vec::<S, f64>(src, threads)?),
        DType::F8E4M3 => CpuStorage::F8E4M3(to_vec::<S, F8E4M3>(src, threads)?),
        other => return Err(Error::UnsupportedDType {
            dtype: format!("{other:?}"),
            reason: "packed sub-byte candle dtypes cannot be a copy target",
            supported: "U8, U32, I16, I32, I64, BF16, F16, F32, F64, F8E4M3",
        }),
    }))
}

/// Copy `src` into caller-provided memory of the same dtype (no cast), C order. Used by
/// benchmarks to compare with `memcpy` into the same warm buffer, and by callers that reuse
/// buffers.
pub fn copy_into_slice<T: crate::array::Element + CastTo<T>>(src: &ArrayRef, out: &mut [T]) -> Result<()> {
    copy_into_slice_with(src, out, true)
}

/// As [`copy_into_slice`], choosing whether large copies may use several threads.
pub fn copy_into_slice_with<T: crate::array::Element + CastTo<T>>(
    src: &ArrayRef,
    out: &mut [T],
    threads: bool,
) -> Result<()> {
    if src.dtype() != T::DTYPE {
        return Err(Error::ShapeMismatch {
            operation: "copy_into_slice",
            detail: format!("array is {} but the slice holds {}", src.dtype().name(), T::DTYPE.name()),
        });
    }
    if out.len() != src.len() {
        return Err(Error::ShapeMismatch {
            operation: "copy_into_slice",
            detail: format!("array has {} elements but the slice {}", src.len(), out.len()),
        });
    }
    // SAFETY: T is a plain-bits type; viewing initialised memory as MaybeUninit is always
    // sound, and copy_into writes only valid T values.
    let out: &mut [MaybeUninit<T>] =
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast(), out.len()) };
    copy_into::<T, T>(src, out, threads);
    Ok(())
}

/// An array's elements as raw bytes, C order, in a buffer of the element's width.
pub struct ElementBytes(ElementVec);

enum ElementVec {
    B1(Vec<u8>),
    B2(Vec<u16>),
    B4(Vec<u32>),
    B8(Vec<u64>),
}

impl ElementBytes {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        fn bytes<T>(v: &[T]) -> &[u8] {
            // SAFETY: plain integers; u8 has alignment 1 and every byte is initialised.
            unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
        }
        match &self.0 {
            ElementVec::B1(v) => bytes(v),
            ElementVec::B2(v) => bytes(v),
            ElementVec::B4(v) => bytes(v),
            ElementVec::B8(v) => bytes(v),
        }
    }
}

/// Gather `src` into C-order bytes in byte order `order` (swapping when it differs from the
/// array's own). For writing files. An allocation failure is [`Error::AllocationFailed`].
pub fn to_bytes(src: &ArrayRef, order: ByteOrder) -> Result<ElementBytes> {
    fn go<T: CastTo<T> + Send>(src: &ArrayRef, swap: bool) -> Result<Vec<T>> {
        filled_vec(src.len(), |out| {
            if !swap && src.is_c_contiguous() && !out.is_empty() {
                memcpy_into(src.data_ptr(), out, true)
            } else if !out.is_empty() {
                gather_into::<T, T>(src, out, swap, true)
            }
        })
    }
    let swap = src.dtype().has_byte_order() && src.byte_order() != order;
    Ok(ElementBytes(match src.dtype().itemsize() {
        1 => ElementVec::B1(go::<u8>(src, false)?),
        2 => ElementVec::B2(go::<u16>(src, swap)?),
        4 => ElementVec::B4(go::<u32>(src, swap)?),
        _ => ElementVec::B8(go::<u64>(src, swap)?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_merges_contiguous_axes() {
        let w = Walk::new(&[2, 3, 4], &[48, 16, 4]);
        assert_eq!(w, Walk { shape: vec![24], strides: vec![4] });
        let w = Walk::new(&[2, 3, 4], &[96, 16, 4]);
        assert_eq!(w, Walk { shape: vec![2, 12], strides: vec![96, 4] });
        let w = Walk::new(&[3, 1, 4], &[16, 999, 4]);
        assert_eq!(w, Walk { shape: vec![12], strides: vec![4] });
        let w = Walk::new(&[], &[]);
        assert_eq!(w, Walk { shape: vec![1], strides: vec![0] });
        let w = Walk::new(&[3, 0], &[0, 4]);
        assert_eq!(w.len(), 0);
        // reversed axes stay separate
        let w = Walk::new(&[2, 3], &[-12, 4]);
        assert_eq!(w, Walk { shape: vec![2, 3], strides: vec![-12, 4] });
    }

    fn gathered(a: &ArrayRef, threads: bool) -> Vec<f64> {
        match copy_to_storage_with(a, None, threads).unwrap() {
            CpuStorage::F64(v) => v,
            _ => unreachable!(),
        }
    }

    #[test]
    fn parallel_and_serial_agree_on_awkward_layouts() {
        let n = 300 * 700;
        let a = ArrayRef::from_vec((0..n).map(|i| i as f64).collect::<Vec<_>>(), &[300, 700]).unwrap();
        let views = [
            a.clone(),
            a.transposed(),
            a.sliced(0, 299, 300, -1).unwrap(),
            a.sliced(1, 1, 233, 3).unwrap().transposed(),
        ];
        for v in views {
            let s = gathered(&v, false);
            let p = gathered(&v, true);
            assert_eq!(s, p);
            // reference: index arithmetic
            let (r, c) = (v.shape()[0], v.shape()[1]);
            let off = v.offset_in_buffer() / 8;
            let (s0, s1) = (v.strides()[0] / 8, v.strides()[1] / 8);
            for i in (0..r).step_by(37) {
                for j in (0..c).step_by(11) {
                    assert_eq!(s[i * c + j], (off + i as isize * s0 + j as isize * s1) as f64);
                }
            }
        }
    }

    #[test]
    fn tiled_transposes_match_the_plain_walk() {
        // batched transposes with sizes that are not multiples of the tile, byte-swapped and
        // cast, through the tiled path (and in parallel chunks for the large one)
        for (shape, threads) in [(vec![3usize, 37, 45], false), (vec![2, 700, 300], true)] {
            let n: usize = shape.iter().product();
            let a = ArrayRef::from_vec((0..n).map(|i| i as f64).collect::<Vec<_>>(), &shape).unwrap();
            let t = a.permuted(&[0, 2, 1]).unwrap();
            assert!(Transpose::of::<f64>(&Walk::new(t.shape(), t.strides())).is_some());
            let got = gathered(&t, threads);
            let (b, r, c) = (t.shape()[0], t.shape()[1], t.shape()[2]);
            for bi in 0..b {
                for i in (0..r).step_by(7) {
                    for j in (0..c).step_by(5) {
                        let src = (bi * shape[1] * shape[2] + j * shape[2] + i) as f64;
                        assert_eq!(got[bi * r * c + i * c + j], src);
                    }
                }
            }
            let swapped = t.with_byte_order(if cfg!(target_endian = "little") {
                ByteOrder::Big
            } else {
                ByteOrder::Little
            });
            let f32s = match copy_to_storage_with(&swapped, Some(DType::F32), threads).unwrap() {
                CpuStorage::F32(v) => v,
                _ => unreachable!(),
            };
            let reference: Vec<f32> =
                got.iter().map(|x| f64::from_bits(x.to_bits().swap_bytes()) as f32).collect();
            assert_eq!(f32s.len(), reference.len());
            assert!(f32s
                .iter()
                .zip(&reference)
                .all(|(a, b)| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())));
        }
    }

    #[test]
    fn casts_follow_numpy_astype() {
        assert_eq!(<f64 as CastTo<f32>>::cast(0.1), 0.1f32);
        assert_eq!(<f32 as CastTo<i32>>::cast(-2.7), -2);
        assert_eq!(<f32 as CastTo<u8>>::cast(f32::NAN), 0);
        assert_eq!(<i32 as CastTo<u8>>::cast(257), 1);
        assert_eq!(<u64 as CastTo<i64>>::cast(u64::MAX), -1);
        assert_eq!(<f32 as CastTo<f16>>::cast(1.0 / 3.0), f16::from_f32(1.0 / 3.0));
        assert_eq!(<f32 as CastTo<bf16>>::cast(1.0 / 3.0), bf16::from_f32(1.0 / 3.0));
        assert_eq!(<f16 as CastTo<f64>>::cast(f16::from_f32(0.5)), 0.5);
        // identity keeps signalling NaN payloads bit for bit
        let snan = f16::from_bits(0x7C17);
        assert_eq!(<f16 as CastTo<f16>>::cast(snan).to_bits(), 0x7C17);
        assert_eq!(<bf16 as CastTo<bf16>>::cast(bf16::from_bits(0x7F81)).to_bits(), 0x7F81);
        assert_eq!(<f32 as CastTo<f32>>::cast(f32::from_bits(0x7F800001)).to_bits(), 0x7F800001);
        assert_eq!(<NpBool as CastTo<f32>>::cast(NpBool(7)), 1.0);
        assert_eq!(<NpBool as CastTo<u8>>::cast(NpBool(0)), 0);
        assert_eq!(<i16 as CastTo<F8E4M3>>::cast(2).to_f32(), 2.0);
        // i64 -> f64 rounds once
        assert_eq!(<i64 as CastTo<f64>>::cast((1 << 53) + 1), (1u64 << 53) as f64);
    }

    #[test]
    fn byte_swapping() {
        let v: Vec<u32> = vec![0x01020304, 0xA0B0C0D0];
        let a = ArrayRef::from_vec(v, &[2]).unwrap().with_byte_order(if cfg!(target_endian = "little") {
            ByteOrder::Big
        } else {
            ByteOrder::Little
        });
        match copy_to_storage(&a, None).unwrap() {
            CpuStorage::U32(v) => assert_eq!(v, vec![0x04030201, 0xD0C0B0A0]),
            _ => unreachable!(),
        }
    }

    #[test]
    fn uint64_range_check_names_index_and_value() {
        let a = ArrayRef::from_vec(vec![1u64, 2, u64::MAX, 3], &[2, 2]).unwrap();
        let err = copy_to_storage(&a, None).unwrap_err();
        assert!(matches!(err, Error::ValueOutOfRange { index: 2, .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("18446744073709551615") && msg.contains("flat index 2"), "{msg}");
        // an explicit cast is astype: it wraps instead
        assert!(matches!(copy_to_storage(&a, Some(DType::F64)).unwrap(), CpuStorage::F64(_)));
        let ok = ArrayRef::from_vec(vec![1u64, i64::MAX as u64], &[2]).unwrap();
        match copy_to_storage(&ok, None).unwrap() {
            CpuStorage::I64(v) => assert_eq!(v, vec![1, i64::MAX]),
            _ => unreachable!(),
        }
    }
}
