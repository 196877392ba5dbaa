//! Fixed gates from a Gating-ML 2.0 file inside a pipeline
//! (`{"type": "gatingml", "file": …, "id": …}`).
//!
//! One XML written for the simulated panel by *marker* names (CD16, NKG2C,
//! KIR) with logicle/fasinh transforms and FCS compensation, plus an
//! ellipsoid on scatter channel names, is imported into the nk-day30 preset
//! and run on a cohort of every lab style (each spells the channels
//! differently). Each imported population's count in populations.csv must
//! equal what `nkflow gate` gives for the same XML — with the marker names
//! replaced by that file's channel names (from truth.json) — ANDed with the
//! parent population from gates/<file>.xml. And gates/<file>.xml itself
//! (which now carries the imported transforms) re-applies to every count.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nkflow::gating::GatingResults;

const GATES_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML
    xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <transforms:transformation transforms:id="Logicle1">
    <transforms:logicle transforms:T="262144" transforms:W="0.5" transforms:M="4.5" transforms:A="0"/>
  </transforms:transformation>
  <transforms:transformation transforms:id="Asinh1">
    <transforms:fasinh transforms:T="262144" transforms:M="4.5" transforms:A="0"/>
  </transforms:transformation>
  <gating:RectangleGate gating:id="CD16pos">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Logicle1" gating:min="0.55">
      <data-type:fcs-dimension data-type:name="CD16"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="CD16pos_KIRpos" gating:parent_id="CD16pos">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Asinh1" gating:min="0.6">
      <data-type:fcs-dimension data-type:name="KIR"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="CD16pos_KIRpos_C" gating:parent_id="CD16pos_KIRpos">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Asinh1" gating:min="0.6">
      <data-type:fcs-dimension data-type:name="NKG2C"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:QuadrantGate gating:id="Quad">
    <gating:divider gating:id="DivC" gating:compensation-ref="FCS" gating:transformation-ref="Asinh1">
      <data-type:fcs-dimension data-type:name="NKG2C"/>
      <gating:value>0.6</gating:value>
    </gating:divider>
    <gating:divider gating:id="DivK" gating:compensation-ref="FCS" gating:transformation-ref="Asinh1">
      <data-type:fcs-dimension data-type:name="KIR"/>
      <gating:value>0.6</gating:value>
    </gating:divider>
    <gating:Quadrant gating:id="CposKpos">
      <gating:position gating:divider_ref="DivC" gating:location="0.9"/>
      <gating:position gating:divider_ref="DivK" gating:location="0.9"/>
    </gating:Quadrant>
    <gating:Quadrant gating:id="CnegKpos">
      <gating:position gating:divider_ref="DivC" gating:location="0.1"/>
      <gating:position gating:divider_ref="DivK" gating:location="0.9"/>
    </gating:Quadrant>
  </gating:QuadrantGate>
  <gating:EllipsoidGate gating:id="ScatterEll">
    <gating:dimension gating:compensation-ref="uncompensated">
      <data-type:fcs-dimension data-type:name="FSC-A"/>
    </gating:dimension>
    <gating:dimension gating:compensation-ref="uncompensated">
      <data-type:fcs-dimension data-type:name="SSC-A"/>
    </gating:dimension>
    <gating:mean>
      <gating:coordinate data-type:value="60000"/>
      <gating:coordinate data-type:value="20000"/>
    </gating:mean>
    <gating:covarianceMatrix>
      <gating:row><gating:entry data-type:value="4e8"/><gating:entry data-type:value="0"/></gating:row>
      <gating:row><gating:entry data-type:value="0"/><gating:entry data-type:value="1e8"/></gating:row>
    </gating:covarianceMatrix>
    <gating:distanceSquare data-type:value="4"/>
  </gating:EllipsoidGate>
  <gating:BooleanGate gating:id="Both">
    <gating:and>
      <gating:gateReference gating:ref="CD16pos"/>
      <gating:gateReference gating:ref="ScatterEll"/>
    </gating:and>
  </gating:BooleanGate>
</gating:Gating-ML>
"#;

/// (pipeline gate id, parent, XML gate or quadrant id).
const IMPORTS: [(&str, &str, &str); 4] = [
    ("nk_cd16pos_xml", "nk", "CD16pos"),
    ("nk_nkg2c_kir_xml", "nk", "CposKpos"),
    ("nk_kir_only_xml", "nk", "CnegKpos"),
    ("scatter_ell_xml", "cd45", "ScatterEll"),
];

/// The preset with the imported gates appended (and a `not` of one).
fn pipeline_json(extra: &[serde_json::Value]) -> String {
    pipeline_json_with(extra, &[])
}

/// [`pipeline_json`] with extra results columns.
fn pipeline_json_with(extra: &[serde_json::Value], columns: &[serde_json::Value]) -> String {
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/nk-day30.json");
    let mut p: serde_json::Value = serde_json::from_slice(&std::fs::read(preset).unwrap()).unwrap();
    let gates = p["gates"].as_array_mut().unwrap();
    for (id, parent, xml_id) in IMPORTS {
        gates.push(serde_json::json!({
            "id": id, "parent": parent,
            "gate": {"type": "gatingml", "file": "gates.xml", "id": xml_id}
        }));
    }
    gates.push(serde_json::json!({
        "id": "nk_cd16neg_xml", "parent": "nk",
        "gate": {"type": "not", "of": "nk_cd16pos_xml"}
    }));
    gates.extend(extra.iter().cloned());
    p["columns"]
        .as_array_mut()
        .unwrap()
        .extend(columns.iter().cloned());
    serde_json::to_string_pretty(&p).unwrap()
}

/// What a test reads back from a simulated cohort run through a pipeline.
struct Run {
    sim: PathBuf,
    out: PathBuf,
    truth: serde_json::Value,
    pops: Vec<BTreeMap<String, String>>,
    results: Vec<BTreeMap<String, String>>,
}

/// Simulates `samples` files of 40,000 events (seed `seed`) into
/// `tmp/sim` and runs pipeline `pfile` on them into `tmp/out`.
fn simulate_and_run(tmp: &Path, seed: u64, samples: usize, pfile: &Path) -> Run {
    let sim = tmp.join("sim");
    let out = tmp.join("out");
    common::simulate(&sim, seed, samples, 40000, &[]);
    common::run_pipeline(pfile, &sim, None, &out, &[], &[]);
    Run {
        truth: serde_json::from_slice(&std::fs::read(sim.join("truth.json")).unwrap()).unwrap(),
        pops: common::csv_rows(&out.join("populations.csv")),
        results: common::csv_rows(&out.join("results.csv")),
        sim,
        out,
    }
}

/// The gates of `xml` applied to `file` of the simulated cohort `sim` as
/// `nkflow gate` applies them, with the marker names the XML uses (CD16,
/// NKG2C, KIR) replaced by this file's channel names (`truth`: its entry in
/// truth.json); and the run's own `out/gates/<file>.xml` applied to it.
fn gate_file(
    xml: &str,
    truth: &serde_json::Value,
    sim: &Path,
    out: &Path,
    file: &str,
) -> (GatingResults, GatingResults) {
    let mut xml = xml.to_string();
    for m in ["CD16", "NKG2C", "KIR"] {
        let ch = truth["markers"][m].as_str().unwrap();
        xml = xml.replace(
            &format!("data-type:name=\"{m}\""),
            &format!("data-type:name=\"{ch}\""),
        );
    }
    let sample = || nkflow::fcs::read(&sim.join(file)).unwrap();
    let alone = nkflow::gatingml::read_str(&xml)
        .unwrap()
        .gate_sample(&sample())
        .unwrap();
    let applied = nkflow::gatingml::read_path(&out.join("gates").join(format!("{file}.xml")))
        .unwrap()
        .gate_sample(&sample())
        .unwrap();
    (alone, applied)
}

/// The populations.csv row of `pop` in `file`.
fn pop_row<'a>(
    pops: &'a [BTreeMap<String, String>],
    file: &str,
    pop: &str,
) -> &'a BTreeMap<String, String> {
    pops.iter()
        .find(|p| p["file"] == file && p["population"] == pop)
        .unwrap_or_else(|| panic!("{file}: no population {pop}"))
}

/// The populations.csv count of `pop` in `file`.
fn pop_count(pops: &[BTreeMap<String, String>], file: &str, pop: &str) -> usize {
    pop_row(pops, file, pop)["count"].parse().unwrap()
}

#[test]
fn gatingml_gates_in_a_pipeline_match_nkflow_gate() {
    let tmp = tempfile::tempdir().unwrap();
    // The pipeline in its own folder; gates.xml beside it (relative path).
    let pdir = tmp.path().join("pipe");
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(pdir.join("gates.xml"), GATES_XML).unwrap();
    let pfile = pdir.join("p.json");
    std::fs::write(&pfile, pipeline_json(&[])).unwrap();
    let Run {
        sim,
        out,
        truth,
        pops,
        results,
    } = simulate_and_run(tmp.path(), 51, 3, &pfile);

    assert_eq!(results.len(), 3);
    let count = |file: &str, pop: &str| pop_count(&pops, file, pop);
    let mut styles = Vec::new();
    for r in &results {
        let file = r["file"].as_str();
        assert_eq!(r["error"], "", "{file}");
        let t = &truth["files"][file];
        styles.push(t["panel_style"].as_str().unwrap().to_string());
        // `applied` has the parents as the run resolved them.
        let (alone, applied) = gate_file(GATES_XML, t, &sim, &out, file);
        for (id, parent, xml_id) in IMPORTS {
            let a = alone.membership(xml_id).unwrap();
            let p = applied.membership(parent).unwrap();
            let want = (0..alone.n_events())
                .filter(|&i| a.get(i) && p.get(i))
                .count();
            let got = count(file, id);
            eprintln!(
                "{file} ({}): {id} {got} of {} (nkflow gate: {want})",
                styles.last().unwrap(),
                count(file, parent)
            );
            assert_eq!(got, want, "{file} {id}");
            assert_eq!(applied.count(id), Some(got), "{file} {id}: gates xml");
        }
        assert_eq!(
            count(file, "nk_cd16neg_xml") + count(file, "nk_cd16pos_xml"),
            count(file, "nk")
        );
        // Every population of gates/<file>.xml (with the imported
        // transforms) re-applies to populations.csv.
        for p in pops
            .iter()
            .filter(|p| p["file"] == file && p["population"] != "root")
        {
            assert_eq!(
                applied.count(&p["population"]).map(|c| c.to_string()),
                Some(p["count"].clone()),
                "{file} {}",
                p["population"]
            );
        }
    }
    // The imports are not trivially empty or everything.
    let total_pos: usize = results
        .iter()
        .map(|r| count(&r["file"], "nk_cd16pos_xml"))
        .sum();
    let total_nk: usize = results.iter().map(|r| count(&r["file"], "nk")).sum();
    assert!(
        total_pos > total_nk / 10 && total_pos < total_nk,
        "{total_pos} of {total_nk}"
    );
    styles.sort();
    styles.dedup();
    assert_eq!(styles.len(), 3, "every lab style: {styles:?}");
}

#[test]
fn gatingml_errors_name_the_field_file_and_gate() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gates.xml"), GATES_XML).unwrap();
    let load = |extra: serde_json::Value| {
        let path = tmp.path().join("p.json");
        std::fs::write(&path, pipeline_json(&[extra])).unwrap();
        nkflow::pipeline::definition::Pipeline::from_file(&path)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = load(serde_json::json!({"id": "x", "parent": "nk",
        "gate": {"type": "gatingml", "file": "gates.xml", "id": "Nope"}}));
    assert!(
        e.contains("(x).gate")
            && e.contains("gates.xml")
            && e.contains("\"Nope\"")
            && e.contains("CD16pos"),
        "{e}"
    );
    let e = load(serde_json::json!({"id": "x", "parent": "nk",
        "gate": {"type": "gatingml", "file": "gates.xml", "id": "Both"}}));
    assert!(e.contains("(x).gate") && e.contains("Boolean"), "{e}");
    let e = load(serde_json::json!({"id": "x", "parent": "nk",
        "gate": {"type": "gatingml", "file": "gates.xml", "id": "Quad"}}));
    assert!(e.contains("quadrant") && e.contains("CposKpos"), "{e}");
    let e = load(serde_json::json!({"id": "x", "parent": "nk",
        "gate": {"type": "gatingml", "file": "missing.xml", "id": "CD16pos"}}));
    assert!(e.contains("(x).gate") && e.contains("missing.xml"), "{e}");
}

/// `"subtree": true`: the gate and its descendants in the XML, named by
/// their XML ids (a results column names one), counts equal to `nkflow
/// gate` on the same XML within the pipeline's parent.
#[test]
fn gatingml_subtree_import() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gates.xml"), GATES_XML).unwrap();
    let pfile = tmp.path().join("p.json");
    std::fs::write(
        &pfile,
        pipeline_json_with(
            &[serde_json::json!({"id": "xml_cd16", "parent": "nk",
                "gate": {"type": "gatingml", "file": "gates.xml", "id": "CD16pos", "subtree": true}})],
            &[serde_json::json!({"name": "pct_cd16_kir_c_xml", "percent_of": ["CD16pos_KIRpos_C", "nk"]})],
        ),
    )
    .unwrap();
    let Run {
        sim,
        out,
        truth,
        pops,
        results,
    } = simulate_and_run(tmp.path(), 52, 2, &pfile);
    for r in &results {
        let file = r["file"].as_str();
        let t = &truth["files"][file];
        let (alone, applied) = gate_file(GATES_XML, t, &sim, &out, file);
        let nk = applied.membership("nk").unwrap();
        let count = |pop: &str| pop_count(&pops, file, pop);
        for (pipeline_id, xml_id, parent) in [
            ("xml_cd16", "CD16pos", "nk"),
            ("CD16pos_KIRpos", "CD16pos_KIRpos", "xml_cd16"),
            ("CD16pos_KIRpos_C", "CD16pos_KIRpos_C", "CD16pos_KIRpos"),
        ] {
            let a = alone.membership(xml_id).unwrap();
            let want = (0..alone.n_events())
                .filter(|&i| a.get(i) && nk.get(i))
                .count();
            assert_eq!(count(pipeline_id), want, "{file} {pipeline_id}");
            let row = pops
                .iter()
                .find(|p| p["file"] == file && p["population"] == pipeline_id)
                .unwrap();
            assert_eq!(row["parent"], parent);
            eprintln!("{file}: {pipeline_id} {want} (nkflow gate ∧ nk)");
        }
        let pct: f64 = r["pct_cd16_kir_c_xml"].parse().unwrap();
        let want = 100.0 * count("CD16pos_KIRpos_C") as f64 / count("nk") as f64;
        assert!((pct - want).abs() < 1e-9, "{pct} vs {want}");
    }

    // A Boolean gate inside the subtree with an operand outside it is
    // refused, naming it and that operand.
    let bad_xml = GATES_XML.replace(
        r#"<gating:BooleanGate gating:id="Both">"#,
        r#"<gating:BooleanGate gating:id="Both" gating:parent_id="CD16pos">"#,
    );
    std::fs::write(tmp.path().join("gates.xml"), bad_xml).unwrap();
    let e = nkflow::pipeline::definition::Pipeline::from_file(&pfile)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("(xml_cd16).gate")
            && e.contains("\"Both\"")
            && e.contains("Boolean")
            && e.contains("\"ScatterEll\""),
        "{e}"
    );
}

/// A subtree with Boolean gates of every kind: `and`, `or`, `not`,
/// operands with `use-as-complement`, an operand that is the top, operands
/// whose parents differ from the Boolean gate's, a quadrant operand, a
/// Boolean of Booleans, a gate below a Boolean, and Booleans whose operands
/// come later in depth-first order (B_AndLate is listed before its operand;
/// B_And and B_Or reference quadrants of a later sibling). The top (`B_Scat`) has no parent, so imported at the
/// pipeline's root every population must equal `nkflow gate`'s.
const BOOL_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gating:Gating-ML
    xmlns:gating="http://www.isac-net.org/std/Gating-ML/v2.0/gating"
    xmlns:transforms="http://www.isac-net.org/std/Gating-ML/v2.0/transformations"
    xmlns:data-type="http://www.isac-net.org/std/Gating-ML/v2.0/datatypes">
  <transforms:transformation transforms:id="Logicle1">
    <transforms:logicle transforms:T="262144" transforms:W="0.5" transforms:M="4.5" transforms:A="0"/>
  </transforms:transformation>
  <transforms:transformation transforms:id="Asinh1">
    <transforms:fasinh transforms:T="262144" transforms:M="4.5" transforms:A="0"/>
  </transforms:transformation>
  <gating:RectangleGate gating:id="B_Scat">
    <gating:dimension gating:compensation-ref="uncompensated" gating:min="1">
      <data-type:fcs-dimension data-type:name="FSC-A"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="B_C16" gating:parent_id="B_Scat">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Logicle1" gating:min="0.55">
      <data-type:fcs-dimension data-type:name="CD16"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:RectangleGate gating:id="B_KIR" gating:parent_id="B_Scat">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Asinh1" gating:min="0.6">
      <data-type:fcs-dimension data-type:name="KIR"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:BooleanGate gating:id="B_AndLate" gating:parent_id="B_Scat">
    <gating:and>
      <gating:gateReference gating:ref="B_C16_G2C"/>
      <gating:gateReference gating:ref="B_KIR" gating:use-as-complement="true"/>
    </gating:and>
  </gating:BooleanGate>
  <gating:RectangleGate gating:id="B_C16_G2C" gating:parent_id="B_C16">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Asinh1" gating:min="0.6">
      <data-type:fcs-dimension data-type:name="NKG2C"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:QuadrantGate gating:id="B_Quad" gating:parent_id="B_Scat">
    <gating:divider gating:id="DivC" gating:compensation-ref="FCS" gating:transformation-ref="Asinh1">
      <data-type:fcs-dimension data-type:name="NKG2C"/>
      <gating:value>0.6</gating:value>
    </gating:divider>
    <gating:divider gating:id="DivK" gating:compensation-ref="FCS" gating:transformation-ref="Asinh1">
      <data-type:fcs-dimension data-type:name="KIR"/>
      <gating:value>0.6</gating:value>
    </gating:divider>
    <gating:Quadrant gating:id="B_CposKpos">
      <gating:position gating:divider_ref="DivC" gating:location="0.9"/>
      <gating:position gating:divider_ref="DivK" gating:location="0.9"/>
    </gating:Quadrant>
    <gating:Quadrant gating:id="B_CnegKpos">
      <gating:position gating:divider_ref="DivC" gating:location="0.1"/>
      <gating:position gating:divider_ref="DivK" gating:location="0.9"/>
    </gating:Quadrant>
  </gating:QuadrantGate>
  <gating:BooleanGate gating:id="B_And" gating:parent_id="B_C16">
    <gating:and>
      <gating:gateReference gating:ref="B_KIR"/>
      <gating:gateReference gating:ref="B_CposKpos"/>
    </gating:and>
  </gating:BooleanGate>
  <gating:BooleanGate gating:id="B_Or" gating:parent_id="B_C16">
    <gating:or>
      <gating:gateReference gating:ref="B_CnegKpos"/>
      <gating:gateReference gating:ref="B_C16_G2C"/>
    </gating:or>
  </gating:BooleanGate>
  <gating:BooleanGate gating:id="B_OrCompl" gating:parent_id="B_KIR">
    <gating:or>
      <gating:gateReference gating:ref="B_C16" gating:use-as-complement="true"/>
      <gating:gateReference gating:ref="B_C16_G2C"/>
    </gating:or>
  </gating:BooleanGate>
  <gating:BooleanGate gating:id="B_Not" gating:parent_id="B_KIR">
    <gating:not>
      <gating:gateReference gating:ref="B_C16"/>
    </gating:not>
  </gating:BooleanGate>
  <gating:RectangleGate gating:id="B_Not_G2C" gating:parent_id="B_Not">
    <gating:dimension gating:compensation-ref="FCS" gating:transformation-ref="Asinh1" gating:min="0.6">
      <data-type:fcs-dimension data-type:name="NKG2C"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:BooleanGate gating:id="B_AndTop" gating:parent_id="B_KIR">
    <gating:and>
      <gating:gateReference gating:ref="B_Scat"/>
      <gating:gateReference gating:ref="B_C16"/>
    </gating:and>
  </gating:BooleanGate>
  <gating:BooleanGate gating:id="B_AndOfBools" gating:parent_id="B_Scat">
    <gating:and>
      <gating:gateReference gating:ref="B_Or"/>
      <gating:gateReference gating:ref="B_OrCompl" gating:use-as-complement="true"/>
    </gating:and>
  </gating:BooleanGate>
</gating:Gating-ML>
"#;

/// The Boolean gates of [`BOOL_XML`] with their XML parents.
const BOOLEANS: [(&str, &str); 7] = [
    ("B_AndLate", "B_Scat"),
    ("B_And", "B_C16"),
    ("B_Or", "B_C16"),
    ("B_OrCompl", "B_KIR"),
    ("B_Not", "B_KIR"),
    ("B_AndTop", "B_KIR"),
    ("B_AndOfBools", "B_Scat"),
];

/// Writes the preset with [`BOOL_XML`] imported at the root as a subtree
/// (top `scat_xml`) into `dir`; returns the pipeline file.
fn boolean_pipeline(dir: &Path) -> PathBuf {
    boolean_pipeline_under(dir, "root")
}

/// [`boolean_pipeline`] with the top under pipeline population `parent`.
fn boolean_pipeline_under(dir: &Path, parent: &str) -> PathBuf {
    std::fs::write(dir.join("gates.xml"), GATES_XML).unwrap();
    std::fs::write(dir.join("bool.xml"), BOOL_XML).unwrap();
    let pfile = dir.join("p.json");
    std::fs::write(
        &pfile,
        pipeline_json_with(
            &[serde_json::json!({"id": "scat_xml", "parent": parent,
                "gate": {"type": "gatingml", "file": "bool.xml", "id": "B_Scat", "subtree": true}})],
            &[serde_json::json!({"name": "pct_bool_and_xml", "percent_of": ["B_And", "B_C16"]})],
        ),
    )
    .unwrap();
    pfile
}

/// FlowKit (an independent Gating-ML implementation, whose Boolean gates
/// also combine the operands' full populations) re-applies the
/// gates/<file>.xml of a run with imported Boolean gates to the counts of
/// populations.csv, the Boolean populations included.
#[test]
fn flowkit_reapplies_imported_boolean_gates() {
    let Some(py) = common::peer_python("flowkit") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pfile = boolean_pipeline(tmp.path());
    let run = simulate_and_run(tmp.path(), 54, 2, &pfile);
    let json = common::run_python(
        &py,
        &common::repo_root().join("benches/pipeline_flowkit.py"),
        &[run.sim.to_str().unwrap(), run.out.to_str().unwrap(), "2"],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mismatches = v["count_mismatches"].as_array().unwrap();
    eprintln!(
        "FlowKit: {} files, {} counts compared, mismatches: {mismatches:?}",
        v["files"], v["populations_compared"]
    );
    assert_eq!(v["files"], 2);
    assert!(
        mismatches.is_empty(),
        "FlowKit counts differ: {mismatches:?}"
    );
    // Every population of the run was compared, Booleans included (FlowKit
    // names a population by its gate id).
    let per_file = run.pops.len() / 2 - 1;
    assert_eq!(
        v["populations_compared"].as_u64().unwrap() as usize,
        2 * per_file
    );
}

/// Boolean gates inside a `"subtree": true` import become populations with
/// Gating-ML's meaning: each equals `nkflow gate`'s population of that gate
/// on the same file with the same XML, event for event (through
/// gates/<file>.xml, whose every population the run's counts match).
#[test]
fn gatingml_subtree_with_boolean_gates_matches_nkflow_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let pfile = boolean_pipeline(tmp.path());
    // A Boolean gate whose operand comes later in depth-first order (a
    // quadrant of a later sibling) is moved after it.
    let p = nkflow::pipeline::definition::Pipeline::from_file(&pfile).unwrap();
    let pos = |id: &str| p.gates.iter().position(|g| g.id == id).unwrap();
    assert!(pos("B_C16_G2C") < pos("B_AndLate"));
    assert!(pos("B_CposKpos") < pos("B_And") && pos("B_C16") < pos("B_And"));
    assert!(pos("B_CnegKpos") < pos("B_Or") && pos("B_OrCompl") < pos("B_AndOfBools"));
    let Run {
        sim,
        out,
        truth,
        pops,
        results,
    } = simulate_and_run(tmp.path(), 53, 3, &pfile);
    assert_eq!(results.len(), 3);
    let mut totals: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for r in &results {
        let file = r["file"].as_str();
        assert_eq!(r["error"], "", "{file}");
        let t = &truth["files"][file];
        let (alone, applied) = gate_file(BOOL_XML, t, &sim, &out, file);
        let row = |pop: &str| pop_row(&pops, file, pop);
        let count = |pop: &str| pop_count(&pops, file, pop);
        for (id, xml_parent) in BOOLEANS {
            // The top keeps its pipeline id.
            let parent = if xml_parent == "B_Scat" {
                "scat_xml"
            } else {
                xml_parent
            };
            let want = alone.count(id).unwrap();
            eprintln!("{file}: {id} {} (nkflow gate: {want})", count(id));
            assert_eq!(count(id), want, "{file} {id}");
            assert_eq!(row(id)["parent"], parent, "{file} {id}");
            assert_eq!(
                applied.membership(id).unwrap().words(),
                alone.membership(id).unwrap().words(),
                "{file} {id}: events"
            );
            let tot = totals.entry(id).or_default();
            tot.0 += want;
            tot.1 += count(parent);
        }
        // The rest of the subtree too (the top is renamed).
        assert_eq!(count("scat_xml"), alone.count("B_Scat").unwrap());
        for id in ["B_C16", "B_KIR", "B_C16_G2C", "B_CposKpos", "B_Not_G2C"] {
            assert_eq!(count(id), alone.count(id).unwrap(), "{file} {id}");
        }
        // gates/<file>.xml re-applies to every count of the run.
        for p in pops
            .iter()
            .filter(|p| p["file"] == file && p["population"] != "root")
        {
            assert_eq!(
                applied.count(&p["population"]).map(|c| c.to_string()),
                Some(p["count"].clone()),
                "{file} {}",
                p["population"]
            );
        }
        let pct: f64 = r["pct_bool_and_xml"].parse().unwrap();
        let want = 100.0 * count("B_And") as f64 / count("B_C16") as f64;
        assert!((pct - want).abs() < 1e-9, "{pct} vs {want}");
    }
    // No Boolean population is trivially empty or all of its parent.
    for (id, (n, parent)) in totals {
        assert!(n > 0 && n < parent, "{id}: {n} of {parent}");
    }
}

/// Under a pipeline parent (`nk`), every imported population — Boolean
/// ones included — is `nkflow gate`'s population of the same XML ANDed with
/// that parent (a `not` included: its parent is ANDed after the negation).
#[test]
fn gatingml_boolean_subtree_under_a_pipeline_parent() {
    let tmp = tempfile::tempdir().unwrap();
    let pfile = boolean_pipeline_under(tmp.path(), "nk");
    let Run {
        sim,
        out,
        truth,
        pops,
        results,
    } = simulate_and_run(tmp.path(), 55, 2, &pfile);
    for r in &results {
        let file = r["file"].as_str();
        assert_eq!(r["error"], "", "{file}");
        let t = &truth["files"][file];
        let (alone, applied) = gate_file(BOOL_XML, t, &sim, &out, file);
        let nk = applied.membership("nk").unwrap();
        let count = |pop: &str| pop_count(&pops, file, pop);
        for (id, _) in BOOLEANS {
            let a = alone.membership(id).unwrap();
            let want = (0..alone.n_events())
                .filter(|&i| a.get(i) && nk.get(i))
                .count();
            eprintln!("{file}: {id} {} (nkflow gate ∧ nk: {want})", count(id));
            assert_eq!(count(id), want, "{file} {id}");
        }
    }
}

/// A Boolean gate whose operand is outside the imported subtree, named
/// alone as `id`, or the top of a subtree, is refused, naming the file, the
/// gate and the operand.
#[test]
fn gatingml_boolean_gate_refusals_name_the_operand() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gates.xml"), GATES_XML).unwrap();
    let outside = BOOL_XML.replace(
        "</gating:Gating-ML>",
        r#"  <gating:RectangleGate gating:id="B_Outside">
    <gating:dimension gating:compensation-ref="FCS" gating:min="100">
      <data-type:fcs-dimension data-type:name="CD16"/>
    </gating:dimension>
  </gating:RectangleGate>
  <gating:BooleanGate gating:id="B_Bad" gating:parent_id="B_C16">
    <gating:or>
      <gating:gateReference gating:ref="B_KIR"/>
      <gating:gateReference gating:ref="B_Outside"/>
    </gating:or>
  </gating:BooleanGate>
</gating:Gating-ML>"#,
    );
    std::fs::write(tmp.path().join("bool.xml"), outside).unwrap();
    let load = |gate: serde_json::Value| {
        let path = tmp.path().join("p.json");
        let extra = serde_json::json!({"id": "x", "gate": gate});
        std::fs::write(&path, pipeline_json(&[extra])).unwrap();
        nkflow::pipeline::definition::Pipeline::from_file(&path)
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let e = load(
        serde_json::json!({"type": "gatingml", "file": "bool.xml", "id": "B_Scat", "subtree": true}),
    );
    assert!(
        e.contains("(x).gate")
            && e.contains("bool.xml")
            && e.contains("\"B_Bad\"")
            && e.contains("\"B_Outside\"")
            && e.contains("outside the subtree"),
        "{e}"
    );
    // A subtree below B_C16 holds B_And but not its operand B_KIR.
    let e = load(
        serde_json::json!({"type": "gatingml", "file": "bool.xml", "id": "B_C16", "subtree": true}),
    );
    assert!(
        e.contains("bool.xml") && e.contains("\"B_And\"") && e.contains("\"B_KIR\""),
        "{e}"
    );
    // Named alone: its operands would not be imported.
    let e = load(serde_json::json!({"type": "gatingml", "file": "bool.xml", "id": "B_Not"}));
    assert!(
        e.contains("(x).gate")
            && e.contains("bool.xml")
            && e.contains("\"B_Not\"")
            && e.contains("\"B_C16\"")
            && e.contains("Boolean"),
        "{e}"
    );
    // A Boolean gate whose operand lies below it: a cycle, not an order
    // (the Gating-ML reader names it).
    let cyclic = BOOL_XML.replace(
        "</gating:Gating-ML>",
        r#"  <gating:BooleanGate gating:id="B_Cyc" gating:parent_id="B_Scat">
    <gating:not>
      <gating:gateReference gating:ref="B_CycChild"/>
    </gating:not>
  </gating:BooleanGate>
  <gating:RectangleGate gating:id="B_CycChild" gating:parent_id="B_Cyc">
    <gating:dimension gating:compensation-ref="FCS" gating:min="100">
      <data-type:fcs-dimension data-type:name="CD16"/>
    </gating:dimension>
  </gating:RectangleGate>
</gating:Gating-ML>"#,
    );
    std::fs::write(tmp.path().join("cyc.xml"), cyclic).unwrap();
    let e = load(
        serde_json::json!({"type": "gatingml", "file": "cyc.xml", "id": "B_Scat", "subtree": true}),
    );
    assert!(
        e.contains("cyc.xml") && e.contains("B_Cyc → B_CycChild") && e.contains("cycle"),
        "{e}"
    );
    // A Boolean top: its operands cannot lie below it.
    let e = load(
        serde_json::json!({"type": "gatingml", "file": "bool.xml", "id": "B_Or", "subtree": true}),
    );
    assert!(
        e.contains("bool.xml") && e.contains("\"B_Or\"") && e.contains("\"B_CnegKpos\""),
        "{e}"
    );
}
