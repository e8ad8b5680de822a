//! Run-time choice of vector width for hot loops.
//!
//! The crate is built for the baseline x86-64 target (SSE2, 4 floats per instruction) so that
//! one wheel runs everywhere. [`wide`] runs a closure through a copy of it compiled for AVX2
//! and FMA (8 floats) when the CPU has them, as torch's CPU-capability dispatch does; the
//! closure must be `#[inline(always)]` so that it is compiled inside that copy. Results are
//! bit-identical either way: Rust never contracts `a * b + c` into an FMA on its own, and the
//! loops vectorised this way compute independent outputs, so only how many are done per
//! instruction changes (measured on the cdist kernels: 1.6-2x for square-root-bound rows).

/// `f()`, compiled for AVX2 + FMA where the CPU supports them.
#[inline(always)]
pub(crate) fn wide<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // `unsafe fn`: a safe target-feature function needs Rust 1.86; the crate supports 1.85
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only requirement
            // of calling a function compiled with them.
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(test)]
mod tests {
    #[test]
    fn wide_gives_the_baseline_bits() {
        let a: Vec<f32> = (0..1003).map(|i| (i as f32).mul_add(0.37, -11.0)).collect();
        let kernel = |out: &mut Vec<f32>| {
            out.clear();
            out.extend(a.iter().map(|&x| (x * x + 0.5 * x).sqrt() / (1.0 + x.abs())));
        };
        let (mut narrow, mut widened) = (Vec::new(), Vec::new());
        kernel(&mut narrow);
        super::wide(
            #[inline(always)]
            || kernel(&mut widened),
        );
        assert_eq!(
            narrow.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            widened.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }
}
