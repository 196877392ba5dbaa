//! The report as a pipeline stage + sink: the preset `pipelines/nk-day30.json`
//! on a simulated cohort (written as FCS files, read back by the reader) plus
//! a truncated file. Every input appears under its file name; every plot
//! bins exactly its parent population's count (as populations.csv has it);
//! every applied gate with a geometry is drawn; the failed file shows its
//! error; links resolve and nothing points outside the report.

use std::collections::BTreeMap;
use std::path::Path;

use nkflow::pipeline::definition::Pipeline;
use nkflow::pipeline::runner::{self, RunOptions, Stage};
use nkflow::pipeline::sink::{PopulationsCsv, ResultsCsv, Sink};
use nkflow::report::stage::{ReportSink, ReportStage};
use nkflow::simulate::{write_cohort, Settings};

fn attr_values(doc: &str, attr: &str) -> Vec<String> {
    let pat = format!(" {attr}=\"");
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find(&pat) {
        rest = &rest[i + pat.len()..];
        if let Some(j) = rest.find('"') {
            out.push(rest[..j].to_string());
            rest = &rest[j..];
        }
    }
    out
}

fn reader(name: &str, bytes: &[u8]) -> Result<nkflow::Sample, String> {
    nkflow::fcs::read_bytes(name, bytes, 0).map_err(|e| e.to_string())
}

#[test]
fn preset_report_shows_every_sample_gate_and_parent_count() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    let out = tmp.path().join("out");
    let settings = Settings {
        samples: 4,
        events: Some(30_000),
        clog_fraction: 0.5,
        ..Default::default()
    };
    write_cohort(&settings, &input).unwrap();
    // A truncated copy of the first file: must show its error.
    let first = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "fcs"))
        .min()
        .unwrap();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(input.join("zz-truncated.fcs"), &bytes[..bytes.len() / 3]).unwrap();
    let pipe = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nk-day30.json");
    let opts = RunOptions {
        pipeline: Pipeline::from_file(&pipe).unwrap(),
        pipeline_path: pipe,
        inputs: vec![input.clone()],
        samplesheet: Some(input.join("samplesheet.csv")),
        panel_overrides: Default::default(),
        outdir: out.clone(),
        threads: 2,
        progress: false,
    };
    let stages: Vec<Box<dyn Stage>> = vec![Box::new(ReportStage::default())];
    let mut sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(ResultsCsv::default()),
        Box::new(PopulationsCsv::default()),
        Box::new(ReportSink::new(&out).unwrap()),
    ];
    runner::run(&opts, &reader, &stages, &mut sinks).unwrap();

    if let Some(keep) = std::env::var_os("NKFLOW_KEEP_REPORT") {
        let _ = std::fs::remove_dir_all(&keep);
        let _ = std::process::Command::new("cp")
            .arg("-r")
            .arg(&out)
            .arg(&keep)
            .status();
    }
    let doc = std::fs::read_to_string(out.join("report.html")).unwrap();
    let def: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&opts.pipeline_path).unwrap()).unwrap();
    let not_gates: Vec<String> = def["gates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["gate"]["type"] == "not")
        .map(|g| g["id"].as_str().unwrap().to_string())
        .collect();
    for bad in ["http:", "https:", "file:", "url("] {
        assert!(!doc.contains(bad), "report contains {bad}");
    }
    for src in attr_values(&doc, "src") {
        assert!(src.starts_with("data:image/png;base64,"));
    }
    // populations.csv: (file, population) → count.
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut gates_per_file: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rdr = csv::Reader::from_path(out.join("populations.csv")).unwrap();
    let hdr = rdr.headers().unwrap().clone();
    let col = |name: &str| hdr.iter().position(|h| h == name).unwrap();
    let (cf, cp, cc) = (col("file"), col("population"), col("count"));
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let (f, p) = (rec[cf].to_string(), rec[cp].to_string());
        counts.insert((f.clone(), p.clone()), rec[cc].parse().unwrap());
        gates_per_file.entry(f).or_default().push(p);
    }
    let files: Vec<String> = std::fs::read_dir(&input)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".fcs"))
        .collect();
    assert_eq!(files.len(), 5);
    let mut n_figures = 0;
    for f in &files {
        let at = doc
            .find(&format!("data-file=\"{f}\""))
            .unwrap_or_else(|| panic!("no section for {f}"));
        let sec = &doc[at..];
        let sec = &sec[..sec.find("</section>").unwrap()];
        if f == "zz-truncated.fcs" {
            assert!(sec.contains("<div class=\"error\">Error: "), "{sec:.300}");
            assert!(!sec.contains("<img"));
            continue;
        }
        assert!(
            !sec.contains("data-failed"),
            "{f}: a plot failed: {sec:.2000}"
        );
        // Each plot: events drawn == its parent's count in populations.csv.
        let parents = attr_values(sec, "data-parent");
        let pc = attr_values(sec, "data-parent-count");
        let drawn = attr_values(sec, "data-events-plotted");
        for ((p, c), d) in parents.iter().zip(&pc).zip(&drawn) {
            if p.is_empty() {
                continue; // flow-rate plot
            }
            let want = counts
                .get(&(f.clone(), p.clone()))
                .unwrap_or_else(|| panic!("{f}: no population {p} in populations.csv"));
            assert_eq!(c.parse::<usize>().unwrap(), *want, "{f}: parent {p}");
            assert_eq!(d, c, "{f}: plot of {p} drew {d} of {c} events");
            n_figures += 1;
        }
        // Every population except the root is drawn as a gate (or, for the
        // flow-rate filter, as the flow-rate plot).
        let drawn_gates = attr_values(sec, "data-gate");
        let pops = &gates_per_file[f];
        for p in pops.iter().filter(|p| p.as_str() != "root") {
            let on_flow = sec.contains(&format!("{p}: flow rate over time"));
            assert!(
                drawn_gates.contains(p) || on_flow,
                "{f}: gate {p} not drawn (drawn: {drawn_gates:?})"
            );
        }
        // Every gate but the Boolean (NOT) ones has outline pixels on its plot.
        for (g, px) in attr_values(sec, "data-gate")
            .iter()
            .zip(attr_values(sec, "data-outline-px"))
        {
            if px == "0" {
                assert!(
                    not_gates.contains(g),
                    "{f}: gate {g} has no outline on its plot"
                );
            }
        }
    }
    assert!(n_figures >= 4 * 8, "only {n_figures} gating plots");
}
