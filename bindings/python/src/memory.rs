//! `cn.empty_cache()`, `cn.cache_info()`, `cn.set_cache_limit()`: the large-block cache of the
//! extension's global allocator (`candle_numpy::block_cache`), and its limit at import.

use candle_numpy::python::detach;
use pyo3::exceptions::{PyRuntimeWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::ALLOC;

/// The environment variable that sets the cache's byte limit at import.
const LIMIT_VAR: &str = "CANDLE_NUMPY_CACHE_LIMIT";

/// Parse a byte count: digits with an optional binary suffix (`512M`, `2G`, `0`).
fn parse_bytes(text: &str) -> Option<usize> {
    let t = text.trim();
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'k' | 'K') => (&t[..i], 10),
        (i, 'm' | 'M') => (&t[..i], 20),
        (i, 'g' | 'G') => (&t[..i], 30),
        _ => (t, 0),
    };
    let n: usize = digits.trim().parse().ok()?;
    n.checked_mul(1usize << shift)
}

/// The default limit: a sixteenth of the machine's memory, at most 1 GiB.
fn default_limit() -> usize {
    // SAFETY: sysconf has no preconditions; a failure returns -1, handled below.
    let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    if pages <= 0 || page <= 0 {
        return candle_numpy::block_cache::DEFAULT_LIMIT;
    }
    ((pages as usize).saturating_mul(page as usize) / 16).min(candle_numpy::block_cache::DEFAULT_LIMIT)
}

/// Set the limit at import: `CANDLE_NUMPY_CACHE_LIMIT` if set (a malformed value warns and
/// keeps the default), else [`default_limit`].
pub fn configure(py: Python<'_>) -> PyResult<()> {
    let limit = match std::env::var(LIMIT_VAR) {
        Ok(text) => match parse_bytes(&text) {
            Some(n) => n,
            None => {
                let msg = format!(
                    "{LIMIT_VAR}={text:?} is not a byte count (write e.g. 0, 268435456, 512M or 2G); \
                     using the default limit"
                );
                let category = py.get_type::<PyRuntimeWarning>();
                PyErr::warn(py, &category, &std::ffi::CString::new(msg).unwrap_or_default(), 1)?;
                default_limit()
            }
        },
        Err(_) => default_limit(),
    };
    ALLOC.inner().set_limit(limit);
    Ok(())
}

/// Release every cached large block to the operating system; returns the bytes released.
#[pyfunction]
pub fn empty_cache(py: Python<'_>) -> usize {
    detach(py, || ALLOC.inner().empty())
}

/// Keep at most `bytes` of freed large blocks for reuse (0 turns the cache off).
#[pyfunction]
pub fn set_cache_limit(py: Python<'_>, bytes: i128) -> PyResult<()> {
    let bytes = usize::try_from(bytes).map_err(|_| {
        PyValueError::new_err(format!(
            "set_cache_limit: {bytes} is not a byte count (0 .. 2**64-1; 0 turns the cache off)"
        ))
    })?;
    detach(py, || ALLOC.inner().set_limit(bytes));
    Ok(())
}

/// The cache's limit, contents and counters as a dict.
#[pyfunction]
pub fn cache_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let s = ALLOC.inner().stats();
    let d = PyDict::new(py);
    d.set_item("limit", s.limit)?;
    d.set_item("cached_bytes", s.cached_bytes)?;
    d.set_item("blocks", s.blocks)?;
    d.set_item("hits", s.hits)?;
    d.set_item("misses", s.misses)?;
    d.set_item("min_block", candle_numpy::block_cache::MIN_BLOCK)?;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("0"), Some(0));
        assert_eq!(parse_bytes(" 4096 "), Some(4096));
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("2g"), Some(2 << 30));
        assert_eq!(parse_bytes("8 K"), Some(8 << 10));
        for bad in ["", "M", "-1", "1.5G", "lots", "99999999999999999999G"] {
            assert_eq!(parse_bytes(bad), None, "{bad:?}");
        }
    }
}
