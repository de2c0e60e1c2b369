"""Run inside the image (container check): ecCodes can make and open GRIB, NetCDF opens, and the
extractor example under examples/extractors/bukov (mounted at /config) runs and merges.

    podman run --rm -v examples/extractors/bukov:/config:ro -v .ci/image_formats_check.py:/check.py:ro \
        IMAGE python /check.py
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import eccodes
import numpy as np

from shared.binary import open_dataset
from shared.config import load_endpoints
from shared.fuse import load_schema, open_store
from shared.plugins import load_extractors, run_extractor

handle = eccodes.codes_grib_new_from_samples("GRIB2")
out = io.BytesIO()
eccodes.codes_write(handle, out)
eccodes.codes_release(handle)
grib = open_dataset(out.getvalue(), "grib")
assert grib.data_vars, "the GRIB2 sample opened without variables"

config = Path("/config/endpoints_config.yaml")
(endpoint,) = load_endpoints(config)
extract = load_extractors([endpoint])[endpoint.name]
table = run_extractor(endpoint, extract, (config.parent / "sample.json").read_bytes(), {})
with tempfile.TemporaryDirectory() as stores:
    root = open_store(load_schema(endpoint.schema_path), environ={"STORE_ROOT": stores})
    summary = root.update(table)
    assert summary.rows == len(table) == 5, summary
    assert np.isfinite(root.dataset["temperature"].values).sum() == 4
print(f"GRIB ok ({', '.join(map(str, grib.data_vars))}), extractor {endpoint.extractor} merged {len(table)} rows")
