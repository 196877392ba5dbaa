"""Writes FlowJo workspaces with FlowKit and prints FlowKit's own counts.

Usage: python flowjo_flowkit_export.py OUT_DIR FCS [FCS ...]

For the FCS files given (all must share the channels used below, as the
corpus file bd_diva6__facs_diva_test.fcs does), builds two FlowKit gating
strategies, exports each as a FlowJo 10 workspace with
`Session.export_wsp`, reads every workspace back with `flowkit.Workspace`
and analyses the samples. Prints one JSON object:

    {"workspaces": [{"wsp": path, "group": name,
                     "counts": {sample_id: {"A/B": count, ...}},
                     "session_counts": {sample_id: {"A/B": count, ...}}}]}

`counts` are FlowKit's counts for the exported workspace (the reference for
nkflow); `session_counts` are the counts of the strategy FlowKit exported,
evaluated directly, which must agree with them (a check on the round trip
through FlowJo's data-unit coordinates).

Gate types: polygon (scatter, linear axes), rectangle with both limits,
one-sided range, two-dimensional one-sided rectangle (a FlowJo quadrant),
polygon on compensated logicle axes, rectangle on a compensated FlowJo biex
axis. The spillover matrix is the file's own $SPILL, exported as a FlowJo
spilloverMatrix (channels renamed "Comp-…").
"""
import copy
import json
import os
import sys

import flowkit as fk

FL = ["FITC-A", "PE-A", "PerCP-A", "PE-Cy7-A", "PacificBlue-A", "APC-A", "Alexa700-A", "APC-Cy7-A"]


def dim(ch, xform, lo=None, hi=None, comp="spill"):
    scatter = ch.startswith(("FSC", "SSC")) or ch == "Time"
    return fk.Dimension(
        ch,
        compensation_ref="uncompensated" if scatter else comp,
        transformation_ref=xform,
        range_min=lo,
        range_max=hi,
    )


def strategy_logicle(session):
    """Scatter polygon → singlets rectangle → CD45 range → CD19/CD20 polygon
    and a CD34/CD38 quadrant."""
    session.add_transform("lin", fk.transforms.LinearTransform(param_t=262144, param_a=0))
    session.add_transform("logicle", fk.transforms.LogicleTransform(param_t=262144, param_w=0.5, param_m=4.5, param_a=0))
    cells = fk.gates.PolygonGate(
        "Cells",
        [dim("FSC-A", "lin"), dim("SSC-A", "lin")],
        [(0.12, 0.08), (0.55, 0.06), (0.98, 0.40), (0.90, 0.95), (0.30, 0.60), (0.10, 0.25)],
    )
    session.add_gate(cells, ("root",))
    singlets = fk.gates.RectangleGate(
        "Singlets", [dim("FSC-A", "lin", 0.10, 0.97), dim("FSC-W", "lin", 0.17, 0.33)]
    )
    session.add_gate(singlets, ("root", "Cells"))
    cd45 = fk.gates.RectangleGate("CD45+", [dim("PerCP-A", "logicle", 0.6013)])
    session.add_gate(cd45, ("root", "Cells", "Singlets"))
    b = fk.gates.PolygonGate(
        "CD19+ B",
        [dim("APC-A", "logicle"), dim("FITC-A", "logicle")],
        [(0.55, 0.20), (0.95, 0.20), (0.95, 0.90), (0.62, 0.85), (0.52, 0.50)],
    )
    session.add_gate(b, ("root", "Cells", "Singlets", "CD45+"))
    q = fk.gates.RectangleGate(
        "CD34+ CD38-", [dim("PE-Cy7-A", "logicle", 0.52), dim("Alexa700-A", "logicle", None, 0.71)]
    )
    session.add_gate(q, ("root", "Cells", "Singlets", "CD45+"))
    q2 = fk.gates.RectangleGate(
        "CD34- CD38-", [dim("PE-Cy7-A", "logicle", None, 0.52), dim("Alexa700-A", "logicle", None, 0.71)]
    )
    session.add_gate(q2, ("root", "Cells", "Singlets", "CD45+"))


def strategy_biex(session):
    """FlowJo biex axes: rectangle and polygon on compensated channels."""
    session.add_transform("lin", fk.transforms.LinearTransform(param_t=262144, param_a=0))
    session.add_transform(
        "biex", fk.transforms.WSPBiexTransform(negative=0, width=-100, positive=4.418540, max_value=262144.000029)
    )
    cells = fk.gates.RectangleGate("Cells", [dim("FSC-A", "lin", 0.15, 0.95), dim("SSC-A", "lin", None, 0.80)])
    session.add_gate(cells, ("root",))
    cd10 = fk.gates.RectangleGate("CD10 mid", [dim("PE-A", "biex", 2100.0, 3300.0)])
    session.add_gate(cd10, ("root", "Cells"))
    poly = fk.gates.PolygonGate(
        "PB+ CD19+",
        [dim("PacificBlue-A", "biex"), dim("APC-A", "biex")],
        [(2500.0, 2200.0), (3600.0, 2300.0), (3700.0, 3500.0), (2600.0, 3400.0)],
    )
    session.add_gate(poly, ("root", "Cells"))


def move_matrix_into_samples(wsp):
    """FlowKit 1.3.2 writes the spilloverMatrix under Workspace/Matrices
    (FlowJo's matrix library) but, like FlowJo 10, reads a sample's matrix
    from the Sample element; without this copy FlowKit cannot read its own
    export. FlowJo itself writes the matrix in each Sample."""
    from lxml import etree

    tree = etree.parse(wsp)
    root = tree.getroot()
    matrices = root.find("Matrices")
    mats = [] if matrices is None else list(matrices)
    for sample in root.iter("Sample"):
        for m in mats:
            sample.insert(1, copy.deepcopy(m))
    tree.write(wsp, encoding="utf-8", xml_declaration=True, pretty_print=True)


def counts_of(report):
    out = {}
    for _, row in report.iterrows():
        path = [p for p in row["gate_path"] if p != "root"] + [row["gate_name"]]
        out.setdefault(row["sample_id"], {})["/".join(path)] = int(row["count"])
    return out


def main():
    out_dir, fcs_paths = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    samples = [fk.Sample(p, sample_id=os.path.basename(p), ignore_offset_error=True) for p in fcs_paths]
    spill = samples[0].metadata["spill"]
    result = []
    for name, build in (("logicle", strategy_logicle), ("biex", strategy_biex)):
        session = fk.Session(fcs_samples=samples)
        session.add_comp_matrix("spill", fk.Matrix(spill, detectors=FL))
        build(session)
        session.analyze_samples(use_mp=False)
        session_counts = counts_of(session.get_analysis_report())
        wsp = os.path.join(out_dir, f"flowkit_{name}.wsp")
        with open(wsp, "wb") as fh:
            session.export_wsp(fh, f"{name} group")
        move_matrix_into_samples(wsp)
        ws = fk.Workspace(wsp, fcs_samples=fcs_paths, filename_as_id=True)
        ws.analyze_samples(use_mp=False)
        result.append(
            {
                "wsp": wsp,
                "group": f"{name} group",
                "counts": counts_of(ws.get_analysis_report()),
                "session_counts": session_counts,
            }
        )
    json.dump({"workspaces": result}, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
