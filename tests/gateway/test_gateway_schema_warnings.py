"""Schema warnings are logged once when the gateway app is built; they never stop it, an error does."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway_helpers import make_settings
from shared.config import ConfigError

FIELD_SCHEMAS = Path(__file__).resolve().parents[1] / "fuse" / "schemas"


def endpoints_file(tmp_path: Path, schema: str) -> Path:
    shutil.copy(FIELD_SCHEMAS / schema, tmp_path / schema)
    path = tmp_path / "endpoints.yaml"
    path.write_text(f"- name: trees\n  endpoint: /api/v1/trees\n  schema_path: {schema}\n")
    return path


class Lines(logging.Handler):
    """The gateway's records, as they reach its logger."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_gateway_logs_each_schema_warning_once_and_starts(tmp_path):
    config = endpoints_file(tmp_path, "tree_network.yaml")
    listener = Lines()
    logging.getLogger("zarr_ingress.gateway").addHandler(listener)
    try:
        app = create_app(make_settings(tmp_path / "queue", ENDPOINTS_CONFIG=str(config)))
    finally:
        logging.getLogger("zarr_ingress.gateway").removeHandler(listener)
    lines = [line for line in listener.lines if line.startswith("event=schema_warning")]
    assert lines == ['event=schema_warning endpoint=trees warning="tree_network.yaml: trees/VARS/tree: also listed '
                     "in COORDS (an obsolete form): read as one coordinate, the keys of VARS/tree "
                     'laid over COORDS/tree"']
    assert app.test_client().get("/health").status_code == 200


def test_the_gateway_refuses_to_start_on_a_schema_error_naming_the_key(tmp_path):
    config = endpoints_file(tmp_path, "tree_network.yaml")
    schema = tmp_path / "tree_network.yaml"
    schema.write_text(schema.read_text().replace("unit: Boolean", "unit: Boolean\n      dtype: bool"))
    with pytest.raises(ConfigError, match=r"trees/VARS/growing/dtype: unknown key, did you mean 'type'\?"):
        create_app(make_settings(tmp_path / "queue", ENDPOINTS_CONFIG=str(config)))
