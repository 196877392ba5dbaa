//! `nkflow cluster` end to end on `nkflow simulate` files: outputs exist with
//! the documented names and shapes, and are byte-identical for --threads 1
//! and 2 and for a repeated run.

use std::path::Path;
use std::process::Command;

mod common;

/// Runs nkflow (failing the test if it fails) and returns its stdout.
fn nkflow(args: &[&str]) -> String {
    String::from_utf8_lossy(&common::nkflow(args).stdout).into_owned()
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

#[test]
fn cluster_outputs_are_identical_for_thread_counts_and_reruns() {
    let tmp = tempfile::tempdir().unwrap();
    let cohort = tmp.path().join("cohort");
    common::simulate(&cohort, 5, 2, 20000, &[]);
    let fcs = cohort_files(&cohort);
    assert_eq!(fcs.len(), 2);

    let run = |out: &str, threads: &str, som: &str| {
        let mut args = vec!["cluster"];
        args.extend(fcs.iter().map(String::as_str));
        args.extend([
            "--markers",
            "CD3,CD56,CD16,NKG2C,KIR,NKG2A,CD57,CD45",
            "-o",
            out,
            "--assignments",
            "--seed",
            "9",
            "--grid",
            "8x8",
            "--k",
            "8",
            "--threads",
            threads,
            "--som",
            som,
        ]);
        nkflow(&args)
    };
    let dirs: Vec<_> = ["t1", "t2", "t2again"]
        .iter()
        .map(|d| tmp.path().join(d))
        .collect();
    let stdout = run(&dirs[0].to_string_lossy(), "1", "online");
    assert!(stdout.contains("8 metaclusters"), "{stdout}");
    run(&dirs[1].to_string_lossy(), "2", "online");
    run(&dirs[2].to_string_lossy(), "2", "online");
    // The batch map is parallel inside training: its output, too, must not
    // depend on the thread count.
    let (b1, b2) = (tmp.path().join("b1"), tmp.path().join("b2"));
    run(&b1.to_string_lossy(), "1", "batch");
    run(&b2.to_string_lossy(), "2", "batch");
    assert_eq!(read(&b1, "clusters.csv"), read(&b2, "clusters.csv"));
    for f in &fcs {
        let name = format!(
            "assignments/{}.csv",
            Path::new(f).file_name().unwrap().to_string_lossy()
        );
        assert_eq!(read(&b1, &name), read(&b2, &name), "{name}");
    }

    let clusters = read(&dirs[0], "clusters.csv");
    let text = String::from_utf8(clusters.clone()).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("sample,metacluster,name,count,percent,median_CD3,"),
        "{header}"
    );
    // 2 files × 8 metaclusters.
    assert_eq!(text.lines().count(), 1 + 2 * 8);
    for d in &dirs[1..] {
        assert_eq!(read(d, "clusters.csv"), clusters, "{}", d.display());
    }
    for f in &fcs {
        let name = format!(
            "assignments/{}.csv",
            Path::new(f).file_name().unwrap().to_string_lossy()
        );
        let a = read(&dirs[0], &name);
        let rows = String::from_utf8(a.clone()).unwrap();
        assert_eq!(rows.lines().next(), Some("metacluster"));
        assert_eq!(rows.lines().count(), 1 + 20_000);
        assert!(rows
            .lines()
            .skip(1)
            .all(|l| matches!(l.parse::<u32>(), Ok(1..=8))));
        for d in &dirs[1..] {
            assert_eq!(read(d, &name), a, "{name} differs in {}", d.display());
        }
    }
}

#[test]
fn unknown_marker_is_reported_with_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("c");
    common::simulate(&c, 5, 1, 2000, &[]);
    let f = std::fs::read_dir(&c)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "fcs"))
        .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .args([
            "cluster",
            &f.to_string_lossy(),
            "--markers",
            "CD56,CD999",
            "-o",
        ])
        .arg(tmp.path().join("o"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("CD999") && err.contains(&*f.file_name().unwrap().to_string_lossy()),
        "{err}"
    );
}

/// The simulated cohort's FCS files, sorted.
fn cohort_files(dir: &Path) -> Vec<String> {
    let mut fcs: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "fcs"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    fcs.sort();
    fcs
}

/// R's median (mean of the two middle values for an even count).
fn r_median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn described_markers_leave_the_clustering_alone_and_report_their_medians() {
    let tmp = tempfile::tempdir().unwrap();
    let cohort = tmp.path().join("cohort");
    common::simulate(&cohort, 11, 2, 8000, &[]);
    let fcs = cohort_files(&cohort);
    assert_eq!(fcs.len(), 2);
    let run = |out: &Path, describe: Option<&str>| {
        let out = out.to_string_lossy().into_owned();
        let mut args = vec!["cluster"];
        args.extend(fcs.iter().map(String::as_str));
        args.extend([
            "--markers",
            "CD56,CD16,CD3",
            "-o",
            &out,
            "--assignments",
            "--grid",
            "6x6",
            "--k",
            "6",
            "--seed",
            "3",
        ]);
        if let Some(d) = describe {
            args.extend(["--describe", d]);
        }
        nkflow(&args)
    };
    let (plain, described) = (tmp.path().join("plain"), tmp.path().join("described"));
    let plain_stdout = run(&plain, None);
    // The metacluster names (printed) come from the clustered markers alone.
    assert_eq!(
        run(&described, Some("NKG2C,KIR")),
        plain_stdout.replace(&*plain.to_string_lossy(), &described.to_string_lossy())
    );

    // (1) Describing moves no event: identical assignments, and clusters.csv
    // identical in every column but the two added median columns.
    let names: Vec<String> = fcs
        .iter()
        .map(|f| {
            Path::new(f)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for n in &names {
        let a = format!("assignments/{n}.csv");
        assert_eq!(read(&plain, &a), read(&described, &a), "{a}");
    }
    let text = String::from_utf8(read(&described, "clusters.csv")).unwrap();
    assert!(
        text.lines()
            .next()
            .unwrap()
            .ends_with("median_CD56,median_CD16,median_CD3,median_NKG2C,median_KIR"),
        "{text}"
    );
    let p_rows = common::csv_rows(&plain.join("clusters.csv"));
    let d_rows = common::csv_rows(&described.join("clusters.csv"));
    assert_eq!(p_rows.len(), 2 * 6);
    assert_eq!(d_rows.len(), p_rows.len());
    for (p, d) in p_rows.iter().zip(&d_rows) {
        let mut d = d.clone();
        d.remove("median_NKG2C").unwrap();
        d.remove("median_KIR").unwrap();
        assert_eq!(&d, p);
    }

    // (2) The described medians are the medians of each metacluster's events
    // of the described marker on its logicle scale: recomputed here from the
    // assignments and the files' transformed values.
    let describe = ["NKG2C".to_string(), "KIR".to_string()];
    let mut checked = 0;
    let mut nkg2c_medians = Vec::new();
    for (f, n) in fcs.iter().zip(&names) {
        let mut sample = nkflow::fcs::read(Path::new(f)).unwrap();
        let values = nkflow::cli::cluster::marker_matrix(&mut sample, n, &describe, None).unwrap();
        let assigned: Vec<u32> =
            std::fs::read_to_string(described.join(format!("assignments/{n}.csv")))
                .unwrap()
                .lines()
                .skip(1)
                .map(|l| l.parse().unwrap())
                .collect();
        assert_eq!(assigned.len(), values.n_events());
        for row in d_rows.iter().filter(|r| r["sample"] == *n) {
            let mc: u32 = row["metacluster"].parse().unwrap();
            let count: usize = row["count"].parse().unwrap();
            for (j, marker) in describe.iter().enumerate() {
                let members: Vec<f64> = assigned
                    .iter()
                    .zip(values.column(j))
                    .filter(|(&a, _)| a == mc)
                    .map(|(_, &v)| v)
                    .collect();
                assert_eq!(members.len(), count, "{n} metacluster {mc}");
                let got = &row[&format!("median_{marker}")];
                if count == 0 {
                    assert_eq!(got, "", "{n} metacluster {mc} {marker}");
                    continue;
                }
                let want = r_median(members);
                let got: f64 = got.parse().unwrap();
                assert!(
                    (got - want).abs() <= 1e-6,
                    "{n} metacluster {mc} {marker}: clusters.csv {got}, recomputed {want}"
                );
                if j == 0 {
                    nkg2c_medians.push(want);
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "only {checked} medians checked");
    // The metaclusters differ in NKG2C (NK subsets vs T and B cells), so a
    // constant or misplaced column would not pass by accident.
    let (lo, hi) = nkg2c_medians
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    assert!(hi - lo > 0.1, "NKG2C medians {nkg2c_medians:?}");
}

#[test]
fn describe_usage_errors_name_the_marker_and_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("c");
    common::simulate(&c, 5, 1, 2000, &[]);
    let f = cohort_files(&c).remove(0);
    let fail = |markers: &str, describe: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_nkflow"))
            .args([
                "cluster",
                &f,
                "--markers",
                markers,
                "--describe",
                describe,
                "-o",
            ])
            .arg(tmp.path().join("o"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{markers} / {describe} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // A marker in both lists, matched case-insensitively as panels are.
    let both = fail("CD56,CD16,CD3", "NKG2C,cd16");
    assert!(
        both.contains("\"cd16\" is in both --markers and --describe"),
        "{both}"
    );
    assert!(
        !tmp.path().join("o").exists(),
        "outputs written on a usage error"
    );
    // A described marker the file lacks: the file and the marker are named.
    let missing = fail("CD56,CD16", "NKG2C,CD999");
    let name = Path::new(&f)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        missing.contains("CD999") && missing.contains(&name),
        "{missing}"
    );
    // Two names of one channel (its label pan-KIR is an alias of KIR):
    // panel resolution refuses it, naming the file, the channel and both.
    let alias = fail("CD56,CD16,KIR", "pan-KIR");
    assert!(
        alias.contains(&name)
            && alias.contains("channel APC-A matches both markers \"KIR\" and \"pan-KIR\""),
        "{alias}"
    );
}
