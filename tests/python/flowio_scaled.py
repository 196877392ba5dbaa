"""Reads data set 0 of an FCS file with FlowIO and prints its FCS-scale
values (`as_array(preprocess=True)`: $PnE log amplification, then $PnG gain,
$TIMESTEP on Time) column by column as JSON: {"pnn": [...], "columns": [[...]]}.
Used by tests/fcs_scale_flowio.rs. Usage: flowio_scaled.py FILE"""
import json
import sys
import warnings

import flowio

warnings.simplefilter("ignore")
try:
    fd = flowio.FlowData(sys.argv[1], ignore_offset_error=True)
except flowio.exceptions.MultipleDataSetsError:
    fd = flowio.read_multiple_data_sets(sys.argv[1], ignore_offset_error=True)[0]
events = fd.as_array(preprocess=True)
print(json.dumps({
    "pnn": list(fd.pnn_labels),
    # repr round-trips doubles exactly through JSON
    "columns": [[float(x) for x in events[:, j]] for j in range(events.shape[1])],
}))
