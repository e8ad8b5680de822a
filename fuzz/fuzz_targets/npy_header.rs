//! The `.npy` reader on arbitrary bytes: header parsing (magic, version, length, the Python-literal
//! dict, descr, shape) and the data read behind it. Any input must give a value or an error,
//! never a panic, an abort or an allocation the input does not justify.
#![no_main]

use candle_numpy::{npy, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = npy::parse_header(data);
    let _ = npy::read(&mut &data[..], &Options::default());
    let _ = npy::read_array(&mut &data[..]);
});
