//! Gating throughput over 1M events: a rectangle, a 6-vertex polygon and an
//! ellipse (single-threaded), and the 12-gate diva6 B-cell tree on compensated
//! logicle data end to end (compensation + transforms + gates), beside
//! FlowKit's `GatingStrategy.gate_sample` on the same events in the same run
//! (`benches/gating_flowkit.py`).
//!
//! Data: `fcs-corpus/bd_diva6__facs_diva_test.fcs` (83,411 events, SPILL) at
//! FCS scale, tiled to 1,000,000 events; FlowKit tiles its own reading of the
//! same file the same way. Run: `cargo bench --bench gating -- --warm-up-time 1
//! --measurement-time 3`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use criterion::Criterion;
use nkflow::compensation::Matrix;
use nkflow::gating::GatingStrategy;
use nkflow::{gatingml, EventMatrix};

const N: usize = 1_000_000;
const FILE: &str = "fcs-corpus/bd_diva6__facs_diva_test.fcs";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared() -> PathBuf {
    std::env::var_os("NKFLOW_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared"))
}

/// The cases: (name, Gating-ML file, single-threaded?).
fn cases() -> Vec<(&'static str, PathBuf)> {
    vec![
        ("rect", root().join("benches/gating_xml/rectangle.xml")),
        ("poly", root().join("benches/gating_xml/polygon.xml")),
        ("ellipse", root().join("benches/gating_xml/ellipse.xml")),
        (
            "tree",
            root().join("tests/fixtures/gatingml/trees/diva6_bcell_tree.xml"),
        ),
    ]
}

fn tiled_events(path: &Path) -> (EventMatrix, Option<Matrix>) {
    let mut sample = nkflow::fcs::read(path).expect("read diva6");
    let spill = Matrix::from_sample(&sample).expect("spillover");
    sample.apply_scale();
    let src = &sample.events;
    let n0 = src.n_events();
    let cols = (0..src.n_channels())
        .map(|j| (0..N).map(|i| src.column(j)[i % n0]).collect())
        .collect();
    (
        EventMatrix::from_columns(src.names().to_vec(), cols).unwrap(),
        spill,
    )
}

fn min_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let fcs = shared().join(FILE);
    if !fcs.exists() {
        eprintln!("SKIP: {} is missing", fcs.display());
        return;
    }
    let (events, spill) = tiled_events(&fcs);
    let strategies: Vec<(&str, GatingStrategy)> = cases()
        .into_iter()
        .map(|(n, p)| (n, gatingml::read_path(&p).unwrap()))
        .collect();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();

    let mut c = Criterion::default().without_plots().configure_from_args();
    {
        let mut g = c.benchmark_group("gating_1M_events");
        g.sample_size(10);
        for (name, s) in &strategies {
            g.bench_function(format!("{name}_1thread"), |b| {
                b.iter(|| one.install(|| s.gate_events(&events, spill.as_ref()).unwrap()))
            });
        }
        if let Some((_, tree)) = strategies.iter().find(|(n, _)| *n == "tree") {
            g.bench_function("tree_all_threads", |b| {
                b.iter(|| tree.gate_events(&events, spill.as_ref()).unwrap())
            });
        }
        g.finish();
    }
    c.final_summary();

    // Side by side with FlowKit, same data, same run: best of 5 each.
    let py = std::env::var_os("NKFLOW_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".peers/bin/python"));
    let mut args: Vec<String> = vec![
        root()
            .join("benches/gating_flowkit.py")
            .display()
            .to_string(),
        fcs.display().to_string(),
        N.to_string(),
        "5".into(),
    ];
    args.extend(cases().iter().map(|(n, p)| format!("{n}={}", p.display())));
    let flowkit: Option<serde_json::Value> = std::process::Command::new(&py)
        .args(&args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    println!("\n1,000,000 events, best of 5 (ms)      nkflow 1 thread  nkflow all  FlowKit   speed-up (1 thread)");
    for (name, s) in &strategies {
        let ours1 = min_ms(5, || {
            one.install(|| s.gate_events(&events, spill.as_ref()).unwrap());
        });
        let ours_all = min_ms(5, || {
            s.gate_events(&events, spill.as_ref()).unwrap();
        });
        let results = s.gate_events(&events, spill.as_ref()).unwrap();
        let fk = flowkit.as_ref().map(|v| &v[name]);
        let fk_ms = fk.and_then(|v| v["ms"].as_array()).map(|a| {
            a.iter()
                .filter_map(|x| x.as_f64())
                .fold(f64::INFINITY, f64::min)
        });
        // Same populations, same counts as FlowKit, or the comparison is void.
        if let Some(counts) = fk.and_then(|v| v["count"].as_object()) {
            for (id, n) in counts {
                assert_eq!(
                    results.count(id),
                    n.as_u64().map(|n| n as usize),
                    "{name}: {id} count differs from FlowKit"
                );
            }
        }
        match fk_ms {
            Some(f) => println!(
                "{name:<38} {ours1:>15.2} {ours_all:>11.2} {f:>8.1} {:>12.1}x",
                f / ours1
            ),
            None => println!("{name:<38} {ours1:>15.2} {ours_all:>11.2}   (FlowKit not available)"),
        }
    }
}
