//! The event matrix: the one data type that flows through every stage.
//!
//! Events × channels of `f64`, stored **column-major** (each channel's values
//! are one contiguous slice). Why these choices:
//! - `f64` keeps 32-bit integer and `$DATATYPE D` data exact, and is what
//!   compensation and the transforms compute in anyway.
//! - Column-major, because every later stage works a channel at a time:
//!   compensation mixes a few detector columns, transforms map one column,
//!   gates test one or two columns; contiguous columns vectorise and split into
//!   rayon chunks without gathers. (Arrow and FlowKit's DataFrames make the same
//!   choice.)
//! - Names kept with the data, so no stage has to carry a side table of which
//!   column is which after compensation renames or selects columns.

use ndarray::{Array2, ArrayView2, ArrayViewMut2, ShapeBuilder};

/// Errors from building or addressing an [`EventMatrix`].
#[derive(Debug, thiserror::Error)]
pub enum MatrixError {
    /// The number of names differs from the number of columns.
    #[error("event matrix has {columns} columns but {names} channel names")]
    NameCount { names: usize, columns: usize },
    /// A channel name that is not in the matrix.
    #[error("no channel named {name:?} (channels: {available})")]
    UnknownChannel { name: String, available: String },
}

/// Events × channels, column-major `f64`, with a name per column.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMatrix {
    names: Vec<String>,
    /// Shape `(n_events, n_channels)`, always in Fortran (column-major) order
    /// with no gaps: every constructor enforces it, so `column` can slice the
    /// backing memory directly.
    data: Array2<f64>,
}

impl EventMatrix {
    /// A matrix of zeros with the given column names and number of events.
    pub fn zeros(names: Vec<String>, n_events: usize) -> Self {
        let data = Array2::zeros((n_events, names.len()).f());
        EventMatrix { names, data }
    }

    /// Wraps an array, converting it to column-major order if it is not.
    pub fn new(names: Vec<String>, data: Array2<f64>) -> Result<Self, MatrixError> {
        if names.len() != data.ncols() {
            return Err(MatrixError::NameCount {
                names: names.len(),
                columns: data.ncols(),
            });
        }
        let data = if is_packed_column_major(&data) {
            data
        } else {
            let mut f = Array2::zeros(data.raw_dim().f());
            f.assign(&data);
            f
        };
        Ok(EventMatrix { names, data })
    }

    /// Builds a matrix from one `Vec` per column (all of equal length).
    pub fn from_columns(names: Vec<String>, columns: Vec<Vec<f64>>) -> Result<Self, MatrixError> {
        if names.len() != columns.len() {
            return Err(MatrixError::NameCount {
                names: names.len(),
                columns: columns.len(),
            });
        }
        let n = columns.first().map_or(0, Vec::len);
        let mut m = EventMatrix::zeros(names, n);
        for (j, col) in columns.iter().enumerate() {
            let dst = m.column_mut(j);
            let k = dst.len().min(col.len());
            dst[..k].copy_from_slice(&col[..k]);
        }
        Ok(m)
    }

    /// Number of events (rows).
    pub fn n_events(&self) -> usize {
        self.data.nrows()
    }

    /// Number of channels (columns).
    pub fn n_channels(&self) -> usize {
        self.data.ncols()
    }

    /// Column names, in column order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Renames column `j` (compensation with a spectrum matrix names its
    /// outputs by fluorochrome).
    pub fn rename(&mut self, j: usize, name: impl Into<String>) {
        self.names[j] = name.into();
    }

    /// Index of the column with this exact name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Index of the column with this exact name, or an error listing the
    /// available names.
    pub fn require(&self, name: &str) -> Result<usize, MatrixError> {
        self.index_of(name)
            .ok_or_else(|| MatrixError::UnknownChannel {
                name: name.to_string(),
                available: self.names.join(", "),
            })
    }

    /// Column `j` as a contiguous slice.
    pub fn column(&self, j: usize) -> &[f64] {
        let n = self.n_events();
        &self.as_slice()[j * n..(j + 1) * n]
    }

    /// Column `j` as a mutable contiguous slice.
    pub fn column_mut(&mut self, j: usize) -> &mut [f64] {
        let n = self.n_events();
        &mut self.as_mut_slice()[j * n..(j + 1) * n]
    }

    /// The column with this name, if any.
    pub fn column_by_name(&self, name: &str) -> Option<&[f64]> {
        self.index_of(name).map(|j| self.column(j))
    }

    /// All values, column after column.
    pub fn as_slice(&self) -> &[f64] {
        // Invariant: `data` is packed column-major (see the field docs).
        self.data.as_slice_memory_order().unwrap_or(&[])
    }

    /// All values, column after column, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        self.data.as_slice_memory_order_mut().unwrap_or(&mut [])
    }

    /// The value of event `i` in column `j`.
    pub fn get(&self, i: usize, j: usize) -> f64 {
        self.data[(i, j)]
    }

    /// An ndarray view (events × channels).
    pub fn view(&self) -> ArrayView2<'_, f64> {
        self.data.view()
    }

    /// A mutable ndarray view (events × channels).
    pub fn view_mut(&mut self) -> ArrayViewMut2<'_, f64> {
        self.data.view_mut()
    }

    /// The underlying array (column-major).
    pub fn array(&self) -> &Array2<f64> {
        &self.data
    }

    /// Gives up the names and the array.
    pub fn into_parts(self) -> (Vec<String>, Array2<f64>) {
        (self.names, self.data)
    }

    /// Reshapes in place for reuse (a batch reads file after file into one
    /// matrix): keeps the allocation when it is large enough. Contents are
    /// unspecified afterwards; the caller overwrites every value.
    pub fn reset(&mut self, names: Vec<String>, n_events: usize) {
        let needed = n_events * names.len();
        let data = std::mem::replace(&mut self.data, Array2::zeros((0, 0).f()));
        let mut buf = data.into_raw_vec_and_offset().0;
        if buf.capacity() >= needed {
            buf.truncate(needed);
            buf.resize(needed, 0.0);
        } else {
            buf = vec![0.0; needed];
        }
        self.data = Array2::from_shape_vec((n_events, names.len()).f(), buf)
            .unwrap_or_else(|_| Array2::zeros((n_events, names.len()).f()));
        self.names = names;
    }

    /// A new matrix with the events whose `keep` flag is set, in order.
    pub fn select_events(&self, keep: &[bool]) -> EventMatrix {
        let n_keep = keep.iter().filter(|&&k| k).count();
        let mut out = EventMatrix::zeros(self.names.clone(), n_keep);
        for j in 0..self.n_channels() {
            let src = self.column(j);
            let dst = out.column_mut(j);
            let mut w = 0;
            for (v, &k) in src.iter().zip(keep) {
                if k {
                    dst[w] = *v;
                    w += 1;
                }
            }
        }
        out
    }

    /// A new matrix with only the named columns, in the given order.
    pub fn select_columns(&self, names: &[&str]) -> Result<EventMatrix, MatrixError> {
        let idx = names
            .iter()
            .map(|n| self.require(n))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = EventMatrix::zeros(
            names.iter().map(|s| s.to_string()).collect(),
            self.n_events(),
        );
        for (k, &j) in idx.iter().enumerate() {
            out.column_mut(k).copy_from_slice(self.column(j));
        }
        Ok(out)
    }
}

fn is_packed_column_major(a: &Array2<f64>) -> bool {
    let (n, p) = a.dim();
    let s = a.strides();
    n * p == 0 || ((s[0] == 1 || n <= 1) && (s[1] == n as isize || p <= 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn row_major_input_becomes_column_major() {
        let a = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let m = EventMatrix::new(vec!["A".into(), "B".into()], a).unwrap();
        assert_eq!(m.column(0), &[1.0, 3.0, 5.0]);
        assert_eq!(m.column(1), &[2.0, 4.0, 6.0]);
        assert_eq!(m.get(2, 1), 6.0);
    }

    #[test]
    fn select_events_and_columns() {
        let m = EventMatrix::from_columns(
            vec!["A".into(), "B".into()],
            vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]],
        )
        .unwrap();
        let s = m.select_events(&[true, false, true]);
        assert_eq!(s.column(1), &[4.0, 6.0]);
        let c = m.select_columns(&["B"]).unwrap();
        assert_eq!(c.names(), &["B".to_string()]);
        assert!(m.select_columns(&["C"]).is_err());
    }

    #[test]
    fn reset_reuses_allocation() {
        let mut m = EventMatrix::zeros(vec!["A".into(); 4], 1000);
        let ptr = m.as_slice().as_ptr();
        m.reset(vec!["X".into(), "Y".into()], 1500);
        assert_eq!(m.n_events(), 1500);
        assert_eq!(m.as_slice().as_ptr(), ptr);
        assert_eq!(m.column(1).len(), 1500);
    }
}
