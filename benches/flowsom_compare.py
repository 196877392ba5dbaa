"""Python flowsom (0.2.2) on the same preprocessed matrix as nkflow's FlowSOM.

Called by benches/cluster_flowsom.rs, benches/cluster_nk_peer.rs and
tests/cluster_simulated.rs. Reads a raw
little-endian float64 matrix written column-major (n events x d markers), a
uint8 file id per event, and a uint8 truth flag per event (1 = NK), then for
each requested variant trains one map on all events (grid, rlen, k and seed as
given), and prints one JSON object per variant: wall time of fit_predict
(after a warm-up call so numba's JIT compile is not counted) and, per file,
the F1 of the union of metaclusters whose majority lies in the truth
population (the same rule as nkflow::cluster::agreement); with
--truth-totals, each file's F1 counts that many true events (those outside
the matrix are misses, as in the pipeline's clustered population).
"""

import argparse
import json
import time

import numpy as np
from flowsom.models import BatchFlowSOMEstimator, FlowSOMEstimator


def f1_per_file(labels, files, truth, k, totals=None):
    out = []
    for i, f in enumerate(np.unique(files)):
        sel = files == f
        lab, tru = labels[sel], truth[sel]
        picked = [m for m in range(k) if (lab == m).sum() > 0 and 2 * (tru[lab == m]).sum() > (lab == m).sum()]
        pred = np.isin(lab, picked)
        tp = int((pred & tru).sum())
        actual = totals[i] if totals is not None else int(tru.sum())
        denom = int(pred.sum() + actual)
        out.append(2 * tp / denom if denom else float("nan"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--matrix", required=True)
    ap.add_argument("--files", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--d", type=int, required=True)
    ap.add_argument("--xdim", type=int, default=10)
    ap.add_argument("--ydim", type=int, default=10)
    ap.add_argument("--rlen", type=int, default=10)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", default="default,batch")
    ap.add_argument(
        "--truth-totals",
        default=None,
        help="comma-separated true events per file, for truth events outside the matrix (counted as misses)",
    )
    a = ap.parse_args()

    X = np.fromfile(a.matrix, dtype="<f8").reshape(a.d, a.n).T.copy()
    files = np.fromfile(a.files, dtype="u1")
    truth = np.fromfile(a.truth, dtype="u1").astype(bool)
    totals = [int(t) for t in a.truth_totals.split(",")] if a.truth_totals else None
    models = {"default": FlowSOMEstimator, "batch": BatchFlowSOMEstimator}
    warm = X[:: max(1, a.n // 2000)][:2000]
    for name in a.variants.split(","):
        cls = models[name]
        kw = dict(xdim=a.xdim, ydim=a.ydim, rlen=a.rlen, n_clusters=a.k, seed=a.seed)
        cls(**kw).fit_predict(warm)  # JIT compile outside the timing
        t0 = time.perf_counter()
        labels = np.asarray(cls(**kw).fit_predict(X)).astype(int)
        secs = time.perf_counter() - t0
        print(json.dumps({"variant": name, "seconds": secs, "f1": f1_per_file(labels, files, truth, a.k, totals)}), flush=True)


if __name__ == "__main__":
    main()
