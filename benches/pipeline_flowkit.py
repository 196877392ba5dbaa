"""FlowKit side of benches/pipeline_batch.rs: the like-for-like steps of the
nk-day30 preset on the same FCS files, with the gates nkflow resolved for each
file (OUTDIR/gates/<file>.xml, Gating-ML 2.0) fixed at their coordinates:

    parse        fk.Sample(path)
    comp+logicle Sample.apply_compensation(file spillover) and
                 Sample.apply_transform(LogicleTransform) (T = $PnR, W 0.5,
                 M 4.5, A 0) on the fluorescence channels
    gate         GatingStrategy.gate_sample (compensates again for the gates'
                 "FCS" compensation reference, then evaluates every gate)

Times are process CPU (time.process_time: all threads, so numpy's too; on a
shared machine wall time mostly measures the other processes). Parsing the
Gating-ML file itself is timed apart ("xml") and left out of the
total: nkflow resolves those gates, it does not read them.

Usage: pipeline_flowkit.py DATA_DIR OUTDIR N_FILES
Prints JSON: {"files": n, "events": total, "ms": {step: [per file]},
"cpu_ms_per_file": process CPU of the timed steps,
"count_mismatches": [...], "populations_compared": n} where counts are
compared with OUTDIR/populations.csv (the same gates must give the same
counts, or the comparison is void).
"""
import csv
import json
import pathlib
import sys
import time

import flowkit as fk


def main():
    data, out, n = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
    counts = {}
    with open(out / "populations.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            counts.setdefault(row["file"], {})[row["population"]] = int(row["count"])
    files = sorted(p for p in data.glob("*.fcs"))[:n]
    ms = {"parse": [], "comp_logicle": [], "gate": [], "xml": []}
    mismatches, compared, events = [], 0, 0
    cpu = 0.0
    for path in files:
        c0 = time.process_time()
        t0 = time.process_time()
        sample = fk.Sample(str(path))
        t1 = time.process_time()
        spill = sample.metadata.get("spillover") or sample.metadata.get("spill")
        sample.apply_compensation(spill)
        t_range = float(sample.channels["pnr"].iloc[sample.fluoro_indices[0]])
        sample.apply_transform(
            fk.transforms.LogicleTransform(param_t=t_range, param_w=0.5, param_m=4.5, param_a=0)
        )
        t2 = time.process_time()
        c_xml_start = time.process_time()
        gs = fk.parse_gating_xml(str(out / "gates" / (path.name + ".xml")))
        t3 = time.process_time()
        c_xml = time.process_time()
        res = gs.gate_sample(sample)
        t4 = time.process_time()
        # Process CPU of the timed steps (all threads; the XML parse left out).
        cpu += time.process_time() - c0 - (c_xml - c_xml_start)
        ms["parse"].append((t1 - t0) * 1e3)
        ms["comp_logicle"].append((t2 - t1) * 1e3)
        ms["xml"].append((t3 - t2) * 1e3)
        ms["gate"].append((t4 - t3) * 1e3)
        events += sample.event_count
        ours = counts.get(path.name, {})
        for _, row in res.report.iterrows():
            # Helper gates of the Gating-ML export (e.g. the parts of an OR)
            # are not populations of nkflow's.
            want = ours.get(row["gate_name"])
            if want is None:
                continue
            compared += 1
            if want != int(row["count"]):
                mismatches.append([path.name, row["gate_name"], int(row["count"]), want])
    json.dump(
        {
            "files": len(files),
            "events": events,
            "cpu_ms_per_file": cpu * 1e3 / max(len(files), 1),
            "ms": ms,
            "populations_compared": compared,
            "count_mismatches": mismatches,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
