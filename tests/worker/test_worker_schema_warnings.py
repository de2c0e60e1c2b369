"""The worker logs each schema warning once when it loads its schemas at start."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from shared.config import load_settings
from shared.logs import format_fields
from worker.__main__ import load_schemas

FIELD_SCHEMAS = Path(__file__).resolve().parents[1] / "fuse" / "schemas"


def test_the_worker_logs_each_schema_warning_once_at_start(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="worker")
    shutil.copy(FIELD_SCHEMAS / "surface_weather.yaml", tmp_path / "surface_weather.yaml")
    config = tmp_path / "endpoints.yaml"
    config.write_text("- name: weather\n  endpoint: /api/v1/weather\n  schema_path: surface_weather.yaml\n")
    settings = load_settings({"QUEUE_DIR": str(tmp_path / "queue"), "ENDPOINTS_CONFIG": str(config)},
                             dotenv=None)
    schemas = load_schemas(settings)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("event=schema_warning")]
    assert lines == [format_fields(event="schema_warning", endpoint="weather", warning=w)
                     for w in schemas["weather"].schema.warnings]
    assert [w.key_path for w in schemas["weather"].schema.warnings] == [
        "ATTRS/created", "forecast/COORDS/time/merge/step_limits", "forecast/VARS/cloudiness/long_name"]
