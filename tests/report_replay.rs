//! `nkflow report OUTDIR` against `nkflow run --report`, through the binary
//! on the bundled cohort (`fcs-samples/`, copied so it can be altered):
//!
//! - the rebuilt report.html and every plots/ PNG are byte-identical to the
//!   ones `run --report` wrote (same samples, gates, counts, pictures), even
//!   when the pipeline file was edited after the run (run.json keeps the
//!   definition) and `report` is started from another folder;
//! - an input deleted after the run, and one whose bytes changed, are shown
//!   under their file names with that reason instead of plots, while every
//!   other sample keeps exactly its plots;
//! - a changed samplesheet stops the report with a message naming it.

use std::path::Path;
use std::process::Command;

fn nkflow(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_nkflow"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "nkflow failed: {err}");
    err
}

/// `<section …>` of one sample, by its exact file name.
fn section<'d>(doc: &'d str, file: &str) -> &'d str {
    let at = doc
        .find(&format!("data-file=\"{file}\""))
        .unwrap_or_else(|| panic!("no section for {file}"));
    let end = doc[at..].find("</section>").unwrap() + at;
    &doc[at..end]
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn report_outdir_rebuilds_the_run_report_and_names_missing_and_changed_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    copy_dir(&root.join("fcs-samples"), &work.join("fcs"));
    std::fs::create_dir_all(work.join("pipelines")).unwrap();
    std::fs::copy(
        root.join("pipelines/nk-day30.json"),
        work.join("pipelines/nk-day30.json"),
    )
    .unwrap();
    // Relative paths, as a user types them: run.json must resolve them later.
    ok(nkflow(
        work,
        &[
            "run",
            "pipelines/nk-day30.json",
            "fcs",
            "--samplesheet",
            "fcs/samplesheet.csv",
            "-o",
            "out",
            "--report",
            "--threads",
            "2",
        ],
    ));
    let out = work.join("out");
    let html_run = std::fs::read_to_string(out.join("report.html")).unwrap();
    let plots_run = tree(&out.join("plots"));
    assert!(plots_run.len() > 12 * 10, "{} PNGs", plots_run.len());
    std::fs::remove_file(out.join("report.html")).unwrap();
    std::fs::remove_dir_all(out.join("plots")).unwrap();

    // The pipeline file edited after the run: the report still shows the run.
    std::fs::write(work.join("pipelines/nk-day30.json"), "{ \"edited\": true }").unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    ok(nkflow(
        &elsewhere,
        &["report", out.to_str().unwrap(), "--threads", "1"],
    ));
    let html_again = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html_again == html_run,
        "report.html differs from the one `run --report` wrote"
    );
    assert!(
        tree(&out.join("plots")) == plots_run,
        "plots/ differ from those `run --report` wrote"
    );

    // One input deleted, one changed (its last byte flipped).
    let gone = "P03_D30.fcs";
    let changed = "P05_D30.fcs";
    std::fs::remove_file(work.join("fcs").join(gone)).unwrap();
    let mut bytes = std::fs::read(work.join("fcs").join(changed)).unwrap();
    *bytes.last_mut().unwrap() ^= 0x55;
    std::fs::write(work.join("fcs").join(changed), &bytes).unwrap();
    let err = ok(nkflow(&elsewhere, &["report", out.to_str().unwrap()]));
    assert!(err.contains("2 not reproduced"), "{err}");
    let doc = std::fs::read_to_string(out.join("report.html")).unwrap();
    let s = section(&doc, gone);
    assert!(s.contains("data-status=\"failed\""), "{s}");
    assert!(
        s.contains("input missing: fcs/P03_D30.fcs no longer exists"),
        "{s}"
    );
    assert!(!s.contains("<img"), "missing input still has plots");
    let s = section(&doc, changed);
    assert!(s.contains("input changed since the run"), "{s}");
    assert!(!s.contains("<img"), "changed input still has plots");
    // Every other sample keeps exactly its section (plots, counts, gates).
    let mut files: Vec<String> = std::fs::read_dir(root.join("fcs-samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".fcs"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    for f in files.iter().filter(|f| *f != gone && *f != changed) {
        assert!(
            section(&doc, f) == section(&html_run, f),
            "{f}: section differs from the run's"
        );
    }
    // The summary still lists all 12 inputs, in input order (by name).
    let rows: Vec<usize> = files
        .iter()
        .map(|f| doc.find(&format!(">{f}</a>")).unwrap())
        .collect();
    assert!(
        rows.windows(2).all(|w| w[0] < w[1]),
        "summary order {rows:?}"
    );

    // A changed samplesheet: refused, naming it.
    let sheet = work.join("fcs/samplesheet.csv");
    let mut text = std::fs::read_to_string(&sheet).unwrap();
    text.push('\n');
    std::fs::write(&sheet, text).unwrap();
    let o = nkflow(&elsewhere, &["report", out.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("samplesheet.csv: the samplesheet changed since the run"),
        "{err}"
    );
}
