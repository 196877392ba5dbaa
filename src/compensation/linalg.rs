//! The small dense linear algebra compensation needs: inverting an n×n
//! spillover matrix (n ≤ a few dozen) and the least-squares pseudo-inverse of
//! a wide spectral matrix. Gauss–Jordan with partial pivoting is exact enough
//! (well-conditioned spillover matrices, 1e-9 relative against numpy's LAPACK)
//! and keeps nkflow free of a LAPACK dependency.

/// Row-major n×n inverse, or `None` when a pivot is (numerically) zero.
///
/// "Zero" is relative to the largest entry of the matrix: a pivot below
/// n·ε·max|a| means the rows are linearly dependent to working precision.
pub(crate) fn invert(n: usize, a: &[f64]) -> Option<Vec<f64>> {
    if a.len() != n * n {
        return None;
    }
    let scale = a.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    if !scale.is_finite() || scale == 0.0 {
        return None;
    }
    let tiny = scale * f64::EPSILON * n as f64;
    // Augmented [A | I], row-major, 2n columns.
    let w = 2 * n;
    let mut m = vec![0.0; n * w];
    for i in 0..n {
        m[i * w..i * w + n].copy_from_slice(&a[i * n..(i + 1) * n]);
        m[i * w + n + i] = 1.0;
    }
    for col in 0..n {
        let pivot_row =
            (col..n).max_by(|&r, &s| m[r * w + col].abs().total_cmp(&m[s * w + col].abs()))?;
        let p = m[pivot_row * w + col];
        if p.abs() <= tiny || !p.is_finite() {
            return None;
        }
        if pivot_row != col {
            for k in 0..w {
                m.swap(col * w + k, pivot_row * w + k);
            }
        }
        for k in 0..w {
            m[col * w + k] /= p;
        }
        for r in 0..n {
            if r == col {
                continue;
            }
            let factor = m[r * w + col];
            if factor != 0.0 {
                for k in 0..w {
                    m[r * w + k] -= factor * m[col * w + k];
                }
            }
        }
    }
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n..(i + 1) * n].copy_from_slice(&m[i * w + n..(i + 1) * w]);
    }
    Some(inv)
}

/// Transpose of a row-major rows×cols matrix.
pub(crate) fn transpose(rows: usize, cols: usize, a: &[f64]) -> Vec<f64> {
    let mut t = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

/// Row-major product of (r×k) and (k×c).
pub(crate) fn matmul(r: usize, k: usize, c: usize, a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for l in 0..k {
            let av = a[i * k + l];
            for j in 0..c {
                out[i * c + j] += av * b[l * c + j];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = [1.0, 0.2, 0.05, 0.1, 1.0, 0.3, 0.0, 0.15, 1.0];
        let inv = invert(3, &a).unwrap();
        let p = matmul(3, 3, 3, &a, &inv);
        for i in 0..3 {
            for j in 0..3 {
                let e = if i == j { 1.0 } else { 0.0 };
                assert!((p[i * 3 + j] - e).abs() < 1e-15);
            }
        }
    }

    #[test]
    fn singular_is_detected() {
        assert!(invert(2, &[1.0, 2.0, 2.0, 4.0]).is_none());
        assert!(invert(2, &[0.0; 4]).is_none());
    }
}
