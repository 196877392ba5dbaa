//! An independent, deliberately simple reference gating for simulated files,
//! used to prove that the simulator's data is solvable (a sensible gating gets
//! the truth) and not trivial (leaving out compensation, the live gate or the
//! scatter gate changes NK/µL).
//!
//! It shares nothing with the simulator but the file: it reads `$SPILLOVER`,
//! inverts it, applies arcsinh, and sets every threshold at the density
//! valley between two peaks (openCyto's mindensity idea, in a few lines).
#![allow(dead_code)]

use nkflow::Sample;

/// Which gates to apply.
#[derive(Debug, Clone, Copy)]
pub struct Steps {
    pub compensate: bool,
    pub live: bool,
    pub scatter: bool,
}

impl Steps {
    pub const ALL: Steps = Steps {
        compensate: true,
        live: true,
        scatter: true,
    };
}

/// What the reference gating reports.
#[derive(Debug, Clone, Default)]
pub struct Estimate {
    pub beads: usize,
    pub nk: usize,
    pub nk_per_ul: f64,
    pub pct_nkg2c: f64,
    pub pct_kir: f64,
    pub pct_nkg2c_kir: f64,
    pub pct_cd56bright: f64,
    pub pct_nkg2a: f64,
    pub pct_cd57: f64,
    pub pct_ki67: f64,
    /// Events in the NK gate (for scoring against labels).
    pub nk_idx: Vec<usize>,
    /// Thresholds and event counts stage by stage (for diagnostics).
    pub log: Vec<String>,
    /// Events kept after each stage.
    pub stages: Vec<(String, Vec<usize>)>,
}

/// Marker → `$PnS` spellings seen across labs (whole label or first token).
const ALIASES: [(&str, &[&str]); 10] = [
    ("CD3", &["CD3"]),
    ("viability", &["LIVE/DEAD", "ZOMBIE", "L/D", "VIABILITY"]),
    ("Ki-67", &["KI-67", "KI67"]),
    ("NKG2A", &["NKG2A", "CD159A"]),
    ("CD57", &["CD57"]),
    ("CD45", &["CD45"]),
    ("NKG2C", &["NKG2C", "CD159C"]),
    ("CD56", &["CD56", "NCAM1"]),
    ("KIR", &["PAN-KIR", "CD158", "KIR2DL1/S1/S3/S5"]),
    ("CD16", &["CD16"]),
];

/// Column of a marker, found by the first token of its `$PnS` label.
pub fn marker_column(s: &Sample, marker: &str) -> usize {
    let aliases = ALIASES
        .iter()
        .find(|(m, _)| *m == marker)
        .map(|(_, a)| *a)
        .unwrap();
    let hits: Vec<usize> = s
        .channels
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            c.label.as_deref().is_some_and(|l| {
                let up = l.to_ascii_uppercase();
                let first = up.split_whitespace().next().unwrap_or("").to_string();
                aliases.iter().any(|a| first == *a || up == *a)
            })
        })
        .map(|(j, _)| j)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{}: marker {marker} matches {hits:?}",
        s.source
    );
    hits[0]
}

fn column_by_name(s: &Sample, name: &str) -> usize {
    s.channels.iter().position(|c| c.name == name).unwrap()
}

/// Parses `$SPILLOVER` into (detector names, row-major matrix).
pub fn spillover(s: &Sample) -> (Vec<String>, Vec<f64>) {
    let (_, text) = s.spillover_text().expect("file has a spillover keyword");
    let parts: Vec<&str> = text.split(',').map(str::trim).collect();
    let n: usize = parts[0].parse().unwrap();
    let names = parts[1..=n].iter().map(|x| x.to_string()).collect();
    let values = parts[n + 1..]
        .iter()
        .map(|x| x.parse::<f64>().unwrap())
        .collect::<Vec<_>>();
    assert_eq!(values.len(), n * n);
    (names, values)
}

/// Inverse of an n×n row-major matrix by Gauss–Jordan with partial pivoting.
pub fn invert(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for c in 0..n {
        let p = (c..n)
            .max_by(|&x, &y| m[x * n + c].abs().total_cmp(&m[y * n + c].abs()))
            .unwrap();
        for k in 0..n {
            m.swap(c * n + k, p * n + k);
            inv.swap(c * n + k, p * n + k);
        }
        let d = m[c * n + c];
        for k in 0..n {
            m[c * n + k] /= d;
            inv[c * n + k] /= d;
        }
        for r in 0..n {
            if r != c {
                let f = m[r * n + c];
                if f != 0.0 {
                    for k in 0..n {
                        m[r * n + k] -= f * m[c * n + k];
                        inv[r * n + k] -= f * inv[c * n + k];
                    }
                }
            }
        }
    }
    inv
}

/// Which valley to take when a density has more than two modes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    /// Between the lowest mode (the negatives) and the next one up.
    Leftmost,
    /// Between the highest mode (the brightest positives) and the next one down.
    Rightmost,
}

/// The density valley between two modes of `x` (already transformed),
/// searched in `[lo, hi]`; `None` when there is only one mode. A smoothed
/// histogram stands in for a kernel density estimate; on the square root of
/// the density, a mode counts when it is at least 4 % of the highest and the
/// density dips below 80 % of the lower of two neighbouring modes between them.
pub fn valley(x: &[f64], lo: f64, hi: f64, pick: Pick) -> Option<f64> {
    const BINS: usize = 200;
    let w = (hi - lo) / BINS as f64;
    let mut h = vec![0.0; BINS];
    for &v in x {
        if v >= lo && v < hi {
            h[((v - lo) / w) as usize] += 1.0;
        }
    }
    // Gaussian smoothing (wider for fewer events, like a KDE bandwidth),
    // then the square root, so that a small population's mode (dead cells,
    // lymphocytes in lysed blood) stands out against a dominant one.
    let sd = 3.0 * (2_000.0 / x.len().max(1) as f64).powf(0.2).max(1.0);
    let half = (3.0 * sd).ceil() as i64;
    let k: Vec<f64> = (-half..=half)
        .map(|i| (-((i * i) as f64) / (2.0 * sd * sd)).exp())
        .collect();
    let s: Vec<f64> = (0..BINS)
        .map(|i| {
            k.iter()
                .enumerate()
                .map(|(j, kv)| {
                    let idx = i as i64 + j as i64 - half;
                    if idx >= 0 && (idx as usize) < BINS {
                        kv * h[idx as usize]
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    let max = s.iter().copied().fold(0.0, f64::max);
    let mut peaks: Vec<usize> = (1..BINS - 1)
        .filter(|&i| s[i] > s[i - 1] && s[i] >= s[i + 1] && s[i] >= (0.04 * max).max(2.0))
        .collect();
    // Merge neighbouring modes without a real dip between them (keep the higher).
    let dip = |a: usize, b: usize| (a..=b).map(|i| s[i]).fold(f64::INFINITY, f64::min);
    let mut merged = true;
    while merged && peaks.len() > 1 {
        merged = false;
        for i in 0..peaks.len() - 1 {
            let (a, b) = (peaks[i], peaks[i + 1]);
            if dip(a, b) >= 0.8 * s[a].min(s[b]) {
                let drop = if s[a] < s[b] { i } else { i + 1 };
                peaks.remove(drop);
                merged = true;
                break;
            }
        }
    }
    if std::env::var_os("VALLEY_DEBUG").is_some() {
        let pk: Vec<String> = peaks
            .iter()
            .map(|&p| format!("{:.2}:{:.1}", lo + (p as f64 + 0.5) * w, s[p]))
            .collect();
        eprintln!(
            "valley n={} range [{lo:.2},{hi:.2}] max {max:.1} peaks {pk:?}",
            x.len()
        );
        if std::env::var_os("VALLEY_HIST").is_some() {
            let c: Vec<String> = s.iter().step_by(5).map(|v| format!("{v:.1}")).collect();
            eprintln!("  {}", c.join(" "));
        }
    }
    if peaks.len() < 2 {
        return None;
    }
    let (a, b) = match pick {
        Pick::Leftmost => (peaks[0], peaks[1]),
        Pick::Rightmost => (peaks[peaks.len() - 2], peaks[peaks.len() - 1]),
    };
    let vi = (a..=b).min_by(|&x, &y| s[x].total_cmp(&s[y]))?;
    Some(lo + (vi as f64 + 0.5) * w)
}

fn quantile(x: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = x.iter().copied().filter(|v| v.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q) as usize]
}

/// The valley in `values[idx]` over their central range, or `fallback`.
fn threshold(values: &[f64], idx: &[usize], pick: Pick, fallback: f64) -> f64 {
    let x: Vec<f64> = idx.iter().map(|&i| values[i]).collect();
    let lo = quantile(&x, 0.001) - 0.5;
    let hi = quantile(&x, 0.999) + 0.5;
    valley(&x, lo, hi, pick).unwrap_or(fallback)
}

/// Runs the reference gating on a sample (raw events as read).
pub fn gate(s: &Sample, steps: Steps, beads_per_tube: f64, blood_volume_ul: f64) -> Estimate {
    let mut s = s.clone();
    let n = s.n_events();
    let range: Vec<f64> = s.channels.iter().map(|c| c.range).collect();
    // Margin events: scatter at the top of the range, judged on stored values.
    let fa = column_by_name(&s, "FSC-A");
    let fh = column_by_name(&s, "FSC-H");
    let sa = column_by_name(&s, "SSC-A");
    let margin: Vec<bool> = (0..n)
        .map(|i| s.events.get(i, fa) >= range[fa] - 1.0 || s.events.get(i, sa) >= range[sa] - 1.0)
        .collect();
    s.apply_scale();

    // Detectors in $SPILLOVER order, and the compensated values.
    let (names, spill) = spillover(&s);
    let k = names.len();
    let cols: Vec<usize> = names.iter().map(|nm| column_by_name(&s, nm)).collect();
    let inv = invert(&spill, k);
    let mut comp: Vec<Vec<f64>> = vec![vec![0.0; n]; k];
    for (d, out) in comp.iter_mut().enumerate() {
        for (i, o) in out.iter_mut().enumerate() {
            *o = if steps.compensate {
                (0..k)
                    .map(|f| s.events.get(i, cols[f]) * inv[f * k + d])
                    .sum()
            } else {
                s.events.get(i, cols[d])
            };
        }
    }
    let r = range[cols[0]];
    let cofactor = 300.0 * r / 262_144.0;
    let marker = |m: &str| -> Vec<f64> {
        let j = marker_column(&s, m);
        let d = cols.iter().position(|&c| c == j).unwrap();
        comp[d].iter().map(|v| (v / cofactor).asinh()).collect()
    };

    // Beads: bright in (nearly) every fluorescence detector, before any
    // margin filter (beads saturate).
    let is_bead: Vec<bool> = (0..n)
        .map(|i| {
            cols.iter()
                .filter(|&&c| s.events.get(i, c) > 0.12 * range[c])
                .count()
                >= k - 2
        })
        .collect();
    let beads = is_bead.iter().filter(|&&b| b).count();

    let mut idx: Vec<usize> = (0..n).filter(|&i| !is_bead[i] && !margin[i]).collect();
    let mut log = Vec::new();
    let mut stages = Vec::new();
    stages.push(("no beads, no margin".to_string(), idx.clone()));

    // Singlets: FSC-A/FSC-H near its mode (cells above the debris).
    let fsc_a = s.events.column(fa).to_vec();
    let fsc_h = s.events.column(fh).to_vec();
    let ratio: Vec<f64> = (0..n).map(|i| fsc_a[i] / fsc_h[i].max(1.0)).collect();
    let med_fsc = quantile(&idx.iter().map(|&i| fsc_a[i]).collect::<Vec<_>>(), 0.5);
    let big: Vec<f64> = idx
        .iter()
        .filter(|&&i| fsc_a[i] > 0.5 * med_fsc)
        .map(|&i| ratio[i])
        .collect();
    let mode = quantile(&big, 0.5);
    idx.retain(|&i| ratio[i] < mode * 1.1);
    log.push(format!("singlet ratio mode {mode:.3}"));
    stages.push(("singlets".to_string(), idx.clone()));

    // Live: viability below the valley.
    if steps.live {
        let v = marker("viability");
        let t = threshold(&v, &idx, Pick::Rightmost, 4.0);
        idx.retain(|&i| v[i] < t);
        log.push(format!("viability < {t:.2}"));
        stages.push(("live".to_string(), idx.clone()));
    }
    // CD45+.
    let cd45 = marker("CD45");
    let t45 = threshold(&cd45, &idx, Pick::Leftmost, 2.0);
    idx.retain(|&i| cd45[i] > t45);
    log.push(format!("CD45 > {t45:.2}"));
    stages.push(("CD45+".to_string(), idx.clone()));
    // Lymphocytes: FSC above a floor set by the T cells (CD3+, always
    // there), then SSC below the valley between lymphocytes and
    // monocytes/granulocytes.
    let cd3 = marker("CD3");
    if steps.scatter {
        let fsc: Vec<f64> = fsc_a.iter().map(|v| v.max(1.0).log10()).collect();
        let t3_all = threshold(&cd3, &idx, Pick::Leftmost, 2.5);
        let t_fsc: Vec<f64> = idx
            .iter()
            .filter(|&&i| cd3[i] > t3_all)
            .map(|&i| fsc[i])
            .collect();
        let lo_fsc = quantile(&t_fsc, 0.5) - 0.35;
        idx.retain(|&i| fsc[i] > lo_fsc);
        let ssc: Vec<f64> = s
            .events
            .column(sa)
            .iter()
            .map(|v| v.max(1.0).log10())
            .collect();
        let t = threshold(&ssc, &idx, Pick::Leftmost, 4.4);
        idx.retain(|&i| ssc[i] < t);
        log.push(format!("log SSC < {t:.2}, log FSC > {lo_fsc:.2}"));
        stages.push(("lymphocytes".to_string(), idx.clone()));
    }
    // NK: CD3− CD56+.
    let t3 = threshold(&cd3, &idx, Pick::Leftmost, 2.5);
    // CD56 threshold on all lymphocytes: the CD56− peak is T and B cells.
    let cd56 = marker("CD56");
    let t56 = threshold(&cd56, &idx, Pick::Leftmost, 2.0);
    let lymph = idx.clone();
    idx.retain(|&i| cd3[i] < t3);
    log.push(format!("CD3 < {t3:.2}"));
    stages.push(("CD3-".to_string(), idx.clone()));
    let nk: Vec<usize> = idx.iter().copied().filter(|&i| cd56[i] > t56).collect();
    log.push(format!("CD56 > {t56:.2}"));
    stages.push(("NK".to_string(), nk.clone()));

    let mut pct = |m: &str| -> (Vec<bool>, f64) {
        let v = marker(m);
        // Fallback: well above the CD56− lymphocytes (T and B cells).
        let neg: Vec<f64> = lymph
            .iter()
            .filter(|&&i| cd56[i] < t56)
            .map(|&i| v[i])
            .collect();
        let med = quantile(&neg, 0.5);
        let fallback = med + 4.0 * (quantile(&neg, 0.5) - quantile(&neg, 0.16)).max(0.1);
        // Too few NK cells for a density: use the fallback.
        let t = if nk.len() >= 100 {
            threshold(&v, &nk, Pick::Leftmost, fallback)
        } else {
            fallback
        };
        log.push(format!("{m} > {t:.2}"));
        let pos: Vec<bool> = nk.iter().map(|&i| v[i] > t).collect();
        let p = 100.0 * pos.iter().filter(|&&b| b).count() as f64 / nk.len().max(1) as f64;
        (pos, p)
    };
    let (c_pos, pct_nkg2c) = pct("NKG2C");
    let (k_pos, pct_kir) = pct("KIR");
    let both = c_pos.iter().zip(&k_pos).filter(|(a, b)| **a && **b).count();
    // CD56bright: the valley between dim and bright; with too few NK cells,
    // a factor of ~3 (1.15 in arcsinh units) above the NK median.
    let nk56: Vec<f64> = nk.iter().map(|&i| cd56[i]).collect();
    let bright_fallback = quantile(&nk56, 0.5) + 1.15;
    let t_bright = if nk.len() >= 100 {
        threshold(&cd56, &nk, Pick::Rightmost, bright_fallback)
    } else {
        bright_fallback
    };
    let bright = nk.iter().filter(|&&i| cd56[i] > t_bright).count();
    let pct_nkg2a = pct("NKG2A").1;
    let pct_cd57 = pct("CD57").1;
    let pct_ki67 = pct("Ki-67").1;
    log.push(format!("CD56bright > {t_bright:.2}"));
    Estimate {
        nk_idx: nk.clone(),
        log,
        stages,
        beads,
        nk: nk.len(),
        nk_per_ul: nk.len() as f64 / beads.max(1) as f64 * beads_per_tube / blood_volume_ul,
        pct_nkg2c,
        pct_kir,
        pct_nkg2c_kir: 100.0 * both as f64 / nk.len().max(1) as f64,
        pct_cd56bright: 100.0 * bright as f64 / nk.len().max(1) as f64,
        pct_nkg2a,
        pct_cd57,
        pct_ki67,
    }
}
