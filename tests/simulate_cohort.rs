//! `nkflow simulate` output: exactly N FCS files that our reader reads, a
//! samplesheet and truth.json that agree with them and with the per-event
//! labels, byte-identical output for the same seed whatever the thread count,
//! and the lab-variation options reaching the files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use nkflow::simulate::{write_cohort, ByteOrder, DataType, Range, Settings, Style, Truth};

fn fcs_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "fcs"))
        .collect();
    v.sort();
    v
}

fn read_truth(dir: &Path) -> Truth {
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).unwrap()).unwrap()
}

fn small(seed: u64, samples: usize) -> Settings {
    Settings {
        seed,
        samples,
        events: Some(6_000),
        labels: true,
        ..Settings::default()
    }
}

#[test]
fn cohort_files_truth_samplesheet_and_labels_agree() {
    let dir = tempfile::tempdir().unwrap();
    let summary = write_cohort(&small(3, 8), dir.path()).unwrap();
    let files = fcs_files(dir.path());
    assert_eq!(files.len(), 8);
    assert_eq!(summary.files.len(), 8);
    let truth = read_truth(dir.path());
    assert_eq!(truth.seed, 3);
    assert_eq!(truth.files.len(), 8);

    // Samplesheet: one row per file, beads and volume equal to truth's.
    let mut rdr = csv::Reader::from_path(dir.path().join("samplesheet.csv")).unwrap();
    let headers = rdr.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "file",
            "patient_id",
            "cohort",
            "dose_cells_per_kg",
            "day",
            "beads_per_tube",
            "blood_volume_ul",
            "nk_donor_chimerism_pct"
        ]
    );
    let mut rows = BTreeMap::new();
    for r in rdr.records() {
        let r = r.unwrap();
        rows.insert(r[0].to_string(), r);
    }
    assert_eq!(rows.len(), 8);
    assert!(rows.values().any(|r| &r[2] == "control"));
    assert!(rows.values().any(|r| &r[4] == "7"));

    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let t = &truth.files[name];
        let row = &rows[name];
        assert_eq!(row[5].parse::<f64>().unwrap(), t.beads_per_tube);
        assert_eq!(row[6].parse::<f64>().unwrap(), t.blood_volume_ul);

        // Our reader reads it, with the events and channels truth names.
        let s = nkflow::fcs::read(path).unwrap();
        assert!(s.warnings.is_empty(), "{name}: {:?}", s.warnings);
        assert_eq!(s.n_events() as u64, t.events);
        for channel in t.markers.values() {
            assert!(
                s.channel_index(channel).is_some(),
                "{name}: no channel {channel}"
            );
        }
        assert!(s.spillover_text().is_some());

        // Counts add up.
        assert_eq!(t.counts.values().sum::<u64>(), t.events);
        assert_eq!(
            t.nk_events,
            t.counts["nk_cd56bright"] + t.counts["nk_cd56dim"]
        );
        assert_eq!(t.bead_events, t.counts["beads"]);

        // Labels: one row per event; counts and percentages recomputed from
        // them equal truth.json.
        let stem = name.trim_end_matches(".fcs");
        let text =
            std::fs::read_to_string(dir.path().join("labels").join(format!("{stem}.labels.csv")))
                .unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("population,nkg2c,kir,nkg2a,cd57,ki67"));
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let (mut nk, mut bright, mut c, mut k, mut ck, mut a, mut s57, mut ki) =
            (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        let mut n = 0u64;
        for line in lines {
            n += 1;
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 6);
            *counts.entry(f[0].to_string()).or_default() += 1;
            if f[0] == "nk_cd56bright" || f[0] == "nk_cd56dim" {
                nk += 1;
                bright += (f[0] == "nk_cd56bright") as u64;
                c += (f[1] == "1") as u64;
                k += (f[2] == "1") as u64;
                ck += (f[1] == "1" && f[2] == "1") as u64;
                a += (f[3] == "1") as u64;
                s57 += (f[4] == "1") as u64;
                ki += (f[5] == "1") as u64;
            }
        }
        assert_eq!(n, t.events);
        for (pop, cnt) in &t.counts {
            assert_eq!(counts.get(pop).copied().unwrap_or(0), *cnt, "{name} {pop}");
        }
        let pct = |x: u64| Some(100.0 * x as f64 / nk as f64);
        assert_eq!(t.pct_nkg2c, pct(c));
        assert_eq!(t.pct_kir, pct(k));
        assert_eq!(t.pct_nkg2c_kir, pct(ck));
        assert_eq!(t.pct_cd56bright, pct(bright));
        assert_eq!(t.pct_nkg2a, pct(a));
        assert_eq!(t.pct_cd57, pct(s57));
        assert_eq!(t.pct_ki67, pct(ki));
        let beads = counts["beads"] as f64;
        assert_eq!(
            t.nk_per_ul,
            nk as f64 / beads * t.beads_per_tube / t.blood_volume_ul
        );
    }
}

fn all_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn same_seed_gives_byte_identical_files_whatever_the_thread_count() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let s = small(21, 7);
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| write_cohort(&s, one.path()).unwrap());
    rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap()
        .install(|| write_cohort(&s, two.path()).unwrap());
    write_cohort(&small(22, 7), other.path()).unwrap();
    let a = all_bytes(one.path());
    let b = all_bytes(two.path());
    let c = all_bytes(other.path());
    // 7 FCS + samplesheet + truth + 7 label files.
    assert_eq!(a.len(), 16);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &a {
        assert!(v == &b[k], "{k} differs between 1 and 3 threads");
    }
    let fcs_a: Vec<_> = a.iter().filter(|(k, _)| k.ends_with(".fcs")).collect();
    assert!(
        fcs_a.iter().all(|(k, v)| c.get(*k).is_none_or(|w| w != *v)),
        "another seed gives other data"
    );
}

#[test]
fn lab_options_reach_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = Settings {
        style: Some(Style::Cytoflex),
        range: Some(Range::Bits16),
        datatype: Some(DataType::Int),
        byte_order: Some(ByteOrder::Big),
        labels: false,
        ..small(5, 3)
    };
    write_cohort(&s, dir.path()).unwrap();
    assert!(!dir.path().join("labels").exists());
    for path in fcs_files(dir.path()) {
        let smp = nkflow::fcs::read(&path).unwrap();
        assert_eq!(smp.keywords.get("$DATATYPE"), Some("I"));
        assert_eq!(smp.keywords.get("$BYTEORD"), Some("4,3,2,1"));
        assert!(smp
            .channels
            .iter()
            .all(|c| c.bits == 16 && c.range == 65_536.0));
        // Cytoflex style: Time first, labels with the fluorochrome.
        assert!(smp.channels[0].is_time());
        let labels: Vec<&str> = smp
            .channels
            .iter()
            .filter_map(|c| c.label.as_deref())
            .collect();
        assert!(labels.contains(&"CD56 PE-Cy7"), "{labels:?}");
        // Integers: no negative or fractional values, nothing above the range.
        let m = smp.events.as_slice();
        assert!(m
            .iter()
            .all(|&v| v >= 0.0 && v.fract() == 0.0 && v < 65_536.0));
        // $SPILLOVER sorted by detector name, not in parameter order.
        let (_, spill) = smp.spillover_text().unwrap();
        let names: Vec<&str> = spill.split(',').skip(1).take(10).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}

#[test]
fn cli_writes_n_files_and_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cohort");
    let bin = env!("CARGO_BIN_EXE_nkflow");
    let run = |samples: &str, extra: &[&str]| {
        Command::new(bin)
            .args([
                "simulate",
                "-o",
                out.to_str().unwrap(),
                "--seed",
                "4",
                "--events",
                "2000",
            ])
            .args(["--samples", samples])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run("5", &["--clog-fraction", "1"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(fcs_files(&out).len(), 5);
    let truth = read_truth(&out);
    assert!(truth.files.values().all(|t| t.time_anomaly.is_some()));

    let again = run("5", &[]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );

    std::fs::write(out.join("notes.txt"), "keep me").unwrap();
    let forced = run("3", &["--force"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(fcs_files(&out).len(), 3);
    assert!(
        out.join("notes.txt").exists(),
        "--force removes only cohort files"
    );
    assert!(read_truth(&out)
        .files
        .values()
        .all(|t| t.time_anomaly.is_none()));
}
