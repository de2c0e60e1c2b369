"""A gateway and a worker started on a config folder exactly as a migrating deployment has it.

Unlike tests/e2e's Stack (which copies this repository's schemas), the config folder here is the
test's own: its endpoints file in one of the original server's forms, its schemas, an
`extract/` package. The environment uses the original server's names where asked
(CONFIG_PATH, QUEUE_DIR_PATH) and no project default is relied on.
"""
from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import requests

from e2e_stack import PYTHON, REPO, Process, free_port, open_local_dataset, wait_until


# The tree endpoint's schema as the migrated config folders in these tests carry it.
TREE_SCHEMA = """\
ATTRS: {store_path: b/tree.zarr}
COORDS:
  time: {unit: {tick: s, tz: UTC}, df_col: timestamp, chunk_size: 16}
  tree_id: {type: str, sorted: false, chunk_size: 16}
VARS:
  sap_flow: {coords: [time, tree_id], unit: g/h}
"""


class ConfigStack:
    def __init__(self, root: Path, config: Path, *, original_names: bool = False,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.root = root
        self.config = config
        self.queue_dir = root / "queue"
        self.store_root = root / "stores"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[Process] = []
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("S3_", "ZF_", "AWS_", "STORE_", "QUEUE_", "ENDPOINTS_", "CONFIG_"))}
        names = ("CONFIG_PATH", "QUEUE_DIR_PATH") if original_names else ("ENDPOINTS_CONFIG", "QUEUE_DIR")
        env.update({
            "PYTHONPATH": str(REPO), names[0]: str(config), names[1]: str(self.queue_dir),
            "STORE_ROOT": str(self.store_root), "AUTH_ENABLED": "false",
            "WORKER_POLL_SECONDS": "0.3", "WORKER_RETRY_MAX_SECONDS": "2",
            "WORKER_METRICS_PORT": "0", "WORKER_METRICS_ADDR": "127.0.0.1", "WORKER_NICE": "0",
        })
        env.update(extra_env or {})
        self.env = env
        self.url = ""

    def start(self, name: str, args: list[str], env: Mapping[str, str] | None = None) -> Process:
        process = Process(name, args, {**self.env, **(env or {})}, self.root, self.logs)
        self.processes.append(process)
        return process

    def start_gateway(self) -> Process:
        port = free_port()
        gateway = self.start("gateway", [PYTHON, "-m", "gateway"],
                             {"PORT": str(port), "HOST": "127.0.0.1", "WEB_CONCURRENCY": "1"})
        self.url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if not gateway.alive():
                raise AssertionError(f"gateway exited:\n{gateway.log()[-3000:]}")
            try:
                return requests.get(self.url + "/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, 60, "gateway /health")
        return gateway

    def start_worker(self) -> Process:
        return self.start("worker", [PYTHON, "-m", "worker"])

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), env=self.env, cwd=self.root, capture_output=True, text=True,
                              timeout=timeout)

    def post(self, route: str, body: bytes, content_type: str, **headers: str) -> requests.Response:
        return requests.post(self.url + route, data=body, headers={"Content-Type": content_type, **headers},
                             timeout=30)

    def accepted(self, route: str, body: bytes, content_type: str) -> str:
        response = self.post(route, body, content_type)
        assert response.status_code == 202, f"{response.status_code} {response.text[:500]}"
        return response.json()["id"]

    def status(self, upload_id: str) -> dict[str, Any]:
        return requests.get(f"{self.url}/api/v1/uploads/{upload_id}", timeout=10).json()

    def settled(self, upload_id: str, timeout: float = 90) -> dict[str, Any]:
        """The upload's status once it is done or failed."""
        return wait_until(lambda: (s := self.status(upload_id))["state"] in ("done", "failed") and s,
                          timeout, f"upload {upload_id} merged or failed\n{self.worker_log()}", interval=0.25)

    def worker_log(self) -> str:
        return next((p.log()[-3000:] for p in self.processes if p.name == "worker"), "")

    def dataset(self, store: str, group: str | None = None) -> Any:
        return open_local_dataset(self.store_root / store, group)

    def close(self) -> None:
        for process in reversed(self.processes):
            process.close()


def grib2_field(values: np.ndarray, *, date: int = 20261103, time: int = 800,
                lat0: float = 50.0, lon0: float = 14.0) -> bytes:
    """One GRIB2 message of 2 m temperature (K) on a lat/lon grid, made from the ecCodes sample."""
    import eccodes

    nj, ni = values.shape
    handle = eccodes.codes_grib_new_from_samples("GRIB2")
    try:
        for key, value in (("Ni", ni), ("Nj", nj),
                           ("latitudeOfFirstGridPointInDegrees", lat0),
                           ("latitudeOfLastGridPointInDegrees", lat0 - 0.5 * (nj - 1)),
                           ("longitudeOfFirstGridPointInDegrees", lon0),
                           ("longitudeOfLastGridPointInDegrees", lon0 + 0.5 * (ni - 1)),
                           ("iDirectionIncrementInDegrees", 0.5), ("jDirectionIncrementInDegrees", 0.5),
                           ("shortName", "2t"), ("dataDate", date), ("dataTime", time)):
            eccodes.codes_set(handle, key, value)
        eccodes.codes_set_values(handle, values.astype(float).ravel())
        out = io.BytesIO()
        eccodes.codes_write(handle, out)
        return out.getvalue()
    finally:
        eccodes.codes_release(handle)


def netcdf_field(values: np.ndarray, times: list[str], fmt: str) -> bytes:
    """A NetCDF file (NETCDF3_CLASSIC or NETCDF4) named by the schema's names, not df_col."""
    import tempfile

    import pandas as pd
    import xarray as xr

    nt, nj, ni = values.shape
    ds = xr.Dataset({"temperature": (("time", "lat", "lon"), values)},
                    coords={"time": pd.to_datetime(times), "lat": 50.0 - 0.5 * np.arange(nj),
                            "lon": 14.0 + 0.5 * np.arange(ni)})
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "field.nc"
        ds.to_netcdf(path, format=fmt, engine="netcdf4")
        return path.read_bytes()
