"""An endpoints file for the silent-logger tests: a Campbell station endpoint that expects an
upload every few seconds, a plain CSV one, and a The Things Stack webhook endpoint."""
from __future__ import annotations

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "tests" / "formats" / "samples"
USERS = {"oak": "oak-pw-4412", "beech": "beech-pw-0007"}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def station_schema(store: Path) -> dict:
    return {
        "ATTRS": {"description": "CR1000X ridge station, table Met10", "STORE_URL": str(store)},
        "COORDS": {"time": {"unit": {"tick": "s", "tz": "+01:00"}, "df_col": "TIMESTAMP"},
                   "station": {"type": "str"}},
        "VARS": {
            "battery": {"coords": ["time", "station"], "unit": "V", "df_col": "BattV_Min"},
            "panel_temperature": {"coords": ["time", "station"], "unit": "degC", "df_col": "PTemp_C_Avg"},
        },
    }


def uplink_schema(store: Path) -> dict:
    return {
        "ATTRS": {"description": "LoRaWAN soil probes", "STORE_URL": str(store)},
        "COORDS": {"time": {"unit": {"tick": "ms", "tz": "UTC"}}, "device": {"type": "str"}},
        "VARS": {"soil_temperature": {"coords": ["time", "device"], "unit": "degC"},
                 "moisture": {"coords": ["time", "device"], "unit": "percent"},
                 "battery_voltage": {"coords": ["time", "device"], "unit": "V"}},
    }


def plain_schema(store: Path) -> dict:
    return {
        "ATTRS": {"description": "plain CSV", "STORE_URL": str(store)},
        "COORDS": {"time": {"unit": {"tick": "s", "tz": "UTC"}}},
        "VARS": {"level": {"coords": ["time"], "unit": "m"}},
    }


def write_config(folder: Path, stores: Path, expect_every: str = "4s") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in (("met", station_schema(stores / "met.zarr")), ("tts", uplink_schema(stores / "tts.zarr")),
                         ("plain", plain_schema(stores / "plain.zarr"))):
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(schema, sort_keys=False))
    endpoints = [
        {"name": "met", "endpoint": "/api/v1/met", "schema_path": "met.yaml", "expect_every": expect_every},
        {"name": "tts", "endpoint": "/api/v1/tts", "schema_path": "tts.yaml", "format": "ttn"},
        {"name": "plain", "endpoint": "/api/v1/plain", "schema_path": "plain.yaml"},
    ]
    config = folder / "endpoints.yaml"
    config.write_text(yaml.safe_dump({"endpoints": endpoints}, sort_keys=False))
    return config
