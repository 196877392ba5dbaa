"""Reads an FCS file with FlowIO (strict mode) and prints what the writer
round-trip test compares: channel names/labels, text keywords and every raw
event value, as JSON on stdout. Usage: flowio_read.py FILE"""
import json
import sys

import flowio

fd = flowio.FlowData(sys.argv[1])
events = fd.as_array(preprocess=False)
print(json.dumps({
    "version": fd.version,
    "n_events": int(fd.event_count),
    "pnn": list(fd.pnn_labels),
    "pns": list(fd.pns_labels),
    "text": {k: v for k, v in fd.text.items()},
    # repr round-trips doubles exactly through JSON
    "events": [[float(x) for x in row] for row in events.tolist()],
}))
