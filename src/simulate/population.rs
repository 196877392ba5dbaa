//! The biology: which kinds of events a lysed whole-blood tube with counting
//! beads produces, and what each looks like before the instrument sees it.
//!
//! Every event is drawn from one [`Population`]; its scatter and true dye
//! signals come from that population's [`Profile`] (log-normal intensities, the
//! shape flow data has). Values are in reference units of an 18-bit instrument
//! at reference gains; the instrument model ([`super::instrument`]) scales them.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use super::panel::{Marker, AUTOFLUORESCENCE, N_DYES};

/// The kind of an event; its label in `--labels` output and its key in
/// truth.json `counts`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Population {
    /// Cell fragments and lysed red cells: low FSC, mostly CD45−.
    Debris,
    /// Two cells passing together: FSC-A high relative to FSC-H.
    Doublet,
    /// Dead cells: viability-dye bright; some bind CD56, CD3 or CD16.
    Dead,
    Neutrophil,
    Eosinophil,
    /// Monocytes; some CD16+, some CD56-dim.
    Monocyte,
    /// CD3+ CD56− T cells.
    TCell,
    /// CD3+ CD56+ NKT-like T cells.
    NktCell,
    /// CD3− CD56− lymphocytes (B cells).
    BCell,
    /// NK cells CD3− CD56bright CD16−/low.
    NkBright,
    /// NK cells CD3− CD56dim CD16+.
    NkDim,
    /// Counting beads: bright in every fluorescence detector.
    Bead,
}

impl Population {
    /// All populations in label order.
    pub const ALL: [Population; 12] = [
        Population::Debris,
        Population::Doublet,
        Population::Dead,
        Population::Neutrophil,
        Population::Eosinophil,
        Population::Monocyte,
        Population::TCell,
        Population::NktCell,
        Population::BCell,
        Population::NkBright,
        Population::NkDim,
        Population::Bead,
    ];

    /// Populations that are single cells in blood (doublet partners are drawn
    /// from these).
    pub const CELLS: [Population; 9] = [
        Population::Dead,
        Population::Neutrophil,
        Population::Eosinophil,
        Population::Monocyte,
        Population::TCell,
        Population::NktCell,
        Population::BCell,
        Population::NkBright,
        Population::NkDim,
    ];

    /// The key used in truth.json and the label files.
    pub fn key(self) -> &'static str {
        match self {
            Population::Debris => "debris",
            Population::Doublet => "doublets",
            Population::Dead => "dead",
            Population::Neutrophil => "neutrophils",
            Population::Eosinophil => "eosinophils",
            Population::Monocyte => "monocytes",
            Population::TCell => "t_cells",
            Population::NktCell => "nkt_cells",
            Population::BCell => "b_cells",
            Population::NkBright => "nk_cd56bright",
            Population::NkDim => "nk_cd56dim",
            Population::Bead => "beads",
        }
    }

    /// True for the two NK populations.
    pub fn is_nk(self) -> bool {
        matches!(self, Population::NkBright | Population::NkDim)
    }
}

/// Phenotype flags of one event (bit set), recorded in the label files.
pub mod flags {
    pub const NKG2C: u8 = 1;
    pub const KIR: u8 = 2;
    pub const NKG2A: u8 = 4;
    pub const CD57: u8 = 8;
    pub const KI67: u8 = 16;
}

/// One marker's expression in a population: a fraction `p_on` of the cells
/// carries a log-normal amount (median, natural-log sd); the rest carry none
/// (they still have autofluorescence and instrument noise).
#[derive(Debug, Clone, Copy)]
pub struct Expr {
    pub p_on: f64,
    pub median: f64,
    pub sd: f64,
}

const OFF: Expr = Expr {
    p_on: 0.0,
    median: 0.0,
    sd: 0.0,
};

const fn on(median: f64, sd: f64) -> Expr {
    Expr {
        p_on: 1.0,
        median,
        sd,
    }
}

const fn some(p_on: f64, median: f64, sd: f64) -> Expr {
    Expr { p_on, median, sd }
}

/// Scatter and marker profile of a population.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// FSC-A median and log-sd.
    pub fsc: (f64, f64),
    /// SSC-A median and log-sd.
    pub ssc: (f64, f64),
    /// FSC-A / FSC-H of a single event: mean and sd.
    pub area_height: (f64, f64),
    /// Autofluorescence relative to a lymphocyte.
    pub af: f64,
    /// Expression per marker, in [`Marker`] order.
    pub markers: [Expr; N_DYES],
}

/// Per-file NK phenotype parameters (from the clinical design).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NkPhenotype {
    /// Fraction of CD56dim NK cells that are adaptive (NKG2C+).
    pub adaptive: f64,
    /// Ki-67+ fraction among CD56bright NK cells.
    pub ki67_bright: f64,
    /// Ki-67+ fraction among CD56dim NK cells.
    pub ki67_dim: f64,
}

/// FSC threshold (reference units): events below it are not recorded, as on
/// a real instrument, so debris is a truncated distribution.
pub const FSC_THRESHOLD: f64 = 5_000.0;

/// The profile of a non-NK, non-bead single population.
pub fn profile(p: Population) -> Profile {
    use Marker::*;
    let mut m = [OFF; N_DYES];
    let set = |m: &mut [Expr; N_DYES], k: Marker, e: Expr| m[k.index()] = e;
    let singlet = (1.12, 0.025);
    match p {
        Population::Debris => {
            set(&mut m, Cd45, some(0.05, 2_000.0, 0.8));
            set(&mut m, Viability, some(0.25, 15_000.0, 0.6));
            set(&mut m, Cd16, some(0.05, 2_000.0, 0.8));
            Profile {
                fsc: (7_000.0, 0.5),
                ssc: (6_000.0, 0.7),
                area_height: (1.12, 0.08),
                af: 0.5,
                markers: m,
            }
        }
        Population::Dead => {
            set(&mut m, Viability, on(40_000.0, 0.4));
            set(&mut m, Cd45, some(0.8, 3_000.0, 0.8));
            set(&mut m, Cd56, some(0.25, 3_000.0, 0.6));
            set(&mut m, Cd3, some(0.15, 10_000.0, 0.6));
            set(&mut m, Cd16, some(0.3, 10_000.0, 0.8));
            Profile {
                fsc: (32_000.0, 0.3),
                ssc: (30_000.0, 0.45),
                area_height: (1.14, 0.04),
                af: 2.0,
                markers: m,
            }
        }
        Population::Neutrophil => {
            set(&mut m, Cd45, on(6_000.0, 0.25));
            set(&mut m, Cd16, some(0.95, 50_000.0, 0.3));
            Profile {
                fsc: (100_000.0, 0.12),
                ssc: (115_000.0, 0.18),
                area_height: singlet,
                af: 3.0,
                markers: m,
            }
        }
        Population::Eosinophil => {
            set(&mut m, Cd45, on(9_000.0, 0.25));
            Profile {
                fsc: (95_000.0, 0.12),
                ssc: (150_000.0, 0.15),
                area_height: singlet,
                af: 6.0,
                markers: m,
            }
        }
        Population::Monocyte => {
            set(&mut m, Cd45, on(15_000.0, 0.25));
            set(&mut m, Cd16, some(0.15, 6_000.0, 0.5));
            set(&mut m, Cd56, some(0.1, 2_500.0, 0.4));
            Profile {
                fsc: (90_000.0, 0.12),
                ssc: (50_000.0, 0.18),
                area_height: singlet,
                af: 2.5,
                markers: m,
            }
        }
        Population::TCell => {
            set(&mut m, Cd45, on(25_000.0, 0.25));
            set(&mut m, Cd3, on(30_000.0, 0.3));
            set(&mut m, Cd57, some(0.25, 7_000.0, 0.5));
            set(&mut m, Nkg2a, some(0.05, 5_000.0, 0.45));
            set(&mut m, Nkg2c, some(0.02, 6_000.0, 0.4));
            set(&mut m, Kir, some(0.05, 8_000.0, 0.4));
            set(&mut m, Ki67, some(0.15, 4_000.0, 0.5));
            Profile {
                fsc: (58_000.0, 0.1),
                ssc: (11_000.0, 0.18),
                area_height: singlet,
                af: 1.0,
                markers: m,
            }
        }
        Population::NktCell => {
            set(&mut m, Cd45, on(25_000.0, 0.25));
            set(&mut m, Cd3, on(25_000.0, 0.3));
            set(&mut m, Cd56, on(3_000.0, 0.5));
            set(&mut m, Cd57, some(0.4, 7_000.0, 0.5));
            set(&mut m, Nkg2a, some(0.2, 5_000.0, 0.45));
            set(&mut m, Nkg2c, some(0.05, 6_000.0, 0.4));
            set(&mut m, Kir, some(0.1, 8_000.0, 0.4));
            set(&mut m, Cd16, some(0.2, 8_000.0, 0.5));
            set(&mut m, Ki67, some(0.1, 4_000.0, 0.5));
            Profile {
                fsc: (60_000.0, 0.1),
                ssc: (12_000.0, 0.18),
                area_height: singlet,
                af: 1.0,
                markers: m,
            }
        }
        Population::BCell => {
            set(&mut m, Cd45, on(20_000.0, 0.25));
            set(&mut m, Ki67, some(0.05, 4_000.0, 0.5));
            Profile {
                fsc: (55_000.0, 0.1),
                ssc: (10_500.0, 0.18),
                area_height: singlet,
                af: 1.0,
                markers: m,
            }
        }
        Population::NkBright => {
            set(&mut m, Cd45, on(30_000.0, 0.25));
            set(&mut m, Cd56, on(40_000.0, 0.4));
            set(&mut m, Cd16, some(0.3, 1_500.0, 0.6));
            Profile {
                fsc: (68_000.0, 0.1),
                ssc: (12_500.0, 0.18),
                area_height: singlet,
                af: 1.0,
                markers: m,
            }
        }
        Population::NkDim => {
            set(&mut m, Cd45, on(22_000.0, 0.25));
            set(&mut m, Cd56, on(4_000.0, 0.45));
            set(&mut m, Cd16, on(20_000.0, 0.45));
            Profile {
                fsc: (62_000.0, 0.1),
                ssc: (13_000.0, 0.18),
                area_height: singlet,
                af: 1.0,
                markers: m,
            }
        }
        // Beads and doublets are built elsewhere; give them neutral profiles.
        Population::Bead | Population::Doublet => Profile {
            fsc: (20_000.0, 0.05),
            ssc: (40_000.0, 0.06),
            area_height: (1.03, 0.01),
            af: 0.0,
            markers: m,
        },
    }
}

/// Intensities of NK phenotype markers when positive: (median, log-sd).
const NKG2C_ON: (f64, f64) = (8_000.0, 0.55);
const KIR_ON: (f64, f64) = (10_000.0, 0.55);
const NKG2A_ON: (f64, f64) = (6_000.0, 0.55);
const CD57_ON: (f64, f64) = (4_000.0, 0.7);
const KI67_ON: (f64, f64) = (2_500.0, 0.7);

/// Counting beads: FSC low, SSC tight, and in every fluorescence detector
/// this bright (reference units, *detector* space — beads carry many dyes),
/// so after gains some detectors sit at or above the top of the range.
pub const BEAD_DETECTOR_LEVEL: [f64; N_DYES] = [
    150_000.0, 200_000.0, 120_000.0, 110_000.0, 180_000.0, 140_000.0, 260_000.0, 90_000.0,
    160_000.0, 70_000.0,
];

/// One event as it leaves the flow cell, before the detectors.
#[derive(Debug, Clone, Copy)]
pub struct Particle {
    pub fsc_a: f64,
    pub fsc_h: f64,
    pub ssc_a: f64,
    /// True dye signals (reference units, primary-detector scale).
    pub dyes: [f64; N_DYES],
    /// Autofluorescence level (multiplies [`AUTOFLUORESCENCE`]).
    pub af: f64,
    /// For beads: detector-space brightness instead of dyes.
    pub bead: bool,
    /// Phenotype flags ([`flags`]).
    pub flags: u8,
}

fn lognormal<R: Rng>(rng: &mut R, median: f64, sd: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    median * (sd * z).exp()
}

fn normal<R: Rng>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    let z: f64 = StandardNormal.sample(rng);
    mean + sd * z
}

fn express<R: Rng>(rng: &mut R, e: Expr) -> f64 {
    if e.p_on > 0.0 && rng.gen::<f64>() < e.p_on {
        lognormal(rng, e.median, e.sd)
    } else {
        0.0
    }
}

/// Draws one single particle of population `p` (not a doublet).
pub fn draw<R: Rng>(rng: &mut R, p: Population, nk: &NkPhenotype) -> Particle {
    let prof = profile(p);
    let mut fsc_a = lognormal(rng, prof.fsc.0, prof.fsc.1);
    // The acquisition threshold: events below it are never recorded. Redraw
    // (bounded), then place the rest just above the threshold.
    let mut tries = 0;
    while fsc_a < FSC_THRESHOLD && tries < 16 {
        fsc_a = lognormal(rng, prof.fsc.0, prof.fsc.1);
        tries += 1;
    }
    if fsc_a < FSC_THRESHOLD {
        fsc_a = FSC_THRESHOLD * (1.0 + 0.5 * rng.gen::<f64>());
    }
    let ratio = normal(rng, prof.area_height.0, prof.area_height.1).max(0.9);
    let ssc_a = lognormal(rng, prof.ssc.0, prof.ssc.1);
    let af = prof.af * lognormal(rng, 1.0, 0.3);
    let mut particle = Particle {
        fsc_a,
        fsc_h: fsc_a / ratio,
        ssc_a,
        dyes: [0.0; N_DYES],
        af,
        bead: p == Population::Bead,
        flags: 0,
    };
    if p == Population::Bead {
        particle.af = 0.0;
        for (d, level) in particle.dyes.iter_mut().zip(BEAD_DETECTOR_LEVEL) {
            *d = lognormal(rng, level, 0.06);
        }
        return particle;
    }
    for (d, e) in particle.dyes.iter_mut().zip(prof.markers) {
        *d = express(rng, e);
    }
    // Phenotype flags of non-NK cells, from the markers they happen to carry.
    let on = |m: Marker, v: &[f64; N_DYES]| v[m.index()] > 0.0;
    let mut f = 0;
    if !p.is_nk() {
        for (m, bit) in [
            (Marker::Nkg2c, flags::NKG2C),
            (Marker::Kir, flags::KIR),
            (Marker::Nkg2a, flags::NKG2A),
            (Marker::Cd57, flags::CD57),
            (Marker::Ki67, flags::KI67),
        ] {
            if on(m, &particle.dyes) {
                f |= bit;
            }
        }
        particle.flags = f;
        return particle;
    }
    // NK cells: the phenotype is decided first, with the correlations of
    // post-transplant NK biology — adaptive (NKG2C+) cells are mostly KIR+,
    // CD57+ and NKG2A−; CD56bright cells are NKG2A+ and rarely KIR+/CD57+.
    let (p_c, p_k, p_a, p_57, p_ki) = if p == Population::NkBright {
        (0.03, 0.08, 0.9, 0.02, nk.ki67_bright)
    } else {
        let adaptive = rng.gen::<f64>() < nk.adaptive;
        if adaptive {
            (1.0, 0.75, 0.15, 0.65, nk.ki67_dim * 0.5)
        } else {
            (0.0, 0.35, 0.55, 0.3, nk.ki67_dim)
        }
    };
    for (m, bit, prob, (med, sd)) in [
        (Marker::Nkg2c, flags::NKG2C, p_c, NKG2C_ON),
        (Marker::Kir, flags::KIR, p_k, KIR_ON),
        (Marker::Nkg2a, flags::NKG2A, p_a, NKG2A_ON),
        (Marker::Cd57, flags::CD57, p_57, CD57_ON),
        (Marker::Ki67, flags::KI67, p_ki, KI67_ON),
    ] {
        if rng.gen::<f64>() < prob {
            f |= bit;
            particle.dyes[m.index()] = lognormal(rng, med, sd);
        } else {
            particle.dyes[m.index()] = 0.0;
        }
    }
    particle.flags = f;
    particle
}

/// Combines two single particles into a doublet: areas and fluorescence add;
/// the height is that of a longer pulse, so FSC-A / FSC-H rises (by how much
/// depends on how the two cells line up; a few doublets look like singlets).
pub fn doublet<R: Rng>(rng: &mut R, a: &Particle, b: &Particle) -> Particle {
    // w = 1 would be two cells side by side (singlet-like ratio); 0.5 two
    // cells one after the other. One in ten is nearly side by side.
    let w = if rng.gen::<f64>() < 0.1 {
        0.85 + 0.1 * rng.gen::<f64>()
    } else {
        0.5 + 0.35 * rng.gen::<f64>()
    };
    let mut dyes = [0.0; N_DYES];
    for (k, d) in dyes.iter_mut().enumerate() {
        *d = a.dyes[k] + b.dyes[k];
    }
    Particle {
        fsc_a: a.fsc_a + b.fsc_a,
        fsc_h: (a.fsc_h + b.fsc_h) * w,
        ssc_a: a.ssc_a + b.ssc_a,
        dyes,
        af: a.af + b.af,
        bead: false,
        flags: 0,
    }
}

/// Autofluorescence of a particle in detector `d` (reference units).
#[inline]
pub fn autofluorescence(p: &Particle, d: usize) -> f64 {
    p.af * AUTOFLUORESCENCE[d]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn adaptive_nk_are_mostly_kir_positive() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let nk = NkPhenotype {
            adaptive: 0.4,
            ki67_bright: 0.3,
            ki67_dim: 0.2,
        };
        let (mut c, mut ck, mut nc, mut nck) = (0, 0, 0, 0);
        for _ in 0..20_000 {
            let p = draw(&mut rng, Population::NkDim, &nk);
            if p.flags & flags::NKG2C != 0 {
                c += 1;
                ck += (p.flags & flags::KIR != 0) as u32;
            } else {
                nc += 1;
                nck += (p.flags & flags::KIR != 0) as u32;
            }
        }
        let kir_in_c = ck as f64 / c as f64;
        let kir_in_nc = nck as f64 / nc as f64;
        assert!((kir_in_c - 0.75).abs() < 0.03, "{kir_in_c}");
        assert!((kir_in_nc - 0.35).abs() < 0.03, "{kir_in_nc}");
        assert!(((c as f64 / 20_000.0) - 0.4).abs() < 0.02);
    }

    #[test]
    fn doublets_have_higher_area_to_height() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let nk = NkPhenotype {
            adaptive: 0.1,
            ki67_bright: 0.1,
            ki67_dim: 0.1,
        };
        let a = draw(&mut rng, Population::TCell, &nk);
        let b = draw(&mut rng, Population::Neutrophil, &nk);
        let d = doublet(&mut rng, &a, &b);
        assert!(d.fsc_a / d.fsc_h > 1.12 / 0.96);
        assert!(d.fsc_a > a.fsc_a && d.fsc_a > b.fsc_a);
    }
}
