"""Uploads over HTTP to a gunicorn gateway, merged by a worker process, read back with xarray."""
from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd
import pytest
import requests

from e2e_stack import REPO, open_local_dataset, open_s3_dataset, wait_until

pytestmark = [pytest.mark.slow]


def sample(name: str) -> str:
    return (REPO / "test_data" / name / "default.csv").read_text()


def utc(text: str, zone: str) -> np.datetime64:
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize(zone) if stamp.tzinfo is None else stamp
    return np.datetime64(stamp.tz_convert("UTC").tz_localize(None), "ns")


@pytest.mark.s3
def test_the_three_sample_uploads_reach_the_s3_store_with_the_right_values_times_and_units(make_stack, moto):
    stack = make_stack(s3_endpoint_url=moto.url)
    stack.start_gateway()
    stack.start_worker()
    for name in ("tree", "weather", "sensor"):
        stack.upload(name, sample(name))
    stack.upload("sensor", "timestamp,sensor_id,battery,logger_temperature\n2026-11-01 12:00:00,BH-0412,3.61,7.5\n",
                 node_path="diagnostics")
    stack.wait_drained(4, 120)
    assert stack.count("failed") == 0

    tree = open_s3_dataset(moto.url, "zarr-fuse-ingress/tree.zarr")
    rows = pd.read_csv(io.StringIO(sample("tree")))
    assert tree.sizes == {"time": rows.timestamp.nunique(), "tree_id": rows.tree_id.nunique()}
    for row in rows.itertuples():
        cell = tree.sel(time=utc(row.timestamp, "Europe/Prague"), tree_id=row.tree_id)
        assert float(cell.sap_flow) == pytest.approx(row.sap_flow)
        assert float(cell.stem_diameter) == pytest.approx(row.stem_diameter_um / 1000)  # um -> mm
        assert float(cell.battery) == pytest.approx(row.battery, rel=1e-6)
    assert tree.stem_diameter.attrs["unit"] == "millimeter"
    assert tree.sap_flow.attrs["unit"] == "gram / hour"
    assert tree.time.values[0] == np.datetime64("2026-06-14T04:00:00")  # 06:00 summer time in Prague

    weather = open_s3_dataset(moto.url, "zarr-fuse-ingress/weather.zarr")
    rows = pd.read_csv(io.StringIO(sample("weather")))
    for row in rows.itertuples():
        (station,) = np.flatnonzero((weather.lat.values == row.lat) & (weather.lon.values == row.lon))
        cell = weather.isel(station=station).sel(time=utc(row.timestamp, "UTC"))
        assert float(cell.temperature) == pytest.approx((row.temp_f - 32) * 5 / 9)  # degF -> degC
        assert float(cell.humidity) == pytest.approx(row.humidity)
    assert weather.temperature.attrs["unit"] == "degree_Celsius"

    sensor = open_s3_dataset(moto.url, "zarr-fuse-ingress/sensor.zarr")
    rows = pd.read_csv(io.StringIO(sample("sensor")))
    for row in rows.itertuples():
        cell = sensor.sel(time=utc(row.timestamp, "Etc/GMT-1"), sensor_id=row.sensor_id)  # +01:00
        assert float(cell.water_level) == pytest.approx(row.water_level_cm / 100)  # cm -> m
        assert str(cell.status.values) == row.status
    assert sensor.water_level.attrs["unit"] == "meter"
    assert sensor.time.values[0] == np.datetime64("2026-10-31T23:00:00")
    diagnostics = open_s3_dataset(moto.url, "zarr-fuse-ingress/sensor.zarr", group="diagnostics")
    cell = diagnostics.sel(time=np.datetime64("2026-11-01T11:00:00"), sensor_id="BH-0412")
    assert float(cell.battery) == pytest.approx(3.61) and diagnostics.battery.attrs["unit"] == "volt"

    status = stack.queue_cli("status")
    assert re.search(r"^total\s+0\s+0\s+4\s+0$", status.stdout, re.M), status.stdout
    assert "worker: alive" in status.stdout


@pytest.mark.s3
def test_300_uploads_of_the_same_cells_sent_one_after_another_leave_the_last_values(make_stack, moto):
    stack = make_stack(s3_endpoint_url=moto.url)
    stack.start_gateway()
    worker = stack.start_worker()
    session = requests.Session()
    ids = []
    for index in range(300):
        body = ("timestamp,tree_id,sap_flow,stem_temperature\n"
                f"2026-06-14 06:00:00,oak-01,{index},{index / 10:.1f}\n"
                f"2026-06-14 06:00:00,beech-07,{index + 1000},{index / 10:.1f}\n")
        ids.append(stack.upload("tree", body, session=session))
    assert ids == sorted(ids)
    stack.wait_drained(300, 180)
    assert stack.count("failed") == 0

    tree = open_s3_dataset(moto.url, "zarr-fuse-ingress/tree.zarr")
    assert float(tree.sap_flow.sel(tree_id="oak-01").item()) == 299
    assert float(tree.sap_flow.sel(tree_id="beech-07").item()) == 1299
    assert float(tree.stem_temperature.sel(tree_id="oak-01").item()) == pytest.approx(29.9)
    merged = re.findall(r"event=merged upload_id=(\S+)", worker.log())
    assert merged == ids  # merged in acceptance order


def test_a_bad_value_fails_with_row_column_and_value_and_merges_after_the_schema_is_fixed(make_stack, tmp_path):
    stack = make_stack(store_root=tmp_path / "stores")
    stack.start_gateway()
    worker = stack.start_worker()
    good = stack.upload("sensor", "timestamp,sensor_id,water_level_cm,status\n2026-11-01 00:00:00,BH-0412,412.5,ok\n")
    bad = stack.upload("sensor", "timestamp,sensor_id,water_level_cm,status\n"
                                 "2026-11-01 01:00:00,BH-0412,412.9,ok\n"
                                 "2026-11-01 02:00:00,BH-0412,413.1,maintenance\n")
    wait_until(lambda: stack.count("failed") == 1 and stack.count("done") == 1, 60, "bad upload failed")
    sidecar = stack.sidecar("failed", bad)
    for part in ("row 2", "status", "maintenance"):
        assert part in sidecar["error"], sidecar["error"]
    assert sidecar["traceback"] and sidecar["attempts"] == 1 and sidecar["failed_at"]
    assert stack.sidecar("done", good)["rows"] == 1

    listing = stack.queue_cli("failed")
    assert bad in listing.stdout and "maintenance" in listing.stdout
    shown = stack.queue_cli("show", bad)
    assert "2026-11-01 02:00:00,BH-0412,413.1,maintenance" in shown.stdout

    # The operator fixes the schema, restarts the worker (schemas are read at start), retries.
    schema = stack.root / "schemas" / "sensor_schema_v1.yaml"
    schema.write_text(schema.read_text().replace("[ok, low_battery, sensor_fault]",
                                                 "[ok, low_battery, sensor_fault, maintenance]"))
    assert worker.stop() == 0
    stack.start_worker("worker-2")
    retried = stack.queue_cli("retry", bad)
    assert retried.returncode == 0, retried.stderr
    stack.wait_drained(2, 60)
    assert stack.count("failed") == 0
    sensor = open_local_dataset(tmp_path / "stores" / "zarr-fuse-ingress" / "sensor.zarr")
    assert str(sensor.status.sel(sensor_id="BH-0412", time=np.datetime64("2026-11-01T01:00:00")).values) \
        == "maintenance"
