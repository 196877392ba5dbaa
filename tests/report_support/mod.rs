//! Synthetic samples for the report tests: a blood-like event matrix with
//! known populations, gated by simple rules the test computes itself, so the
//! counts the report must show are known independently of the report.
#![allow(dead_code)]

use std::path::Path;

use nkflow::report::{
    AxisScale, AxisSpec, BatchInfo, CohortSpec, CoordSpace, Corner, DensitySpec, FlowRateSpec,
    GateOverlay, GateShape, HeatmapSpec, HistogramSpec, Interval, Members, PlotSpec,
    PopulationView, ReportBuilder, ReportOptions, SampleReport,
};
use nkflow::EventMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

pub const COFACTOR: f64 = 150.0;

pub fn asinh_scale() -> AxisScale {
    AxisScale::Asinh { cofactor: COFACTOR }
}

/// Column names: FSC-A, SSC-A (data units); CD3, CD56, NKG2C, KIR already
/// on the asinh scale (as a runner hands over its transformed matrix); Time.
pub const COLUMNS: [&str; 7] = ["FSC-A", "SSC-A", "CD3", "CD56", "NKG2C", "KIR", "Time"];

/// One synthetic sample and the masks of its populations.
pub struct Synthetic {
    pub events: EventMatrix,
    pub all: Vec<bool>,
    pub lymph: Vec<bool>,
    pub mono: Vec<bool>,
    pub nk: Vec<bool>,
    pub nkg2c_pos: Vec<bool>,
    pub kir_pos: Vec<bool>,
    pub dp: Vec<bool>,
    pub q: [Vec<bool>; 4],
}

/// Gate definitions shared by the generator (for the masks) and the specs.
pub const LYMPH_POLY: [(f64, f64); 5] = [
    (35_000.0, 5_000.0),
    (90_000.0, 5_000.0),
    (100_000.0, 38_000.0),
    (60_000.0, 45_000.0),
    (30_000.0, 30_000.0),
];
pub const MONO_MEAN: (f64, f64) = (110_000.0, 70_000.0);
pub const MONO_COV: [[f64; 2]; 2] = [[1.6e8, 0.6e8], [0.6e8, 1.5e8]];
pub const MONO_D2: f64 = 6.0;
/// NK: CD3 < 800 and CD56 ≥ 2000 (data units).
pub const NK_CD3_MAX: f64 = 800.0;
pub const NK_CD56_MIN: f64 = 2_000.0;
/// Thresholds within NK (data units).
pub const NKG2C_T: f64 = 1_500.0;
pub const KIR_T: f64 = 1_200.0;

fn inside_polygon(p: (f64, f64), poly: &[(f64, f64)]) -> bool {
    // Even–odd rule.
    let mut inside = false;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) {
            let x = a.0 + (p.1 - a.1) / (b.1 - a.1) * (b.0 - a.0);
            if p.0 < x {
                inside = !inside;
            }
        }
    }
    inside
}

fn in_ellipse(p: (f64, f64)) -> bool {
    let [[a, b], [_, d]] = MONO_COV;
    let det = a * d - b * b;
    let (dx, dy) = (p.0 - MONO_MEAN.0, p.1 - MONO_MEAN.1);
    (d * dx * dx - 2.0 * b * dx * dy + a * dy * dy) / det <= MONO_D2
}

/// Generates `n` events with seed `seed`.
pub fn synthetic(n: usize, seed: u64) -> Synthetic {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let z = Normal::new(0.0, 1.0).unwrap();
    let mut cols: Vec<Vec<f64>> = vec![Vec::with_capacity(n); COLUMNS.len()];
    for i in 0..n {
        let u: f64 = rng.gen();
        let (fsc, ssc, kind) = if u < 0.55 {
            (
                62_000.0 + 9_000.0 * z.sample(&mut rng),
                20_000.0 + 6_000.0 * z.sample(&mut rng),
                0,
            )
        } else if u < 0.72 {
            (
                110_000.0 + 11_000.0 * z.sample(&mut rng),
                70_000.0 + 11_000.0 * z.sample(&mut rng),
                1,
            )
        } else {
            (
                140_000.0 + 15_000.0 * z.sample(&mut rng),
                160_000.0 + 25_000.0 * z.sample(&mut rng),
                2,
            )
        };
        let lognorm = |rng: &mut ChaCha8Rng, m: f64, s: f64| 10f64.powf(m + s * z.sample(rng));
        let noise = |rng: &mut ChaCha8Rng| 120.0 * z.sample(rng);
        let v: f64 = rng.gen();
        // Lymphocytes: 65% T (CD3+), 15% NK (CD3− CD56+), rest B (both −).
        let (cd3, cd56) = if kind == 0 && v < 0.65 {
            (
                lognorm(&mut rng, 4.0, 0.2),
                lognorm(&mut rng, 2.0, 0.4) + noise(&mut rng),
            )
        } else if kind == 0 && v < 0.80 {
            (
                lognorm(&mut rng, 1.5, 0.3) + noise(&mut rng),
                lognorm(&mut rng, 3.8, 0.25),
            )
        } else {
            (
                lognorm(&mut rng, 1.6, 0.4) + noise(&mut rng),
                lognorm(&mut rng, 1.6, 0.4) + noise(&mut rng),
            )
        };
        let nkg2c = if rng.gen::<f64>() < 0.35 {
            lognorm(&mut rng, 3.8, 0.2)
        } else {
            lognorm(&mut rng, 2.0, 0.4) + noise(&mut rng)
        };
        let kir = if rng.gen::<f64>() < 0.45 {
            lognorm(&mut rng, 3.6, 0.2)
        } else {
            lognorm(&mut rng, 1.8, 0.4) + noise(&mut rng)
        };
        let t = i as f64 * 0.01;
        for (c, val) in [fsc, ssc, cd3, cd56, nkg2c, kir, t].into_iter().enumerate() {
            cols[c].push(val);
        }
    }
    let lymph: Vec<bool> = (0..n)
        .map(|i| inside_polygon((cols[0][i], cols[1][i]), &LYMPH_POLY))
        .collect();
    let mono: Vec<bool> = (0..n)
        .map(|i| in_ellipse((cols[0][i], cols[1][i])))
        .collect();
    let nk: Vec<bool> = (0..n)
        .map(|i| lymph[i] && cols[2][i] < NK_CD3_MAX && cols[3][i] >= NK_CD56_MIN)
        .collect();
    let nkg2c_pos: Vec<bool> = (0..n).map(|i| nk[i] && cols[4][i] >= NKG2C_T).collect();
    let kir_pos: Vec<bool> = (0..n).map(|i| nk[i] && cols[5][i] >= KIR_T).collect();
    let dp: Vec<bool> = (0..n).map(|i| nkg2c_pos[i] && kir_pos[i]).collect();
    let q = [
        dp.clone(),
        (0..n)
            .map(|i| nk[i] && !nkg2c_pos[i] && kir_pos[i])
            .collect(),
        (0..n)
            .map(|i| nk[i] && !nkg2c_pos[i] && !kir_pos[i])
            .collect(),
        (0..n).map(|i| nkg2c_pos[i] && !kir_pos[i]).collect(),
    ];
    // Fluorescence columns handed over on the plotted (asinh) scale.
    for c in cols.iter_mut().take(6).skip(2) {
        c.iter_mut().for_each(|v| *v = (*v / COFACTOR).asinh());
    }
    let events =
        EventMatrix::from_columns(COLUMNS.iter().map(|s| s.to_string()).collect(), cols).unwrap();
    Synthetic {
        events,
        all: vec![true; n],
        lymph,
        mono,
        nk,
        nkg2c_pos,
        kir_pos,
        dp,
        q,
    }
}

pub fn count(m: &[bool]) -> usize {
    m.iter().filter(|&&b| b).count()
}

fn overlay(name: &str, m: &[bool], parent: &[bool], shape: GateShape) -> GateOverlay {
    let p = count(parent);
    GateOverlay {
        name: name.into(),
        count: count(m),
        pct_parent: (p > 0).then(|| 100.0 * count(m) as f64 / p as f64),
        shape,
        space: CoordSpace::Data,
    }
}

fn scatter_axes() -> (AxisSpec, AxisSpec) {
    (
        AxisSpec::new("FSC-A", "FSC-A (FSC-A)", AxisScale::Linear).with_data_range(0.0, 262_144.0),
        AxisSpec::new("SSC-A", "SSC-A (SSC-A)", AxisScale::Linear).with_data_range(0.0, 262_144.0),
    )
}

fn fl_axis(col: &str, marker: &str, channel: &str) -> AxisSpec {
    AxisSpec::new(col, format!("{marker} ({channel})"), asinh_scale())
        .with_data_range(-1_000.0, 262_144.0)
}

/// The gating hierarchy's plots, with gates and counts from the masks.
pub fn plot_specs(s: &Synthetic) -> Vec<PlotSpec> {
    let (fx, fy) = scatter_axes();
    let scatter = PlotSpec::Density(DensitySpec {
        title: "All events".into(),
        parent: "root".into(),
        x: fx,
        y: fy,
        gates: vec![
            overlay(
                "Lymphocytes",
                &s.lymph,
                &s.all,
                GateShape::Polygon {
                    vertices: LYMPH_POLY.to_vec(),
                },
            ),
            overlay(
                "Monocytes",
                &s.mono,
                &s.all,
                GateShape::Ellipse {
                    mean: MONO_MEAN,
                    covariance: MONO_COV,
                    distance_square: MONO_D2,
                },
            ),
        ],
    });
    let nk = PlotSpec::Density(DensitySpec {
        title: "Lymphocytes".into(),
        parent: "Lymphocytes".into(),
        x: fl_axis("CD3", "CD3", "BV510-A"),
        y: fl_axis("CD56", "CD56", "PE-Cy7-A"),
        gates: vec![overlay(
            "NK",
            &s.nk,
            &s.lymph,
            GateShape::Rectangle {
                x: Interval {
                    min: None,
                    max: Some(NK_CD3_MAX),
                },
                y: Interval {
                    min: Some(NK_CD56_MIN),
                    max: None,
                },
            },
        )],
    });
    let corners = [
        ("NKG2C+KIR+", Corner::UpperRight),
        ("NKG2C−KIR+", Corner::UpperLeft),
        ("NKG2C−KIR−", Corner::LowerLeft),
        ("NKG2C+KIR−", Corner::LowerRight),
    ];
    let mut qgates: Vec<GateOverlay> = corners
        .iter()
        .zip(&s.q)
        .map(|((name, corner), m)| {
            overlay(
                name,
                m,
                &s.nk,
                GateShape::Quadrant {
                    x: NKG2C_T,
                    y: KIR_T,
                    corner: *corner,
                },
            )
        })
        .collect();
    qgates.push(overlay(
        "DP",
        &s.dp,
        &s.nk,
        GateShape::Boolean {
            expression: "NKG2C+ AND KIR+".into(),
        },
    ));
    let quad = PlotSpec::Density(DensitySpec {
        title: "NK".into(),
        parent: "NK".into(),
        x: fl_axis("NKG2C", "NKG2C", "PE-A"),
        y: fl_axis("KIR", "KIR", "APC-A"),
        gates: qgates,
    });
    let hist = PlotSpec::Histogram(HistogramSpec {
        title: "NK: NKG2C threshold".into(),
        parent: "NK".into(),
        x: fl_axis("NKG2C", "NKG2C", "PE-A"),
        gates: vec![overlay(
            "NKG2C+",
            &s.nkg2c_pos,
            &s.nk,
            GateShape::Range(Interval {
                min: Some(NKG2C_T),
                max: None,
            }),
        )],
        peaks: vec![100.0, 6_300.0],
        valleys: vec![NKG2C_T],
        marks_space: CoordSpace::Data,
        note: Some("valley between 2 peaks in window [300, 20000]".into()),
    });
    vec![scatter, nk, quad, hist]
}

pub fn flow_rate(s: &Synthetic) -> FlowRateSpec {
    let t = s.events.column_by_name("Time").unwrap();
    let mut f = FlowRateSpec::from_times(t, 60, vec![(20.0, 35.0)]);
    f.pct_removed = Some(7.5);
    f
}

pub fn populations(s: &Synthetic) -> Vec<PopulationView<'_>> {
    vec![
        PopulationView {
            name: "root".into(),
            path: "root".into(),
            members: Members::All,
        },
        PopulationView {
            name: "Lymphocytes".into(),
            path: "root/Lymphocytes".into(),
            members: Members::Mask(&s.lymph),
        },
        PopulationView {
            name: "NK".into(),
            path: "root/Lymphocytes/NK".into(),
            members: Members::Mask(&s.nk),
        },
    ]
}

pub fn sample_report<'a>(file: &str, index: usize, s: &'a Synthetic) -> SampleReport<'a> {
    SampleReport {
        file: file.into(),
        index,
        error: None,
        warnings: vec![],
        qc_flags: vec![],
        summary: vec![
            ("file".into(), file.into()),
            ("cohort".into(), ["A", "B"][index % 2].into()),
            ("day".into(), "30".into()),
            (
                "nk_per_ul".into(),
                format!("{:.1}", 100.0 + 10.0 * index as f64),
            ),
            (
                "pct_nkg2c".into(),
                format!(
                    "{:.2}",
                    100.0 * count(&s.nkg2c_pos) as f64 / count(&s.nk) as f64
                ),
            ),
        ],
        events: Some(&s.events),
        populations: populations(s),
        plots: plot_specs(s),
        flow_rate: Some(flow_rate(s)),
    }
}

/// Writes a small batch report: 3 good samples, 1 failed, 1 without a
/// samplesheet row. Returns the output folder.
pub fn small_batch(dir: &Path) -> nkflow::report::ReportFiles {
    let samples: Vec<Synthetic> = (0..4).map(|k| synthetic(8_000, 100 + k)).collect();
    let builder = ReportBuilder::new(ReportOptions::default()).unwrap();
    let names = ["P01 <day30>.fcs", "P02&co.fcs", "P03.fcs", "P05 no row.fcs"];
    for (k, (s, name)) in samples.iter().zip(names).enumerate() {
        let mut r = sample_report(name, if k == 3 { 4 } else { k }, s);
        if k == 1 {
            r.qc_flags = vec!["nk_events_low".into(), "valley_not_found:NKG2C".into()];
        }
        if k == 3 {
            r.warnings = vec!["no samplesheet row for \"P05 no row.fcs\": metadata empty".into()];
            r.summary
                .retain(|(k, _)| k == "file" || k.starts_with("pct"));
        }
        builder.add(&r);
    }
    builder.add(&SampleReport {
        file: "P04-truncated.fcs".into(),
        index: 3,
        error: Some(
            "P04-truncated.fcs: DATA: segment ends at byte 81234 but $ENDDATA says 1200000".into(),
        ),
        ..Default::default()
    });
    let batch = BatchInfo {
        title: "Synthetic batch".into(),
        facts: vec![("pipeline".into(), "nk-day30.json".into())],
        skipped: vec!["notes.txt (not an FCS file)".into()],
        cohort: vec![CohortSpec {
            value_column: "nk_per_ul".into(),
            title: "NK cells / µL".into(),
            group_by: vec!["cohort".into(), "day".into()],
        }],
        flowsom: Some(HeatmapSpec {
            title: "FlowSOM metaclusters".into(),
            rows: (1..=4).map(|i| format!("MC{i}")).collect(),
            columns: ["CD3", "CD56", "NKG2C", "KIR"].map(String::from).to_vec(),
            values: vec![
                vec![3.5, 0.5, 0.2, 0.1],
                vec![0.3, 3.8, 3.1, 0.4],
                vec![0.2, 3.6, 0.3, 3.0],
                vec![0.1, 0.2, 0.1, 0.2],
            ],
            row_counts: Some(vec![4000, 900, 700, 2400]),
        }),
    };
    builder.finish(dir, &batch).unwrap()
}
