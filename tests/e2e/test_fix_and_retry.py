"""The operator's loop with real processes and no restart (issue 12, items 1 and 2).

* A bad value: the upload fails; `queue replace ID FILE` puts the corrected payload in its place
  (same id, so same order), `queue retry ID` merges it.
* A bad schema: an upload fails against it; a broken edit of the schema file is refused by the
  worker and the gateway (a log line naming the file, the old schema stays in force); the fixed
  file is picked up by both, and `queue retry` merges the failed upload.
"""
from __future__ import annotations

import hashlib
import json
import time

import requests
import yaml

from shared.queue import Queue

from e2e_stack import open_local_dataset, wait_until

HEADER = "timestamp,tree_id,sap_flow\n"


def test_a_bad_value_fixed_by_queue_replace_then_retry_is_merged_in_place(make_stack, tmp_path):
    stores = tmp_path / "stores"
    stack = make_stack(stores={"tree": f"local:{stores}"})
    worker = stack.start_worker()
    queue = Queue(stack.queue_dir)
    bad = (HEADER + "2026-06-14 10:00:00,oak-01,12,5\n").encode()  # one value too many: row 1 is wrong
    upload_id = queue.enqueue("tree", bad, format="csv").id
    wait_until(lambda: stack.count("failed") == 1, 90, "the bad upload fails")

    fixed = tmp_path / "fixed.csv"
    fixed.write_bytes((HEADER + "2026-06-14 10:00:00,oak-01,12.5\n").encode())
    replaced = stack.queue_cli("replace", upload_id, str(fixed))
    assert replaced.returncode == 0, replaced.stderr
    sidecar = stack.sidecar("failed", upload_id)
    assert sidecar["sha256"] == hashlib.sha256(fixed.read_bytes()).hexdigest()
    assert sidecar["size"] == len(fixed.read_bytes())
    assert [(old["sha256"], old["size"]) for old in sidecar["replaced"]] == [(hashlib.sha256(bad).hexdigest(), len(bad))]

    retried = stack.queue_cli("retry", upload_id)
    assert retried.returncode == 0, retried.stderr
    stack.wait_drained(1, 60)
    assert stack.sidecar("done", upload_id)["replaced"] == sidecar["replaced"]
    assert float(open_local_dataset(stores / "tree.zarr")["sap_flow"].values.ravel()[0]) == 12.5
    assert worker.alive()  # the same worker all along


def test_a_bad_schema_fixed_in_place_then_retry_merges_without_a_restart(make_stack, tmp_path):
    stores = tmp_path / "stores"
    stack = make_stack(stores={"tree": f"local:{stores}"})
    schema_file = stack.root / "schemas" / "tree_schema_v1.yaml"
    good_schema = yaml.safe_load(schema_file.read_text())
    worker = stack.start_worker()
    gateway = stack.start_gateway(workers=1)
    pids = (worker.pid, gateway.pid)

    # The schema's range is too narrow for this device: its upload fails in the worker.
    too_high = stack.upload("tree", HEADER + "2026-06-14 10:00:00,oak-01,6000\n")
    wait_until(lambda: stack.count("failed") == 1, 90, "the out-of-range upload fails")
    # ...and the gateway does not know its other column yet.
    velocity = "timestamp,tree_id,sap_velocity\n2026-06-14 11:00:00,oak-01,3.5\n"
    refused = requests.post(f"{stack.gateway_url}/api/v1/tree", data=velocity, headers={"Content-Type": "text/csv"},
                            timeout=30)
    assert refused.status_code == 400, refused.text

    # A broken edit is refused by both; the old schema stays in force.
    schema_file.write_text(schema_file.read_text() + "\n  broken: [unclosed\n")
    stack.upload("tree", HEADER + "2026-06-14 09:00:00,oak-01,10\n")
    stack.wait_drained(1, 60)
    wait_until(lambda: f"event=schema_reload_refused file={schema_file}" in worker.log(), 30,
               "the worker refuses the broken schema, naming the file")
    time.sleep(1.2)  # the gateway looks at the file at most once a second
    assert stack.upload("tree", HEADER + "2026-06-14 08:00:00,oak-01,11\n")
    wait_until(lambda: f"schema_reload_refused file={schema_file}" in gateway.log(), 30,
               "the gateway refuses the broken schema, naming the file")

    # The fixed schema: a wider range, and the new variable.
    fixed = json.loads(json.dumps(good_schema))
    fixed["VARS"]["sap_flow"]["range"] = {"interval": [0, 10000]}
    fixed["VARS"]["sap_velocity"] = {"coords": ["time", "tree_id"], "unit": "cm/h", "description": "heat pulse velocity"}
    schema_file.write_text(yaml.safe_dump(fixed, sort_keys=False))
    retried = stack.queue_cli("retry", "--all")
    assert retried.returncode == 0 and too_high in retried.stdout, retried.stderr
    wait_until(lambda: stack.count("done") == 3, 90, "the retried upload merges under the fixed schema")
    wait_until(lambda: requests.post(f"{stack.gateway_url}/api/v1/tree", data=velocity,
                                     headers={"Content-Type": "text/csv"}, timeout=30).status_code == 202,
               10, "the gateway takes the new column within a second or two")
    stack.wait_drained(4, 90)

    data = open_local_dataset(stores / "tree.zarr")
    assert 6000.0 in data["sap_flow"].values
    assert 3.5 in data["sap_velocity"].values
    assert (worker.pid, gateway.pid) == pids and worker.alive() and gateway.alive()
    assert stack.count("failed") == 0
