//! `.npy` / `.npz` files written by real NumPy (fixtures in `tests/data/npy/`, made by
//! `scripts/make_npy_fixtures.py` with numpy 2.2.6 and ml_dtypes 0.5.1), malformed files, and
//! files written by this crate.
//!
//! Every fixture `<name>.npy` has a sidecar `<name>.json` with the dtype, shape, order and the
//! values in C order, so these tests need no NumPy. Files written by the crate here can be
//! checked against NumPy itself: run with `CANDLE_NUMPY_NPY_OUT=<dir>` and then
//! `.venv/bin/python scripts/check_npy_roundtrip.py <dir>`.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_numpy::npy::{self, WriteOptions};
use candle_numpy::{to_tensor, ArrayRef, ByteOrder, Error, NpDType, Options, Sharing};
use float8::F8E4M3;
use half::{bf16, f16};

// ---------------------------------------------------------------------------------------------
// A minimal JSON reader for the sidecars (no serde in the dev-dependencies). Numbers keep their
// text so integers above 2^53 (uint64, int64 extremes) stay exact; Python's json writes NaN,
// Infinity and -Infinity for the special floats, which are accepted too.

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Json {
        let mut p = JsonParser { s: text.as_bytes(), pos: 0 };
        let v = p.value();
        p.ws();
        assert_eq!(p.pos, p.s.len(), "trailing characters in JSON");
        v
    }

    fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    fn field(&self, key: &str) -> &Json {
        self.get(key).unwrap_or_else(|| panic!("JSON has no {key:?}: {self:?}"))
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("expected a JSON string, found {other:?}"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("expected a JSON bool, found {other:?}"),
        }
    }

    fn arr(&self) -> &[Json] {
        match self {
            Json::Arr(v) => v,
            other => panic!("expected a JSON array, found {other:?}"),
        }
    }

    fn int(&self) -> i128 {
        match self {
            Json::Num(s) => s.parse().unwrap_or_else(|_| panic!("not an integer: {s}")),
            other => panic!("expected a JSON number, found {other:?}"),
        }
    }

    fn float(&self) -> f64 {
        match self {
            Json::Num(s) => match s.as_str() {
                "NaN" => f64::NAN,
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                s => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
            },
            other => panic!("expected a JSON number, found {other:?}"),
        }
    }

    fn usizes(&self) -> Vec<usize> {
        self.arr().iter().map(|v| usize::try_from(v.int()).unwrap()).collect()
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn lit(&mut self, word: &str) -> bool {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) {
        self.ws();
        assert_eq!(self.s.get(self.pos), Some(&c), "JSON: expected {:?} at byte {}", c as char, self.pos);
        self.pos += 1;
    }

    fn string(&mut self) -> String {
        self.expect(b'"');
        let mut out = String::new();
        loop {
            let c = self.s[self.pos];
            self.pos += 1;
            match c {
                b'"' => return out,
                b'\\' => {
                    let e = self.s[self.pos];
                    self.pos += 1;
                    out.push(match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        other => panic!("JSON escape \\{} not supported here", other as char),
                    });
                }
                _ => out.push(c as char),
            }
        }
    }

    fn value(&mut self) -> Json {
        self.ws();
        let c = self.s[self.pos];
        match c {
            b'{' => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.s[self.pos] == b'}' {
                    self.pos += 1;
                    return Json::Obj(entries);
                }
                loop {
                    self.ws();
                    let k = self.string();
                    self.expect(b':');
                    let v = self.value();
                    entries.push((k, v));
                    self.ws();
                    match self.s[self.pos] {
                        b',' => self.pos += 1,
                        b'}' => {
                            self.pos += 1;
                            return Json::Obj(entries);
                        }
                        c => panic!("JSON: unexpected {:?} in object", c as char),
                    }
                }
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s[self.pos] == b']' {
                    self.pos += 1;
                    return Json::Arr(items);
                }
                loop {
                    items.push(self.value());
                    self.ws();
                    match self.s[self.pos] {
                        b',' => self.pos += 1,
                        b']' => {
                            self.pos += 1;
                            return Json::Arr(items);
                        }
                        c => panic!("JSON: unexpected {:?} in array", c as char),
                    }
                }
            }
            b'"' => Json::Str(self.string()),
            _ if self.lit("true") => Json::Bool(true),
            _ if self.lit("false") => Json::Bool(false),
            _ if self.lit("null") => Json::Null,
            _ if self.lit("NaN") => Json::Num("NaN".into()),
            _ if self.lit("Infinity") => Json::Num("Infinity".into()),
            _ if self.lit("-Infinity") => Json::Num("-Infinity".into()),
            _ => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && matches!(self.s[self.pos], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.pos += 1;
                }
                assert!(self.pos > start, "JSON: unexpected character at byte {start}");
                Json::Num(String::from_utf8(self.s[start..self.pos].to_vec()).unwrap())
            }
        }
    }
}

#[test]
fn json_reader_reads_what_python_writes() {
    let j = Json::parse(
        r#"{"a":[1,-2.5e+3,NaN,-Infinity,18446744073709551615],"b":true,"c":"x\"y","d":null,"e":{}}"#,
    );
    let a = j.field("a").arr();
    assert_eq!(a[0].int(), 1);
    assert_eq!(a[1].float(), -2500.0);
    assert!(a[2].float().is_nan());
    assert_eq!(a[3].float(), f64::NEG_INFINITY);
    assert_eq!(a[4].int(), u64::MAX as i128);
    assert!(j.field("b").bool());
    assert_eq!(j.field("c").str(), "x\"y");
    assert_eq!(j.field("d"), &Json::Null);
    assert_eq!(j.field("e"), &Json::Obj(vec![]));
    assert!(j.get("zzz").is_none());
}

// ---------------------------------------------------------------------------------------------
// Values, compared exactly: integers as integers (exact for all 64-bit values), floats by bits
// (so -0.0 differs from 0.0) except that any NaN equals any NaN.

#[derive(Debug, Clone, Copy)]
enum V {
    I(i128),
    F(f64),
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::I(a), V::I(b)) => a == b,
            (V::F(a), V::F(b)) => (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

fn is_int(d: DType) -> bool {
    matches!(d, DType::U8 | DType::U32 | DType::I16 | DType::I32 | DType::I64)
}

/// The values of a tensor in C order: integers via I64, floats via F64.
fn tensor_values(t: &Tensor) -> Vec<V> {
    let mut flat = t.flatten_all().unwrap();
    if flat.dtype() == DType::F8E4M3 {
        // candle-core 0.11.1's F8E4M3 -> F64 cast never returns (its `v.to_f64()` resolves to
        // WithDType::to_f64 itself: endless recursion, a busy loop once optimised); go through
        // F32, which holds every float8 value exactly.
        flat = flat.to_dtype(DType::F32).unwrap();
    }
    if is_int(t.dtype()) {
        flat.to_dtype(DType::I64)
            .unwrap()
            .to_vec1::<i64>()
            .unwrap()
            .into_iter()
            .map(|x| V::I(x as i128))
            .collect()
    } else {
        flat.to_dtype(DType::F64).unwrap().to_vec1::<f64>().unwrap().into_iter().map(V::F).collect()
    }
}

fn json_values(j: &Json, as_int: bool) -> Vec<V> {
    j.arr().iter().map(|v| if as_int { V::I(v.int()) } else { V::F(v.float()) }).collect()
}

#[track_caller]
fn assert_values(actual: &[V], expected: &[V], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: element count");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a, e, "{what}: flat C index {i}: got {a:?}, expected {e:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The dtype table as these tests expect it (written out here, not taken from the crate).

struct Expect {
    np: NpDType,
    candle: DType,
    itemsize: usize,
}

fn expect_for(numpy_name: &str) -> Expect {
    let (np, candle, itemsize) = match numpy_name {
        "bool" => (NpDType::Bool, DType::U8, 1),
        "int8" => (NpDType::Int8, DType::I16, 1),
        "int16" => (NpDType::Int16, DType::I16, 2),
        "int32" => (NpDType::Int32, DType::I32, 4),
        "int64" => (NpDType::Int64, DType::I64, 8),
        "uint8" => (NpDType::UInt8, DType::U8, 1),
        "uint16" => (NpDType::UInt16, DType::U32, 2),
        "uint32" => (NpDType::UInt32, DType::U32, 4),
        "uint64" => (NpDType::UInt64, DType::I64, 8),
        "float16" => (NpDType::Float16, DType::F16, 2),
        "float32" => (NpDType::Float32, DType::F32, 4),
        "float64" => (NpDType::Float64, DType::F64, 8),
        "bfloat16" => (NpDType::BFloat16, DType::BF16, 2),
        "float8_e4m3fn" => (NpDType::Float8E4M3FN, DType::F8E4M3, 1),
        other => panic!("unknown dtype name {other}"),
    };
    Expect { np, candle, itemsize }
}

fn int_dtype_name(name: &str) -> bool {
    matches!(name, "bool" | "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64")
}

/// Byte order a descr announces ('|' and named ml_dtypes descrs: none, i.e. native).
fn descr_order(descr: &str) -> ByteOrder {
    match descr.as_bytes()[0] {
        b'<' => ByteOrder::Little,
        b'>' => ByteOrder::Big,
        _ => ByteOrder::NATIVE,
    }
}

fn c_strides(shape: &[usize], itemsize: usize) -> Vec<isize> {
    (0..shape.len())
        .map(|i| (itemsize * shape[i + 1..].iter().map(|&n| n.max(1)).product::<usize>()) as isize)
        .collect()
}

fn f_strides(shape: &[usize], itemsize: usize) -> Vec<isize> {
    (0..shape.len())
        .map(|i| (itemsize * shape[..i].iter().map(|&n| n.max(1)).product::<usize>()) as isize)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy")
}

struct Fixture {
    name: String,
    path: PathBuf,
    meta: Json,
}

impl Fixture {
    fn kind(&self) -> &str {
        self.meta.field("kind").str()
    }
    fn dtype(&self) -> &str {
        self.meta.field("dtype").str()
    }
    fn descr(&self) -> &str {
        self.meta.field("descr").str()
    }
    fn shape(&self) -> Vec<usize> {
        self.meta.field("shape").usizes()
    }
    fn fortran(&self) -> bool {
        self.meta.field("fortran").bool()
    }
    fn values(&self) -> Vec<V> {
        json_values(self.meta.field("values_c_order"), int_dtype_name(self.dtype()))
    }
}

fn read_json(path: &Path) -> Json {
    Json::parse(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Every `<name>.npy` of a directory with its sidecar.
fn fixtures_in(dir: &Path, ext: &str) -> Vec<Fixture> {
    let mut out: Vec<Fixture> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|path| {
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            let meta = read_json(&path.with_extension("json"));
            Fixture { name, path, meta }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn npy_fixtures(kind: &str) -> Vec<Fixture> {
    let all: Vec<Fixture> =
        fixtures_in(&data_dir(), "npy").into_iter().filter(|f| f.kind() == kind).collect();
    assert!(!all.is_empty(), "no fixtures of kind {kind}; run scripts/make_npy_fixtures.py");
    all
}

/// Run `f`, turning a panic into a test failure that names `what` (errors must be `Err`s).
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| panic!("{what} panicked instead of returning an error"))
}

const PLAIN: [&str; 12] = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16", "float32",
    "float64",
];

#[test]
fn fixture_set_is_complete() {
    let names: BTreeSet<String> = fixtures_in(&data_dir(), "npy").into_iter().map(|f| f.name).collect();
    let mut expected = BTreeSet::new();
    for d in PLAIN.iter().copied().chain(["uint64_big"]) {
        let multi = !matches!(d, "bool" | "int8" | "uint8");
        for layout in ["c", "f"] {
            if multi {
                for bo in ["le", "be"] {
                    expected.insert(format!("{d}_{layout}_{bo}"));
                }
            } else {
                expected.insert(format!("{d}_{layout}"));
            }
        }
    }
    for d in ["bfloat16", "float8_e4m3fn"] {
        for layout in ["c", "f"] {
            expected.insert(format!("{d}_{layout}"));
            expected.insert(format!("{d}_{layout}_named_descr"));
        }
    }
    for n in [
        "scalar_float64",
        "scalar_int8",
        "scalar_int32_be",
        "empty_float32_0x3",
        "empty_int16_be_0x3",
        "empty_int8_0x3",
        "vector_uint16_be",
        "bool_nonzero_bytes",
        "version2_float32_f",
        "version3_float32_f",
    ] {
        expected.insert(n.to_string());
    }
    assert_eq!(names, expected);
    assert_eq!(names.len(), 64);
    // the sidecars agree with the file names about order and byte order
    for f in fixtures_in(&data_dir(), "npy") {
        let fortran_name = f.name.ends_with("_f") || f.name.contains("_f_");
        assert_eq!(f.fortran(), fortran_name, "{}", f.name);
        if f.name.ends_with("_be") || f.name.contains("_be_") {
            assert!(f.descr().starts_with('>'), "{}: {}", f.name, f.descr());
        }
        if f.name.ends_with("_le") {
            assert!(f.descr().starts_with('<'), "{}: {}", f.name, f.descr());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Good NumPy files.

#[test]
fn numpy_files_load_with_table_dtypes_and_exact_values() {
    let fixtures = npy_fixtures("ok");
    assert_eq!(fixtures.len(), 56);
    for f in &fixtures {
        let e = expect_for(f.dtype());
        let t = no_panic(&f.name, || npy::load(&f.path)).unwrap_or_else(|err| panic!("{}: {err}", f.name));
        assert_eq!(t.dims(), f.shape().as_slice(), "{}", f.name);
        assert_eq!(t.dtype(), e.candle, "{}", f.name);
        assert_values(&tensor_values(&t), &f.values(), &f.name);
    }
}

#[test]
fn numpy_files_load_with_a_requested_dtype() {
    // a cast on load (astype semantics): everything as F64
    for f in &npy_fixtures("ok") {
        let t = npy::load_with(&f.path, &Options::default().dtype(DType::F64)).unwrap();
        assert_eq!(t.dtype(), DType::F64, "{}", f.name);
        assert_eq!(t.dims(), f.shape().as_slice(), "{}", f.name);
        let expected: Vec<V> = f
            .values()
            .into_iter()
            .map(|v| match v {
                V::I(i) => V::F(i as f64),
                v => v,
            })
            .collect();
        assert_values(&tensor_values(&t), &expected, &f.name);
    }
}

#[test]
fn numpy_files_mmap_as_readonly_arrays_in_file_layout() {
    let mut fixtures = npy_fixtures("ok");
    fixtures.extend(npy_fixtures("out_of_range"));
    assert_eq!(fixtures.len(), 60);
    for f in &fixtures {
        let e = expect_for(f.dtype());
        let shape = f.shape();
        let a = no_panic(&f.name, || npy::mmap(&f.path)).unwrap_or_else(|err| panic!("{}: {err}", f.name));
        assert_eq!(a.dtype(), e.np, "{}", f.name);
        assert_eq!(a.shape(), shape.as_slice(), "{}", f.name);
        let strides = if f.fortran() { f_strides(&shape, e.itemsize) } else { c_strides(&shape, e.itemsize) };
        assert_eq!(a.strides(), strides.as_slice(), "{}", f.name);
        assert!(a.is_readonly(), "{}", f.name);
        assert_eq!(a.byte_order(), descr_order(f.descr()), "{}", f.name);
        if shape.len() > 1 && shape.iter().all(|&n| n > 1) {
            assert_eq!(a.is_f_contiguous(), f.fortran(), "{}", f.name);
            assert_eq!(a.is_c_contiguous(), !f.fortran(), "{}", f.name);
        }
        // the array is the file's data bytes, in place: the file is header + exactly these
        let file = std::fs::read(&f.path).unwrap();
        let header_len = file.len() - a.nbytes();
        assert_eq!(header_len % 64, 0, "{}: NumPy aligns data to 64 bytes", f.name);
        if !a.is_empty() {
            // SAFETY: a C- or F-contiguous array's nbytes bytes start at data_ptr and lie in the
            // map, which `a` keeps alive.
            let mapped = unsafe { std::slice::from_raw_parts(a.data_ptr(), a.nbytes()) };
            assert_eq!(mapped, &file[header_len..], "{}", f.name);
        }
        if f.kind() == "ok" {
            let t = to_tensor(&a, Sharing::Copy, &Options::default()).unwrap();
            assert_eq!(t.dims(), shape.as_slice(), "{}", f.name);
            assert_eq!(t.dtype(), e.candle, "{}", f.name);
            assert!(t.is_contiguous(), "{}: copies are C-contiguous", f.name);
            assert_values(&tensor_values(&t), &f.values(), &f.name);
        }
    }
}

#[test]
fn uint64_above_i64_max_is_value_out_of_range_at_its_c_order_index() {
    let fixtures = npy_fixtures("out_of_range");
    assert_eq!(fixtures.len(), 4);
    for f in &fixtures {
        assert_eq!(f.dtype(), "uint64");
        let index = f.meta.field("error_index").int() as usize;
        assert_eq!(index, 14);
        let check = |err: Error, via: &str| {
            let msg = err.to_string();
            match err {
                Error::ValueOutOfRange { index: i, value, .. } => {
                    assert_eq!(i, index, "{} via {via}: {msg}", f.name);
                    assert_eq!(value, "18446744073709551615", "{} via {via}", f.name);
                }
                other => panic!("{} via {via}: expected ValueOutOfRange, got {other:?}", f.name),
            }
            assert!(msg.contains("flat index 14") && msg.contains("uint64"), "{msg}");
        };
        check(no_panic(&f.name, || npy::load(&f.path)).unwrap_err(), "load");
        let a = npy::mmap(&f.path).unwrap();
        check(to_tensor(&a, Sharing::Copy, &Options::default()).unwrap_err(), "mmap + copy");
        // an explicit dtype is a cast: the values arrive (rounded to f64)
        let t = npy::load_with(&f.path, &Options::default().dtype(DType::F64)).unwrap();
        let expected: Vec<V> = f
            .values()
            .iter()
            .map(|v| match *v {
                V::I(i) => V::F(i as u64 as f64),
                v => v,
            })
            .collect();
        assert_values(&tensor_values(&t), &expected, &f.name);
        assert_eq!(t.flatten_all().unwrap().to_vec1::<f64>().unwrap()[14], 18446744073709551615.0);
    }
}

#[test]
fn ml_dtypes_saved_by_numpy_have_a_void_descr_and_are_refused_cleanly() {
    // np.save(bfloat16 / float8_e4m3fn array) writes descr '<V2' / '<V1' (the ml_dtypes type
    // is not recorded; np.load gives back plain void). The crate cannot know what the bytes
    // are, so it must refuse, with an error (never a panic) that names the descr.
    let fixtures = npy_fixtures("void_descr");
    let descrs: Vec<(&str, &str)> = fixtures.iter().map(|f| (f.name.as_str(), f.descr())).collect();
    assert_eq!(
        descrs,
        [
            ("bfloat16_c", "<V2"),
            ("bfloat16_f", "<V2"),
            ("float8_e4m3fn_c", "<V1"),
            ("float8_e4m3fn_f", "<V1")
        ]
    );
    for f in &fixtures {
        let raw = std::fs::read(&f.path).unwrap();
        let needle = format!("'descr': '{}'", f.descr());
        assert!(String::from_utf8_lossy(&raw[..128]).contains(&needle), "{}", f.name);
        for (via, err) in [
            ("load", no_panic(&f.name, || npy::load(&f.path)).map(|_| ()).unwrap_err()),
            ("mmap", no_panic(&f.name, || npy::mmap(&f.path)).map(|_| ()).unwrap_err()),
        ] {
            let msg = err.to_string();
            assert!(matches!(err, Error::UnsupportedDType { .. }), "{} via {via}: {err:?}", f.name);
            assert!(msg.contains(f.descr()), "{} via {via}: {msg}", f.name);
            assert!(
                msg.contains("bfloat16"),
                "{} via {via}: the message should say how bfloat16 is written: {msg}",
                f.name
            );
        }
        // with the dtype named, the bits load as that type, equal to the named-descr twin
        let (hint, twin) =
            if f.descr() == "<V2" { (DType::BF16, "bfloat16") } else { (DType::F8E4M3, "float8_e4m3fn") };
        let t = npy::load_with(&f.path, &candle_numpy::Options::default().dtype(hint)).unwrap();
        assert_eq!(t.dtype(), hint);
        let layout = if f.name.ends_with("_f") { "f" } else { "c" };
        let named = npy::load(data_dir().join(format!("{twin}_{layout}_named_descr.npy"))).unwrap();
        assert_values(&tensor_values(&t), &tensor_values(&named), &f.name);
    }
}

#[test]
fn ml_dtypes_with_named_descr_load_exactly() {
    for (name, np, candle) in [
        ("bfloat16", NpDType::BFloat16, DType::BF16),
        ("float8_e4m3fn", NpDType::Float8E4M3FN, DType::F8E4M3),
    ] {
        for layout in ["c", "f"] {
            let path = data_dir().join(format!("{name}_{layout}_named_descr.npy"));
            let meta = read_json(&path.with_extension("json"));
            let expected = json_values(meta.field("values_c_order"), false);
            let t = npy::load(&path).unwrap();
            assert_eq!(t.dtype(), candle);
            assert_eq!(t.dims(), &[2, 3, 4]);
            assert_values(&tensor_values(&t), &expected, name);
            let a = npy::mmap(&path).unwrap();
            assert_eq!(a.dtype(), np);
            assert_eq!(
                a.strides(),
                if layout == "f" {
                    f_strides(&[2, 3, 4], np.itemsize())
                } else {
                    c_strides(&[2, 3, 4], np.itemsize())
                }
            );
            let t = to_tensor(&a, Sharing::Copy, &Options::default()).unwrap();
            assert_values(&tensor_values(&t), &expected, name);
        }
    }
}

#[test]
fn numpy_npz_members_load_in_archive_order() {
    let fixtures = fixtures_in(&data_dir(), "npz");
    let names: Vec<&str> = fixtures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["pair", "pair_compressed"]);
    for f in &fixtures {
        // the archive is what it claims: method 8 (deflate) or 0 (stored) in the first local header
        let raw = std::fs::read(&f.path).unwrap();
        assert_eq!(&raw[..4], b"PK\x03\x04");
        let method = u16::from_le_bytes([raw[8], raw[9]]);
        assert_eq!(method, if f.meta.field("compressed").bool() { 8 } else { 0 }, "{}", f.name);

        let members = f.meta.field("members").arr();
        let loaded = npy::load_npz(&f.path).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        let got: Vec<&str> = loaded.iter().map(|(n, _)| n.as_str()).collect();
        let want: Vec<&str> = members.iter().map(|m| m.field("name").str()).collect();
        assert_eq!(got, want, "{}", f.name);
        for ((name, t), m) in loaded.iter().zip(members) {
            let e = expect_for(m.field("dtype").str());
            assert_eq!(t.dtype(), e.candle, "{}/{name}", f.name);
            assert_eq!(t.dims(), m.field("shape").usizes().as_slice(), "{}/{name}", f.name);
            let expected = json_values(m.field("values_c_order"), int_dtype_name(m.field("dtype").str()));
            assert_values(&tensor_values(t), &expected, &format!("{}/{name}", f.name));
        }
    }
    assert_eq!(
        npy::load_npz(data_dir().join("pair.npz"))
            .unwrap()
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>(),
        ["weight", "bias"]
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed and refused files.

#[test]
fn malformed_files_are_errors_naming_the_problem() {
    let fixtures = fixtures_in(&data_dir().join("malformed"), "npy");
    let names: Vec<&str> = fixtures.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "bad_magic",
            "bad_magic_text",
            "bad_version",
            "complex",
            "datetime",
            "empty_file",
            "header_bad_syntax",
            "header_fortran_not_bool",
            "header_missing_descr",
            "header_missing_shape",
            "header_negative_shape",
            "header_not_dict",
            "header_shape_not_tuple",
            "object",
            "size_mismatch",
            "size_mismatch_big_endian",
            "structured",
            "truncated_data",
            "truncated_data_big_endian",
            "truncated_data_int8",
            "truncated_data_no_data",
            "truncated_header",
            "truncated_magic",
            "unicode",
            "unknown_descr",
        ]
    );
    let mut failures = Vec::new();
    for f in &fixtures {
        let word = f.meta.field("error_contains").str();
        let results = [
            ("load", no_panic(&format!("load {}", f.name), || npy::load(&f.path)).map(|_| ())),
            ("mmap", no_panic(&format!("mmap {}", f.name), || npy::mmap(&f.path)).map(|_| ())),
            (
                "load_with F32",
                no_panic(&f.name, || npy::load_with(&f.path, &Options::default().dtype(DType::F32)))
                    .map(|_| ()),
            ),
        ];
        for (via, r) in results {
            match r {
                Ok(()) => failures.push(format!("{} via {via}: loaded without error", f.name)),
                Err(err) => {
                    let msg = err.to_string();
                    if !msg.contains(word) {
                        failures.push(format!("{} via {via}: message lacks {word:?}: {msg}", f.name));
                    }
                    // format errors name the file they are about
                    if matches!(err, Error::NpyFormat { .. }) && !msg.contains(&format!("{}.npy", f.name)) {
                        failures.push(format!("{} via {via}: message does not name the file: {msg}", f.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn malformed_npz_is_a_zip_error() {
    let err = npy::load_npz(data_dir().join("malformed/truncated.npz")).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "{err:?}");
    assert!(err.to_string().contains("truncated.npz"), "{err}");
    // a .npy file is not an archive either
    let err = npy::load_npz(data_dir().join("float32_c_le.npy")).unwrap_err();
    assert!(matches!(err, Error::Zip { .. }), "{err:?}");
    // an archive is not a .npy file
    let err = npy::load(data_dir().join("pair.npz")).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let path = data_dir().join("does_not_exist.npy");
    for err in [npy::load(&path).unwrap_err(), npy::mmap(&path).map(|_| ()).unwrap_err()] {
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("does_not_exist.npy"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Files written by the crate.

/// The crate writes the same bytes NumPy does: headers (dict text, padding, version) and data.
#[test]
fn crate_rewrites_numpy_files_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut fixtures = npy_fixtures("ok");
    fixtures.extend(npy_fixtures("out_of_range"));
    for f in &fixtures {
        let a = npy::mmap(&f.path).unwrap();
        let out = dir.path().join(format!("{}.npy", f.name));
        let opts = WriteOptions { fortran_order: f.fortran(), byte_order: descr_order(f.descr()) };
        npy::save_array(&out, &a, &opts).unwrap();
        let ours = std::fs::read(&out).unwrap();
        let theirs = std::fs::read(&f.path).unwrap();
        if theirs[6] != 1 {
            // NumPy's explicit version 2.0 / 3.0 files: the crate writes 1.0 when the header
            // fits (as np.save does); the dict text (before the padding) and the data agree
            assert_eq!(&ours[6..8], &[1, 0], "{}", f.name);
            let dict = |b: &[u8]| String::from_utf8_lossy(&b[..b.len() - a.nbytes()]).trim_end().to_string();
            assert_eq!(dict(&ours[10..]), dict(&theirs[12..]), "{}", f.name);
            assert_eq!(&ours[ours.len() - a.nbytes()..], &theirs[theirs.len() - a.nbytes()..], "{}", f.name);
            continue;
        }
        assert_eq!(
            String::from_utf8_lossy(&ours[..ours.len() - a.nbytes()]),
            String::from_utf8_lossy(&theirs[..theirs.len() - a.nbytes()]),
            "{}: header",
            f.name
        );
        assert_eq!(ours, theirs, "{}: data", f.name);
        // and rewriting in the other layout and byte order still loads the same values
        if f.kind() == "ok" && a.ndim() > 1 {
            // (bfloat16's descr has no byte order: see crate_written_big_endian_bfloat16_reads_back)
            let other_order = if descr_order(f.descr()) == ByteOrder::Big || f.dtype() == "bfloat16" {
                ByteOrder::Little
            } else {
                ByteOrder::Big
            };
            let flipped = WriteOptions { fortran_order: !f.fortran(), byte_order: other_order };
            npy::save_array(&out, &a, &flipped).unwrap();
            let (h, _) = npy::parse_header(&std::fs::read(&out).unwrap()).unwrap();
            assert_eq!(h.fortran_order, !f.fortran(), "{}", f.name);
            if a.dtype().itemsize() > 1 {
                assert_eq!(h.byte_order, other_order, "{}", f.name);
            }
            let t = npy::load(&out).unwrap();
            assert_values(&tensor_values(&t), &f.values(), &format!("{} rewritten", f.name));
        }
    }
}

/// Where crate-written files also go for `scripts/check_npy_roundtrip.py`, when asked.
fn numpy_check_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("CANDLE_NUMPY_NPY_OUT")?);
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

fn json_number(v: V) -> String {
    match v {
        V::I(i) => i.to_string(),
        V::F(x) if x.is_nan() => "NaN".into(),
        V::F(x) if x == f64::INFINITY => "Infinity".into(),
        V::F(x) if x == f64::NEG_INFINITY => "-Infinity".into(),
        V::F(x) => format!("{x:?}"),
    }
}

fn json_array(values: &[V]) -> String {
    format!("[{}]", values.iter().map(|&v| json_number(v)).collect::<Vec<_>>().join(","))
}

fn json_shape(shape: &[usize]) -> String {
    format!("[{}]", shape.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","))
}

/// Values used for one dtype's round trip, in C order, with the extremes of the type.
fn sample(np: NpDType) -> (ArrayRef, Vec<V>) {
    let n = 24;
    let shape = [2, 3, 4];
    fn ints<T: candle_numpy::Element + Copy + Into<i128>>(v: Vec<T>, shape: &[usize]) -> (ArrayRef, Vec<V>) {
        let vals = v.iter().map(|&x| V::I(x.into())).collect();
        (ArrayRef::from_vec(v, shape).unwrap(), vals)
    }
    fn floats<T: candle_numpy::Element + Copy>(
        v: Vec<T>,
        f: impl Fn(T) -> f64,
        shape: &[usize],
    ) -> (ArrayRef, Vec<V>) {
        let vals = v.iter().map(|&x| V::F(f(x))).collect();
        (ArrayRef::from_vec(v, shape).unwrap(), vals)
    }
    let specials = |mut v: Vec<f64>| {
        v[1] = -0.0;
        v[2] = f64::INFINITY;
        v[3] = f64::NEG_INFINITY;
        v[4] = f64::NAN;
        v
    };
    match np {
        NpDType::Bool => {
            let v: Vec<bool> = (0..n).map(|i| i % 3 == 0 || i == 7).collect();
            let vals = v.iter().map(|&b| V::I(b as i128)).collect();
            (ArrayRef::from_vec(v, &shape).unwrap(), vals)
        }
        NpDType::Int8 => ints(
            (0..n).map(|i| if i == 23 { 127 } else { (i * 11 - 128) as i8 }).collect::<Vec<i8>>(),
            &shape,
        ),
        NpDType::Int16 => ints(
            (0..n)
                .map(|i| match i {
                    0 => i16::MIN,
                    23 => i16::MAX,
                    _ => (i as i16 - 12) * 1000,
                })
                .collect(),
            &shape,
        ),
        NpDType::Int32 => ints(
            (0..n)
                .map(|i| match i {
                    0 => i32::MIN,
                    23 => i32::MAX,
                    _ => (i - 12) * 100_000,
                })
                .collect(),
            &shape,
        ),
        NpDType::Int64 => ints(
            (0..n)
                .map(|i| match i {
                    0 => i64::MIN,
                    1 => (1 << 53) + 1,
                    23 => i64::MAX,
                    _ => (i as i64 - 12) * 1_000_000_000_000,
                })
                .collect(),
            &shape,
        ),
        NpDType::UInt8 => {
            ints((0..n).map(|i| if i == 23 { 255 } else { i as u8 * 11 }).collect::<Vec<u8>>(), &shape)
        }
        NpDType::UInt16 => ints(
            (0..n).map(|i| if i == 23 { u16::MAX } else { i as u16 * 2000 }).collect::<Vec<u16>>(),
            &shape,
        ),
        NpDType::UInt32 => ints(
            (0..n).map(|i| if i == 23 { u32::MAX } else { i as u32 * 100_000_000 }).collect::<Vec<u32>>(),
            &shape,
        ),
        NpDType::UInt64 => ints(
            (0..n)
                .map(|i| if i == 23 { i64::MAX as u64 } else { i as u64 * 1_000_000_000_000_000 })
                .collect::<Vec<u64>>(),
            &shape,
        ),
        NpDType::Float16 => {
            let mut v = specials((0..n).map(|i| (i as f64 - 12.0) * 0.375).collect());
            v[5] = 65504.0;
            v[6] = 2f64.powi(-24);
            floats(v.into_iter().map(f16::from_f64).collect(), |x: f16| x.to_f64(), &shape)
        }
        NpDType::Float32 => {
            let mut v = specials((0..n).map(|i| (i as f64 - 12.0) / 3.0).collect());
            v[5] = f32::MAX as f64;
            v[6] = 1e-45;
            floats(v.into_iter().map(|x| x as f32).collect(), |x: f32| x as f64, &shape)
        }
        NpDType::Float64 => {
            let mut v = specials((0..n).map(|i| (i as f64 - 12.0) / 7.0).collect());
            v[5] = f64::MAX;
            v[6] = 5e-324;
            v[7] = 0.1;
            floats(v, |x| x, &shape)
        }
        NpDType::BFloat16 => {
            let mut v = specials((0..n).map(|i| (i as f64 - 12.0) * 0.25).collect());
            v[5] = 3.3895313892515355e38; // bf16::MAX
            floats(v.into_iter().map(bf16::from_f64).collect(), |x: bf16| x.to_f64(), &shape)
        }
        NpDType::Float8E4M3FN => {
            // e4m3fn has no infinities; 448 is its largest finite value
            let mut v: Vec<f64> = (0..n).map(|i| (i as f64 - 12.0) * 0.25).collect();
            v[1] = -0.0;
            v[4] = f64::NAN;
            v[5] = 448.0;
            v[6] = -448.0;
            v[7] = 2f64.powi(-9); // smallest subnormal
            floats(v.into_iter().map(F8E4M3::from_f64).collect(), |x: F8E4M3| x.to_f64(), &shape)
        }
    }
}

/// A crate-written file and the values it must hold, recorded for the NumPy check.
fn record_for_numpy(
    dir: &Path,
    name: &str,
    np: NpDType,
    descr: &str,
    shape: &[usize],
    fortran: bool,
    values: &[V],
) {
    let json = format!(
        "{{\"kind\":\"npy\",\"dtype\":\"{}\",\"descr\":\"{descr}\",\"shape\":{},\"fortran\":{fortran},\"values_c_order\":{}}}\n",
        np.name(),
        json_shape(shape),
        json_array(values)
    );
    std::fs::write(dir.join(format!("{name}.json")), json).unwrap();
}

#[test]
fn crate_written_files_load_back_exactly_in_every_layout_and_byte_order() {
    let tmp = tempfile::tempdir().unwrap();
    let check_dir = numpy_check_dir();
    let mut written = 0;
    for np in NpDType::all() {
        let (a, values) = sample(np);
        let e = expect_for(np.name());
        for fortran in [false, true] {
            for order in [ByteOrder::Little, ByteOrder::Big] {
                // one-byte types have no byte order; bfloat16 is written by name, which is
                // always native (see crate_written_big_endian_bfloat16_reads_back)
                if (np.itemsize() == 1 || np == NpDType::BFloat16) && order == ByteOrder::Big {
                    continue;
                }
                let name = format!(
                    "{}_{}_{}",
                    np.name(),
                    if fortran { "f" } else { "c" },
                    if order == ByteOrder::Big { "be" } else { "le" }
                );
                let opts = WriteOptions { fortran_order: fortran, byte_order: order };
                let descr = expected_descr(np, order);
                let mut paths = vec![tmp.path().join(format!("{name}.npy"))];
                if let Some(dir) = &check_dir {
                    paths.push(dir.join(format!("{name}.npy")));
                    record_for_numpy(dir, &name, np, &descr, a.shape(), fortran, &values);
                }
                for path in &paths {
                    // exact dtypes go through save_with(Tensor); the others through save_array
                    match np.exact_candle() {
                        Some(_) => {
                            let t = to_tensor(&a, Sharing::Copy, &Options::default()).unwrap();
                            npy::save_with(path, &t, &opts).unwrap();
                        }
                        None => npy::save_array(path, &a, &opts).unwrap(),
                    }
                }
                written += 1;
                let path = &paths[0];
                let bytes = std::fs::read(path).unwrap();
                let (h, offset) = npy::parse_header(&bytes).unwrap();
                assert_eq!(offset % 64, 0, "{name}");
                assert_eq!(bytes.len(), offset + a.nbytes(), "{name}");
                let text = String::from_utf8_lossy(&bytes[10..offset]);
                assert!(
                    text.starts_with(&format!(
                        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': (2, 3, 4), }}",
                        if fortran { "True" } else { "False" }
                    )),
                    "{name}: {text}"
                );
                assert!(text.ends_with('\n'), "{name}");
                assert_eq!(&bytes[6..8], &[1, 0], "{name}: version 1.0");
                assert_eq!(
                    (h.dtype, h.fortran_order, h.shape.as_slice()),
                    (np, fortran, &[2usize, 3, 4][..]),
                    "{name}"
                );
                // the second element on disk is [0,0,1] in C order, [1,0,0] in Fortran order
                let isz = np.itemsize();
                let second = &bytes[offset + isz..offset + 2 * isz];
                let want_index = if fortran { 12 } else { 1 };
                let want = one_element_bytes(&a, want_index, order);
                assert_eq!(second, want.as_slice(), "{name}: element order on disk");

                let t = npy::load(path).unwrap();
                assert_eq!(t.dtype(), e.candle, "{name}");
                assert_eq!(t.dims(), &[2, 3, 4], "{name}");
                assert_values(&tensor_values(&t), &values, &name);

                let m = npy::mmap(path).unwrap();
                assert_eq!(m.dtype(), np, "{name}");
                assert!(m.is_readonly());
                assert_eq!(
                    m.strides(),
                    if fortran { f_strides(&[2, 3, 4], isz) } else { c_strides(&[2, 3, 4], isz) },
                    "{name}"
                );
                if isz > 1 {
                    assert_eq!(m.byte_order(), order, "{name}");
                }
                let t = to_tensor(&m, Sharing::Copy, &Options::default()).unwrap();
                assert_values(&tensor_values(&t), &values, &format!("{name} via mmap"));
            }
        }
    }
    assert_eq!(written, 14 * 2 + 9 * 2);
}

/// The descr NumPy writes for a dtype in a byte order (hand-written, not the crate's
/// `typestr`): `|` for one-byte types, the ml_dtypes types by name as this crate writes them.
fn expected_descr(np: NpDType, order: ByteOrder) -> String {
    let code = match np {
        NpDType::BFloat16 => return "bfloat16".into(),
        NpDType::Float8E4M3FN => return "float8_e4m3fn".into(),
        NpDType::Bool => "b1",
        NpDType::Int8 => "i1",
        NpDType::UInt8 => "u1",
        NpDType::Int16 => "i2",
        NpDType::Int32 => "i4",
        NpDType::Int64 => "i8",
        NpDType::UInt16 => "u2",
        NpDType::UInt32 => "u4",
        NpDType::UInt64 => "u8",
        NpDType::Float16 => "f2",
        NpDType::Float32 => "f4",
        NpDType::Float64 => "f8",
    };
    let prefix = if code.ends_with('1') {
        '|'
    } else if order == ByteOrder::Big {
        '>'
    } else {
        '<'
    };
    format!("{prefix}{code}")
}

/// The bytes of flat C element `index` of `a` in byte order `order`.
fn one_element_bytes(a: &ArrayRef, index: usize, order: ByteOrder) -> Vec<u8> {
    let isz = a.dtype().itemsize();
    // SAFETY: `a` is a C-contiguous array made by from_vec; index < len.
    let mut b = unsafe { std::slice::from_raw_parts(a.data_ptr().add(index * isz), isz) }.to_vec();
    if isz > 1 && order != ByteOrder::NATIVE {
        b.reverse();
    }
    b
}

#[test]
fn crate_writes_strided_tensors_in_logical_order() {
    // a permuted (non-contiguous) tensor and a narrowed one are written by value, not by storage
    let tmp = tempfile::tempdir().unwrap();
    let base = Tensor::arange(0i64, 24, &Device::Cpu).unwrap().reshape((2, 3, 4)).unwrap();
    let views = [
        ("permuted", base.permute((2, 0, 1)).unwrap()),
        ("narrowed", base.narrow(2, 1, 2).unwrap()),
        ("transposed_f32", base.to_dtype(DType::F32).unwrap().t().unwrap()),
    ];
    for (name, t) in views {
        assert!(!t.is_contiguous(), "{name}");
        let expected = tensor_values(&t);
        for fortran in [false, true] {
            for order in [ByteOrder::Little, ByteOrder::Big] {
                let path = tmp.path().join(format!("{name}.npy"));
                npy::save_with(&path, &t, &WriteOptions { fortran_order: fortran, byte_order: order })
                    .unwrap();
                let back = npy::load(&path).unwrap();
                assert_eq!(back.dims(), t.dims(), "{name}");
                assert_eq!(back.dtype(), t.dtype(), "{name}");
                assert_values(&tensor_values(&back), &expected, name);
                if let Some(dir) = numpy_check_dir() {
                    let file = format!("strided_{name}_{}_{}", fortran, order.name());
                    std::fs::copy(&path, dir.join(format!("{file}.npy"))).unwrap();
                    let np = NpDType::from_candle(t.dtype()).unwrap();
                    record_for_numpy(
                        &dir,
                        &file,
                        np,
                        &expected_descr(np, order),
                        t.dims(),
                        fortran,
                        &expected,
                    );
                }
            }
        }
    }
}

#[test]
fn crate_written_uint64_above_i64_max_keeps_its_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let v: Vec<u64> = vec![0, 1, u64::MAX, 1 << 63, 12345, (1 << 63) - 1];
    let values: Vec<V> = v.iter().map(|&x| V::I(x as i128)).collect();
    let a = ArrayRef::from_vec(v.clone(), &[2, 3]).unwrap();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for fortran in [false, true] {
            let name = format!("uint64_big_{}_{}", if fortran { "f" } else { "c" }, order.name());
            let path = tmp.path().join(format!("{name}.npy"));
            let opts = WriteOptions { fortran_order: fortran, byte_order: order };
            npy::save_array(&path, &a, &opts).unwrap();
            let err = npy::load(&path).unwrap_err();
            assert!(matches!(err, Error::ValueOutOfRange { index: 2, .. }), "{name}: {err:?}");
            let m = npy::mmap(&path).unwrap();
            assert_eq!(m.dtype(), NpDType::UInt64);
            // the raw bits survive: reading the map as u64 gives the values back
            let t = to_tensor(&m, Sharing::Copy, &Options::default().dtype(DType::F64)).unwrap();
            let got = t.flatten_all().unwrap().to_vec1::<f64>().unwrap();
            assert_eq!(got, v.iter().map(|&x| x as f64).collect::<Vec<_>>(), "{name}");
            if let Some(dir) = numpy_check_dir() {
                npy::save_array(dir.join(format!("{name}.npy")), &a, &opts).unwrap();
                record_for_numpy(
                    &dir,
                    &name,
                    NpDType::UInt64,
                    &expected_descr(NpDType::UInt64, order),
                    &[2, 3],
                    fortran,
                    &values,
                );
            }
        }
    }
}

#[test]
fn crate_written_0d_and_empty_arrays() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Tensor)> = vec![
        ("scalar_f64", Tensor::new(-2.5f64, &Device::Cpu).unwrap()),
        ("scalar_i64", Tensor::new(i64::MIN, &Device::Cpu).unwrap()),
        ("empty_f32_0x3", Tensor::zeros((0, 3), DType::F32, &Device::Cpu).unwrap()),
        ("empty_u8_3x0", Tensor::zeros((3, 0), DType::U8, &Device::Cpu).unwrap()),
        ("vector_i16", Tensor::new(&[-3i16, 0, 300], &Device::Cpu).unwrap()),
    ];
    for (name, t) in cases {
        for order in [ByteOrder::Little, ByteOrder::Big] {
            let path = tmp.path().join(format!("{name}.npy"));
            let opts = WriteOptions { fortran_order: true, byte_order: order };
            npy::save_with(&path, &t, &opts).unwrap();
            let (h, _) = npy::parse_header(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(h.shape, t.dims(), "{name}");
            // NumPy's own rule: 0-d and 1-d arrays are never written as fortran_order
            assert_eq!(h.fortran_order, t.rank() > 1, "{name}");
            let back = npy::load(&path).unwrap();
            assert_eq!(back.dims(), t.dims(), "{name}");
            assert_eq!(back.dtype(), t.dtype(), "{name}");
            assert_values(&tensor_values(&back), &tensor_values(&t), name);
            let m = npy::mmap(&path).unwrap();
            assert_eq!(m.shape(), t.dims(), "{name}");
            assert_eq!(m.len(), t.elem_count(), "{name}");
            if let Some(dir) = numpy_check_dir() {
                let file = format!("{name}_{}", order.name());
                std::fs::copy(&path, dir.join(format!("{file}.npy"))).unwrap();
                let np = NpDType::from_candle(t.dtype()).unwrap();
                record_for_numpy(
                    &dir,
                    &file,
                    np,
                    &expected_descr(np, order),
                    t.dims(),
                    h.fortran_order,
                    &tensor_values(&t),
                );
            }
        }
    }
}

#[test]
fn crate_written_npz_round_trips_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let weight = Tensor::arange(0f32, 6., &Device::Cpu).unwrap().reshape((2, 3)).unwrap();
    let bias = Tensor::new(&[-(1i64 << 40), 0, (1 << 40) + 3], &Device::Cpu).unwrap();
    let half = Tensor::new(&[1.5f32, -0.25], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
    // a transposed (non-contiguous) member is written by value
    let wt = weight.t().unwrap();
    let members: Vec<(&str, &Tensor)> =
        vec![("weight", &weight), ("z_bias", &bias), ("a_bf16", &half), ("weight_t", &wt)];
    for compress in [false, true] {
        let file = if compress { "crate_pair_compressed.npz" } else { "crate_pair.npz" };
        let mut paths = vec![tmp.path().join(file)];
        if let Some(dir) = numpy_check_dir() {
            paths.push(dir.join(file));
            let json = format!(
                "{{\"kind\":\"npz\",\"members\":[{}]}}\n",
                members
                    .iter()
                    .map(|(n, t)| format!(
                        "{{\"name\":\"{n}\",\"dtype\":\"{}\",\"shape\":{},\"values_c_order\":{}}}",
                        NpDType::from_candle(t.dtype()).unwrap().name(),
                        json_shape(t.dims()),
                        json_array(&tensor_values(t))
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            std::fs::write(dir.join(file).with_extension("json"), json).unwrap();
        }
        for path in &paths {
            npy::save_npz(path, &members, compress).unwrap();
        }
        let raw = std::fs::read(&paths[0]).unwrap();
        assert_eq!(
            u16::from_le_bytes([raw[8], raw[9]]),
            if compress { 8 } else { 0 },
            "{file}: compression method"
        );
        let back = npy::load_npz(&paths[0]).unwrap();
        let names: Vec<&str> = back.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["weight", "z_bias", "a_bf16", "weight_t"], "{file}");
        for ((_, got), (name, want)) in back.iter().zip(&members) {
            assert_eq!(got.dims(), want.dims(), "{file}/{name}");
            assert_eq!(got.dtype(), want.dtype(), "{file}/{name}");
            assert_values(&tensor_values(got), &tensor_values(want), name);
        }
    }
}

/// `WriteOptions { byte_order: Big }` for bfloat16 writes big-endian bytes under the descr
/// `'bfloat16'`, which carries no byte order: the crate itself (and NumPy with ml_dtypes) then
/// read the bytes as little-endian, e.g. -3.0 (0xC040) comes back as 6.0 (0x40C0). Either the
/// bytes must stay little-endian/native or the write must fail; both make this test pass.
#[test]
fn crate_written_big_endian_bfloat16_reads_back() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bf16_be.npy");
    let t = Tensor::new(&[-3.0f32, 1.5, 0.25], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
    match npy::save_with(&path, &t, &WriteOptions { fortran_order: false, byte_order: ByteOrder::Big }) {
        Err(err) => assert!(err.to_string().contains("bfloat16"), "{err}"),
        Ok(()) => {
            let back = npy::load(&path).unwrap();
            assert_values(&tensor_values(&back), &[V::F(-3.0), V::F(1.5), V::F(0.25)], "bf16 big-endian");
        }
    }
}
