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
    let mut fcs: Vec<String> = std::fs::read_dir(&cohort)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "fcs"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    fcs.sort();
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
