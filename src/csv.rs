//! CSV files as training data (feature `csv`, on by default): chosen feature columns become an
//! `(n, k)` float tensor, label columns an `(n,)` (or `(n, m)`) integer or float tensor.
//!
//! Columns are chosen by header name or by 0-based index ([`Column`]); an empty feature list
//! means every column that is not a label. Every cell is parsed as the requested type, strictly:
//! an empty or non-numeric cell is an error naming the line, the column and the text, and a
//! missing column lists the ones the file has. Pandas users have `pd.read_csv`; this is for
//! Rust programs that want tensors without it.
//!
//! ```
//! use candle_numpy::csv::{read, Column, CsvOptions};
//! let text = "height,weight,species\n1.5,60,0\n1.8,80,1\n";
//! let (x, y) = read(text.as_bytes(), &["height".into(), "weight".into()], &["species".into()], &CsvOptions::default())?;
//! assert_eq!(x.dims(), &[2, 2]);
//! assert_eq!(x.to_vec2::<f32>()?, [[1.5, 60.0], [1.8, 80.0]]);
//! assert_eq!(y.to_vec1::<i64>()?, [0, 1]);
//! # Ok::<(), candle_numpy::Error>(())
//! ```

use std::fmt;
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// A column, by header name or 0-based index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// The column whose header cell is this name.
    Name(String),
    /// The column at this 0-based position.
    Index(usize),
}

impl From<&str> for Column {
    fn from(name: &str) -> Self {
        Column::Name(name.to_string())
    }
}

impl From<String> for Column {
    fn from(name: String) -> Self {
        Column::Name(name)
    }
}

impl From<usize> for Column {
    fn from(index: usize) -> Self {
        Column::Index(index)
    }
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Column::Name(n) => write!(f, "{n:?}"),
            Column::Index(i) => write!(f, "at index {i}"),
        }
    }
}

/// How to read the file and which tensor dtypes to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// The first line names the columns (default `true`).
    pub has_header: bool,
    /// Field separator (default `b','`).
    pub delimiter: u8,
    /// dtype of the features: `F32` (default) or `F64`.
    pub feature_dtype: DType,
    /// dtype of the labels: `I64` (default, class indices), `F32` or `F64` (regression).
    pub label_dtype: DType,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { has_header: true, delimiter: b',', feature_dtype: DType::F32, label_dtype: DType::I64 }
    }
}

impl CsvOptions {
    /// Set [`has_header`](Self::has_header).
    pub fn has_header(mut self, yes: bool) -> Self {
        self.has_header = yes;
        self
    }
    /// Set [`delimiter`](Self::delimiter).
    pub fn delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }
    /// Set [`feature_dtype`](Self::feature_dtype).
    pub fn feature_dtype(mut self, d: DType) -> Self {
        self.feature_dtype = d;
        self
    }
    /// Set [`label_dtype`](Self::label_dtype).
    pub fn label_dtype(mut self, d: DType) -> Self {
        self.label_dtype = d;
        self
    }
}

/// Load `(features, labels)` from a CSV file; see [`read`].
pub fn load(
    path: impl AsRef<Path>,
    features: &[Column],
    labels: &[Column],
    opts: &CsvOptions,
) -> Result<(Tensor, Tensor)> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| Error::Io {
        operation: "open",
        path: path.into(),
        source,
    })?;
    read_named(std::io::BufReader::new(file), path, features, labels, opts)
}

/// Read `(features, labels)` from CSV text: features `(n, k)` of `opts.feature_dtype`, labels
/// `(n,)` for one label column (`(n, m)` for several) of `opts.label_dtype`. An empty
/// `features` takes every column that is not a label, in file order.
pub fn read<R: Read>(
    reader: R,
    features: &[Column],
    labels: &[Column],
    opts: &CsvOptions,
) -> Result<(Tensor, Tensor)> {
    read_named(reader, Path::new("<memory>"), features, labels, opts)
}

fn read_named<R: Read>(
    reader: R,
    path: &Path,
    features: &[Column],
    labels: &[Column],
    opts: &CsvOptions,
) -> Result<(Tensor, Tensor)> {
    let check = |argument, d: DType, allowed: &[DType], fix| {
        if allowed.contains(&d) {
            Ok(())
        } else {
            Err(Error::InvalidArgument { operation: "csv::read", argument, value: format!("{d:?}"), fix })
        }
    };
    check("feature_dtype", opts.feature_dtype, &[DType::F32, DType::F64], "use DType::F32 or DType::F64")?;
    check(
        "label_dtype",
        opts.label_dtype,
        &[DType::I64, DType::F32, DType::F64],
        "use DType::I64 (classes), DType::F32 or DType::F64 (regression)",
    )?;
    if labels.is_empty() {
        return Err(Error::InvalidArgument {
            operation: "csv::read",
            argument: "labels",
            value: "[]".into(),
            fix: "name at least one label column",
        });
    }
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(opts.has_header)
        .delimiter(opts.delimiter)
        .from_reader(reader);
    let format_err = |e: ::csv::Error| Error::CsvFormat { path: path.to_path_buf(), reason: e.to_string() };
    let names: Vec<String> = if opts.has_header {
        rdr.headers().map_err(format_err)?.iter().map(str::to_string).collect()
    } else {
        Vec::new()
    };

    let mut records = rdr.records().peekable();
    // without a header the first record tells the column count
    let width = if opts.has_header {
        names.len()
    } else {
        match records.peek() {
            Some(Ok(r)) => r.len(),
            _ => 0,
        }
    };
    let available = || -> Vec<String> {
        if opts.has_header {
            names.iter().map(|n| format!("{n:?}")).collect()
        } else {
            vec![format!("indices 0..{width} (the file has no header)")]
        }
    };
    let resolve = |c: &Column| -> Result<usize> {
        let found = match c {
            Column::Name(n) if opts.has_header => names.iter().position(|h| h == n),
            Column::Name(_) => None,
            Column::Index(i) => (*i < width).then_some(*i),
        };
        found.ok_or_else(|| Error::CsvColumnMissing {
            path: path.to_path_buf(),
            column: c.to_string(),
            available: available(),
        })
    };
    let label_idx = labels.iter().map(resolve).collect::<Result<Vec<_>>>()?;
    let feature_idx = if features.is_empty() {
        (0..width).filter(|i| !label_idx.contains(i)).collect()
    } else {
        features.iter().map(resolve).collect::<Result<Vec<_>>>()?
    };
    let column_name = |i: usize| if opts.has_header { names[i].clone() } else { i.to_string() };

    let mut x = Values::new(opts.feature_dtype);
    let mut y = Values::new(opts.label_dtype);
    let mut rows = 0usize;
    for record in records {
        let record = record.map_err(format_err)?;
        rows += 1;
        let line = record.position().map_or(0, |p| p.line());
        let cell = |idx: usize, out: &mut Values| {
            let text = &record[idx];
            out.push(text).ok_or_else(|| Error::CsvCell {
                path: path.to_path_buf(),
                line,
                row: rows as u64,
                column: column_name(idx),
                text: text.to_string(),
                expected: out.type_name(),
            })
        };
        for &i in &feature_idx {
            cell(i, &mut x)?;
        }
        for &i in &label_idx {
            cell(i, &mut y)?;
        }
    }
    let features = x.into_tensor(&[rows, feature_idx.len()])?;
    let labels =
        if label_idx.len() == 1 { y.into_tensor(&[rows])? } else { y.into_tensor(&[rows, label_idx.len()])? };
    Ok((features, labels))
}

/// The parsed cells of one tensor, row-major.
enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
    I64(Vec<i64>),
}

impl Values {
    fn new(d: DType) -> Self {
        match d {
            DType::F64 => Values::F64(Vec::new()),
            DType::I64 => Values::I64(Vec::new()),
            _ => Values::F32(Vec::new()),
        }
    }
    fn type_name(&self) -> &'static str {
        match self {
            Values::F32(_) => "f32",
            Values::F64(_) => "f64",
            Values::I64(_) => "an integer (i64)",
        }
    }
    /// Parse and append one cell; `None` if it does not parse.
    fn push(&mut self, text: &str) -> Option<()> {
        let t = text.trim();
        match self {
            Values::F32(v) => v.push(t.parse().ok()?),
            Values::F64(v) => v.push(t.parse().ok()?),
            Values::I64(v) => v.push(t.parse().ok()?),
        }
        Some(())
    }
    fn into_tensor(self, shape: &[usize]) -> Result<Tensor> {
        Ok(match self {
            Values::F32(v) => Tensor::from_vec(v, shape, &Device::Cpu)?,
            Values::F64(v) => Tensor::from_vec(v, shape, &Device::Cpu)?,
            Values::I64(v) => Tensor::from_vec(v, shape, &Device::Cpu)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IRIS: &str = "sepal_length,sepal_width,species\n5.1,3.5,0\n4.9,3.0,0\n6.3,3.3,2\n";

    fn names(cols: &[&str]) -> Vec<Column> {
        cols.iter().map(|&c| c.into()).collect()
    }

    #[test]
    fn features_and_labels_by_name() {
        let (x, y) = read(
            IRIS.as_bytes(),
            &names(&["sepal_width", "sepal_length"]),
            &names(&["species"]),
            &CsvOptions::default(),
        )
        .unwrap();
        assert_eq!(x.dtype(), DType::F32);
        assert_eq!(x.to_vec2::<f32>().unwrap(), [[3.5, 5.1], [3.0, 4.9], [3.3, 6.3]]);
        assert_eq!(y.dtype(), DType::I64);
        assert_eq!(y.to_vec1::<i64>().unwrap(), [0, 0, 2]);
    }

    #[test]
    fn empty_feature_list_takes_every_other_column_and_f64_float_labels() {
        let opts = CsvOptions::default().feature_dtype(DType::F64).label_dtype(DType::F32);
        let (x, y) = read(IRIS.as_bytes(), &[], &[Column::Index(0)], &opts).unwrap();
        assert_eq!(x.dtype(), DType::F64);
        assert_eq!(x.to_vec2::<f64>().unwrap(), [[3.5, 0.0], [3.0, 0.0], [3.3, 2.0]]);
        assert_eq!(y.to_vec1::<f32>().unwrap(), [5.1, 4.9, 6.3]);
    }

    #[test]
    fn no_header_by_index_with_semicolons_and_two_label_columns() {
        let text = "1;2;3;4\n5;6;7;8\n";
        let opts = CsvOptions::default().has_header(false).delimiter(b';');
        let (x, y) = read(text.as_bytes(), &[0.into(), 1.into()], &[3.into(), 2.into()], &opts).unwrap();
        assert_eq!(x.to_vec2::<f32>().unwrap(), [[1., 2.], [5., 6.]]);
        assert_eq!(y.dims(), &[2, 2]);
        assert_eq!(y.to_vec2::<i64>().unwrap(), [[4, 3], [8, 7]]);
    }

    #[test]
    fn header_only_gives_empty_tensors() {
        let (x, y) =
            read("a,b\n".as_bytes(), &names(&["a"]), &names(&["b"]), &CsvOptions::default()).unwrap();
        assert_eq!(x.dims(), &[0, 1]);
        assert_eq!(y.dims(), &[0]);
    }

    #[test]
    fn missing_column_lists_the_available_ones() {
        let err =
            read(IRIS.as_bytes(), &names(&["petal_length"]), &names(&["species"]), &CsvOptions::default())
                .unwrap_err();
        assert!(matches!(err, Error::CsvColumnMissing { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("no column \"petal_length\""), "{msg}");
        assert!(msg.contains("\"sepal_length\", \"sepal_width\", \"species\""), "{msg}");

        let opts = CsvOptions::default().has_header(false);
        let err = read("1,2\n".as_bytes(), &[0.into()], &[5.into()], &opts).unwrap_err();
        assert!(err.to_string().contains("no column at index 5"), "{err}");
        assert!(err.to_string().contains("indices 0..2"), "{err}");
        let err = read("1,2\n".as_bytes(), &["a".into()], &[1.into()], &opts).unwrap_err();
        assert!(err.to_string().contains("no header"), "{err}");
    }

    #[test]
    fn unparsable_cell_names_line_row_column_and_text() {
        let text = "x,label\n1.0,0\n2.0,1\noops,1\n";
        let err =
            read(text.as_bytes(), &names(&["x"]), &names(&["label"]), &CsvOptions::default()).unwrap_err();
        let Error::CsvCell { line, row, ref column, ref text, .. } = err else { panic!("{err:?}") };
        assert_eq!((line, row, column.as_str(), text.as_str()), (4, 3, "x", "oops"));
        assert!(err.to_string().contains("line 4 (data row 3), column \"x\": cannot parse \"oops\" as f32"));

        // a float where an integer class is expected, and an empty cell
        let err = read("x,y\n1,0.5\n".as_bytes(), &names(&["x"]), &names(&["y"]), &CsvOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("\"0.5\" as an integer (i64)"), "{err}");
        let err =
            read("x,y\n,1\n".as_bytes(), &names(&["x"]), &names(&["y"]), &CsvOptions::default()).unwrap_err();
        assert!(err.to_string().contains("cannot parse \"\" as f32"), "{err}");
    }

    #[test]
    fn ragged_rows_and_bad_dtypes_are_errors() {
        let err = read("a,b\n1,2\n3\n".as_bytes(), &names(&["a"]), &names(&["b"]), &CsvOptions::default())
            .unwrap_err();
        assert!(matches!(err, Error::CsvFormat { .. }), "{err:?}");
        let opts = CsvOptions::default().feature_dtype(DType::U8);
        let err = read(IRIS.as_bytes(), &[], &names(&["species"]), &opts).unwrap_err();
        assert!(err.to_string().contains("feature_dtype U8"), "{err}");
        let err = read(IRIS.as_bytes(), &[], &[], &CsvOptions::default()).unwrap_err();
        assert!(err.to_string().contains("label column"), "{err}");
    }

    #[test]
    fn load_from_a_file_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, IRIS).unwrap();
        let (x, y) = load(&path, &[], &names(&["species"]), &CsvOptions::default()).unwrap();
        assert_eq!(x.dims(), &[3, 2]);
        assert_eq!(y.to_vec1::<i64>().unwrap(), [0, 0, 2]);
        let err =
            load(dir.path().join("nope.csv"), &[], &names(&["species"]), &CsvOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        std::fs::write(&path, "a,b\n1,x\n").unwrap();
        let err = load(&path, &[], &names(&["b"]), &CsvOptions::default()).unwrap_err();
        assert!(err.to_string().contains("d.csv"), "{err}");
    }
}
