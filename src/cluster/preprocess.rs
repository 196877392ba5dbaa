//! The scale FlowSOM clusters on: each marker logicle-transformed with
//! parameters estimated from its own file (flowCore's `estimateLogicle`
//! rule), the same for `nkflow cluster` and the pipeline's cluster stage.
//!
//! Why an estimated logicle and not the gates' density axes: the pipeline
//! estimates an arcsinh axis per *gate* (on that gate's parent), so a marker
//! has several axes or — like CD16 in the NK preset — none at all; a
//! logicle per marker and file covers every clustered marker with one rule,
//! is what FlowSOM users apply in R (`estimateLogicle` before `FlowSOM`), and
//! keeps the standalone command and the pipeline stage on identical values.

use crate::transform::{Logicle, TransformError};

/// Logicle parameters from the data, as flowCore's `estimateLogicle`:
/// T = the largest value, M = 4.5, A = 0, and W from the 5% quantile `r` of
/// the negative values, `W = (M − log10(T / |r|)) / 2` (0 without negatives),
/// kept within the valid range [0, M/2].
pub fn estimate_logicle(values: &[f64]) -> Result<Logicle, TransformError> {
    let t = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    let t = if t.is_finite() && t > 0.0 {
        t
    } else {
        262_144.0
    };
    // The transform module owns the flowCore rule (type-7 quantile, W clamped).
    Ok(crate::transform::estimate_logicle(values, t, 4.5, 0.0, 0.05)?.logicle)
}

/// Appends the transformed values of the selected events of `markers`
/// columns to `rows`, row-major `f32` (one row per selected event, in event
/// order). Each column's logicle is estimated on all of its events (the
/// whole file, as `nkflow cluster` does), then applied to the selected ones.
/// `selected` holds event indices in ascending order.
pub fn transformed_rows(
    columns: &[&[f64]],
    selected: &[u32],
    rows: &mut Vec<f32>,
) -> Result<(), (usize, TransformError)> {
    let dim = columns.len();
    let start = rows.len();
    rows.resize(start + selected.len() * dim, 0.0);
    let mut buf = Vec::with_capacity(selected.len());
    for (j, col) in columns.iter().enumerate() {
        let l = estimate_logicle(col).map_err(|e| (j, e))?;
        buf.clear();
        buf.extend(
            selected
                .iter()
                .map(|&i| col.get(i as usize).copied().unwrap_or(f64::NAN)),
        );
        l.apply_slice(&mut buf);
        for (row, &v) in rows[start..].chunks_exact_mut(dim).zip(&buf) {
            if let Some(slot) = row.get_mut(j) {
                *slot = v as f32;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logicle_estimate_follows_flowcore_rule() {
        // T = 10,000; 5% quantile of the negatives −100..−1 = −95.05 → W = (4.5 − 2) / 2.
        let mut v: Vec<f64> = (0..=100).map(|i| -100.0 + i as f64).collect();
        v.push(10_000.0);
        let l = estimate_logicle(&v).unwrap();
        let p = l.params();
        assert_eq!(p.t, 10_000.0);
        assert!((p.w - (4.5 - (10_000.0f64 / 95.05).log10()) / 2.0).abs() < 1e-12);
        assert_eq!(estimate_logicle(&[1.0, 50.0]).unwrap().params().w, 0.0);
    }

    #[test]
    fn rows_hold_the_selected_events_transformed_with_the_whole_column_estimate() {
        let a: Vec<f64> = (0..=100).map(|i| -100.0 + i as f64 * 101.0).collect();
        let b: Vec<f64> = (0..=100).map(|i| i as f64 * 3.0).collect();
        let (la, lb) = (estimate_logicle(&a).unwrap(), estimate_logicle(&b).unwrap());
        let mut rows = vec![9.0f32];
        transformed_rows(&[&a, &b], &[3, 50, 100], &mut rows).unwrap();
        assert_eq!(rows.len(), 1 + 6);
        assert_eq!(rows[0], 9.0);
        for (r, &i) in [3usize, 50, 100].iter().enumerate() {
            assert_eq!(rows[1 + 2 * r], la.apply(a[i]) as f32);
            assert_eq!(rows[2 + 2 * r], lb.apply(b[i]) as f32);
        }
    }
}
