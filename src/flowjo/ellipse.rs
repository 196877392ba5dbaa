//! FlowJo ellipse geometry: from two foci and four edge points (FlowJo's
//! storage) to a centre, semi-axes and a covariance-style matrix (Gating-ML's
//! `EllipsoidGate`: inside when `(x−μ)ᵀ Σ⁻¹ (x−μ) ≤ 1`).
//!
//! Why this way: an ellipse is exactly the set of points whose distances to
//! the two foci sum to at most 2a. The foci fix the centre, the orientation
//! and the focal half-distance c; the edge points on the major axis give a;
//! then b² = a² − c². FlowJo's minor-axis edge points are not used for b:
//! FlowKit's authors found them unreliable, and b is already determined by
//! the foci and a. (FlowKit then approximates the ellipse by a 128-gon; we
//! keep the exact ellipse.) With major-axis unit vector u and minor v,
//! Σ = a²·uuᵀ + b²·vvᵀ, so (x−μ)ᵀΣ⁻¹(x−μ) = (u·d/a)² + (v·d/b)².

/// An ellipse in display coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipse {
    /// Centre.
    pub center: [f64; 2],
    /// Semi-major axis length.
    pub a: f64,
    /// Semi-minor axis length.
    pub b: f64,
    /// Unit vector along the major axis.
    pub major: [f64; 2],
}

impl Ellipse {
    /// Builds the ellipse from FlowJo's foci and edge points, or explains why
    /// they do not describe one.
    pub fn from_foci_and_edges(foci: [[f64; 2]; 2], edges: &[[f64; 2]]) -> Result<Self, String> {
        let center = [
            (foci[0][0] + foci[1][0]) / 2.0,
            (foci[0][1] + foci[1][1]) / 2.0,
        ];
        let fx = foci[1][0] - foci[0][0];
        let fy = foci[1][1] - foci[0][1];
        let two_c = fx.hypot(fy);
        let c = two_c / 2.0;
        let dist = |p: &[f64; 2]| (p[0] - center[0]).hypot(p[1] - center[1]);
        if edges.is_empty() {
            return Err("ellipse without edge points".into());
        }
        let (a, major) = if two_c > 0.0 {
            let u = [fx / two_c, fy / two_c];
            // Semi-major axis: the largest extent of the edge points along the
            // focal axis (the major-axis points lie on it; the minor-axis points
            // project to about zero).
            let a = edges
                .iter()
                .map(|p| ((p[0] - center[0]) * u[0] + (p[1] - center[1]) * u[1]).abs())
                .fold(0.0, f64::max);
            (a, u)
        } else {
            // Coincident foci: a circle through the edge points.
            let a = edges.iter().map(dist).sum::<f64>() / edges.len() as f64;
            (a, [1.0, 0.0])
        };
        if !(a.is_finite() && a > c) {
            return Err(format!(
                "edge points (semi-major axis {a:.4}) do not lie outside the foci (half-distance {c:.4})"
            ));
        }
        let b = (a * a - c * c).sqrt();
        Ok(Ellipse {
            center,
            a,
            b,
            major,
        })
    }

    /// The covariance-style matrix Σ (row-major) with `(x−μ)ᵀΣ⁻¹(x−μ) ≤ 1`
    /// inside.
    pub fn covariance(&self) -> [[f64; 2]; 2] {
        let [ux, uy] = self.major;
        let (vx, vy) = (-uy, ux);
        let (a2, b2) = (self.a * self.a, self.b * self.b);
        [
            [a2 * ux * ux + b2 * vx * vx, a2 * ux * uy + b2 * vx * vy],
            [a2 * uy * ux + b2 * vy * vx, a2 * uy * uy + b2 * vy * vy],
        ]
    }

    /// The same ellipse after the per-axis affine map `x' = (x − offset) / scale`
    /// (display space to another linear scaling of the same axes): returns the
    /// new centre and Σ. Axis-wise affine maps keep ellipses ellipses:
    /// Σ' = D⁻¹ Σ D⁻¹ with D = diag(scale).
    pub fn rescaled(&self, offset: [f64; 2], scale: [f64; 2]) -> ([f64; 2], [[f64; 2]; 2]) {
        let s = self.covariance();
        let center = [
            (self.center[0] - offset[0]) / scale[0],
            (self.center[1] - offset[1]) / scale[1],
        ];
        let mut out = [[0.0; 2]; 2];
        for (i, row) in out.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = s[i][j] / (scale[i] * scale[j]);
            }
        }
        (center, out)
    }

    /// True when the point is inside or on the ellipse.
    pub fn contains(&self, p: [f64; 2]) -> bool {
        let d = [p[0] - self.center[0], p[1] - self.center[1]];
        let along = d[0] * self.major[0] + d[1] * self.major[1];
        let across = -d[0] * self.major[1] + d[1] * self.major[0];
        (along / self.a).powi(2) + (across / self.b).powi(2) <= 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_aligned_ellipse_from_foci() {
        // a = 5, c = 3 → b = 4; centre (10, 20).
        let e = Ellipse::from_foci_and_edges(
            [[7.0, 20.0], [13.0, 20.0]],
            &[[5.0, 20.0], [15.0, 20.0], [10.0, 24.0], [10.0, 16.0]],
        )
        .unwrap();
        assert_eq!(e.center, [10.0, 20.0]);
        assert!((e.a - 5.0).abs() < 1e-12 && (e.b - 4.0).abs() < 1e-12);
        assert!(e.contains([14.99, 20.0]) && !e.contains([15.01, 20.0]));
        assert!(e.contains([10.0, 23.99]) && !e.contains([10.0, 24.01]));
        let s = e.covariance();
        assert!((s[0][0] - 25.0).abs() < 1e-12 && (s[1][1] - 16.0).abs() < 1e-12);
        assert!(s[0][1].abs() < 1e-12);
    }

    #[test]
    fn rotated_ellipse_matches_focal_definition() {
        // Foci on the diagonal; the minor-axis points given are deliberately
        // off (FlowJo's often are) and must not matter.
        let r = std::f64::consts::FRAC_1_SQRT_2;
        let (a, c) = (10.0, 6.0);
        let ctr = [100.0, 80.0];
        let f0 = [ctr[0] - c * r, ctr[1] - c * r];
        let f1 = [ctr[0] + c * r, ctr[1] + c * r];
        let edges = [
            [ctr[0] - a * r, ctr[1] - a * r],
            [ctr[0] + a * r, ctr[1] + a * r],
            [ctr[0] - 3.0, ctr[1] + 3.0],
            [ctr[0] + 3.0, ctr[1] - 3.0],
        ];
        let e = Ellipse::from_foci_and_edges([f0, f1], &edges).unwrap();
        assert!((e.b - 8.0).abs() < 1e-9);
        let focal = |p: [f64; 2]| {
            (p[0] - f0[0]).hypot(p[1] - f0[1]) + (p[0] - f1[0]).hypot(p[1] - f1[1]) <= 2.0 * a
        };
        let mut n = 0;
        for i in 0..60 {
            for j in 0..60 {
                let p = [85.0 + i as f64 * 0.5, 65.0 + j as f64 * 0.5];
                assert_eq!(e.contains(p), focal(p), "{p:?}");
                n += usize::from(focal(p));
            }
        }
        assert!(n > 500);
        // Σ⁻¹ form agrees with `contains` after a rescale to another unit.
        let (m, s) = e.rescaled([0.0, 0.0], [256.0, 256.0]);
        let det = s[0][0] * s[1][1] - s[0][1] * s[1][0];
        let q = |p: [f64; 2]| {
            let d = [p[0] / 256.0 - m[0], p[1] / 256.0 - m[1]];
            (d[0] * (s[1][1] * d[0] - s[0][1] * d[1]) + d[1] * (-s[1][0] * d[0] + s[0][0] * d[1]))
                / det
        };
        assert!((q(edges[1]) - 1.0).abs() < 1e-9);
        assert!(q([100.0, 80.0]) < 1e-12);
    }

    #[test]
    fn degenerate_edges_are_rejected() {
        let e = Ellipse::from_foci_and_edges([[0.0, 0.0], [10.0, 0.0]], &[[5.0, 1.0]; 4]);
        assert!(e.is_err());
    }
}
