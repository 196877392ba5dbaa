"""Gates an FCS file with a Gating-ML file in FlowKit and prints every
population's membership as JSON: {"events": n, "populations": {id: "0101…"}}.

Used by tests/gating_flowkit_trees.rs to check nkflow event by event.
Usage: gating_flowkit_tree.py GATES.xml FILE.fcs
"""
import json
import sys

import flowkit as fk


def main():
    xml, fcs = sys.argv[1], sys.argv[2]
    gs = fk.parse_gating_xml(xml)
    sample = fk.Sample(fcs, ignore_offset_error=True)
    res = gs.gate_sample(sample)
    out = {}
    # The report lists populations (quadrants by their own ids, not the
    # QuadrantGate's id).
    for _, row in res.report.iterrows():
        name, path = row["gate_name"], tuple(row["gate_path"])
        m = res.get_gate_membership(name, gate_path=path)
        out[name] = "".join("1" if b else "0" for b in m)
    json.dump({"events": sample.event_count, "populations": out}, sys.stdout)


if __name__ == "__main__":
    main()
