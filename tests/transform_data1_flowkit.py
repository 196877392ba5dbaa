"""FlowKit's values for tests/transform_data1_flowkit.rs: data1.fcs (the
Gating-ML 2.0 event file) read and scaled by FlowKit, each channel put
through FlowKit's own transform class.

    transform_data1_flowkit.py DATA1.fcs OUT.bin

Writes events x 8 channels (f64 LE, column-major, $PnN order) to OUT.bin and
prints the $PnN names as JSON.
"""

import json
import sys
import warnings

import numpy as np
import flowkit as fk

# Must match SPECS in tests/transform_data1_flowkit.rs.
XFORMS = {
    "FSC-H": fk.transforms.LinearTransform(param_t=1024, param_a=0),
    "SSC-H": None,  # identity: the FCS-scale values themselves
    "FL1-H": fk.transforms.LogicleTransform(param_t=10000, param_w=0.5, param_m=4.5, param_a=0),
    "FL2-H": fk.transforms.HyperlogTransform(param_t=10000, param_w=1, param_m=4, param_a=1),
    "FL3-H": fk.transforms.AsinhTransform(param_t=10000, param_m=4.5, param_a=0),
    "FL2-A": fk.transforms.LogicleTransform(param_t=1024, param_w=0.5, param_m=3, param_a=0),
    "FL4-H": fk.transforms.LogTransform(param_t=10000, param_m=4),
    "Time": None,
}


def main():
    path, out = sys.argv[1:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = fk.Sample(path)
    ev = s.get_events(source="raw")  # FlowKit's "raw" = scaled ($PnE, $PnG)
    cols = []
    for j, name in enumerate(s.pnn_labels):
        x = ev[:, j].astype(float)
        t = XFORMS[name]
        cols.append(x if t is None else t.apply(x))
    np.asarray(cols, dtype="<f8").tofile(out)
    print(json.dumps(s.pnn_labels))


if __name__ == "__main__":
    main()
