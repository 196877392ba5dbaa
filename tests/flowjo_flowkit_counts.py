"""Reads a FlowJo workspace with FlowKit and prints its counts as JSON.

Usage: python flowjo_flowkit_counts.py WSP FCS [FCS ...]

Prints {sample_id: {"A/B": count, ...}} with sample ids = file names.
"""
import json
import sys
import warnings

import flowkit as fk


def main():
    wsp, fcs = sys.argv[1], sys.argv[2:]
    warnings.simplefilter("ignore")
    ws = fk.Workspace(wsp, fcs_samples=fcs, filename_as_id=True)
    ws.analyze_samples(use_mp=False)
    out = {}
    for _, row in ws.get_analysis_report().iterrows():
        path = [p for p in row["gate_path"] if p != "root"] + [row["gate_name"]]
        out.setdefault(row["sample_id"], {})["/".join(path)] = int(row["count"])
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
