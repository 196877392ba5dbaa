//! The clinical design: which samples a cohort holds and what blood each tube
//! contains.
//!
//! Patients receive NK cells in dose cohorts (1e6, 1e7, 1e8 cells/kg) after
//! haploidentical HSCT. Their day +30 NK counts rise with dose; early after
//! transplant NK cells are a large share of the few lymphocytes. A few
//! patients also have a day +7 sample (lymphopenic, many dead cells,
//! proliferating NK), and one NK-poor control (< 1 % of lymphocytes) marks the
//! low end. Everything here is drawn from the cohort's master stream, so the
//! design is fixed by the seed alone.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::panel::{ByteOrder, DataType, Range, Style};
use super::population::{NkPhenotype, Population};

/// Which clinical arm a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arm {
    /// A dose cohort, cells/kg.
    Dose(f64),
    /// The NK-poor control.
    Control,
}

impl Arm {
    /// The samplesheet `cohort` value.
    pub fn cohort(self) -> String {
        match self {
            Arm::Dose(d) => format!("dose_{}", dose_label(d)),
            Arm::Control => "control".to_string(),
        }
    }
}

fn dose_label(d: f64) -> String {
    // 1e6 → "1e6": the exponent is what clinicians say.
    format!("1e{}", d.log10().round() as i32)
}

/// What one tube holds and how it is acquired: everything needed to simulate
/// one file, drawn from the master stream.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSpec {
    /// 0-based position in the cohort (also the file's RNG stream).
    pub index: usize,
    /// File name (`P03_D30.fcs`).
    pub file_name: String,
    pub patient_id: String,
    pub arm: Arm,
    /// Days after HSCT (`None` for the control).
    pub day: Option<u32>,
    pub beads_per_tube: f64,
    pub blood_volume_ul: f64,
    /// Donor NK chimerism from the chimerism lab, for some day +30 rows.
    pub nk_donor_chimerism_pct: Option<f64>,
    /// Number of events in the file.
    pub events: usize,
    /// Concentration per µL of blood of each single-cell population
    /// (indexed like [`Population::CELLS`]).
    pub per_ul: [f64; 9],
    /// Fraction of recorded events that are debris.
    pub debris_fraction: f64,
    /// Doublets per single cell event.
    pub doublet_rate: f64,
    pub nk: NkPhenotype,
    /// The lab's export style and instrument settings.
    pub style: Style,
    pub range: Range,
    pub datatype: DataType,
    pub byte_order: ByteOrder,
    /// Whether this acquisition has a clog interval.
    pub clog: bool,
}

/// Options that shape the design (from the command line).
#[derive(Debug, Clone, PartialEq)]
pub struct DesignOptions {
    pub samples: usize,
    /// Events per file; `None` draws 50k–250k per file.
    pub events: Option<usize>,
    /// One style for every file, or `None` to mix the labs.
    pub style: Option<Style>,
    pub range: Option<Range>,
    pub datatype: Option<DataType>,
    pub byte_order: Option<ByteOrder>,
    /// Fraction of files with a clog interval.
    pub clog_fraction: f64,
}

/// Dose cohorts, cells/kg, and the median day +30 NK/µL each reaches.
const DOSES: [(f64, f64); 3] = [(1e6, 80.0), (1e7, 180.0), (1e8, 400.0)];

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.gen::<f64>()
}

/// How many samples of each kind a cohort of `n` holds: (controls, day +7,
/// day +30).
pub fn composition(n: usize) -> (usize, usize, usize) {
    let controls = if n >= 4 { (n / 20).max(1) } else { 0 };
    let day7 = if n >= 6 { n / 6 } else { 0 };
    (controls, day7, n - controls - day7)
}

/// Draws the cohort: exactly `opts.samples` sample specs, in file-name order.
pub fn plan(rng: &mut ChaCha8Rng, opts: &DesignOptions) -> Vec<SampleSpec> {
    let (n_ctrl, n_d7, n_d30) = composition(opts.samples);
    // Patients are the day +30 samples, round-robin over the dose cohorts;
    // day +7 samples come from the first patients of each cohort in turn.
    struct Patient {
        id: String,
        dose: f64,
        median_nk: f64,
        cmv_reactivated: bool,
        individual: f64,
    }
    let patients: Vec<Patient> = (0..n_d30)
        .map(|i| {
            let (dose, median_nk) = DOSES[i % DOSES.len()];
            Patient {
                id: format!("P{:02}", i + 1),
                dose,
                median_nk,
                cmv_reactivated: rng.gen::<f64>() < 0.5,
                individual: {
                    let z: f64 = StandardNormal.sample(rng);
                    z
                },
            }
        })
        .collect();
    let mut specs = Vec::with_capacity(opts.samples);
    let mut kinds: Vec<(String, Arm, Option<u32>, f64, bool)> = Vec::new();
    for p in &patients {
        kinds.push((
            p.id.clone(),
            Arm::Dose(p.dose),
            Some(30),
            p.median_nk * (0.35 * p.individual).exp(),
            p.cmv_reactivated,
        ));
    }
    for p in patients.iter().take(n_d7) {
        // Day +7: few lymphocytes; the NK count reflects the infused dose.
        kinds.push((
            p.id.clone(),
            Arm::Dose(p.dose),
            Some(7),
            0.4 * p.median_nk * (0.4 * p.individual).exp(),
            false,
        ));
    }
    for c in 0..n_ctrl {
        kinds.push((format!("CTRL{:02}", c + 1), Arm::Control, None, 0.0, false));
    }
    kinds.sort_by(|a, b| (a.0.as_str(), a.2).cmp(&(b.0.as_str(), b.2)));

    for (index, (patient_id, arm, day, nk_target, cmv)) in kinds.into_iter().enumerate() {
        let style = opts.style.unwrap_or(Style::ALL[index % Style::ALL.len()]);
        let (d_range, d_type, d_order) = style.defaults();
        let events = opts
            .events
            .unwrap_or_else(|| 50_000 + (rng.gen::<f64>() * 200_000.0) as usize);
        let (lymph, nk, mono, neut, eos, dead_frac, bright, adaptive, ki_b, ki_d) = match (arm, day)
        {
            (Arm::Control, _) => {
                let lymph = uniform(rng, 1_800.0, 2_600.0);
                let nk = lymph * uniform(rng, 0.004, 0.008);
                (
                    lymph,
                    nk,
                    uniform(rng, 400.0, 700.0),
                    uniform(rng, 2_500.0, 4_000.0),
                    uniform(rng, 80.0, 250.0),
                    uniform(rng, 0.03, 0.06),
                    uniform(rng, 0.05, 0.12),
                    uniform(rng, 0.05, 0.3),
                    uniform(rng, 0.02, 0.06),
                    uniform(rng, 0.01, 0.04),
                )
            }
            (_, Some(7)) => {
                let nk = nk_target;
                let lymph = nk / uniform(rng, 0.5, 0.8);
                (
                    lymph,
                    nk,
                    uniform(rng, 100.0, 400.0),
                    uniform(rng, 300.0, 1_500.0),
                    uniform(rng, 10.0, 50.0),
                    uniform(rng, 0.08, 0.2),
                    uniform(rng, 0.4, 0.7),
                    uniform(rng, 0.02, 0.08),
                    uniform(rng, 0.4, 0.7),
                    uniform(rng, 0.3, 0.5),
                )
            }
            _ => {
                let nk = nk_target;
                let lymph = nk / uniform(rng, 0.35, 0.7);
                let adaptive = if cmv {
                    uniform(rng, 0.2, 0.5)
                } else {
                    uniform(rng, 0.02, 0.08)
                };
                (
                    lymph,
                    nk,
                    uniform(rng, 300.0, 900.0),
                    uniform(rng, 1_500.0, 3_500.0),
                    uniform(rng, 50.0, 300.0),
                    uniform(rng, 0.02, 0.08),
                    uniform(rng, 0.15, 0.4),
                    adaptive,
                    uniform(rng, 0.3, 0.5),
                    uniform(rng, 0.15, 0.35),
                )
            }
        };
        let rest = lymph - nk;
        let t = rest * uniform(rng, 0.7, 0.85);
        let nkt = rest * uniform(rng, 0.04, 0.1);
        let b = (rest - t - nkt).max(0.0);
        let leuko = lymph + mono + neut + eos;
        let dead = leuko * dead_frac;
        // Order of Population::CELLS: Dead, Neutrophil, Eosinophil, Monocyte,
        // TCell, NktCell, BCell, NkBright, NkDim.
        let per_ul = [
            dead,
            neut,
            eos,
            mono,
            t,
            nkt,
            b,
            nk * bright,
            nk * (1.0 - bright),
        ];
        let day_tag = match day {
            Some(d) => format!("D{d:02}"),
            None => "NKpoor".to_string(),
        };
        let chimerism = match day {
            // The chimerism lab reports on about half of the day +30 samples.
            Some(30) if rng.gen::<f64>() < 0.5 => {
                Some((uniform(rng, 85.0, 100.0) * 10.0).round() / 10.0)
            }
            _ => None,
        };
        specs.push(SampleSpec {
            index,
            file_name: format!("{patient_id}_{day_tag}.fcs"),
            patient_id,
            arm,
            day,
            // Counting-bead lots differ a little; labs stain 50 or 100 µL.
            beads_per_tube: (uniform(rng, 47_000.0, 53_000.0) / 10.0).round() * 10.0,
            blood_volume_ul: if rng.gen::<f64>() < 0.8 { 50.0 } else { 100.0 },
            nk_donor_chimerism_pct: chimerism,
            events,
            per_ul,
            debris_fraction: uniform(rng, 0.05, 0.2),
            doublet_rate: uniform(rng, 0.02, 0.05),
            nk: NkPhenotype {
                adaptive,
                ki67_bright: ki_b,
                ki67_dim: ki_d,
            },
            style,
            range: opts.range.unwrap_or(d_range),
            datatype: opts.datatype.unwrap_or(d_type),
            byte_order: opts.byte_order.unwrap_or(d_order),
            clog: rng.gen::<f64>() < opts.clog_fraction,
        });
    }
    specs
}

/// Probability of each population per recorded event, in [`Population::ALL`]
/// order: cells, dead cells and beads in proportion to how many the tube
/// holds, doublets in proportion to cells, debris as a share of all events.
pub fn event_mix(spec: &SampleSpec) -> [f64; 12] {
    let mut w = [0.0; 12];
    let mut cells = 0.0;
    for (p, c) in Population::CELLS.iter().zip(spec.per_ul) {
        let n = c * spec.blood_volume_ul;
        w[*p as usize] = n;
        cells += n;
    }
    w[Population::Bead as usize] = spec.beads_per_tube;
    w[Population::Doublet as usize] = cells * spec.doublet_rate;
    let others: f64 = w.iter().sum();
    w[Population::Debris as usize] = others * spec.debris_fraction / (1.0 - spec.debris_fraction);
    let total: f64 = w.iter().sum();
    if total > 0.0 {
        w.iter_mut().for_each(|x| *x /= total);
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn opts(n: usize) -> DesignOptions {
        DesignOptions {
            samples: n,
            events: Some(1000),
            style: None,
            range: None,
            datatype: None,
            byte_order: None,
            clog_fraction: 0.0,
        }
    }

    #[test]
    fn cohort_has_exactly_n_samples_with_unique_names() {
        for n in [1, 3, 4, 12, 100] {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let specs = plan(&mut rng, &opts(n));
            assert_eq!(specs.len(), n);
            let mut names: Vec<_> = specs.iter().map(|s| s.file_name.clone()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n);
        }
    }

    #[test]
    fn twelve_samples_hold_every_kind() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let specs = plan(&mut rng, &opts(12));
        assert_eq!(specs.iter().filter(|s| s.arm == Arm::Control).count(), 1);
        assert_eq!(specs.iter().filter(|s| s.day == Some(7)).count(), 2);
        for (dose, _) in DOSES {
            assert_eq!(
                specs
                    .iter()
                    .filter(|s| s.arm == Arm::Dose(dose) && s.day == Some(30))
                    .count(),
                3
            );
        }
        let ctrl = specs.iter().find(|s| s.arm == Arm::Control).unwrap();
        let lymph: f64 = ctrl.per_ul[4..].iter().sum();
        let nk = ctrl.per_ul[7] + ctrl.per_ul[8];
        assert!(nk / lymph < 0.01);
    }

    #[test]
    fn mix_sums_to_one() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for s in plan(&mut rng, &opts(12)) {
            let m = event_mix(&s);
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!((m[Population::Debris as usize] - s.debris_fraction).abs() < 1e-12);
        }
    }

    #[test]
    fn day30_nk_counts_rise_with_dose() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let specs = plan(&mut rng, &opts(120));
        let median_nk = |dose: f64| {
            let mut v: Vec<f64> = specs
                .iter()
                .filter(|s| s.arm == Arm::Dose(dose) && s.day == Some(30))
                .map(|s| s.per_ul[7] + s.per_ul[8])
                .collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (a, b, c) = (median_nk(1e6), median_nk(1e7), median_nk(1e8));
        assert!(a < b && b < c, "{a} {b} {c}");
        // NK cells are a large share of day +30 lymphocytes.
        for s in specs.iter().filter(|s| s.day == Some(30)) {
            let lymph: f64 = s.per_ul[4..].iter().sum();
            let nk = s.per_ul[7] + s.per_ul[8];
            assert!(nk / lymph >= 0.35 && nk / lymph <= 0.7);
        }
    }
}
