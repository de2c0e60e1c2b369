"""Content types as the original server classified them, binary magic checks, and plugin loading
that never shadows a library. In-process (Flask test client); the real processes are in
test_migrated_deployments.py."""
from __future__ import annotations

import bz2
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from gateway.app import create_app
from shared.binary import check_magic, open_dataset
from shared.config import ConfigError, load_endpoints, load_settings
from shared.parse import ParseError
from shared.plugins import load_extractor

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "extractors" / "bukov"
RECORDS = json.dumps([{"timestamp": "2026-06-14 07:00:00", "tree_id": "oak-01", "sap_flow": 1.5}]).encode()
CSV = b"timestamp,tree_id,sap_flow\n2026-06-14 07:00:00,oak-01,1.5\n"


@pytest.fixture
def client(tmp_path):
    settings = load_settings({"QUEUE_DIR": str(tmp_path / "q"), "AUTH_ENABLED": "false", "MIN_FREE_BYTES": "0"},
                             dotenv=None)
    return create_app(settings).test_client()


@pytest.mark.parametrize("content_type, body", [
    ("application/geo+json", RECORDS),
    ("application/vnd.logger.v2+json", RECORDS),
    ("APPLICATION/JSON; charset=UTF-8", RECORDS),
    ("text/csv; charset=utf-8", CSV),
    ("Text/CSV", CSV),
    ("text/plain", CSV),  # what Campbell's HTTPPost declares; the content tells CSV from TOA5
])
def test_content_types_the_original_server_took_are_recognised(client, content_type, body):
    response = client.post("/api/v1/tree", data=body, headers={"Content-Type": content_type})
    assert response.status_code == 202, response.get_json()


@pytest.mark.parametrize("content_type", ["text/html", "application/xml", "application/jsonx", "image/png"])
def test_other_content_types_are_415_with_the_accepted_list(client, content_type):
    response = client.post("/api/v1/tree", data=CSV, headers={"Content-Type": content_type})
    assert response.status_code == 415
    message = response.get_json()["error"]
    assert "text/csv, application/json" in message and "application/x-grib" in message


def test_a_grib_file_name_in_a_multipart_part_tells_the_format(client, tmp_path):
    response = client.post("/api/v1/tree", data={"file": (io.BytesIO(b"GRIB\x00\x00"), "field.grib2")},
                           content_type="multipart/form-data")
    assert response.status_code == 202
    (sidecar,) = (tmp_path / "q" / "accepted" / "tree").glob("*.meta.json")
    assert json.loads(sidecar.read_text())["format"] == "grib"


@pytest.mark.parametrize("payload, fmt, expected", [
    (b"CDF\x01rest", "grib", "does not start with 'GRIB'"),
    (b"GRIB....", "netcdf", "neither a classic NetCDF"),
    (b"GRIB....", "gribbz2", "does not start with 'BZh'"),
    (bz2.compress(b"CDF\x01 not grib"), "gribbz2", "the bzip2 data does not start with 'GRIB'"),
    (b"BZh9" + b"\x00" * 40, "gribbz2", "not valid bzip2"),
])
def test_binary_uploads_with_the_wrong_magic_are_refused(payload, fmt, expected):
    with pytest.raises(ParseError, match=expected):
        check_magic(payload, fmt)


def test_a_truncated_bzip2_grib_fails_with_a_reason():
    with pytest.raises(ParseError, match="GRIB\\+bzip2 upload could not be read: the bzip2 data is truncated"):
        open_dataset(bz2.compress(b"GRIB" + b"\x00" * 1000)[:30], "gribbz2")


def copy_example(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(EXAMPLE, folder)
    return folder


def test_a_plugin_named_like_a_library_does_not_shadow_it(tmp_path):
    folder = copy_example(tmp_path)
    # A plugin module called `json` right in the config folder, and one inside extract/.
    (folder / "json.py").write_text("def extract(*, payload, metadata):\n    return None\nSHADOW = True\n")
    (folder / "extract" / "pandas.py").write_text("raise RuntimeError('this must never be imported as pandas')\n")
    config = folder / "endpoints_config.yaml"
    config.write_text(config.read_text().replace("fn_module: extract.bukov", "fn_module: json"))
    (endpoint,) = load_endpoints(config)
    function = load_extractor(endpoint)
    assert function.__module__.endswith(".json") and function.__module__ != "json"
    assert not hasattr(sys.modules["json"], "SHADOW")
    assert str(folder) not in sys.path
    import pandas
    assert "extract" not in pandas.__file__


def test_plugin_files_import_each_other_relatively(tmp_path):
    (endpoint,) = load_endpoints(copy_example(tmp_path) / "endpoints_config.yaml")
    table = load_extractor(endpoint)(payload=(EXAMPLE / "sample.json").read_bytes(), metadata={})
    assert table["depth"].tolist() == [0.05, 0.05, 1.5, 1.5, 0.05]  # extract.labels did the depths


@pytest.mark.parametrize("source, expected", [
    ("extract = 3\n", "extract_fn 'extract' in .* is not callable"),
    ("import no_such_library_here\n", "importing .* failed: ModuleNotFoundError: No module named 'no_such_library_here'"),
])
def test_a_broken_plugin_is_one_line_naming_the_entry(tmp_path, source, expected):
    folder = copy_example(tmp_path)
    (folder / "extract" / "bukov.py").write_text(source)
    (endpoint,) = load_endpoints(folder / "endpoints_config.yaml")
    with pytest.raises(ConfigError, match="endpoint 'bukov': extractor extract.bukov:extract: " + expected) as error:
        load_extractor(endpoint)
    assert "\n" not in str(error.value)


def test_a_target_node_the_schema_does_not_have_stops_the_gateway(tmp_path):
    (tmp_path / "s.yaml").write_text("ATTRS: {store_path: b/s.zarr}\nnetwork:\n  VARS: {}\n")
    config = tmp_path / "endpoints.yaml"
    config.write_text("- {name: a, endpoint: /api/v1/a, schema_path: s.yaml, target_node: netwrok}\n")
    settings = load_settings({"QUEUE_DIR": str(tmp_path / "q"), "AUTH_ENABLED": "false",
                              "ENDPOINTS_CONFIG": str(config)}, dotenv=None)
    with pytest.raises(ConfigError, match="endpoint 'a': target_node 'netwrok' is not a node of s.yaml"):
        create_app(settings)
