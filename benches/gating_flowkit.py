"""FlowKit side of benches/gating.rs: times GatingStrategy.gate_sample on the
same data nkflow gates (an FCS file's scaled events tiled to N events, with
the file's spillover as the 'FCS' compensation), and prints JSON
{name: {"ms": [..per run..], "count": {population: n}}}.

Usage: gating_flowkit.py FILE.fcs N_EVENTS REPEATS NAME=GATES.xml...
"""
import json
import sys
import time

import flowkit as fk
import numpy as np


def main():
    fcs, n, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    src = fk.Sample(fcs, ignore_offset_error=True)
    events = src.get_events(source="raw")  # FCS scale (gain, log, time step)
    reps = -(-n // events.shape[0])
    tiled = np.tile(events, (reps, 1))[:n]
    sample = fk.Sample(tiled, sample_id="tiled", channel_labels=src.pnn_labels)
    # The 'FCS' compensation reference reads the spillover from metadata.
    sample.metadata["spill"] = src.metadata["spill"]
    out = {}
    for arg in sys.argv[4:]:
        name, xml = arg.split("=", 1)
        gs = fk.parse_gating_xml(xml)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            res = gs.gate_sample(sample)
            times.append((time.perf_counter() - t0) * 1e3)
        counts = {
            row["gate_name"]: int(row["count"]) for _, row in res.report.iterrows()
        }
        out[name] = {"ms": times, "count": counts}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
