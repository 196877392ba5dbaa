//! Axes of report plots: how a data value (FCS scale units) maps onto the
//! plotted (transformed) coordinate, and where the tick marks go.
//!
//! Why ticks are placed in *data* units and mapped through the transform:
//! a lab tech reads "10³" on a logicle axis as an intensity of 1000, the way
//! FlowJo labels it, not as the logicle value 0.62 that the pixels are laid
//! out in. So a non-linear axis gets ticks at 0 and ±10ᵏ (labelled) and at
//! m·10ᵏ (unlabelled minor ticks), each placed at `forward(value)`; a linear
//! axis gets the usual 1-2-5 steps.

use std::fmt;
use std::sync::Arc;

/// How data values map onto the plotted coordinate of one axis.
#[derive(Clone)]
pub enum AxisScale {
    /// Plotted coordinate = data value (scatter channels, time).
    Linear,
    /// `log10(x)`; values ≤ 0 are off-scale (piled on the axis minimum).
    Log10,
    /// `asinh(x / cofactor)` as used for mass and spectral cytometry.
    Asinh {
        /// The cofactor (e.g. 150 for fluorescence, 5 for CyTOF).
        cofactor: f64,
    },
    /// Any other monotone increasing map (logicle, the pipeline's own
    /// `Transform`): the runner wraps its transform's forward function.
    Custom {
        /// Shown in captions, e.g. "logicle(T=262144, W=0.5, M=4.5, A=0)".
        name: String,
        /// Data value → plotted coordinate; must be monotone increasing.
        forward: Arc<dyn Fn(f64) -> f64 + Send + Sync>,
        /// True when `forward` is affine (1-2-5 ticks instead of decades).
        linear: bool,
    },
}

impl From<&crate::transform::Transform> for AxisScale {
    /// The axis of a column transformed by the pipeline's transform: ticks
    /// in data units placed through `Transform::apply`.
    fn from(t: &crate::transform::Transform) -> Self {
        use crate::transform::Transform;
        let linear = matches!(t, Transform::Linear(_) | Transform::Flin(_));
        let f = t.clone();
        AxisScale::Custom {
            name: t.kind().to_string(),
            forward: Arc::new(move |x| f.apply(x)),
            linear,
        }
    }
}

impl fmt::Debug for AxisScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AxisScale::Linear => f.write_str("Linear"),
            AxisScale::Log10 => f.write_str("Log10"),
            AxisScale::Asinh { cofactor } => write!(f, "Asinh {{ cofactor: {cofactor} }}"),
            AxisScale::Custom { name, .. } => write!(f, "Custom({name})"),
        }
    }
}

impl AxisScale {
    /// Wraps a monotone forward function (e.g. a logicle transform).
    pub fn custom(
        name: impl Into<String>,
        forward: impl Fn(f64) -> f64 + Send + Sync + 'static,
    ) -> Self {
        AxisScale::Custom {
            name: name.into(),
            forward: Arc::new(forward),
            linear: false,
        }
    }

    /// Maps a data value to the plotted coordinate (NaN when off-scale, e.g.
    /// log of a negative value).
    pub fn forward(&self, x: f64) -> f64 {
        match self {
            AxisScale::Linear => x,
            AxisScale::Log10 => {
                if x > 0.0 {
                    x.log10()
                } else {
                    f64::NAN
                }
            }
            AxisScale::Asinh { cofactor } => (x / cofactor).asinh(),
            AxisScale::Custom { forward, .. } => forward(x),
        }
    }

    /// True for affine scales (1-2-5 ticks instead of decades).
    pub fn is_linear(&self) -> bool {
        matches!(
            self,
            AxisScale::Linear | AxisScale::Custom { linear: true, .. }
        )
    }
}

/// One tick mark: where it sits on the plotted coordinate and its label
/// (`None` for minor ticks and for labels dropped because they would overlap).
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    /// The data value the tick stands for (FCS scale units).
    pub value: f64,
    /// `scale.forward(value)`.
    pub position: f64,
    /// Text under/beside the tick.
    pub label: Option<String>,
    /// Major ticks are longer and may carry a label.
    pub major: bool,
}

/// Ticks for an axis showing plotted coordinates `lo..=hi`.
///
/// For a non-linear scale the visible data range is found by bisection on
/// `forward` (which only has to be monotone), then decades are enumerated in
/// it. Overlap between labels is resolved later, in pixels, by the renderer.
pub fn ticks(scale: &AxisScale, lo: f64, hi: f64) -> Vec<Tick> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Vec::new();
    }
    match scale {
        AxisScale::Linear => linear_ticks(lo, hi),
        AxisScale::Custom { linear: true, .. } => {
            // Affine map: round ticks in data units, placed through it.
            let (a, b) = (
                invert(scale, lo, -1e12, 1e12),
                invert(scale, hi, -1e12, 1e12),
            );
            let mut t = linear_ticks(a.min(b), a.max(b));
            for tk in &mut t {
                tk.position = scale.forward(tk.value);
            }
            t.retain(|tk| {
                tk.position >= lo - 1e-9 * (hi - lo) && tk.position <= hi + 1e-9 * (hi - lo)
            });
            t.sort_by(|a, b| a.position.total_cmp(&b.position));
            t
        }
        _ => decade_ticks(scale, lo, hi),
    }
}

fn linear_ticks(lo: f64, hi: f64) -> Vec<Tick> {
    let step = nice_step((hi - lo) / 5.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            // Snap -0.0 and float noise (0.30000000000000004) to the grid.
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            Tick {
                value: v,
                position: v,
                label: Some(format_linear(v, step)),
                major: true,
            }
        })
        .collect()
}

/// A step of 1, 2 or 5 × 10ᵏ close to `raw`.
fn nice_step(raw: f64) -> f64 {
    let exp = raw.log10().floor();
    let base = 10f64.powf(exp);
    let m = raw / base;
    let nice = if m < 1.5 {
        1.0
    } else if m < 3.5 {
        2.0
    } else if m < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * base
}

/// FlowJo-style linear labels: 50K, 100K, 1.5M, 0.25.
pub fn format_linear(v: f64, step: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".to_string()
    } else if a >= 1e6 && step >= 1e5 {
        trim_float(v / 1e6) + "M"
    } else if a >= 1e3 && step >= 100.0 {
        trim_float(v / 1e3) + "K"
    } else if step >= 1.0 {
        format!("{v:.0}")
    } else {
        let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
        format!("{v:.decimals$}")
    }
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `10` followed by the exponent in superscript digits, with a true minus for
/// negative values: 10², −10³.
pub fn format_power_of_ten(sign: f64, exp: i32) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let mut s = String::new();
    if sign < 0.0 {
        s.push('−');
    }
    s.push_str("10");
    if exp < 0 {
        s.push('⁻');
    }
    for d in exp.unsigned_abs().to_string().chars() {
        if let Some(c) = d.to_digit(10).and_then(|i| SUP.get(i as usize)) {
            s.push(*c);
        }
    }
    s
}

/// The data value whose plotted coordinate is `target`, by bisection on a
/// monotone `forward` within `[a, b]` (data units).
fn invert(scale: &AxisScale, target: f64, mut a: f64, mut b: f64) -> f64 {
    for _ in 0..200 {
        let m = 0.5 * (a + b);
        let f = scale.forward(m);
        if f.is_nan() || f < target {
            a = m;
        } else {
            b = m;
        }
        if (b - a).abs() <= 1e-12 * b.abs().max(1.0) {
            break;
        }
    }
    0.5 * (a + b)
}

fn decade_ticks(scale: &AxisScale, lo: f64, hi: f64) -> Vec<Tick> {
    // Visible data range: bisection over a range wide enough for any
    // cytometer (±1e9 covers 32-bit integer and float data).
    const WIDE: f64 = 1e9;
    let dmin = invert(scale, lo, -WIDE, WIDE);
    let dmax = invert(scale, hi, -WIDE, WIDE);
    let mut out = Vec::new();
    let mut push = |v: f64, label: Option<String>, major: bool| {
        let p = scale.forward(v);
        if p.is_finite() && p >= lo - 1e-12 && p <= hi + 1e-12 {
            out.push(Tick {
                value: v,
                position: p,
                label,
                major,
            });
        }
    };
    if dmin <= 0.0 && dmax >= 0.0 && scale.forward(0.0).is_finite() {
        push(0.0, Some("0".to_string()), true);
    }
    for sign in [1.0f64, -1.0] {
        // Decades with at least one value inside the visible range.
        let extent = if sign > 0.0 { dmax } else { -dmin };
        if extent <= 0.0 {
            continue;
        }
        let top = extent.log10().ceil() as i32;
        // When the axis spans zero, decades below 10⁰ all sit on top of the
        // zero tick on logicle/asinh axes; start at 10⁰ then.
        let bottom = if sign > 0.0 && dmin > 0.0 {
            dmin.log10().floor() as i32
        } else {
            0
        };
        for k in bottom..=top {
            let base = 10f64.powi(k);
            push(sign * base, Some(format_power_of_ten(sign, k)), true);
            for m in 2..=9 {
                push(sign * base * m as f64, None, false);
            }
        }
    }
    out.sort_by(|a, b| a.position.total_cmp(&b.position));
    out
}

/// Which labelled ticks to keep so that labels of the given pixel widths do
/// not overlap: 0 first, then decades from the largest magnitude down (the
/// small decades near zero crowd together on logicle/asinh axes, and FlowJo
/// drops exactly those). Returns a keep-flag per tick.
pub fn declutter(ticks: &[Tick], pixel_of: impl Fn(f64) -> f64, widths: &[f64]) -> Vec<bool> {
    let mut order: Vec<usize> = (0..ticks.len())
        .filter(|&i| ticks[i].label.is_some())
        .collect();
    order.sort_by(|&a, &b| {
        let ka = (ticks[a].value != 0.0, -ticks[a].value.abs());
        let kb = (ticks[b].value != 0.0, -ticks[b].value.abs());
        ka.partial_cmp(&kb).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut keep = vec![false; ticks.len()];
    let mut taken: Vec<(f64, f64)> = Vec::new();
    for i in order {
        let c = pixel_of(ticks[i].position);
        let half = widths.get(i).copied().unwrap_or(0.0) / 2.0 + 3.0;
        let (a, b) = (c - half, c + half);
        if taken.iter().all(|&(x, y)| b <= x || a >= y) {
            taken.push((a, b));
            keep[i] = true;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_labelled_like_flowjo() {
        let t = ticks(&AxisScale::Linear, 0.0, 262_144.0);
        let labels: Vec<_> = t.iter().map(|t| t.label.clone().unwrap()).collect();
        assert_eq!(labels, ["0", "50K", "100K", "150K", "200K", "250K"]);
        assert_eq!(t[1].position, 50_000.0);
    }

    #[test]
    fn log_ticks_sit_at_decades_in_data_units() {
        let t = ticks(&AxisScale::Log10, 1.0, 5.0); // 10 .. 100000
        let major: Vec<_> = t.iter().filter(|t| t.major).map(|t| t.value).collect();
        assert_eq!(major, [10.0, 100.0, 1000.0, 10000.0, 100000.0]);
        let lab: Vec<_> = t.iter().filter_map(|t| t.label.clone()).collect();
        assert_eq!(lab, ["10¹", "10²", "10³", "10⁴", "10⁵"]);
        // Minor ticks 20..90, 200..900, … : 8 per full decade, 4 decades.
        assert_eq!(t.iter().filter(|t| !t.major).count(), 32);
        assert!(
            (t.iter().find(|t| t.value == 300.0).unwrap().position - 300f64.log10()).abs() < 1e-12
        );
    }

    #[test]
    fn asinh_ticks_include_zero_and_negative_decades() {
        let s = AxisScale::Asinh { cofactor: 150.0 };
        let lo = s.forward(-2000.0);
        let hi = s.forward(300_000.0);
        let t = ticks(&s, lo, hi);
        let major: Vec<_> = t.iter().filter(|t| t.major).map(|t| t.value).collect();
        assert!(major.contains(&0.0));
        assert!(major.contains(&-1000.0));
        assert!(major.contains(&100_000.0));
        assert!(!major.contains(&-10_000.0));
        for tk in &t {
            assert!((tk.position - s.forward(tk.value)).abs() < 1e-12);
        }
        assert!(t.windows(2).all(|w| w[0].position <= w[1].position));
    }

    #[test]
    fn declutter_drops_crowded_small_decades_first() {
        let s = AxisScale::Asinh { cofactor: 150.0 };
        let (lo, hi) = (s.forward(-100.0), s.forward(262_144.0));
        let t = ticks(&s, lo, hi);
        let px = |p: f64| (p - lo) / (hi - lo) * 250.0;
        let widths = vec![20.0; t.len()];
        let keep = declutter(&t, px, &widths);
        let kept: Vec<f64> = t
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(t, _)| t.value)
            .collect();
        assert!(kept.contains(&0.0) && kept.contains(&100_000.0) && kept.contains(&10_000.0));
        // 10⁰ and 10¹ sit within a few pixels of 0: dropped.
        assert!(!kept.contains(&1.0) && !kept.contains(&10.0));
    }

    #[test]
    fn pipeline_transforms_give_ticks_in_data_units() {
        use crate::transform::Transform;
        let t: Transform =
            serde_json::from_str(r#"{"kind":"logicle","t":262144,"w":0.5,"m":4.5,"a":0}"#).unwrap();
        let s = AxisScale::from(&t);
        assert!(!s.is_linear());
        let tk = ticks(&s, 0.0, 1.0);
        let major: Vec<f64> = tk.iter().filter(|t| t.major).map(|t| t.value).collect();
        for v in [0.0, 1000.0, 10_000.0, 100_000.0] {
            assert!(major.contains(&v), "{v} missing from {major:?}");
        }
        for x in &tk {
            assert!((x.position - t.apply(x.value)).abs() < 1e-12);
        }
        let lin: Transform =
            serde_json::from_str(r#"{"kind":"linear","slope":0.001,"intercept":0}"#).unwrap();
        let s = AxisScale::from(&lin);
        let tk = ticks(&s, 0.0, 262.144);
        let labels: Vec<_> = tk.iter().filter_map(|t| t.label.clone()).collect();
        assert_eq!(labels, ["0", "50K", "100K", "150K", "200K", "250K"]);
        assert!((tk[1].position - 50.0).abs() < 1e-9);
    }

    #[test]
    fn power_labels() {
        assert_eq!(format_power_of_ten(1.0, 5), "10⁵");
        assert_eq!(format_power_of_ten(-1.0, 3), "−10³");
        assert_eq!(format_power_of_ten(1.0, -2), "10⁻²");
        assert_eq!(format_linear(1_500_000.0, 500_000.0), "1.5M");
        assert_eq!(format_linear(0.25, 0.05), "0.25");
    }
}
