"""Rewrites a simulated cohort with FlowIO's create_fcs, as another lab's
software would have exported it, so the nk-day30 preset is tested on files
that nkflow's own writer never touched.

    pipeline_flowio_cohort.py SIM_DIR OUT_DIR

SIM_DIR is an `nkflow simulate` cohort (FCS files, samplesheet.csv,
truth.json). Every FCS file is read with FlowIO (raw stored values) and
written again to OUT_DIR under the same name, with per file:

- another channel order (a seeded permutation of all parameters);
- other $PnN names (Attune-style detector names, other scatter and time
  names) and other $PnS spellings of every marker, none of which the
  simulator uses;
- another instrument range: stored values and $PnR scaled by the same
  factor (a saturated value stays on the new top margin), $PnG kept;
- float32 little-endian DATA (the only thing create_fcs writes);
- the spillover matrix renamed, reordered and stored as $SPILLOVER or as
  the non-standard SPILL keyword;
- on every other file, a height (-H) sibling of the CD56 channel with the
  same label (the area parameter must win).

The samplesheet is copied unchanged (same file names; truth.json of SIM_DIR
holds for OUT_DIR). Prints a JSON summary of what each file became.
"""
import json
import pathlib
import random
import shutil
import sys
from array import array

import flowio
import numpy as np

# Spellings per marker, none used by `nkflow simulate`; all match the preset's
# aliases under its whole-token rule.
SPELLINGS = {
    "CD45": ["CD45 V500", "PTPRC", "CD45-KrO"],
    "CD3": ["CD3E", "CD3 (UCHT1)", "CD3-BUV395"],
    "viability": ["7-AAD", "Live-Dead NIR", "Fixable Viability Dye 506"],
    "CD56": ["NCAM", "CD56-BV650", "NCAM1 (CD56)"],
    "CD16": ["FCGR3A", "CD16 BUV737", "FcgRIII"],
    "NKG2C": ["KLRC2", "NKG2C (CD159c)", "CD159c-PE"],
    "KIR": ["KIR3DL1", "CD158b", "KIR2DL2/L3 KIR2DS2"],
    "NKG2A": ["KLRC1", "NKG2A-BV711", "CD159a"],
    "CD57": ["HNK-1", "B3GAT1", "Leu-7 FITC"],
    "Ki-67": ["MKI67", "Ki 67", "Ki-67 AF700"],
}
SCATTER = [
    {"FSC-A": "FSC-A", "FSC-H": "FSC-H", "SSC-A": "SSC-A"},
    {"FSC-A": "FS-A", "FSC-H": "FS-H", "SSC-A": "SS-A"},
    {"FSC-A": "FS INT", "FSC-H": "FS PEAK", "SSC-A": "SS INT"},
]
TIME = ["Time", "HDR-T", "TIME"]
DETECTORS = ["BL1", "BL2", "BL3", "BL4", "RL1", "RL2", "RL3", "VL1", "VL2", "VL3", "VL4", "YL1"]
RANGES = [262144.0, 1000000.0, 4194304.0, 100000.0]


def rewrite(path, truth, i, out_dir):
    rng = random.Random(1000 + i)
    d = flowio.FlowData(str(path))
    raw = d.as_array(preprocess=False).astype(np.float64)
    n_ch = d.channel_count
    pnn = [d.channels[k + 1]["pnn"] for k in range(n_ch)]
    gains = [d.channels[k + 1]["png"] for k in range(n_ch)]
    ranges = [d.channels[k + 1]["pnr"] for k in range(n_ch)]
    marker_of = {ch: m for m, ch in truth["markers"].items()}
    style = i % 3
    new_range = RANGES[i % len(RANGES)]

    names, labels, cols, col_gain, col_range = [], [], [], [], []
    rename = {}
    det = iter(DETECTORS)
    for k, name in enumerate(pnn):
        v = raw[:, k]
        if name.lower() == "time":
            names.append(TIME[style])
            labels.append("")
            cols.append(v)
            col_gain.append(gains[k])
            col_range.append(ranges[k])
            continue
        factor = new_range / ranges[k]
        # A value on the old top margin stays on the new one.
        scaled = np.where(v >= ranges[k] - 1, new_range - 1, v * factor)
        if name in SCATTER[0]:
            new = SCATTER[style][name]
            label = ""
        else:
            marker = marker_of[name]
            new = next(det) + "-A"
            label = SPELLINGS[marker][style]
        rename[name] = new
        names.append(new)
        labels.append(label)
        cols.append(scaled)
        col_gain.append(gains[k])
        col_range.append(new_range)
        if name in SCATTER[0] or marker_of.get(name) != "CD56" or i % 2:
            continue
        # A height sibling: same label, dimmer, must lose to the area one.
        names.append(new[:-2] + "-H")
        labels.append(label)
        cols.append(np.minimum(scaled * 0.7, new_range - 1))
        col_gain.append(gains[k])
        col_range.append(new_range)

    order = list(range(len(names)))
    rng.shuffle(order)
    names = [names[j] for j in order]
    labels = [labels[j] for j in order]
    data = np.column_stack([cols[j] for j in order]).astype(np.float32)
    col_gain = [col_gain[j] for j in order]
    col_range = [col_range[j] for j in order]

    spill = d.text.get("spillover") or d.text.get("spill")
    parts = spill.split(",")
    n = int(parts[0])
    s_names = [rename[x] for x in parts[1 : n + 1]]
    m = np.array([float(x) for x in parts[n + 1 :]]).reshape(n, n)
    perm = list(range(n))
    rng.shuffle(perm)
    m = m[np.ix_(perm, perm)]
    s_names = [s_names[j] for j in perm]
    spill_text = ",".join([str(n)] + s_names + ["%.10g" % x for x in m.ravel()])

    meta = {
        "cyt": "Attune NxT (rewritten by FlowIO create_fcs)",
        "timestep": d.text.get("timestep", "1"),
        "date": d.text.get("date", ""),
        "btim": d.text.get("btim", ""),
        "etim": d.text.get("etim", ""),
        "src": d.text.get("src", ""),
        "fil": path.name,
    }
    meta = {k: v for k, v in meta.items() if v}
    meta["spillover" if i % 2 == 0 else "spill"] = spill_text
    for j in range(len(names)):
        meta["p%dg" % (j + 1)] = "%g" % col_gain[j]
        meta["p%dr" % (j + 1)] = "%d" % col_range[j]
    values = array("f")
    values.frombytes(data.tobytes())
    with open(out_dir / path.name, "wb") as fh:
        flowio.create_fcs(fh, values, names, opt_channel_names=labels, metadata_dict=meta)
    return {
        "channels": [f"{a} ({b})" if b else a for a, b in zip(names, labels)],
        "range": new_range,
        "spill_keyword": "$SPILLOVER" if i % 2 == 0 else "SPILL",
    }


def main():
    sim, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    truth = json.loads((sim / "truth.json").read_text())["files"]
    summary = {}
    for i, name in enumerate(sorted(truth)):
        summary[name] = rewrite(sim / name, truth[name], i, out)
    shutil.copy(sim / "samplesheet.csv", out / "samplesheet.csv")
    json.dump(summary, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
