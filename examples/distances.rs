//! The seed's scientific example in Rust: all distances between 1000 particle positions, on
//! CUDA when a device is present, else on the CPU.
//!
//! ```text
//! cargo run --release --example distances
//! ```

use candle_core::{DType, Tensor};
use candle_numpy::distance::cdist;
use candle_numpy::{device::cuda_if_available, to_tensor, ArrayRef, Options, Sharing};

fn main() -> candle_numpy::Result<()> {
    // positions = np.random.rand(1000, 3).astype(np.float32)
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let positions: Vec<f32> = (0..3000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect();
    let device = cuda_if_available(0);
    // positions_tensor = torch.from_numpy(positions).to('cuda'): Auto shares on the CPU when
    // the adopting allocator is installed, and copies to a device
    let array = ArrayRef::from_vec(positions, &[1000, 3])?;
    let opts = Options { device: device.clone(), ..Default::default() };
    let positions_tensor = to_tensor(&array, Sharing::Auto, &opts)?;
    let distances = cdist(&positions_tensor, &positions_tensor, 2.0)?;
    println!("{:?} on {}", distances.dims(), candle_numpy::device::device_name(&device));

    let d = distances.to_device(&candle_core::Device::Cpu)?.to_vec2::<f32>()?;
    let diagonal_zero = (0..1000).all(|i| d[i][i] == 0.0);
    println!("diagonal exactly zero: {diagonal_zero}");
    // the pair torch's GEMM expansion gets wrong
    let far = Tensor::new(&[[512695f32], [512804.0]], &candle_core::Device::Cpu)?;
    let d = cdist(&far, &far, 2.0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    println!("cdist of 512695 and 512804: {}", d[0][1]);
    Ok(())
}
