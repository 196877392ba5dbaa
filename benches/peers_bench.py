"""Times flowutils (the C/NumPy code FlowKit calls) on the data a Rust bench
wrote, so both sides are measured on the same events in the same run.

    peers_bench.py DATA.bin N_EVENTS N_CHANNELS FLUO_IDX SPILL_IDX SPILL_TEXT

DATA.bin: float64 little-endian, column-major (channel after channel).
FLUO_IDX / SPILL_IDX: comma-separated 0-based column indices to logicle /
to compensate (SPILL_TEXT is the $SPILLOVER-style matrix for the latter).
Prints one JSON object: best-of-N wall times in seconds, plus checksums of the
results so the bench can assert that both sides computed the same thing.
"""

import json
import sys
import time

import numpy as np
import flowutils


def best_of(n, fn):
    best = float("inf")
    out = None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    path, n_ev, n_ch, fluo, spill_idx, spill_text = sys.argv[1:7]
    n_ev, n_ch = int(n_ev), int(n_ch)
    fluo = [int(i) for i in fluo.split(",")]
    spill_idx = [int(i) for i in spill_idx.split(",")]
    data = np.fromfile(path, dtype="<f8").reshape((n_ch, n_ev)).T  # events x channels, column-major view
    data = np.ascontiguousarray(data)  # FlowKit keeps events row-major (n_events, n_channels)

    t_logicle, out = best_of(3, lambda: flowutils.transforms.logicle(data, fluo, t=262144, m=4.5, w=0.5, a=0))
    logicle_sum = float(np.sum(out[:, fluo]))

    spill, _ = flowutils.compensate.get_spill(spill_text)
    t_comp, comp = best_of(5, lambda: flowutils.compensate.compensate(data, spill, spill_idx))
    comp_sum = float(np.sum(comp[:, spill_idx]))

    print(json.dumps({
        "flowutils": flowutils.__version__,
        "logicle_seconds": t_logicle,
        "logicle_checksum": logicle_sum,
        "compensate_seconds": t_comp,
        "compensate_checksum": comp_sum,
    }))


if __name__ == "__main__":
    main()
