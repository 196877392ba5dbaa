"""Reference compensation for tests/compensation_flowkit.rs.

Reads a JSON array of jobs from stdin, each:
  {"file": FCS path, "spill": "$SPILLOVER-style text of the matrix nkflow chose",
   "detectors": [...], "ours_scaled": path of nkflow's scaled, uncompensated
   events (f64 LE, column-major), "names": [$PnN of those columns],
   "n_events": int, "out": path to write the reference to}

First tries FlowKit itself: fk.Sample(file) (its own reader and FCS scaling),
sample.apply_compensation(spill), get_events(source='comp'). If FlowKit cannot
do that, records FlowKit's exception as the reason and computes the reference
independently with numpy from nkflow's scaled events: C = solve(S^T, D^T)^T,
as flowutils.compensate does.

Writes the detector columns of the reference (in the job's detector order,
f64 LE, column-major) to each job's "out" and prints a JSON array of
summaries on stdout. One process for all files: importing FlowKit is slow.
"""

import json
import sys
import warnings

import numpy as np


def parse_spill(text):
    f = [v.strip() for v in text.split(",")]
    n = int(f[0])
    names = f[1:n + 1]
    vals = np.array([float(v) for v in f[n + 1:n + 1 + n * n]]).reshape(n, n)
    return names, vals


def run(job):
    dets = job["detectors"]
    result = {"file": job["file"]}
    ref = None
    try:
        import flowkit as fk
        first_error = None
        # FlowKit's defaults first, then its documented lenient options for
        # off-by-one / discrepant DATA offsets (the corpus README lists them).
        for opts in ({}, {"ignore_offset_error": True},
                     {"ignore_offset_error": True, "ignore_offset_discrepancy": True}):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    s = fk.Sample(job["file"], **opts)
                break
            except Exception as e:
                first_error = first_error or e
        else:
            raise first_error
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                # The spill text alone: FlowKit wants it to cover every
                # channel it deems fluorescent.
                s.apply_compensation(job["spill"])
                result["flowkit_route"] = "apply_compensation(spill text)"
            except ValueError:
                # A Matrix over just the listed detectors.
                spill_names, _ = parse_spill(job["spill"])
                s.apply_compensation(fk.Matrix(job["spill"], detectors=spill_names))
                result["flowkit_route"] = "apply_compensation(fk.Matrix(spill, detectors))"
            comp = s.get_events(source="comp")
        idx = [s.pnn_labels.index(d) for d in dets]
        ref = comp[:, idx]
        result["source"] = "flowkit"
        result["flowkit_options"] = opts
        result["flowkit_events"] = int(comp.shape[0])
    except Exception as e:  # FlowKit's reason, reported by the Rust test
        result["source"] = "numpy"
        result["flowkit_reason"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        n_ev = job["n_events"]
        names = job["names"]
        data = np.fromfile(job["ours_scaled"], dtype="<f8").reshape((len(names), n_ev)).T
        spill_names, spill = parse_spill(job["spill"])
        d = data[:, [names.index(x) for x in spill_names]]
        c = np.linalg.solve(spill.T, d.T).T
        ref = c[:, [spill_names.index(x) for x in dets]]
    np.asarray(ref, dtype="<f8").T.tofile(job["out"])
    result["n_events"] = int(ref.shape[0])
    return result


def main():
    jobs = json.load(sys.stdin)
    print(json.dumps([run(job) for job in jobs]))


if __name__ == "__main__":
    main()
