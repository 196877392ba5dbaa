//! FlowSOM on synthetic cohorts with known labels: NK agreement, determinism
//! across thread counts and runs, masks, k-means metaclustering and errors.

mod cluster_synth;

use cluster_synth::{is_nk, sample, MARKERS};
use nkflow::cluster::{
    cluster_batch, write_assignments_csv, write_clusters_csv, ClusterError, ClusterInput,
    ClusterRun, FlowSom, FlowSomParams, Grid, Metaclustering, SomAlgorithm,
};
use nkflow::EventMatrix;

fn cohort(files: usize, n: usize) -> Vec<(String, EventMatrix, Vec<u8>)> {
    (0..files)
        .map(|f| {
            let (m, l) = sample(n, 100 + f as u64);
            (format!("P{:02}_D30.fcs", f + 1), m, l)
        })
        .collect()
}

fn run(
    files: &[(String, EventMatrix, Vec<u8>)],
    params: &FlowSomParams,
    threads: usize,
) -> ClusterRun {
    let inputs: Vec<ClusterInput> = files
        .iter()
        .map(|(name, m, _)| ClusterInput::new(name, m))
        .collect();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| cluster_batch(&inputs, &MARKERS, params))
        .unwrap()
}

fn outputs(run: &ClusterRun) -> (Vec<u8>, Vec<Vec<u8>>) {
    let tables: Vec<_> = run.samples.iter().map(|s| s.table.clone()).collect();
    let mut csv = Vec::new();
    write_clusters_csv(&mut csv, &run.model, &tables).unwrap();
    let assignments = run
        .samples
        .iter()
        .map(|s| {
            let mut out = Vec::new();
            write_assignments_csv(&mut out, &s.metaclusters).unwrap();
            out
        })
        .collect();
    (csv, assignments)
}

#[test]
fn nk_metaclusters_agree_with_true_nk_in_every_file() {
    let files = cohort(4, 25_000);
    let params = FlowSomParams {
        seed: 7,
        ..FlowSomParams::default()
    };
    let result = run(&files, &params, 2);
    assert_eq!(result.model.k(), 10);
    assert_eq!(result.model.train_events(), 100_000);
    for ((name, _, labels), s) in files.iter().zip(&result.samples) {
        let nk: Vec<bool> = labels.iter().map(|&l| is_nk(l)).collect();
        let a = s.agreement(&nk).unwrap();
        eprintln!(
            "{name}: NK F1 {:.4} (precision {:.4}, recall {:.4}), metaclusters {:?}",
            a.f1(),
            a.precision(),
            a.recall(),
            a.metaclusters
        );
        assert!(a.f1() >= 0.95, "{name}: NK F1 {}", a.f1());
        assert_eq!(s.table.clustered, 25_000);
        let sum: f64 = s.table.rows.iter().map(|r| r.percent).sum();
        assert!((sum - 100.0).abs() < 1e-9);
    }
    // The NK metaclusters are named CD3− CD56+/dim/bright.
    let s = &result.samples[0];
    let nk: Vec<bool> = files[0].2.iter().map(|&l| is_nk(l)).collect();
    for m in s.agreement(&nk).unwrap().metaclusters {
        let name = &result.model.metacluster_names()[m as usize];
        assert!(name.contains("CD3\u{2212}"), "{name}");
        assert!(!name.contains("CD56\u{2212}"), "{name}");
    }
}

/// The optional batch map (not R's algorithm) also finds the NK cells, and
/// gives the same clusters on one and two threads.
#[test]
fn batch_map_finds_nk_and_is_thread_independent() {
    let files = cohort(3, 20_000);
    let params = FlowSomParams {
        seed: 5,
        algorithm: SomAlgorithm::Batch,
        ..FlowSomParams::default()
    };
    let two = run(&files, &params, 2);
    let one = run(&files, &params, 1);
    assert_eq!(one.model.codes(), two.model.codes());
    assert_eq!(outputs(&one), outputs(&two));
    for ((name, _, labels), s) in files.iter().zip(&two.samples) {
        let nk: Vec<bool> = labels.iter().map(|&l| is_nk(l)).collect();
        let f1 = s.agreement(&nk).unwrap().f1();
        assert!(f1 >= 0.95, "{name}: batch map NK F1 {f1}");
    }
    // A different algorithm: not the online map's codes.
    let online = run(
        &files,
        &FlowSomParams {
            algorithm: SomAlgorithm::Online,
            ..params
        },
        2,
    );
    assert_ne!(online.model.codes(), two.model.codes());
}

#[test]
fn identical_for_one_and_two_threads_and_repeated_runs() {
    let files = cohort(2, 15_000);
    let params = FlowSomParams {
        seed: 11,
        train_events: Some(20_000),
        ..FlowSomParams::default()
    };
    let one = run(&files, &params, 1);
    let two = run(&files, &params, 2);
    let again = run(&files, &params, 2);
    // (ClusterRun's own `==` is false for empty metaclusters: NaN medians.)
    let key = |r: &ClusterRun| {
        let m = &r.model;
        let per_sample: Vec<_> = r
            .samples
            .iter()
            .map(|s| (s.nodes.clone(), s.metaclusters.clone()))
            .collect();
        (
            m.codes().to_vec(),
            m.node_metacluster().to_vec(),
            m.metacluster_names().to_vec(),
            per_sample,
        )
    };
    assert_eq!(key(&one), key(&two));
    assert_eq!(key(&two), key(&again));
    assert_eq!(outputs(&one), outputs(&two));
    assert_eq!(outputs(&two), outputs(&again));
    assert_eq!(one.model.train_events(), 20_000);
    // cluster_batch (mapping beside the metaclustering) is train + assign.
    let inputs: Vec<ClusterInput> = files
        .iter()
        .map(|(name, m, _)| ClusterInput::new(name, m))
        .collect();
    let model = FlowSom::train(&inputs, &MARKERS, &params).unwrap();
    assert_eq!(model.codes(), two.model.codes());
    assert_eq!(model.metacluster_names(), two.model.metacluster_names());
    for (inp, s) in inputs.iter().zip(&two.samples) {
        let a = model.assign(inp).unwrap();
        assert_eq!((&a.nodes, &a.metaclusters), (&s.nodes, &s.metaclusters));
        assert_eq!(a.table.rows.len(), s.table.rows.len());
        for (x, y) in a.table.rows.iter().zip(&s.table.rows) {
            assert_eq!(x.count, y.count);
            assert_eq!(format!("{:?}", x.medians), format!("{:?}", y.medians));
        }
    }
    // A different seed gives a different map.
    let other = run(&files, &FlowSomParams { seed: 12, ..params }, 2);
    assert_ne!(one.model.codes(), other.model.codes());
}

#[test]
fn kmeans_metaclustering_also_finds_nk() {
    let files = cohort(2, 20_000);
    let params = FlowSomParams {
        seed: 3,
        metaclustering: Metaclustering::KMeans,
        ..FlowSomParams::default()
    };
    let one = run(&files, &params, 1);
    assert_eq!(outputs(&one), outputs(&run(&files, &params, 2)));
    for ((name, _, labels), s) in files.iter().zip(&one.samples) {
        let nk: Vec<bool> = labels.iter().map(|&l| is_nk(l)).collect();
        let f1 = s.agreement(&nk).unwrap().f1();
        assert!(f1 >= 0.95, "{name}: k-means NK F1 {f1}");
    }
}

#[test]
fn mask_limits_the_clustered_events() {
    let (m, labels) = sample(20_000, 5);
    // Cluster only the CD3− events: NK, B, monocytes.
    let mask: Vec<bool> = m.column(1).iter().map(|&v| v < 1.7).collect();
    let params = FlowSomParams {
        grid: Grid { xdim: 6, ydim: 6 },
        k: 5,
        ..FlowSomParams::default()
    };
    let input = ClusterInput::new("masked.fcs", &m).with_mask(&mask);
    let r = cluster_batch(&[input], &MARKERS, &params).unwrap();
    let s = &r.samples[0];
    let inside = mask.iter().filter(|&&b| b).count();
    assert_eq!(s.table.clustered, inside);
    for (mc, &keep) in s.metaclusters.iter().zip(&mask) {
        assert_eq!(mc.is_some(), keep);
    }
    let nk: Vec<bool> = labels.iter().map(|&l| is_nk(l)).collect();
    assert!(s.agreement(&nk).unwrap().f1() >= 0.95);
    let mut out = Vec::new();
    write_assignments_csv(&mut out, &s.metaclusters).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 20_001);
    let first_out = mask.iter().position(|&b| !b).unwrap();
    // Outside the mask: a quoted empty field, not a blank line (which
    // pandas and Python's csv would skip).
    assert_eq!(text.lines().nth(first_out + 1), Some("\"\""));
}

#[test]
fn errors_name_the_sample_and_marker() {
    let (mut m, _) = sample(500, 1);
    let p = FlowSomParams {
        grid: Grid { xdim: 5, ydim: 5 },
        k: 4,
        ..FlowSomParams::default()
    };
    let e = cluster_batch(&[ClusterInput::new("a.fcs", &m)], &["CD56", "CD999"], &p).unwrap_err();
    assert!(matches!(e, ClusterError::UnknownMarker { .. }));
    assert!(e.to_string().contains("a.fcs") && e.to_string().contains("CD999"));

    let few = [true; 500].map(|_| false);
    let mut mask = few.to_vec();
    mask[..10].iter_mut().for_each(|b| *b = true);
    let e = cluster_batch(
        &[ClusterInput::new("a.fcs", &m).with_mask(&mask)],
        &["CD56"],
        &p,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ClusterError::TooFewEvents {
                needed: 25,
                available: 10,
                ..
            }
        ),
        "{e}"
    );

    let bad_k = FlowSomParams { k: 26, ..p };
    assert!(matches!(
        cluster_batch(&[ClusterInput::new("a.fcs", &m)], &["CD56"], &bad_k),
        Err(ClusterError::InvalidParameter { name: "k", .. })
    ));

    m.column_mut(4)[42] = f64::NAN;
    let e = cluster_batch(&[ClusterInput::new("a.fcs", &m)], &["CD56"], &p).unwrap_err();
    assert!(
        matches!(e, ClusterError::NonFinite { event: 42, .. }),
        "{e}"
    );
    // Outside the mask a NaN does not matter.
    let mut mask = vec![true; 500];
    mask[42] = false;
    assert!(cluster_batch(
        &[ClusterInput::new("a.fcs", &m).with_mask(&mask)],
        &["CD56"],
        &p
    )
    .is_ok());
}
