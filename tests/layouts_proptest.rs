//! Property tests over dtype x shape (rank 0-4, zero-length axes) x layout (sliced, stepped,
//! transposed, reversed, byte-swapped): Copy equals a reference gather done by hand, and
//! Share either shares (same memory, same values) or fails with one of the documented
//! refusals.

use candle_core::Tensor;
use candle_numpy::copy::to_bytes;
use candle_numpy::{shares_memory, to_tensor, ArrayRef, ByteOrder, Error, NpDType, Options, Sharing};
use proptest::prelude::*;

const FOREIGN: ByteOrder = if cfg!(target_endian = "little") { ByteOrder::Big } else { ByteOrder::Little };

/// How to cut a view out of a parent array.
#[derive(Debug, Clone)]
struct Recipe {
    dtype: NpDType,
    /// Per axis: (view length, start, step) with step in {-2, -1, 1, 2}.
    axes: Vec<(usize, usize, isize)>,
    perm: Vec<usize>,
    foreign_order: bool,
    seed: u64,
}

impl Recipe {
    /// Parent length of each axis, large enough for the slice.
    fn parent_shape(&self) -> Vec<usize> {
        self.axes
            .iter()
            .map(
                |&(len, start, step)| {
                    if len == 0 {
                        start.max(1)
                    } else {
                        start + (len - 1) * step.unsigned_abs() + 1
                    }
                },
            )
            .collect()
    }

    fn apply(&self, parent: &ArrayRef) -> ArrayRef {
        let mut v = parent.clone();
        for (axis, &(len, start, step)) in self.axes.iter().enumerate() {
            let n = v.shape()[axis];
            let first = match (len, step > 0) {
                (0, _) => 0,
                (_, true) => start,
                (_, false) => n - 1 - start,
            };
            v = v.sliced(axis, first, len, step).unwrap();
        }
        let v = v.permuted(&self.perm).unwrap();
        if self.foreign_order {
            v.with_byte_order(FOREIGN)
        } else {
            v
        }
    }
}

fn any_dtype() -> impl Strategy<Value = NpDType> {
    prop::sample::select(NpDType::all().collect::<Vec<_>>())
}

fn exact_dtype() -> impl Strategy<Value = NpDType> {
    prop::sample::select(NpDType::all().filter(|d| d.exact_candle().is_some()).collect::<Vec<_>>())
}

fn recipe(dtype: impl Strategy<Value = NpDType>) -> impl Strategy<Value = Recipe> {
    (dtype, 0usize..=4)
        .prop_flat_map(|(dtype, rank)| {
            let axis = (0usize..=4, 0usize..=2, prop::sample::select(vec![-2isize, -1, 1, 1, 1, 2]));
            (
                Just(dtype),
                prop::collection::vec(axis, rank),
                Just((0..rank).collect::<Vec<_>>()).prop_shuffle(),
                prop::bool::weighted(0.2),
                any::<u64>(),
            )
        })
        .prop_map(|(dtype, axes, perm, foreign_order, seed)| Recipe {
            dtype,
            axes,
            perm,
            foreign_order,
            seed,
        })
}

/// Deterministic pseudo-random bytes (splitmix64).
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn parent_array(r: &Recipe) -> ArrayRef {
    let shape = r.parent_shape();
    let isz = r.dtype.itemsize();
    let n: usize = shape.iter().product();
    let strides = candle_numpy::array::c_strides(&shape, isz);
    ArrayRef::from_bytes(bytes(n * isz, r.seed), 0, r.dtype, ByteOrder::NATIVE, &shape, &strides).unwrap()
}

/// The elements of `a` in C order, each as native-order bytes of the table's target dtype,
/// computed by plain index arithmetic. `None` when a uint64 value does not fit int64.
fn reference(a: &ArrayRef) -> Option<Vec<u8>> {
    let isz = a.dtype().itemsize();
    let n = a.len();
    let mut out = Vec::new();
    for flat in 0..n {
        let mut rem = flat;
        let mut off = 0isize;
        for ax in (0..a.ndim()).rev() {
            off += (rem % a.shape()[ax]) as isize * a.strides()[ax];
            rem /= a.shape()[ax];
        }
        // SAFETY: the ArrayRef was bounds-checked at construction, so this element is readable.
        let mut e: Vec<u8> = unsafe { std::slice::from_raw_parts(a.data_ptr().offset(off), isz) }.to_vec();
        if !a.is_native_byte_order() {
            e.reverse();
        }
        match a.dtype() {
            NpDType::Bool => out.push((e[0] != 0) as u8),
            NpDType::Int8 => out.extend_from_slice(&(e[0] as i8 as i16).to_ne_bytes()),
            NpDType::UInt16 => {
                out.extend_from_slice(&(u16::from_ne_bytes([e[0], e[1]]) as u32).to_ne_bytes())
            }
            NpDType::UInt64 => {
                let v = u64::from_ne_bytes(e.try_into().unwrap());
                if v > i64::MAX as u64 {
                    return None;
                }
                out.extend_from_slice(&(v as i64).to_ne_bytes());
            }
            _ => out.extend_from_slice(&e),
        }
    }
    Some(out)
}

fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    to_bytes(&ArrayRef::from_tensor(t).unwrap(), ByteOrder::NATIVE).unwrap().as_bytes().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn copy_equals_a_reference_gather(r in recipe(any_dtype())) {
        let parent = parent_array(&r);
        let view = r.apply(&parent);
        let got = to_tensor(&view, Sharing::Copy, &Options::default());
        match reference(&view) {
            Some(want) => {
                let t = got.unwrap();
                prop_assert_eq!(t.dims(), view.shape());
                prop_assert_eq!(t.dtype(), view.dtype().mapping().target());
                prop_assert!(t.is_contiguous());
                prop_assert_eq!(tensor_bytes(&t), want);
                prop_assert!(!shares_memory(&t, &view));
            }
            None => {
                let is_range_error = matches!(got, Err(Error::ValueOutOfRange { .. }));
                prop_assert!(is_range_error);
            }
        }
    }

    #[test]
    fn share_shares_or_refuses_as_documented(r in recipe(exact_dtype())) {
        // an exported tensor: sharable without the adopting allocator
        let parent = to_tensor(&parent_array(&r), Sharing::Copy, &Options::default()).unwrap();
        let exported = ArrayRef::from_tensor(&parent).unwrap();
        let view = r.apply(&exported);
        match to_tensor(&view, Sharing::Share, &Options::default()) {
            Ok(t) => {
                // (an empty view has no memory: an empty tensor, sharing nothing)
                prop_assert!(view.is_empty() || shares_memory(&t, &view));
                prop_assert_eq!(t.dims(), view.shape());
                prop_assert_eq!(tensor_bytes(&t.contiguous().unwrap()), reference(&view).unwrap());
                prop_assert!(view.is_empty() || (view.is_native_byte_order() && view.negative_stride().is_none()));
            }
            Err(e) => {
                let documented = match &e {
                    Error::ByteOrder { .. } => !view.is_native_byte_order(),
                    Error::NegativeStride { .. } => view.negative_stride().is_some(),
                    Error::LayoutNotExpressible { .. } => true,
                    _ => false,
                };
                prop_assert!(documented, "undocumented refusal {:?} for {:?}", e, view);
                // Auto always succeeds, with Copy's values
                let auto = to_tensor(&view, Sharing::Auto, &Options::default()).unwrap();
                prop_assert_eq!(tensor_bytes(&auto.contiguous().unwrap()), reference(&view).unwrap());
            }
        }
    }
}
