"""Reads every FCS file in a directory with FlowIO (an independent reader)
and prints, per file, what the Rust test compares with nkflow's reader:
event and channel counts, $PnN/$PnS, $DATATYPE/$BYTEORD, raw (unprocessed)
per-channel sums, and the first and last event."""
import json
import pathlib
import sys

import flowio

out = {}
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.fcs")):
    d = flowio.FlowData(str(path))
    a = d.as_array(preprocess=False)
    out[path.name] = {
        "events": int(d.event_count),
        "channels": int(d.channel_count),
        "pnn": list(d.pnn_labels),
        "pns": list(d.pns_labels),
        "datatype": d.text.get("datatype"),
        "byteord": d.text.get("byteord"),
        "spillover": d.text.get("spillover"),
        "sums": [float(x) for x in a.sum(axis=0)],
        "first": [float(x) for x in a[0]],
        "last": [float(x) for x in a[-1]],
    }
json.dump(out, sys.stdout)
