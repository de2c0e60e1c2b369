"""Read the stores back over S3 with plain xarray, as a user would (run inside the service image).

    python readback.py samples          each sample CSV's plain variables are in its store
    python readback.py restart N        tree_id "ci-restart" holds sap_flow 1..N, nothing lost

S3 location and credentials come from the environment the compose services get
(S3_ENDPOINT_URL, S3_ACCESS_KEY, S3_SECRET_KEY); schemas from ENDPOINTS_CONFIG / SCHEMAS_DIR.
Exit status 1 with one line per mismatch.
"""
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml

TEST_DATA = Path("/test_data")


def open_store(store_path: str) -> xr.Dataset:
    options = {
        "endpoint_url": os.environ["S3_ENDPOINT_URL"],
        "key": os.environ["S3_ACCESS_KEY"],
        "secret": os.environ["S3_SECRET_KEY"],
        "skip_instance_cache": True,
    }
    return xr.open_zarr(f"s3://{store_path}", storage_options=options, consolidated=False).load()


def endpoints() -> list[tuple[str, dict]]:
    config = Path(os.environ["ENDPOINTS_CONFIG"])
    schemas = Path(os.environ.get("SCHEMAS_DIR") or config.parent)
    return [(entry["name"], yaml.safe_load((schemas / entry["schema_path"]).read_text()))
            for entry in yaml.safe_load(config.read_text())]


def plain_values(values) -> np.ndarray:
    """Distinct finite values, rounded past float32 noise."""
    array = np.asarray(values, dtype=float).ravel()
    return np.unique(np.round(array[np.isfinite(array)], 3))


def check_samples() -> list[str]:
    problems = []
    for name, schema in endpoints():
        table = pd.read_csv(TEST_DATA / name / "default.csv")
        dataset = open_store(schema["ATTRS"]["store_path"])
        # Variables stored as uploaded: same column name, no unit conversion, numeric.
        compared = [var for var, spec in schema.get("VARS", {}).items()
                    if "df_col" not in spec and "source_unit" not in spec and spec.get("type") != "str"
                    and var in table.columns]
        for var in compared:
            if var not in dataset:
                problems.append(f"{name}: variable {var} missing from the store")
            elif not np.array_equal(plain_values(table[var]), plain_values(dataset[var].values)):
                problems.append(f"{name}: {var} in the store {plain_values(dataset[var].values)[:8]}... "
                                f"differs from the CSV {plain_values(table[var])[:8]}...")
        cells = int(sum(dataset[var].notnull().sum() for var in compared if var in dataset))
        print(f"{name}: {len(table)} CSV rows; store dims {dict(dataset.sizes)}; "
              f"{', '.join(compared)} match ({cells} cells)")
    return problems


def check_restart(count: int) -> list[str]:
    schema = dict(endpoints())["tree"]
    dataset = open_store(schema["ATTRS"]["store_path"])
    values = dataset["sap_flow"].sel(tree_id="ci-restart").values
    found = np.sort(values[np.isfinite(values)])
    expected = np.arange(1, count + 1, dtype=float)
    print(f"tree: ci-restart holds {len(found)} of {count} uploaded rows")
    if not np.array_equal(found, expected):
        missing = sorted(set(expected) - set(found))
        return [f"tree: rows lost across the worker restart: sap_flow values missing {missing[:20]}"]
    return []


def main() -> int:
    mode = sys.argv[1]
    problems = check_samples() if mode == "samples" else check_restart(int(sys.argv[2]))
    for problem in problems:
        print(f"MISMATCH {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
