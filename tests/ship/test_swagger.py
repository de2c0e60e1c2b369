"""docs/swagger.yaml is the spec of the shipped endpoints config, valid, and complete."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from openapi_spec_validator import validate

from gateway.openapi import UPLOAD_ERRORS, build_spec
from shared.config import load_endpoints

REPO = Path(__file__).resolve().parents[2]
SWAGGER = REPO / "docs" / "swagger.yaml"
CONFIG = REPO / "schemas" / "endpoints_config.yaml"


@pytest.fixture(scope="module")
def committed() -> dict:
    return yaml.safe_load(SWAGGER.read_text(encoding="utf-8"))


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = spec["components"][section][name]
    return node


def test_committed_swagger_is_what_gen_swagger_writes_for_the_endpoints_config() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen_swagger.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_committed_swagger_equals_the_spec_the_gateway_builds(committed: dict) -> None:
    assert committed == build_spec(load_endpoints(CONFIG))


@pytest.mark.parametrize("config", ["endpoints_config.yaml", "prod_endpoints_config.yaml"])
def test_spec_is_a_valid_openapi_document(config: str) -> None:
    validate(build_spec(load_endpoints(REPO / "schemas" / config)))


def test_committed_swagger_is_a_valid_openapi_document(committed: dict) -> None:
    validate(committed)


def test_every_configured_endpoint_has_a_root_and_a_node_upload_route(committed: dict) -> None:
    for endpoint in load_endpoints(CONFIG):
        assert "post" in committed["paths"][endpoint.route]
        assert "post" in committed["paths"][endpoint.route + "/{node_path}"]


def test_upload_routes_document_every_status_with_a_json_body_and_basic_auth(committed: dict) -> None:
    basic = committed["components"]["securitySchemes"]["basicAuth"]
    assert (basic["type"], basic["scheme"]) == ("http", "basic")
    assert committed["security"] == [{"basicAuth": []}, {"bearerAuth": []}, {"apiKey": []}]
    key = committed["components"]["securitySchemes"]["apiKey"]
    assert (key["type"], key["in"], key["name"]) == ("apiKey", "header", "X-API-Key")
    for endpoint in load_endpoints(CONFIG):
        operation = committed["paths"][endpoint.route]["post"]
        assert "security" not in operation  # the global Basic auth applies
        assert set(operation["responses"]) == {"202", *UPLOAD_ERRORS}
        for status, response in operation["responses"].items():
            schema = resolve(committed, resolve(committed, response)["content"]["application/json"]["schema"])
            if status == "202":  # accepted with an id, or (a LoRaWAN non-uplink event) ignored
                kinds = [resolve(committed, kind) for kind in schema["oneOf"]]
                assert "id" in kinds[0]["required"] and all("status" in kind["required"] for kind in kinds)
            else:
                assert "error" in schema["required"]
    assert "Retry-After" in resolve(committed, {"$ref": "#/components/responses/Upload503"})["headers"]
    assert "Retry-After" in resolve(committed, {"$ref": "#/components/responses/Upload429"})["headers"]
    assert "WWW-Authenticate" in resolve(committed, {"$ref": "#/components/responses/Upload401"})["headers"]


def test_both_upload_body_forms_are_documented(committed: dict) -> None:
    body = resolve(committed, committed["paths"]["/api/v1/tree"]["post"]["requestBody"])
    assert {"text/csv", "application/json", "multipart/form-data"} <= set(body["content"])
    form = body["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"


def test_service_routes_are_documented_and_public_except_the_upload_status(committed: dict) -> None:
    for route in ("/health", "/ready", "/metrics", "/openapi.json"):
        assert committed["paths"][route]["get"]["security"] == []
    status = committed["paths"]["/api/v1/uploads/{upload_id}"]["get"]
    assert "security" not in status and {"200", "401", "404", "429"} == set(status["responses"])


def test_operator_routes_need_credentials_and_document_the_refusals(committed: dict) -> None:
    paths = committed["paths"]
    operations = [paths["/api/v1/failed"]["get"], paths["/api/v1/status"]["get"],
                  paths["/api/v1/uploads/{upload_id}/payload"]["get"], paths["/api/v1/uploads/{upload_id}/payload"]["put"],
                  paths["/api/v1/uploads/{upload_id}/retry"]["post"],
                  paths["/api/v1/uploads/{upload_id}"]["delete"]]
    for operation in operations:
        assert "security" not in operation and operation["tags"] == ["operators"]
        assert "401" in operation["responses"] and {"403", "404"} & set(operation["responses"])
    assert "get" in paths["/api/v1/uploads/{upload_id}"]  # the upload status stays beside the purge


def test_endpoint_users_restriction_is_described(tmp_path: Path) -> None:
    config = tmp_path / "endpoints.yaml"
    config.write_text("- {name: tree, endpoint: /api/v1/tree, schema_path: tree_schema_v1.yaml, users: [alice]}\n")
    spec = build_spec(load_endpoints(config, REPO / "schemas"))
    assert "alice" in spec["paths"]["/api/v1/tree"]["post"]["description"]
    validate(spec)
