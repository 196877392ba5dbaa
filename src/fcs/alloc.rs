//! The event matrix's memory for a read: reused when the sample already has
//! enough, else freshly allocated with a hint for huge pages.
//!
//! Why the hint: a fresh 1M × 20 matrix is 160 MB of `f64`, and the kernel
//! hands it out in 4 kB pages on first touch — 40,000 page faults that cost
//! more than decoding the data (≈ 33 ms per 80 MB on the reference machine).
//! With transparent huge pages in `madvise` mode (the common default) the
//! kernel backs a range with 2 MB pages only when asked to; asked, the same
//! matrix takes 80 faults. The hint changes how memory is backed, never its
//! contents, and is skipped where it does not apply.

use ndarray::{Array2, ShapeBuilder};

use crate::matrix::EventMatrix;

/// Matrices smaller than this are left to the allocator as they are.
#[cfg(target_os = "linux")]
const HUGE_MIN_BYTES: usize = 8 << 20;

/// Makes `events` an `n_events × names.len()` zero matrix, reusing its buffer
/// when its capacity suffices (a batch reading file after file allocates
/// once), else allocating a new one.
pub(super) fn prepare(events: &mut EventMatrix, names: Vec<String>, n_events: usize) {
    let needed = n_events.saturating_mul(names.len());
    let old = std::mem::replace(events, EventMatrix::zeros(Vec::new(), 0));
    let mut buf = old.into_parts().1.into_raw_vec_and_offset().0;
    if buf.capacity() >= needed {
        // Zero only what a previous, shorter matrix left out; the decoder
        // overwrites every value anyway.
        buf.truncate(needed);
        buf.resize(needed, 0.0);
    } else {
        drop(buf);
        buf = fresh(needed);
    }
    let shape = (n_events, names.len());
    *events = Array2::from_shape_vec(shape.f(), buf)
        .ok()
        .and_then(|a| EventMatrix::new(names.clone(), a).ok())
        .unwrap_or_else(|| EventMatrix::zeros(names, n_events));
}

/// A zeroed buffer of `n` values. `vec![0.0; n]` comes from `calloc`, which
/// for large sizes maps fresh zero pages without touching them, so the
/// huge-page advice is in time for the first touch (the decoder's).
fn fresh(n: usize) -> Vec<f64> {
    let v = vec![0.0f64; n];
    #[cfg(target_os = "linux")]
    advise_huge_pages(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &[f64]) {
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(v);
    if bytes < HUGE_MIN_BYTES {
        return;
    }
    let start = v.as_ptr() as usize;
    let (Some(first), Some(end)) = (
        start.checked_next_multiple_of(HUGE),
        start.checked_add(bytes).map(|e| e / HUGE * HUGE),
    ) else {
        return;
    };
    if end > first {
        // SAFETY: [first, end) lies inside `v`'s live allocation and is
        // page-aligned; MADV_HUGEPAGE only changes how the kernel backs the
        // range, not its contents, and a failure (THP off) is harmless.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_capacity_and_zero_fills() {
        let mut m = EventMatrix::zeros(vec!["a".into()], 0);
        prepare(&mut m, vec!["a".into(), "b".into()], 3);
        assert_eq!((m.n_events(), m.n_channels()), (3, 2));
        m.as_mut_slice().fill(7.0);
        let ptr = m.as_slice().as_ptr();
        prepare(&mut m, vec!["x".into()], 2);
        assert_eq!(m.as_slice().as_ptr(), ptr, "buffer reused");
        assert_eq!(m.names(), ["x"]);
        assert_eq!(m.column(0).len(), 2);
        prepare(&mut m, vec!["x".into(), "y".into()], 3);
        assert_eq!(m.as_slice().as_ptr(), ptr);
        // Values beyond the shorter matrix are zero again.
        assert_eq!(&m.as_slice()[2..], &[0.0; 4]);
        // Large: a fresh, zeroed, column-major buffer.
        let n = (8 << 20) / 8 + 12345;
        prepare(&mut m, vec!["big".into()], n);
        assert_eq!(m.column(0).len(), n);
        assert!(m.column(0).iter().all(|&v| v == 0.0));
    }
}
