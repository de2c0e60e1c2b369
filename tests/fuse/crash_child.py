"""Child process of the crash test: merge one upload into a local store, to be killed midway.

usage: python crash_child.py STORE_ROOT SCHEMA.json UPLOAD.pkl
"""
import json
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from shared.fuse import open_store  # noqa: E402

root, schema_path, upload_path = sys.argv[1:4]
node = open_store(json.loads(Path(schema_path).read_text()), environ={"STORE_ROOT": root})
prepared = node.prepare(pd.read_pickle(upload_path))
print("merging", flush=True)
start = time.monotonic()
node.merge([prepared])
print("done", time.monotonic() - start, flush=True)
