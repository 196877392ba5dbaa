"""Gates an FCS file with a Gating-ML file in FlowKit twice and prints every
population's membership as JSON:
{"events": n, "direct": {id: "0101…"}, "precompensated": {id: "0101…"}}.

- direct: FlowKit's own gate_sample on the file. FlowKit's RatioTransform
  reads raw (uncompensated) values whatever the dimension's compensation-ref.
- precompensated: the file's events compensated by FlowKit with the file's
  own spillover, put in a new Sample that has no spillover, then gated: every
  `FCS` dimension, ratio inputs included, reads compensated values — Gating-ML
  2.0's rule as its reference implementation flowUtils applies it.

Used by tests/gating_flowkit_ratio.rs. Usage: gating_flowkit_ratio.py GATES.xml FILE.fcs
"""
import json
import sys

import flowkit as fk


def memberships(gs, sample):
    res = gs.gate_sample(sample)
    out = {}
    for _, row in res.report.iterrows():
        name, path = row["gate_name"], tuple(row["gate_path"])
        m = res.get_gate_membership(name, gate_path=path)
        out[name] = "".join("1" if b else "0" for b in m)
    return out


def main():
    xml, fcs = sys.argv[1], sys.argv[2]
    gs = fk.parse_gating_xml(xml)
    sample = fk.Sample(fcs, ignore_offset_error=True)
    direct = memberships(gs, sample)
    sample.apply_compensation(sample.metadata["spill"])
    comp = sample.get_events(source="comp")
    pre = fk.Sample(comp, sample_id="precompensated", channel_labels=sample.pnn_labels)
    json.dump(
        {
            "events": sample.event_count,
            "direct": direct,
            "precompensated": memberships(gs, pre),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
