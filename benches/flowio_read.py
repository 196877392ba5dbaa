"""FlowIO's in-process parse of an FCS file, for comparison with nkflow's
benches/fcs_read.rs: FlowData(path) plus as_array(preprocess=False), i.e.
the raw event matrix as float64, like nkflow's Reader. Prints one JSON line
{"reader": "flowio", "runs": N, "min_ms": ..., "median_ms": ...}.
Usage: flowio_read.py FILE [RUNS]"""
import json
import statistics
import sys
import time

import flowio

path = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
times = []
for _ in range(runs):
    t = time.perf_counter()
    fd = flowio.FlowData(path)
    events = fd.as_array(preprocess=False)
    times.append((time.perf_counter() - t) * 1000.0)
    assert events.shape[0] == fd.event_count
print(json.dumps({
    "reader": "flowio " + flowio.__version__,
    "runs": runs,
    "min_ms": min(times),
    "median_ms": statistics.median(times),
    "shape": list(events.shape),
}))
