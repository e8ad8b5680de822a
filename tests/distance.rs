//! cdist: accuracy against a float64 reference, the hard cases torch gets wrong, shapes,
//! errors, gradients and both code paths (fused CPU kernels and candle-op tiles).

use candle_core::{DType, Device, Tensor, Var};
use candle_numpy::distance::{cdist, cdist_with, CdistOptions, ComputeMode, Metric};
use candle_numpy::{Error, Result};

fn lcg(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

fn reference(a: &[f64], b: &[f64], m: usize, p: f64) -> Vec<f64> {
    let mut out = Vec::new();
    for x in a.chunks(m) {
        for y in b.chunks(m) {
            let d: Vec<f64> = x.iter().zip(y).map(|(u, v)| (u - v).abs()).collect();
            out.push(if p.is_infinite() {
                d.iter().cloned().fold(0.0, f64::max)
            } else {
                d.iter().map(|v| v.powf(p)).sum::<f64>().powf(1.0 / p)
            });
        }
    }
    out
}

fn max_rel_err(got: &[f64], want: &[f64]) -> f64 {
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / w.abs().max(1e-30)).fold(0.0, f64::max)
}

fn opts(metric: Metric, mode: ComputeMode) -> CdistOptions {
    CdistOptions { metric, compute_mode: mode, ..Default::default() }
}

#[test]
fn matches_a_float64_reference_for_p_1_2_3_inf_in_f32_and_f64() -> Result<()> {
    // m = 7: the column kernel (few features); m = 20: the lane kernel and the GEMM
    for m in [7, 20] {
        reference_case(70, 40, m)?;
    }
    Ok(())
}

fn reference_case(p: usize, r: usize, m: usize) -> Result<()> {
    let a: Vec<f64> = lcg(p * m, 1).iter().map(|x| x * 10.0 - 3.0).collect();
    let b: Vec<f64> = lcg(r * m, 2).iter().map(|x| x * 10.0 - 3.0).collect();
    for dtype in [DType::F32, DType::F64] {
        let ta = Tensor::from_slice(&a, (p, m), &Device::Cpu)?.to_dtype(dtype)?;
        let tb = Tensor::from_slice(&b, (r, m), &Device::Cpu)?.to_dtype(dtype)?;
        // the reference sees the same rounded inputs
        let (a_in, b_in): (Vec<f64>, Vec<f64>) = (
            ta.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
            tb.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
        );
        let tol = if dtype == DType::F32 { 2e-6 } else { 1e-13 };
        for q in [1.0, 2.0, 3.0, f64::INFINITY] {
            for mode in [ComputeMode::Auto, ComputeMode::Matmul, ComputeMode::Direct] {
                let d = cdist_with(&ta, &tb, &opts(Metric::Minkowski(q), mode), &|| false)?;
                assert_eq!(d.dims(), [p, r]);
                assert_eq!(d.dtype(), dtype);
                let got: Vec<f64> = d.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
                let err = max_rel_err(&got, &reference(&a_in, &b_in, m, q));
                assert!(err < tol, "p={q} {dtype:?} {mode:?}: relative error {err}");
            }
        }
    }
    Ok(())
}

#[test]
fn the_hard_cases_are_exact() -> Result<()> {
    // torch's GEMM expansion gives not-109 for these two f32 points
    let x = Tensor::new(&[[512695f32], [512804.0]], &Device::Cpu)?;
    for mode in [ComputeMode::Matmul, ComputeMode::Direct, ComputeMode::Auto] {
        let d = cdist_with(&x, &x, &opts(Metric::Minkowski(2.0), mode), &|| false)?;
        assert_eq!(d.to_vec2::<f32>()?, [[0.0, 109.0], [109.0, 0.0]], "{mode:?}");
    }
    // cdist(X, X): exact zero diagonal, nothing negative or NaN, on data far from the origin
    let n = 300;
    let v: Vec<f32> = lcg(n * 16, 3).iter().map(|x| (1e4 + x) as f32).collect();
    let x = Tensor::from_slice(&v, (n, 16), &Device::Cpu)?;
    for metric in [Metric::Minkowski(2.0), Metric::SqEuclidean, Metric::Cosine] {
        let d = cdist_with(&x, &x, &opts(metric, ComputeMode::Matmul), &|| false)?.to_vec2::<f32>()?;
        for (i, row) in d.iter().enumerate() {
            assert_eq!(row[i], 0.0, "{metric:?} diagonal at {i}");
            assert!(row.iter().all(|v| v.is_finite() && *v >= 0.0), "{metric:?} row {i}");
        }
        // symmetric, as exact distances are
        for (i, row) in d.iter().enumerate() {
            for (j, v) in row.iter().enumerate().take(i) {
                assert_eq!(*v, d[j][i], "{metric:?} ({i}, {j})");
            }
        }
    }
    Ok(())
}

#[test]
fn batched_empty_squared_cosine_and_half_precision() -> Result<()> {
    let a = Tensor::from_vec(
        lcg(2 * 5 * 3, 4).iter().map(|&x| x as f32).collect::<Vec<_>>(),
        (2, 5, 3),
        &Device::Cpu,
    )?;
    let b = Tensor::from_vec(
        lcg(2 * 4 * 3, 5).iter().map(|&x| x as f32).collect::<Vec<_>>(),
        (2, 4, 3),
        &Device::Cpu,
    )?;
    let d = cdist(&a, &b, 2.0)?;
    assert_eq!(d.dims(), [2, 5, 4]);
    for bi in 0..2 {
        let one = cdist(&a.get(bi)?, &b.get(bi)?, 2.0)?;
        assert_eq!(d.get(bi)?.to_vec2::<f32>()?, one.to_vec2::<f32>()?);
    }
    let e = Tensor::zeros((0, 3), DType::F32, &Device::Cpu)?;
    assert_eq!(cdist(&e, &b.get(0)?, 2.0)?.dims(), [0, 4]);
    assert_eq!(cdist(&a.get(0)?, &e, 1.0)?.dims(), [5, 0]);
    let sq = cdist_with(&a, &b, &opts(Metric::SqEuclidean, ComputeMode::Direct), &|| false)?;
    let diff = (sq - d.sqr()?)?.abs()?.max_all()?.to_scalar::<f32>()?;
    assert!(diff < 1e-5, "{diff}");
    // cosine against the definition
    let x = Tensor::new(&[[1f32, 0.0], [0.0, 2.0], [0.0, 0.0]], &Device::Cpu)?;
    let y = Tensor::new(&[[3f32, 0.0], [1.0, 1.0]], &Device::Cpu)?;
    let c = cdist_with(&x, &y, &opts(Metric::Cosine, ComputeMode::Direct), &|| false)?.to_vec2::<f32>()?;
    let h = 1.0 - std::f32::consts::FRAC_1_SQRT_2;
    let want = [[0.0, h], [1.0, h], [1.0, 1.0]];
    for (r, w) in c.iter().zip(want) {
        for (g, w) in r.iter().zip(w) {
            assert!((g - w).abs() < 1e-6, "{c:?}");
        }
    }
    // f16 in, f16 out, computed in f32
    let h16 = Tensor::new(&[[512f32, 1.0], [515.0, 5.0]], &Device::Cpu)?.to_dtype(DType::F16)?;
    let d16 = cdist(&h16, &h16, 2.0)?;
    assert_eq!(d16.dtype(), DType::F16);
    assert_eq!(d16.to_dtype(DType::F32)?.to_vec2::<f32>()?, [[0.0, 5.0], [5.0, 0.0]]);
    Ok(())
}

#[test]
fn zero_features_give_zero_distances_as_torch() -> Result<()> {
    let a = Tensor::zeros((3, 0), DType::F32, &Device::Cpu)?;
    let b = Tensor::zeros((2, 0), DType::F32, &Device::Cpu)?;
    for p in [1.0, 2.0, 3.0, f64::INFINITY] {
        let d = cdist(&a, &b, p)?;
        assert_eq!(d.dtype(), DType::F32);
        assert_eq!(d.to_vec2::<f32>()?, vec![vec![0.0; 2]; 3], "p={p}");
    }
    let batched = cdist(
        &Tensor::zeros((2, 3, 0), DType::F64, &Device::Cpu)?,
        &Tensor::zeros((2, 4, 0), DType::F64, &Device::Cpu)?,
        2.0,
    )?;
    assert_eq!(batched.dims(), [2, 3, 4]);
    assert_eq!(batched.dtype(), DType::F64);
    assert_eq!(batched.sum_all()?.to_scalar::<f64>()?, 0.0);
    // the empty vector is the zero vector, which cosine puts at distance 1
    let c = cdist_with(&a, &b, &opts(Metric::Cosine, ComputeMode::Auto), &|| false)?;
    assert_eq!(c.to_vec2::<f32>()?, vec![vec![1.0; 2]; 3]);
    Ok(())
}

#[test]
fn bad_inputs_are_refused_with_the_reason() -> Result<()> {
    let a = Tensor::zeros((3, 4), DType::F32, &Device::Cpu)?;
    let b = Tensor::zeros((2, 5), DType::F32, &Device::Cpu)?;
    let e = cdist(&a, &b, 2.0).unwrap_err();
    assert!(e.to_string().contains("x1 has 4 features per row") && e.to_string().contains("x2 has 5"), "{e}");
    let e = cdist(&a, &a, 0.0).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { argument: "p", .. }), "{e}");
    let e = cdist(&a.to_dtype(DType::I64)?, &a.to_dtype(DType::I64)?, 2.0).unwrap_err();
    assert!(e.to_string().contains("floating-point"), "{e}");
    let e = cdist(&a.unsqueeze(0)?, &a, 2.0).unwrap_err();
    assert!(e.to_string().contains("(B, P, M)"), "{e}");
    // the output size is checked before any work
    let big = Tensor::zeros((1000, 2), DType::F32, &Device::Cpu)?;
    let o = CdistOptions { max_output_bytes: Some(1 << 20), ..Default::default() };
    let e = cdist_with(&big, &big, &o, &|| false).unwrap_err();
    assert!(matches!(e, Error::OutputTooLarge { bytes: 4_000_000, .. }), "{e}");
    assert!(e.to_string().contains("4000000 bytes"), "{e}");
    // interrupted between tiles
    let o = CdistOptions { tile_bytes: 1, ..Default::default() };
    assert!(matches!(cdist_with(&big, &big, &o, &|| true), Err(Error::Interrupted { .. })));
    Ok(())
}

#[test]
fn gradients_match_the_analytic_ones_and_are_zero_not_nan_at_zero_distance() -> Result<()> {
    let x = Var::new(&[[0f32, 0.0], [3.0, 4.0]], &Device::Cpu)?;
    let y = Tensor::new(&[[0f32, 0.0]], &Device::Cpu)?;
    for (q, want) in [(2.0, [0.6f32, 0.8]), (1.0, [1.0, 1.0]), (f64::INFINITY, [0.0, 1.0]), (3.0, [0.0, 0.0])]
    {
        let d = cdist(x.as_tensor(), &y, q)?;
        let grads = d.sum_all()?.backward()?;
        let g = grads.get(x.as_tensor()).expect("gradient").to_vec2::<f32>()?;
        assert!(g.iter().flatten().all(|v| v.is_finite()), "p={q}: {g:?}");
        assert_eq!(g[0], [0.0, 0.0], "p={q}: the gradient at zero distance is 0");
        if q != 3.0 {
            for (a, b) in g[1].iter().zip(want) {
                assert!((a - b).abs() < 1e-6, "p={q}: {g:?}");
            }
        } else {
            // d/dx (|3|^3 + |4|^3)^(1/3) = x^2 / d^2
            let d3 = (27f32 + 64.0).powf(1.0 / 3.0);
            assert!((g[1][0] - 9.0 / (d3 * d3)).abs() < 1e-5 && (g[1][1] - 16.0 / (d3 * d3)).abs() < 1e-5);
        }
        // the value is unchanged by the gradient plumbing
        assert_eq!(d.to_vec2::<f32>()?, cdist(&x.as_tensor().detach(), &y, q)?.to_vec2::<f32>()?);
    }
    Ok(())
}

#[test]
fn the_candle_op_path_cuda_runs_agrees_with_the_fused_kernels() -> Result<()> {
    let (p, r, m) = (50, 30, 6);
    let a = Tensor::from_vec(
        lcg(p * m, 7).iter().map(|&x| (x * 100.0) as f32).collect::<Vec<_>>(),
        (p, m),
        &Device::Cpu,
    )?;
    let b = Tensor::from_vec(
        lcg(r * m, 8).iter().map(|&x| (x * 100.0) as f32).collect::<Vec<_>>(),
        (r, m),
        &Device::Cpu,
    )?;
    for metric in [
        Metric::Minkowski(1.0),
        Metric::Minkowski(2.0),
        Metric::Minkowski(3.5),
        Metric::Minkowski(f64::INFINITY),
        Metric::SqEuclidean,
        Metric::Cosine,
    ] {
        let fused = cdist_with(&a, &b, &opts(metric, ComputeMode::Auto), &|| false)?;
        // small tiles, so several are stitched together
        let o = CdistOptions { metric, candle_ops: true, tile_bytes: 4096, ..Default::default() };
        let ops = cdist_with(&a, &b, &o, &|| false)?;
        let diff = (fused.to_dtype(DType::F64)? - ops.to_dtype(DType::F64)?)?
            .abs()?
            .max_all()?
            .to_scalar::<f64>()?;
        let scale = fused.to_dtype(DType::F64)?.abs()?.max_all()?.to_scalar::<f64>()?;
        assert!(diff <= scale * 1e-5, "{metric:?}: {diff} vs scale {scale}");
        let same = cdist_with(&a, &a, &o, &|| false)?.to_vec2::<f32>()?;
        assert!((0..p).all(|i| same[i][i] == 0.0), "{metric:?}: exact zero diagonal on the candle-op path");
    }
    Ok(())
}

#[test]
fn cdist_of_x_with_itself_computes_one_triangle_and_mirrors_it_exactly() -> Result<()> {
    let n = 203;
    let v: Vec<f32> = lcg(n * 24, 11).iter().map(|&x| (x * 50.0) as f32).collect();
    let x = Tensor::from_slice(&v, (n, 24), &Device::Cpu)?;
    let x_copy = x.copy()?; // other memory: the general path
    for tile_bytes in [1 << 12, 64 << 20] {
        for metric in [Metric::Minkowski(2.0), Metric::SqEuclidean, Metric::Cosine] {
            let o =
                CdistOptions { metric, compute_mode: ComputeMode::Matmul, tile_bytes, ..Default::default() };
            let sym = cdist_with(&x, &x, &o, &|| false)?.to_vec2::<f32>()?;
            let general = cdist_with(&x, &x_copy, &o, &|| false)?.to_vec2::<f32>()?;
            for i in 0..n {
                for j in 0..n {
                    assert_eq!(sym[i][j], sym[j][i], "{metric:?} tile {tile_bytes}: ({i}, {j})");
                    let (a, b) = (sym[i][j], general[i][j]);
                    assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{metric:?}: ({i}, {j}) {a} vs {b}");
                }
            }
        }
    }
    Ok(())
}
