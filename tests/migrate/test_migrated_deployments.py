"""An existing zarr-fuse ingress deployment runs here unchanged: real gateway and worker processes
started on config folders in the original server's forms, uploads as its users send them, and
the stores read back with plain xarray."""
from __future__ import annotations

import bz2
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest

from e2e_stack import PYTHON, REPO, wait_until
from migrate_stack import TREE_SCHEMA, ConfigStack, grib2_field, netcdf_field

pytestmark = pytest.mark.slow
EXAMPLE = REPO / "examples" / "extractors" / "bukov"

STATIONS_SCHEMA = """\
ATTRS: {store_path: b/stations.zarr}
network:
  COORDS:
    time: {unit: {tick: s, tz: UTC}, df_col: timestamp, chunk_size: 16}
    station: {type: str, sorted: false, chunk_size: 16}
  VARS:
    temp: {coords: [time, station], unit: degC}
  north:
    COORDS:
      time: {unit: {tick: s, tz: UTC}, df_col: timestamp, chunk_size: 16}
      station: {type: str, sorted: false, chunk_size: 16}
    VARS:
      temp: {coords: [time, station], unit: degC}
"""

FORECAST_SCHEMA = """\
ATTRS: {store_path: b/forecast.zarr}
COORDS:
  time: {unit: {tick: s, tz: UTC}, df_col: valid_time, chunk_size: 16}
  lat: {unit: deg, df_col: latitude, chunk_size: 16}
  lon: {unit: deg, df_col: longitude, chunk_size: 16}
VARS:
  temperature: {coords: [time, lat, lon], unit: degC, source_unit: K, df_col: t2m}
"""


def original_design_folder(root: Path) -> Path:
    """The original design's folder: `endpoints:` mapping, schemas/ and an empty dataframes/."""
    (root / "schemas").mkdir(parents=True)
    (root / "dataframes").mkdir()
    (root / "schemas" / "tree_schema_v1.yaml").write_text(TREE_SCHEMA)
    config = root / "endpoints_config.yaml"
    config.write_text(textwrap.dedent("""\
        endpoints:
          - name: tree
            endpoint: /api/v1/tree
            schema_path: schemas/tree_schema_v1.yaml
        """))
    return config


def test_original_design_config_and_its_curl_examples(tmp_path, stacks):
    config = original_design_folder(tmp_path / "config")
    stack = ConfigStack(tmp_path, config, original_names=True)
    stacks.append(stack)
    stack.start_gateway()
    stack.start_worker()

    csv_file = tmp_path / "tree.csv"
    csv_file.write_text("timestamp,tree_id,sap_flow\n2026-06-14T06:00:00Z,oak-01,12.5\n")
    curl = stack.run("curl", "-sS", "-X", "POST", f"{stack.url}/api/v1/tree",
                     "-H", "Content-Type: text/csv; charset=utf-8", "--data-binary", f"@{csv_file}")
    first = json.loads(curl.stdout)
    assert first["status"] == "accepted", curl.stdout + curl.stderr
    records = [{"timestamp": "2026-06-14T07:00:00Z", "tree_id": "beech-07", "sap_flow": 3.25}]
    ids = [first["id"]]
    for content_type in ("APPLICATION/JSON", "application/geo+json", "application/vnd.logger.v2+json"):
        ids.append(stack.accepted("/api/v1/tree", json.dumps(records).encode(), content_type))

    refused = stack.post("/api/v1/tree", b"timestamp,tree_id,sap_flow\n", "text/html")  # text/plain is the CSV family (Campbell HTTPPost)
    assert refused.status_code == 415
    assert "text/csv, application/json" in refused.json()["error"]

    for upload_id in ids:
        assert stack.settled(upload_id)["state"] == "done"
    tree = stack.dataset("b/tree.zarr")
    assert sorted(tree["tree_id"].values.tolist()) == ["beech-07", "oak-01"]
    assert np.nansum(tree["sap_flow"].values) == pytest.approx(15.75)


def later_form_folder(root: Path) -> Path:
    """The later form: configuration + endpoints (data_source nested) + active_scrappers."""
    shutil.copytree(EXAMPLE / "extract", root / "extract")
    (root / "schemas").mkdir(parents=True)
    (root / "dataframes").mkdir()
    shutil.copy(EXAMPLE / "schemas" / "borehole_schema.yaml", root / "schemas")
    borehole = (EXAMPLE / "schemas" / "borehole_schema.yaml").read_text()
    (root / "schemas" / "wrong.yaml").write_text(borehole.replace("bukov.zarr", "wrong.zarr"))
    (root / "schemas" / "stations.yaml").write_text(STATIONS_SCHEMA)
    (root / "schemas" / "forecast.yaml").write_text(FORECAST_SCHEMA)
    (root / "extract" / "wrong.py").write_text(
        "def as_dict(*, payload, metadata):\n    return {'endpoint': metadata['endpoint']}\n")
    config = root / "endpoints_config.yaml"
    config.write_text(textwrap.dedent("""\
        configuration:
          base: {log_level: info, worker_poll_interval: 0.3}
          smtp: {notify_to: "ops@example.org", host: smtp.example.org}
        endpoints:
          - name: bukov
            endpoint: /api/v1/bukov
            data_source:
              schema_path: schemas/borehole_schema.yaml
              fn_module: extract.bukov
              extract_fn: extract
              content_types: [application/json, text/plain]
          - name: wrong
            endpoint: /api/v1/wrong
            schema_path: schemas/wrong.yaml
            fn_module: extract.wrong
            extract_fn: as_dict
          - name: stations
            endpoint: /api/v1/stations
            schema_path: schemas/stations.yaml
            target_node: network
          - name: forecast
            endpoint: /api/v1/forecast
            data_source: {schema_path: schemas/forecast.yaml}
        active_scrappers:
          - {name: weather, cron: "0 * * * *", schema_path: schemas/forecast.yaml,
             request: {url: "http://127.0.0.1:9/weather"}}
        """))
    return config


def test_later_form_with_extractors_target_node_grib_and_netcdf(tmp_path, stacks):
    stack = ConfigStack(tmp_path, later_form_folder(tmp_path / "config"))
    stacks.append(stack)
    gateway = stack.start_gateway()
    worker = stack.start_worker()

    # Extractor: the worked example, sent as the loggers send it (text/plain is declared).
    good = stack.accepted("/api/v1/bukov", (EXAMPLE / "sample.json").read_bytes(), "text/plain")
    broken = stack.accepted("/api/v1/bukov", b'{"data": [{"metadata": {}}]}', "application/json")
    wrong_kind = stack.accepted("/api/v1/wrong", b"anything", "application/json")
    assert stack.post("/api/v1/bukov", b"{}", "application/x-grib").status_code == 415

    # target_node: the root of the endpoint is node `network`, below it `network/north`.
    rows = "timestamp,station,temp\n2026-11-03T08:00:00Z,{},{}\n"
    network = stack.accepted("/api/v1/stations", rows.format("s1", 4.5).encode(), "text/csv")
    north = stack.accepted("/api/v1/stations/north", rows.format("n1", -2.0).encode(), "text/csv")
    assert stack.post("/api/v1/stations/south", rows.encode(), "text/csv").status_code == 400

    # Binary fields: GRIB2, GRIB2+bzip2 and NetCDF 3 and 4, each a different time.
    field = 273.15 + np.arange(6, dtype=float).reshape(2, 3)
    grib = stack.accepted("/api/v1/forecast", grib2_field(field), "application/x-grib")
    grib_bz2 = stack.accepted("/api/v1/forecast", bz2.compress(grib2_field(field + 10, time=900)),
                              "application/x-grib+bz2")
    nc3 = stack.accepted("/api/v1/forecast", netcdf_field(field[None] + 20, ["2026-11-03T10:00"], "NETCDF3_CLASSIC"),
                         "application/x-netcdf")
    nc4 = stack.accepted("/api/v1/forecast", netcdf_field(field[None] + 30, ["2026-11-03T11:00"], "NETCDF4"),
                         "application/netcdf")
    truncated = stack.accepted("/api/v1/forecast", grib2_field(field)[:60], "application/x-grib")
    not_grib = stack.post("/api/v1/forecast", b"timestamp,x\n1,2\n", "application/x-grib")
    assert not_grib.status_code == 400 and "does not start with 'GRIB'" in not_grib.json()["error"]
    not_bz2 = stack.post("/api/v1/forecast", grib2_field(field), "application/x-grib+bz2")
    assert not_bz2.status_code == 400 and "does not start with 'BZh'" in not_bz2.json()["error"]

    for upload_id in (good, network, north, grib, grib_bz2, nc3, nc4):
        assert stack.settled(upload_id)["state"] == "done", stack.status(upload_id)
    failures = {upload_id: stack.settled(upload_id) for upload_id in (broken, wrong_kind, truncated)}
    assert "extractor extract.bukov:extract of endpoint 'bukov' raised ValueError: data[0].metadata.label: missing" \
        in failures[broken]["error"]
    assert "extract/bukov.py" in failures[broken]["traceback"]  # the plugin's own lines
    assert "extractor extract.wrong:as_dict of endpoint 'wrong' returned builtins.dict" in failures[wrong_kind]["error"]
    assert failures[truncated]["error"].startswith("GRIB upload could not be read")

    bukov = stack.dataset("zarr-fuse-ingress/bukov.zarr")
    assert bukov["site"].values.tolist() == ["ZK1-10DL", "ZK2-20DL"]
    assert bukov["depth"].values.tolist() == [0.05, 1.5]
    assert bukov["temperature"].sel(site="ZK1-10DL", depth=0.05).values.tolist() == [8.25, 8.5]
    assert stack.dataset("b/stations.zarr", "network")["station"].values.tolist() == ["s1"]
    assert stack.dataset("b/stations.zarr", "network/north")["temp"].values.tolist() == [[-2.0]]
    forecast = stack.dataset("b/forecast.zarr")
    assert forecast.sizes == {"time": 4, "lat": 2, "lon": 3}
    at = forecast["temperature"].sel(lat=50.0, lon=14.0).values
    np.testing.assert_allclose(at, [0.0, 10.0, 20.0, 30.0], atol=1e-4)

    # smtp and active_scrappers are used now (alerts, scheduler): no "read but not used" warning.
    for process in (gateway, worker):
        assert "read but not used yet" not in process.log() and "read but not run yet" not in process.log()


@pytest.mark.parametrize("entry, expected", [
    ("  fn_module: extract.bukov\n  extract_fn: missing_fn\n",
     "endpoint 'bukov': extractor extract.bukov:missing_fn: extract_fn not found"),
    ("  fn_module: extract.nowhere\n  extract_fn: extract\n",
     "endpoint 'bukov': extractor extract.nowhere:extract: fn_module not found"),
])
def test_a_broken_extractor_stops_both_processes_at_start(tmp_path, entry, expected):
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    config = folder / "endpoints_config.yaml"
    config.write_text("- name: bukov\n  endpoint: /api/v1/bukov\n  schema_path: schemas/borehole_schema.yaml\n" + entry)
    stack = ConfigStack(tmp_path, config)
    try:
        for args in (["-m", "worker"], ["-m", "gateway"]):
            process = stack.start(args[1], [PYTHON, *args],
                                  {"PORT": "0", "HOST": "127.0.0.1"})
            wait_until(lambda: not process.alive(), 60, f"{args[1]} stops")
            assert process.popen.returncode != 0
            assert expected in process.log(), process.log()
    finally:
        stack.close()
