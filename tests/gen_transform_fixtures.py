"""Writes tests/fixtures/transforms/reference.json: reference values of every
transform nkflow implements, computed by the Python peers (flowutils 1.2.2,
FlowKit 1.3.2) over a grid that includes negatives, zero and extremes.

Run from the repository root with the peers' interpreter:

    .peers/bin/python tests/gen_transform_fixtures.py

The output is committed; tests/transform_reference.rs reads it and checks
|ours - ref| <= 1e-10 * max(1, |ref|) and inverse(forward(x)) = x.
Floats are written with repr(), which round-trips exactly.
"""

import json
import os
import sys

import numpy as np
import flowutils
import flowkit
from flowutils import transforms as fu
from flowkit._models.transforms import _transforms as fk
from flowkit._models.transforms import _wsp_transforms as fkw

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "transforms", "reference.json")


def data_grid():
    """Data values: 0, +/- a log grid from 1e-6 to 1e9, and typical values."""
    mags = np.logspace(-6, 9, 151)
    typical = np.array([0.5, 1, 2, 5, 10, 20.3, 50, 100, 262, 1000, 4096, 10000, 65536, 100000, 262143, 262144, 262145, 1e6])
    pos = np.concatenate([mags, typical])
    grid = np.concatenate([[0.0], pos, -pos])
    return np.unique(grid)


def scale_grid(lo, hi, n=121):
    return np.linspace(lo, hi, n)


def floats(a):
    return [float(v) for v in np.asarray(a, dtype=float)]


def case(kind, params, source, x, y, inv_y=None, inv_x=None, note=None):
    c = {"kind": kind, "params": params, "source": source, "x": floats(x), "y": floats(y)}
    if inv_y is not None:
        c["inverse_y"] = floats(inv_y)
        c["inverse_x"] = floats(inv_x)
    if note:
        c["note"] = note
    return c


def main():
    x = data_grid()
    cases = []

    for (t, w, m, a) in [(262144, 0.5, 4.5, 0), (10000, 0.5, 4.5, 0), (262144, 1.0, 4.5, 1.0),
                         (1000, 0.0, 3.0, 0.0), (262144, 0.25, 4.0, -0.25), (4096, 1.5, 5.0, 2.0)]:
        y = fu._logicle(x.copy(), t=t, m=m, w=w, a=a)
        ys = scale_grid(-0.5, 1.2)
        xi = fu._logicle_inverse(ys.copy(), t=t, m=m, w=w, a=a)
        cases.append(case("logicle", {"t": t, "w": w, "m": m, "a": a},
                          "flowutils.transforms._logicle / _logicle_inverse", x, y, ys, xi))

    for (t, w, m, a) in [(262144, 0.5, 4.5, 0), (10000, 0.5, 4.5, 0), (262144, 1.0, 4.5, 1.0),
                         (1023, 0.5, 4.5, 0.0)]:
        y = fu._hyperlog(x.copy(), t=t, m=m, w=w, a=a)
        ys = scale_grid(-0.5, 1.2)
        xi = fu._hyperlog_inverse(ys.copy(), t=t, m=m, w=w, a=a)
        cases.append(case("hyperlog", {"t": t, "w": w, "m": m, "a": a},
                          "flowutils.transforms._hyperlog / _hyperlog_inverse", x, y, ys, xi))

    for (t, m, a) in [(262144, 4.5, 0), (1000, 4.0, 1.0), (10000, 5.0, 2.5)]:
        tr = fk.AsinhTransform(param_t=t, param_m=m, param_a=a)
        ys = scale_grid(-0.5, 1.2)
        cases.append(case("fasinh", {"t": t, "m": m, "a": a}, "flowkit AsinhTransform",
                          x, tr.apply(x.copy()), ys, tr.inverse(ys.copy())))

    for (t, a) in [(262144, 0), (1000, 100)]:
        tr = fk.LinearTransform(param_t=t, param_a=a)
        ys = scale_grid(-0.5, 1.2)
        cases.append(case("flin", {"t": t, "a": a}, "flowkit LinearTransform",
                          x, tr.apply(x.copy()), ys, tr.inverse(ys.copy())))

    xp = x[x > 0]
    for (t, m) in [(262144, 4.5), (100, 2)]:
        tr = fk.LogTransform(param_t=t, param_m=m)
        ys = scale_grid(-0.5, 1.2)
        cases.append(case("flog", {"t": t, "m": m}, "flowkit LogTransform",
                          xp, tr.apply(xp.copy()), ys, tr.inverse(ys.copy())))

    for cof in [5.0, 150.0]:
        ys = scale_grid(-15, 15)
        cases.append(case("arcsinh", {"cofactor": cof}, "numpy arcsinh(x / cofactor)",
                          x, np.arcsinh(x / cof), ys, np.sinh(ys) * cof))

    for (w, n, p, mx) in [(-10, 0, 4.418540, 262144.000029), (-7.943282, 1, 4.41854, 262144.000029),
                          (-100, 0.5, 4.5, 262144.0)]:
        tr = fkw.WSPBiexTransform(negative=n, width=w, positive=p, max_value=mx)
        ys = scale_grid(-100, 4200, 173)
        cases.append(case("biex", {"width": w, "neg": n, "pos": p, "max_range": mx},
                          "flowkit WSPBiexTransform (FlowJo LUT + linear interpolation)",
                          x, tr.apply(x.copy()), ys, tr.inverse(ys.copy())))

    out = {
        "generator": "tests/gen_transform_fixtures.py",
        "peers": {"flowutils": flowutils.__version__, "flowkit": flowkit.__version__,
                  "numpy": np.__version__, "python": sys.version.split()[0]},
        "tolerance": "abs(ours - ref) <= 1e-10 * max(1, abs(ref))",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as fh:
        json.dump(out, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
