//! One acquisition: draws every event of a file in time order and builds the
//! [`Sample`] an instrument would export, with its labels and truth.

use std::collections::BTreeMap;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::design::{event_mix, SampleSpec};
use super::instrument::{exp1, Instrument};
use super::panel::{param_name, ByteOrder, DataType, Marker, Param, N_DYES};
use super::population::{doublet, draw, Particle, Population};
use super::truth::{from_labels, FileTruth, TimeAnomaly};
use crate::matrix::EventMatrix;
use crate::sample::{Channel, Keywords, Sample, Scale};

/// A simulated file before it is written.
#[derive(Debug, Clone)]
pub struct SimulatedFile {
    /// The data set, events as stored (`Scale::Raw`), keywords including
    /// `$SPILLOVER`; the encoding (data type, byte order) is in the spec, see
    /// [`super::write_options`].
    pub sample: Sample,
    /// Population and phenotype flags of every event, in file order.
    pub labels: Vec<(Population, u8)>,
    pub truth: FileTruth,
}

/// Options of the acquisition that are not part of the design.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AcquireOptions {
    /// Log-sd of the day-to-day detector gain variation.
    pub gain_spread: f64,
}

/// Picks an index from cumulative probabilities.
fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
}

/// Simulates one file from its spec, using only `rng` (the file's own
/// stream), so files can be made in any order or in parallel.
pub fn acquire(spec: &SampleSpec, opts: &AcquireOptions, rng: &mut ChaCha8Rng) -> SimulatedFile {
    let inst = Instrument::new(spec, rng, opts.gain_spread);
    let n = spec.events;
    let params = spec.style.params();
    let names: Vec<String> = params
        .iter()
        .map(|&p| param_name(spec.style, p).to_string())
        .collect();

    // Event mix and the doublet-partner mix (single cells only).
    let mix = event_mix(spec);
    let cum_mix: Vec<f64> = mix
        .iter()
        .scan(0.0, |acc, &p| {
            *acc += p;
            Some(*acc)
        })
        .collect();
    let cell_total: f64 = spec.per_ul.iter().sum();
    let cum_cells: Vec<f64> = spec
        .per_ul
        .iter()
        .scan(0.0, |acc, &c| {
            *acc += c / cell_total.max(f64::MIN_POSITIVE);
            Some(*acc)
        })
        .collect();

    // Flow: events arrive as a Poisson process. A clog slows the flow to a
    // sixth and dims every signal for a while.
    let rate = 400.0 + 2_100.0 * rng.gen::<f64>();
    let expected_duration = n as f64 / rate;
    let clog = spec.clog.then(|| {
        let start = expected_duration * (0.3 + 0.3 * rng.gen::<f64>());
        let len = expected_duration * (0.06 + 0.06 * rng.gen::<f64>());
        (start, start + len)
    });
    let range = inst.range;
    // The time step must let the whole acquisition fit in the range.
    let mut timestep = spec.style.timestep();
    while expected_duration * 3.0 / timestep > range - 1.0 {
        timestep *= 10.0;
    }

    let mut columns: Vec<Vec<f64>> = vec![Vec::with_capacity(n); params.len()];
    let mut labels = Vec::with_capacity(n);
    let mut t = 0.2 + 0.8 * rng.gen::<f64>();
    let mut clog_events = 0u64;
    for _ in 0..n {
        let in_clog = clog.is_some_and(|(a, b)| t >= a && t < b);
        let r = if in_clog { rate / 6.0 } else { rate };
        t += exp1(rng) / r;
        let in_clog = clog.is_some_and(|(a, b)| t >= a && t < b);
        clog_events += u64::from(in_clog);
        let dim = if in_clog { 0.7 } else { 1.0 };

        let pop = Population::ALL[pick(&cum_mix, rng.gen::<f64>())];
        let particle: Particle = if pop == Population::Doublet {
            let a = Population::CELLS[pick(&cum_cells, rng.gen::<f64>())];
            let b = Population::CELLS[pick(&cum_cells, rng.gen::<f64>())];
            let pa = draw(rng, a, &spec.nk);
            let pb = draw(rng, b, &spec.nk);
            doublet(rng, &pa, &pb)
        } else {
            draw(rng, pop, &spec.nk)
        };
        labels.push((pop, particle.flags));

        let fl = inst.fluorescence(&particle, dim, rng);
        let sc = inst.scatter(&particle, dim, rng);
        for (col, p) in columns.iter_mut().zip(&params) {
            let v = match *p {
                Param::FscA => inst.store(sc[0], inst.scatter_amp),
                Param::FscH => inst.store(sc[1], inst.scatter_amp),
                Param::SscA => inst.store(sc[2], inst.scatter_amp),
                Param::Fluor(m) => inst.store(fl[m.index()], None),
                // Time is stored in ticks of $TIMESTEP.
                Param::Time => (t / timestep).floor().min(range - 1.0),
            };
            col.push(v);
        }
    }
    let duration = t;

    let tallies = from_labels(&labels, spec.beads_per_tube, spec.blood_volume_ul);
    let markers: BTreeMap<String, String> = Marker::ALL
        .iter()
        .map(|&m| {
            (
                m.canonical().to_string(),
                spec.style.detector_name(m).to_string(),
            )
        })
        .collect();
    let truth = FileTruth {
        nk_per_ul: tallies.nk_per_ul,
        pct_nkg2c: tallies.pct_nkg2c,
        pct_kir: tallies.pct_kir,
        pct_nkg2c_kir: tallies.pct_nkg2c_kir,
        pct_cd56bright: tallies.pct_cd56bright,
        pct_nkg2a: tallies.pct_nkg2a,
        pct_cd57: tallies.pct_cd57,
        pct_ki67: tallies.pct_ki67,
        nk_events: tallies.nk,
        bead_events: tallies.beads,
        events: n as u64,
        beads_per_tube: spec.beads_per_tube,
        blood_volume_ul: spec.blood_volume_ul,
        counts: tallies.count_map(),
        markers,
        panel_style: spec.style.name().to_string(),
        range,
        datatype: match spec.datatype {
            DataType::Float => "float".into(),
            DataType::Int => "int".into(),
        },
        byte_order: match spec.byte_order {
            ByteOrder::Big => "big".into(),
            ByteOrder::Little => "little".into(),
        },
        time_anomaly: clog.map(|(a, b)| TimeAnomaly {
            start_s: a,
            end_s: b,
            events: clog_events,
        }),
        pct_donor_nk_by_hla: None,
        hla_donor_fraction: None,
    };

    let sample = build_sample(spec, &inst, &params, names, columns, timestep, duration);
    SimulatedFile {
        sample,
        labels,
        truth,
    }
}

/// Formats a number for a keyword value without float noise (`0.12`, not
/// `0.12000000000000001`).
fn num(v: f64) -> String {
    format!("{v}")
}

/// Assembles the [`Sample`]: channels in the lab's order, keywords an export
/// would carry, `$SPILLOVER` in the lab's own order.
fn build_sample(
    spec: &SampleSpec,
    inst: &Instrument,
    params: &[Param],
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    timestep: f64,
    duration: f64,
) -> Sample {
    let bits = match spec.datatype {
        DataType::Float => 32,
        DataType::Int => spec.range.int_bits(),
    };
    let mut kw = Keywords::new();
    kw.insert("$CYT", spec.style.cytometer());
    kw.insert("$INST", format!("simulated lab ({})", spec.style.name()));
    kw.insert("$FIL", spec.file_name.as_str());
    kw.insert("$SRC", spec.patient_id.as_str());
    // A fixed, made-up acquisition date: byte-identical output needs no clock.
    kw.insert("$DATE", format!("{:02}-MAR-2026", 1 + spec.index % 28));
    kw.insert("$BTIM", "09:30:00");
    let end = 9 * 3600 + 30 * 60 + duration.ceil() as u64;
    kw.insert(
        "$ETIM",
        format!("{:02}:{:02}:{:02}", end / 3600, end / 60 % 60, end % 60),
    );
    kw.insert("$TIMESTEP", num(timestep));
    kw.insert(
        "$COM",
        "Simulated by nkflow simulate; the truth is in truth.json beside this file.",
    );

    // $SPILLOVER: n, detector names, row-major values, in the lab's order.
    let order = spec.style.spillover_order();
    let mut spill = vec![N_DYES.to_string()];
    spill.extend(
        order
            .iter()
            .map(|&m| spec.style.detector_name(m).to_string()),
    );
    for &f in &order {
        for &d in &order {
            spill.push(num(inst.spill[f.index()][d.index()]));
        }
    }
    kw.insert("$SPILLOVER", spill.join(","));

    let mut channels = Vec::with_capacity(params.len());
    for (j, (&p, name)) in params.iter().zip(&names).enumerate() {
        let (label, gain) = match p {
            Param::Fluor(m) => (Some(spec.style.label(m).to_string()), None),
            Param::FscA | Param::FscH | Param::SscA => (None, inst.scatter_amp),
            Param::Time => (None, None),
        };
        if let Param::Fluor(m) = p {
            kw.insert(&format!("$P{}V", j + 1), num(inst.voltage(m.index())));
        }
        channels.push(Channel {
            number: j + 1,
            name: name.clone(),
            label,
            range: inst.range,
            bits,
            gain,
            log: None,
        });
    }
    let events = EventMatrix::from_columns(names, columns)
        .unwrap_or_else(|_| EventMatrix::zeros(Vec::new(), 0));
    Sample {
        source: spec.file_name.clone(),
        fcs_version: "3.1".to_string(),
        dataset: 0,
        n_datasets: 1,
        keywords: kw,
        analysis: Default::default(),
        channels,
        events,
        scale: Scale::Raw,
        warnings: Vec::new(),
    }
}
