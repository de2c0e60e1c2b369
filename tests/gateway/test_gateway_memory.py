"""The gateway's memory: it checks uploads without the worker's table libraries (issue 11).

pandas, xarray and zarr are ~85 MB in every gunicorn worker that imports them; the gateway
only reads schemas and checks syntax and column names, so they must stay unimported. Each test
runs a fresh interpreter: this test process has imported them long ago. A gunicorn worker of the
gateway also loads pint without numpy (it parses units, never converts: ~10 MB a process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from gateway_helpers import AUTH, REPO, TEST_DATA, Gunicorn

WORKER_LIBRARIES = ("pandas", "xarray", "zarr")

# Uploads of each kind the gateway checks itself: CSV of every endpoint, JSON records, a TOA5
# table (a 400 for the tree schema's columns, after its full parse), a NetCDF magic check.
SCRIPT = """
import json, sys
from pathlib import Path
from gateway_helpers import AUTH, TEST_DATA, make_settings
from gateway.app import create_app

client = create_app(make_settings(Path(sys.argv[1]))).test_client()
statuses = []
for endpoint in ("tree", "weather", "sensor"):
    body = (TEST_DATA / endpoint / "default.csv").read_bytes()
    statuses.append(client.post(f"/api/v1/{endpoint}", data=body, headers={**AUTH, "Content-Type": "text/csv"}).status_code)
records = [{"timestamp": "2026-06-14 06:00:00", "tree_id": "oak-01", "sap_flow": 118.2}]
statuses.append(client.post("/api/v1/tree", data=json.dumps(records), headers={**AUTH, "Content-Type": "application/json"}).status_code)
toa5 = (b'"TOA5","CR1000X","CR1000X","1234","CR1000X.Std.04","CPU:tree.CR1X","1","Table1"\\r\\n'
        b'"TIMESTAMP","RECORD","BattV"\\r\\n"TS","RN","Volts"\\r\\n"","","Smp"\\r\\n'
        b'"2026-06-14 06:00:00",0,12.6\\r\\n')
statuses.append(client.post("/api/v1/tree", data=toa5, headers={**AUTH, "Content-Type": "text/csv"}).status_code)
statuses.append(client.post("/api/v1/tree", data=b"CDF\\x01" + bytes(60), headers={**AUTH, "Content-Type": "application/x-netcdf"}).status_code)
print(json.dumps({"statuses": statuses, "imported": sorted(m for m in %r if m in sys.modules)}))
""" % (WORKER_LIBRARIES,)


def test_the_gateway_checks_csv_json_toa5_and_netcdf_uploads_without_importing_pandas_xarray_or_zarr(tmp_path: Path):
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "queue")], env=environ, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["statuses"][:4] == [202, 202, 202, 202]  # the checks ran to the end
    assert outcome["statuses"][4] == 400  # TOA5 parsed whole, refused for the tree schema's columns
    assert outcome["statuses"][5] == 202  # magic bytes checked; its variables are the worker's business
    assert outcome["imported"] == []



def test_gunicorn_workers_of_the_gateway_map_no_numpy_nor_pandas_after_checking_uploads(tmp_path: Path):
    gateway = Gunicorn(tmp_path / "queue", tmp_path)
    try:
        for endpoint in ("tree", "weather", "sensor"):  # weather converts degF: its units are parsed
            body = (TEST_DATA / endpoint / "default.csv").read_bytes()
            answer = requests.post(f"{gateway.url}/api/v1/{endpoint}", data=body, timeout=30,
                                   headers={**AUTH, "Content-Type": "text/csv"})
            assert answer.status_code == 202, answer.text
        children = Path(f"/proc/{gateway.process.pid}/task/{gateway.process.pid}/children").read_text().split()
        assert len(children) == 2  # WEB_CONCURRENCY=2, both booted (each answered /health or an upload)
        for pid in children:
            mapped = Path(f"/proc/{pid}/maps").read_text()
            assert "numpy" not in mapped and "pandas" not in mapped, f"worker {pid} mapped numpy or pandas"
    finally:
        gateway.stop()
