"""The gateway's HTTP contract as an OpenAPI 3.0 document, built from the configured endpoints.

`build_spec(endpoints)` is the single source of the spec: the gateway serves it at
`GET /openapi.json`, and `tools/gen_swagger.py` writes it to `docs/swagger.yaml`, which the
tests compare with what `build_spec` gives for `schemas/endpoints_config.yaml`.

Each endpoint of the config gives two operations, `POST {route}` (the store's root node) and
`POST {route}/{node_path}`. Statuses and bodies follow DESIGN.md section 4 and gateway/errors.py.
The spec depends only on the endpoints (never on the host, the time or the users' passwords), so
the same config always gives the same document.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.openapi_operators import TAG as OPERATORS_TAG, operator_paths, operator_schemas
from gateway.upload import NODE_PATH_MAX_LENGTH
from shared.config import Endpoint

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1"
# What gateway.upload.check_node_path accepts, in ASCII (it also takes other Unicode letters).
NODE_PATH_PATTERN = r"^[A-Za-z0-9_. -]+(/[A-Za-z0-9_. -]+)*$"

# Error statuses of an upload, each with the reason a client reads in the `error` field.
UPLOAD_ERRORS = {
    "400": "Bad upload: empty body, missing `file` field, unparseable CSV/JSON (also a key twice in one "
    "JSON record, an integer of more than 309 digits, more than MAX_COLUMNS columns), invalid gzip, bad "
    "node path or Idempotency-Key, missing coordinate columns, a column that looks like a typo of a known "
    "one (\"did you mean 'sap_flow'\"), or unknown columns on an endpoint with `extra_columns: reject`.",
    "401": "No, wrong or unreadable credentials; `error` names the accepted header forms (HTTP Basic, "
    "`Authorization: Bearer <name>.<secret>`, `X-API-Key: <name>.<secret>`, and on endpoints with "
    "`campbell_basic: true` Campbell's `Basic base64(user):base64(password)`).",
    "403": "The user may not upload to this endpoint.",
    "408": "The body stalled: nothing arrived for READ_TIMEOUT seconds; nothing was kept, send it again.",
    "413": "The body, or the gzip-inflated body, is over MAX_UPLOAD_BYTES.",
    "409": "The Idempotency-Key was already used (same user, endpoint and node path) with a different "
    "body; `id` names the original upload, `Location` its status. The new data was not accepted: send "
    "it under a new key.",
    "415": "Content type or content encoding the gateway cannot read.",
    "429": "Too many failed logins from this client address or for this user name (LOGIN_FAILURES_MAX "
    "in LOGIN_FAILURES_WINDOW seconds): the credentials were not checked; send again after `Retry-After` "
    "seconds (also `retry_after` in the body). A credential that already logged in is never refused so.",
    "503": "The queue is full, its disk is low or full (ENOSPC, quota, no inodes): nothing was kept; send "
    "again after `Retry-After` seconds.",
}

# Any one of these (OpenAPI: alternatives). Campbell's Basic form is told per endpoint.
SECURITY = [{"basicAuth": []}, {"bearerAuth": []}, {"apiKey": []}]

CSV_EXAMPLE = "timestamp,tree_id,sap_flow\n2026-06-14 06:00:00,oak-01,118.2\n"
TOA5_EXAMPLE = (
    '"TOA5","Hut_Ridge","CR1000X","48213","CR1000X.Std.07.02","CPU:ridge_met.CR1X","21876","Met10"\n'
    '"TIMESTAMP","RECORD","BattV_Min","PTemp_C_Avg"\n"TS","RN","Volts","Deg C"\n"","","Min","Avg"\n'
    '"2026-12-01 00:00:00",4412,12.69,3.287\n'
)


def build_spec(endpoints: Iterable[Endpoint], *, public_docs: bool = True) -> dict[str, Any]:
    """The OpenAPI document of a gateway serving `endpoints` (plain dicts and lists, JSON-ready).

    With `public_docs` false (PUBLIC_DOCS=false), /metrics and /openapi.json need credentials.
    """
    endpoints = tuple(endpoints)
    paths: dict[str, Any] = {}
    for endpoint in endpoints:
        paths[endpoint.route] = {"post": _upload_operation(endpoint, with_node_path=False)}
        paths[endpoint.route + "/{node_path}"] = {"post": _upload_operation(endpoint, with_node_path=True)}
    paths.update(_service_paths(public_docs))
    for path, operations in operator_paths().items():
        paths.setdefault(path, {}).update(operations)
    components = _components()
    components["schemas"].update(operator_schemas())
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "zarr-fuse ingress gateway",
            "version": API_VERSION,
            "description": (
                "Upload CSV or JSON tables from field loggers. An accepted upload (202) is kept "
                "durably in the queue and merged into its Zarr store by the worker, in order of "
                "acceptance; follow it at the URL in the `Location` header."
            ),
        },
        "tags": [
            {"name": "uploads", "description": "Send tables; one pair of routes per configured endpoint."},
            {"name": "service", "description": "Health, readiness, metrics and this document."},
            OPERATORS_TAG,
        ],
        "security": SECURITY,
        "paths": paths,
        "components": components,
    }


def _upload_operation(endpoint: Endpoint, *, with_node_path: bool) -> dict[str, Any]:
    where = "node `node_path` of" if with_node_path else "the root node of"
    allowed = (
        f" Only users {', '.join(endpoint.users)} may upload here." if endpoint.users is not None else ""
    )
    parameters: list[dict[str, Any]] = []
    if with_node_path:
        parameters.append({"$ref": "#/components/parameters/NodePath"})
    parameters += [
        {"$ref": "#/components/parameters/ContentEncoding"},
        {"$ref": "#/components/parameters/IdempotencyKey"},
    ]
    responses: dict[str, Any] = {"202": {"$ref": "#/components/responses/Accepted"}}
    responses.update({status: {"$ref": f"#/components/responses/Upload{status}"} for status in UPLOAD_ERRORS})
    body: dict[str, Any] = {"$ref": "#/components/requestBodies/Upload"}
    checked = "The table is checked cheaply (format, header, consistent rows) and queued; its values are checked when merged."
    if endpoint.extractor:
        # The extractor plugin alone reads these bytes: any declared type, checked for size only.
        binary = {"schema": {"type": "string", "format": "binary"}}
        body = {"required": True, "description": f"Bytes for the extractor `{endpoint.extractor}`.",
                "content": {**{t: binary for t in endpoint.content_types},
                            "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                                               "properties": {"file": {"type": "string", "format": "binary"}}}}}}
        checked = f"The bytes are queued as they are (size checked) and read by the extractor `{endpoint.extractor}`."
    if endpoint.campbell_basic:
        allowed += (" Also Campbell's header form `Authorization: Basic base64(user):base64(password)` "
                    "(`campbell_basic: true`).")
    target = f" Node paths are below the endpoint's target node `{endpoint.target_node}`." if endpoint.target_node else ""
    return {
        "tags": ["uploads"],
        "operationId": f"upload_{endpoint.name}" + ("_node" if with_node_path else ""),
        "summary": f"Upload a table into {where} the `{endpoint.name}` store",
        "description": (
            f"Schema: `{endpoint.schema_path.name}`.{allowed}{target} {checked}"
        ),
        "parameters": parameters,
        "requestBody": body,
        "responses": responses,
    }


def _service_paths(public_docs: bool) -> dict[str, Any]:
    def json_response(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        }
        if headers:
            response["headers"] = headers
        return response

    public: list[dict[str, Any]] = []  # no credentials needed
    docs = public if public_docs else SECURITY
    return {
        "/api/v1/uploads/{upload_id}": {
            "get": {
                "tags": ["uploads"],
                "operationId": "upload_status",
                "summary": "State of an upload: queued, done (rows merged) or failed (with the reason)",
                "parameters": [
                    {
                        "name": "upload_id",
                        "in": "path",
                        "required": True,
                        "description": "The `id` of the 202 answer.",
                        "schema": {"type": "string", "example": "20261124T021500_123456789Z"},
                    }
                ],
                "responses": {
                    "200": json_response("The upload's state.", "UploadStatus"),
                    "401": {"$ref": "#/components/responses/Upload401"},
                    "429": {"$ref": "#/components/responses/Upload429"},
                    "404": json_response(
                        "No upload with this id that this user may read (unknown, purged after its retention, "
                        "or sent by another user: only OPERATORS read every upload).", "Error",
                    ),
                },
            }
        },
        "/health": {
            "get": {
                "tags": ["service"],
                "operationId": "health",
                "summary": "Liveness: the process answers",
                "security": public,
                "responses": {"200": json_response("Alive.", "Health")},
            }
        },
        "/ready": {
            "get": {
                "tags": ["service"],
                "operationId": "ready",
                "summary": "Readiness: the queue is writable, with room on disk and in depth",
                "security": public,
                "responses": {
                    "200": json_response("Ready to accept uploads.", "Readiness"),
                    "503": json_response(
                        "Not ready; `problems` says why.", "Readiness",
                        {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}},
                    ),
                },
            }
        },
        "/metrics": {
            "get": {
                "tags": ["service"],
                "operationId": "metrics",
                "summary": "Prometheus metrics of the gateway (behind auth when PUBLIC_DOCS=false)",
                "security": docs,
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "tags": ["service"],
                "operationId": "openapi",
                "summary": "This document (behind auth when PUBLIC_DOCS=false)",
                "security": docs,
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }


def _components() -> dict[str, Any]:
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    upload_errors: dict[str, Any] = {}
    for status, description in UPLOAD_ERRORS.items():
        response: dict[str, Any] = {"description": description, "content": error_content}
        if status == "401":
            response["headers"] = {"WWW-Authenticate": {"$ref": "#/components/headers/WWWAuthenticate"}}
        if status in ("503", "429"):
            response["headers"] = {"Retry-After": {"$ref": "#/components/headers/RetryAfter"}}
        if status == "409":
            response["headers"] = {"Location": {"$ref": "#/components/headers/Location"}}
        upload_errors[f"Upload{status}"] = response

    nullable_string = {"type": "string", "nullable": True}
    return {
        "securitySchemes": {
            "basicAuth": {
                "type": "http",
                "scheme": "basic",
                "description": ("Users and passwords from BASIC_AUTH_USERS_JSON or USERS_FILE (off when "
                                "AUTH_ENABLED=false)."),
            },
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key `<name>.<secret>` of a USERS_FILE user with a `key_hash`.",
            },
            "apiKey": {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": "The same API key `<name>.<secret>` in its own header.",
            },
        },
        "parameters": {
            "NodePath": {
                "name": "node_path",
                "in": "path",
                "required": True,
                "description": (
                    "Node of the schema to merge into, as `a/b/c`: names of letters, digits, `_`, `-`, "
                    "`.` and spaces; no empty, `.` or `..` segment."
                ),
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": NODE_PATH_MAX_LENGTH,
                    "pattern": NODE_PATH_PATTERN,
                    "example": "site_a",
                },
            },
            "ContentEncoding": {
                "name": "Content-Encoding",
                "in": "header",
                "required": False,
                "description": "`gzip` when the body (the whole multipart body, for a form) is gzip-compressed.",
                "schema": {"type": "string", "enum": ["gzip", "identity"]},
            },
            "IdempotencyKey": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": (
                    "A client's key for this upload's body, scoped to user, endpoint and node path: sending "
                    "the same key with the same body (sha256) again answers with the first upload's id (and "
                    "`Idempotent-Replayed: true`) instead of queueing it twice; the same key with another "
                    "body is a 409. Name the file, not a time slot. 1 to 255 printable ASCII characters."
                ),
                "schema": {"type": "string", "minLength": 1},
            },
        },
        "requestBodies": {
            "Upload": {
                "required": True,
                "description": (
                    "The table, either as the raw body (`text/csv` or `application/json`; also "
                    "`application/csv`, `text/comma-separated-values`, `text/json`, and `text/plain`, "
                    "what Campbell loggers' HTTPPost declares: read as the CSV family, Campbell TOA5 or "
                    "CSV told by the content) or as the field "
                    "`file` of a form, whose format is told by the part's content type or the file "
                    "name's extension (`.csv`, `.json`, `.grib2`, `.grib2.bz2`, `.nc`). Media types in any case "
                    "and with parameters; JSON also as `application/geo+json` or `application/vnd.*+json`. "
                    "Binary fields: `application/x-grib`, `application/x-grib+bz2`, `application/x-netcdf` "
                    "(or `application/netcdf`), checked by their magic bytes and read by the worker."
                ),
                "content": {
                    "text/csv": {
                        "schema": {"type": "string", "description": "UTF-8 CSV with a header row."},
                        "example": CSV_EXAMPLE,
                    },
                    "text/plain": {
                        "schema": {"type": "string", "description": "Campbell TOA5 (or CSV), told by the content."},
                        "example": TOA5_EXAMPLE,
                    },
                    "application/json": {"schema": {"$ref": "#/components/schemas/JsonTable"}},
                    **{media: {"schema": {"type": "string", "format": "binary"}}
                       for media in ("application/x-grib", "application/x-grib+bz2", "application/x-netcdf")},
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        },
                        "encoding": {"file": {"contentType": "text/csv, application/json, application/octet-stream"}},
                    },
                },
            }
        },
        "headers": {
            "RetryAfter": {
                "description": "Seconds to wait before sending again.",
                "schema": {"type": "integer", "minimum": 0},
            },
            "WWWAuthenticate": {
                "description": "`Basic realm=..., Bearer realm=...`: the gateway wants Basic credentials or an API key.",
                "schema": {"type": "string"},
            },
            "Location": {
                "description": "The status URL of the upload, `/api/v1/uploads/{id}`.",
                "schema": {"type": "string"},
            },
            "IdempotentReplayed": {
                "description": "`true` when the Idempotency-Key was seen before and this is the first upload's answer.",
                "schema": {"type": "string", "enum": ["true"]},
            },
        },
        "responses": {
            "Accepted": {
                "description": ("Queued durably; the worker merges it later. A network-server event that "
                                "carries no measurement (a LoRaWAN join, ack, status: formats ttn, "
                                "chirpstack) is answered `ignored` and not queued."),
                "headers": {
                    "Location": {"$ref": "#/components/headers/Location"},
                    "Idempotent-Replayed": {"$ref": "#/components/headers/IdempotentReplayed"},
                },
                "content": {"application/json": {"schema": {"oneOf": [
                    {"$ref": "#/components/schemas/Accepted"}, {"$ref": "#/components/schemas/Ignored"},
                ]}}},
                "links": {
                    "UploadStatus": {
                        "operationId": "upload_status",
                        "parameters": {"upload_id": "$response.body#/id"},
                        "description": "Where the upload's state can be followed.",
                    }
                },
            },
            **upload_errors,
        },
        "schemas": {
            "JsonTable": {
                "description": "A list of records, or a mapping of equal-length columns; plain values only.",
                "oneOf": [
                    {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Cell"}},
                    },
                    {
                        "type": "object",
                        "minProperties": 1,
                        "additionalProperties": {
                            "type": "array",
                            "minItems": 1,
                            "items": {"$ref": "#/components/schemas/Cell"},
                        },
                    },
                ],
                "example": [{"timestamp": "2026-06-14 06:00:00", "tree_id": "oak-01", "sap_flow": 118.2}],
            },
            "Cell": {"oneOf": [nullable_string, {"type": "number"}, {"type": "boolean"}]},
            "Accepted": {
                "type": "object",
                "required": ["status", "id", "endpoint", "node_path"],
                "properties": {
                    "status": {"type": "string", "enum": ["accepted"]},
                    "id": {"type": "string", "description": "Upload id; ids sort in order of acceptance."},
                    "endpoint": {"type": "string"},
                    "node_path": {"type": "string", "description": "`\"\"` for the root node."},
                },
            },
            "Ignored": {
                "type": "object",
                "required": ["status", "reason"],
                "properties": {
                    "status": {"type": "string", "enum": ["ignored"]},
                    "reason": {"type": "string", "description": "Which event it was."},
                },
            },
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string", "description": "What to fix: the field, column, line or limit."},
                    "id": {"type": "string", "description": "409 only: the id of the upload first sent with the key."},
                    "trace": {
                        **nullable_string,
                        "description": (
                            "When PRODUCTION is false: the stack trace of the exception that explains the error "
                            "(an internal error, a failed disk write), else null; absent in production."
                        ),
                    },
                },
            },
            "UploadStatus": {
                "type": "object",
                "required": ["id", "state", "endpoint", "node_path", "received_at", "size", "sha256", "attempts"],
                "properties": {
                    "id": {"type": "string"},
                    "state": {"type": "string", "enum": ["queued", "done", "failed"]},
                    "endpoint": {"type": "string"},
                    "node_path": {"type": "string"},
                    "received_at": {"type": "string", "format": "date-time"},
                    "size": {"type": "integer", "minimum": 0},
                    "sha256": {"type": "string"},
                    "attempts": {"type": "integer", "minimum": 0},
                    "merged_at": {**nullable_string, "format": "date-time", "description": "When done."},
                    "rows": {"type": "integer", "nullable": True, "description": "When done: rows merged."},
                    "batch": {**nullable_string, "description": "When done: the merge batch it was part of."},
                    "error": {**nullable_string, "description": "When failed: the reason an operator can act on."},
                    "failed_at": {**nullable_string, "format": "date-time"},
                    "traceback": {**nullable_string, "description": "When failed, unless PRODUCTION is true."},
                    "ignored_columns": {
                        "type": "array", "items": {"type": "string"},
                        "description": "Columns of the upload the node's schema does not know: not stored.",
                    },
                },
            },
            "Health": {
                "type": "object",
                "required": ["status"],
                "properties": {"status": {"type": "string", "enum": ["ok"]}},
            },
            "Readiness": {
                "type": "object",
                "required": ["status", "queue_depth", "free_bytes"],
                "properties": {
                    "status": {"type": "string", "enum": ["ready", "not ready"]},
                    "queue_depth": {"type": "integer", "minimum": 0},
                    "free_bytes": {"type": "integer", "minimum": 0},
                    "problems": {"type": "array", "items": {"type": "string"}},
                    "worker": {
                        "type": "object",
                        "description": "The worker's heartbeat, for information: uploads are accepted without a worker.",
                        "required": ["alive"],
                        "properties": {
                            "alive": {"type": "boolean"},
                            "heartbeat_age_seconds": {"type": "number", "nullable": True},
                            "pid": {"type": "integer"},
                        },
                    },
                },
            },
        },
    }
