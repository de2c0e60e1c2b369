"""Logger and network-server bodies through a real gateway and worker, read back with xarray."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from e2e_stack import Stack, open_local_dataset, wait_until  # noqa: E402
from format_samples import sample  # noqa: E402

pytestmark = [pytest.mark.slow]

STATION_VARS = {
    "record": {"coords": ["time", "station"], "type": "int64", "df_col": "RECORD"},
    "battery": {"coords": ["time", "station"], "unit": "V", "df_col": "BattV_Min"},
    "panel_temperature": {"coords": ["time", "station"], "unit": "degC", "df_col": "PTemp_C_Avg"},
    **{f"soil_temperature_{n}": {"coords": ["time", "station"], "unit": "degC", "df_col": f"T107_C({n})"}
       for n in (1, 2, 3)},
}
UPLINK_VARS = {
    "soil_temperature": {"coords": ["time", "device"], "unit": "degC"},
    "moisture": {"coords": ["time", "device"], "unit": "percent"},
    "battery_voltage": {"coords": ["time", "device"], "unit": "V"},
}


def station_schema(store: Path, battery_source_unit: str | None = None) -> dict:
    variables = {name: dict(entry) for name, entry in STATION_VARS.items()}
    if battery_source_unit:
        variables["battery"]["source_unit"] = battery_source_unit
    return {
        "ATTRS": {"description": "CR1000X ridge station, table Met10", "STORE_URL": str(store)},
        "COORDS": {"time": {"unit": {"tick": "s", "tz": "+01:00"}, "df_col": "TIMESTAMP"},
                   "station": {"type": "str"}},
        "VARS": variables,
    }


def uplink_schema(store: Path) -> dict:
    return {
        "ATTRS": {"description": "LoRaWAN soil probes", "STORE_URL": str(store)},
        "COORDS": {"time": {"unit": {"tick": "ms", "tz": "UTC"}}, "device": {"type": "str"}},
        "VARS": UPLINK_VARS,
    }


@pytest.fixture
def stack(tmp_path: Path):
    stores = tmp_path / "stores"
    folder = tmp_path / "config"
    folder.mkdir()
    schemas = {
        "met": station_schema(stores / "met.zarr"),
        "met_mv": station_schema(stores / "met_mv.zarr", battery_source_unit="mV"),
        "tts": uplink_schema(stores / "tts.zarr"),
        "chirpstack": uplink_schema(stores / "chirpstack.zarr"),
    }
    for name, schema in schemas.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    endpoints = [
        {"name": "met", "endpoint": "/api/v1/met", "schema_path": "met.yaml"},
        {"name": "met_mv", "endpoint": "/api/v1/met_mv", "schema_path": "met_mv.yaml", "format": "toa5"},
        {"name": "tts", "endpoint": "/api/v1/tts", "schema_path": "tts.yaml", "format": "ttn"},
        {"name": "chirpstack", "endpoint": "/api/v1/chirpstack", "schema_path": "chirpstack.yaml"},
    ]
    config = folder / "endpoints.yaml"
    config.write_text(yaml.safe_dump({"endpoints": endpoints}, sort_keys=False))
    running = Stack(tmp_path / "stack", extra_env={"ENDPOINTS_CONFIG": str(config)})
    running.stores = stores  # type: ignore[attr-defined]
    running.start_gateway(workers=1)
    yield running
    running.close()


def post(stack: Stack, endpoint: str, body: bytes, content_type: str, query: str = "") -> requests.Response:
    return requests.post(f"{stack.gateway_url}/api/v1/{endpoint}{query}", data=body,
                         headers={"Content-Type": content_type}, timeout=30)


def local(text: str) -> np.datetime64:
    """A logger time at UTC+01:00 as the UTC instant the store holds."""
    return np.datetime64(text) - np.timedelta64(1, "h")


def test_campbell_and_lorawan_bodies_reach_their_stores_with_times_units_and_values(stack):
    for body, kind in ((sample("cr1000x_met10.dat"), "text/csv"),
                       (sample("cr1000x_met10_resend.dat"), "text/csv"),  # HTTPPost re-sends overlap
                       (sample("cr1000x_met10.json"), "application/json")):
        response = post(stack, "met", body, kind)
        assert response.status_code == 202, response.text
    assert post(stack, "met_mv", sample("cr1000x_met10.dat"), "text/csv").status_code == 202
    started = time.perf_counter()
    assert post(stack, "tts", sample("tts_uplink.json"), "application/json").status_code == 202
    tts_latency = time.perf_counter() - started
    assert post(stack, "chirpstack", sample("chirpstack_up.json"), "application/json", "?event=up").status_code == 202
    for endpoint, body, query in (("tts", sample("tts_join_accept.json"), ""),
                                  ("chirpstack", sample("chirpstack_join.json"), "?event=join"),
                                  ("chirpstack", sample("chirpstack_up.json"), "?event=status")):
        response = post(stack, endpoint, body, "application/json", query)
        assert response.status_code == 202 and response.json()["status"] == "ignored", response.text
    assert stack.count("accepted") == 6  # the three events were not queued
    print(f"TTS webhook upload answered in {tts_latency * 1000:.0f} ms")

    stack.start_worker()
    wait_until(lambda: stack.count("done") + stack.count("failed") >= 6, 120, "six uploads settled")
    assert stack.count("done") == 5 and stack.count("failed", "met_mv") == 1
    (failed,) = stack.ids("failed", "met_mv")
    error = stack.sidecar("failed", failed)["error"]
    assert "'BattV_Min'" in error and "'Volts'" in error and "'mV'" in error, error

    met = open_local_dataset(stack.stores / "met.zarr")
    assert met.sizes == {"time": 6, "station": 1}  # 3 + 3 overlapping by 2 + 2 CSIJSON
    cell = met.sel(station="Hut_Ridge")
    assert cell.time.values[0] == local("2026-11-30T23:50:00")
    assert cell.time.values[-1] == local("2026-12-01T00:40:00")
    assert list(cell.record.values) == [4411, 4412, 4413, 4414, 4415, 4416]
    assert float(cell.battery.sel(time=local("2026-12-01T00:20:00"))) == pytest.approx(12.66)
    assert float(cell.soil_temperature_2.sel(time=local("2026-12-01T00:30:00"))) == pytest.approx(2.088)
    assert np.isnan(float(cell.soil_temperature_3.sel(time=local("2026-11-30T23:50:00"))))  # "NAN"
    assert np.isnan(float(cell.soil_temperature_3.sel(time=local("2026-12-01T00:30:00"))))
    assert met.battery.attrs["unit"] == "volt"
    assert met.panel_temperature.attrs["unit"] == "degree_Celsius"

    tts = open_local_dataset(stack.stores / "tts.zarr")
    assert list(tts.device.values) == ["soil-node-07"]
    assert tts.time.values[0] == np.datetime64("2026-12-01T09:15:42.518")
    assert float(tts.battery_voltage.sel(device="soil-node-07")[0]) == pytest.approx(3.58)
    chirp = open_local_dataset(stack.stores / "chirpstack.zarr")
    assert list(chirp.device.values) == ["0004a30b001c6f52"]
    assert chirp.time.values[0] == np.datetime64("2026-12-01T09:25:11.402")
    assert float(chirp.moisture.sel(device="0004a30b001c6f52")[0]) == pytest.approx(28.25)


def test_a_broken_toa5_upload_is_rejected_at_the_gateway_naming_the_line(stack):
    body = sample("cr1000x_met10.dat").replace(b',"NAN"\r\n', b"\r\n", 1)
    response = post(stack, "met", body, "text/csv")
    assert response.status_code == 400
    assert "TOA5 line 5: 6 cells, but line 2 names 7 fields" in response.text
    response = post(stack, "tts", b'{"end_device_ids": {"device_id": "x"}, "received_at": "2026-12-01T00:00:00Z",'
                    b' "uplink_message": {"f_port": 1}}', "application/json")
    assert response.status_code == 400 and "decoded_payload: missing" in response.text
