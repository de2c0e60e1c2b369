"""The OpenAPI part of the operators' API (gateway/operators.py): paths and their body schemas.

Kept apart from gateway/openapi.py, which describes what a logger sees; `build_spec` adds these.
"""

from __future__ import annotations

from typing import Any

TAG = {"name": "operators", "description": "The failed queue and the health of merging (users in OPERATORS)."}

_ID_PARAMETER = {
    "name": "upload_id", "in": "path", "required": True, "description": "The `id` of the 202 answer.",
    "schema": {"type": "string", "example": "20261124T021500_123456789Z"},
}
_NOT_FOUND = "No such upload, or the user is not an operator (both answer alike: ids are not told)."


def _json(description: str, schema: str | dict[str, Any]) -> dict[str, Any]:
    body = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    return {"description": description, "content": {"application/json": {"schema": body}}}


def _error(description: str) -> dict[str, Any]:
    return _json(description, "Error")


def operator_paths() -> dict[str, dict[str, Any]]:
    """{path: {method: operation}}; a path may also carry other methods (GET of an upload)."""
    unauthorized = {"$ref": "#/components/responses/Upload401"}
    return {
        "/api/v1/failed": {"get": {
            "tags": ["operators"], "operationId": "failed_uploads",
            "summary": "Failed uploads in id order, with the reason each one failed",
            "parameters": [
                {"name": "endpoint", "in": "query", "required": False, "description": "Only this endpoint's.",
                 "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "required": False, "description": "At most this many (default 100).",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
            ],
            "responses": {
                "200": _json("The failed uploads.", {"type": "array", "items": {"$ref": "#/components/schemas/FailedUpload"}}),
                "400": _error("Unknown endpoint, or a limit that is not a whole number from 1 to 10000."),
                "401": unauthorized,
                "429": {"$ref": "#/components/responses/Upload429"},
                "403": _error("The user is not an operator."),
            },
        }},
        "/api/v1/uploads/{upload_id}/payload": {"get": {
            "tags": ["operators"], "operationId": "upload_payload",
            "summary": "The stored body of an upload, byte for byte",
            "parameters": [_ID_PARAMETER],
            "responses": {
                "200": {
                    "description": "The body, in the content type it was sent with; `X-Upload-SHA256` is its hash.",
                    "headers": {"X-Upload-SHA256": {"schema": {"type": "string"}}},
                    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
                },
                "401": unauthorized,
                "429": {"$ref": "#/components/responses/Upload429"},
                "404": _error(_NOT_FOUND),
            },
        }, "put": {
            "tags": ["operators"], "operationId": "replace_payload",
            "summary": "A failed upload's corrected body, keeping its id (as `zarr-ingress queue replace`); then retry it",
            "parameters": [_ID_PARAMETER],
            "requestBody": {"required": True, "description": "The whole corrected file, in the upload's format.",
                            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
            "responses": {
                "200": _json("Replaced; the upload stays failed until it is retried.", "ReplacedPayload"),
                "400": _error("The body is empty."),
                "401": unauthorized,
                "429": {"$ref": "#/components/responses/Upload429"},
                "404": _error(_NOT_FOUND),
                "409": _error("The upload is not failed: only failed uploads can be replaced."),
                "413": _error("The body is over MAX_UPLOAD_BYTES."),
            },
        }},
        "/api/v1/uploads/{upload_id}/retry": {"post": {
            "tags": ["operators"], "operationId": "retry_upload",
            "summary": "A failed upload back to the queue, keeping its id and so its place in order",
            "parameters": [_ID_PARAMETER],
            "responses": {
                "202": _json("Queued again; follow it at `Location`.", "OperatorOutcome"),
                "401": unauthorized,
                "429": {"$ref": "#/components/responses/Upload429"},
                "404": _error(_NOT_FOUND),
                "409": _error("The upload is not failed (waiting, merging or done)."),
            },
        }},
        "/api/v1/uploads/{upload_id}": {"delete": {
            "tags": ["operators"], "operationId": "purge_upload",
            "summary": "Purge a failed upload: its payload and sidecar are deleted",
            "parameters": [_ID_PARAMETER],
            "responses": {
                "200": _json("Purged.", "OperatorOutcome"),
                "401": unauthorized,
                "429": {"$ref": "#/components/responses/Upload429"},
                "404": _error(_NOT_FOUND),
                "409": _error("The upload is not failed: only failed uploads can be purged."),
            },
        }},
        "/api/v1/status": {"get": {
            "tags": ["operators"], "operationId": "merging_status",
            "summary": "Is merging healthy: worker heartbeat, lanes, queue counts, scrapers",
            "responses": {
                "200": _json("The state of merging.", "MergingStatus"),
                "401": unauthorized,
                "429": {"$ref": "#/components/responses/Upload429"},
                "403": _error("The user is not an operator."),
            },
        }},
    }


def operator_schemas() -> dict[str, Any]:
    nullable_string = {"type": "string", "nullable": True}
    counts = {"type": "object", "properties": {n: {"type": "integer", "minimum": 0}
                                               for n in ("waiting", "active", "done", "failed")}}
    return {
        "FailedUpload": {
            "type": "object",
            "required": ["id", "endpoint", "node_path", "error", "attempts", "failed_at"],
            "properties": {
                "id": {"type": "string"}, "endpoint": {"type": "string"}, "node_path": {"type": "string"},
                "error": {**nullable_string, "description": "The reason an operator can act on."},
                "attempts": {"type": "integer", "minimum": 0},
                "failed_at": {**nullable_string, "format": "date-time"},
            },
        },
        "OperatorOutcome": {
            "type": "object",
            "required": ["id", "state", "endpoint"],
            "properties": {"id": {"type": "string"}, "state": {"type": "string", "enum": ["queued", "purged"]},
                           "endpoint": {"type": "string"}},
        },
        "ReplacedPayload": {
            "type": "object",
            "required": ["id", "state", "endpoint", "size", "sha256", "replaced"],
            "properties": {
                "id": {"type": "string"}, "state": {"type": "string", "enum": ["failed"]},
                "endpoint": {"type": "string"}, "size": {"type": "integer", "minimum": 0}, "sha256": {"type": "string"},
                "replaced": {"type": "array", "description": "Earlier bodies, oldest first.", "items": {
                    "type": "object", "properties": {"sha256": {"type": "string"}, "size": {"type": "integer"},
                                                     "replaced_at": {"type": "string", "format": "date-time"}}}},
            },
        },
        "MergingStatus": {
            "type": "object",
            "required": ["worker", "lanes", "queue", "scrapers"],
            "properties": {
                "worker": {
                    "type": "object", "required": ["alive"],
                    "description": "From the heartbeat of the worker holding the queue lock.",
                    "properties": {
                        "alive": {"type": "boolean"}, "pid": {"type": "integer", "nullable": True},
                        "host": nullable_string, "heartbeat_at": {**nullable_string, "format": "date-time"},
                        "heartbeat_age_seconds": {"type": "number", "nullable": True},
                        "started_at": {**nullable_string, "format": "date-time"},
                    },
                },
                "lanes": {
                    "type": "array", "description": "Per endpoint: `ok` or `store unreachable` since when and why.",
                    "items": {"type": "object", "required": ["endpoint"],
                              "properties": {"endpoint": {"type": "string"}, "state": {"type": "string"},
                                             "since": nullable_string, "reason": nullable_string,
                                             "busy": nullable_string, "busy_since": nullable_string}},
                },
                "queue": {
                    "type": "object", "required": ["counts", "totals"],
                    "properties": {
                        "counts": {"type": "object", "additionalProperties": counts},
                        "totals": counts,
                        "oldest_waiting": {
                            "type": "object", "nullable": True,
                            "properties": {"id": {"type": "string"}, "endpoint": {"type": "string"},
                                           "age_seconds": {"type": "number"}},
                        },
                    },
                },
                "scrapers": {
                    "type": "array", "description": "From the scheduler's state file; empty without a scheduler.",
                    "items": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"}, "last_run": nullable_string, "last_ok": {"type": "boolean"},
                        "last_success": nullable_string, "next_run": nullable_string,
                        "fetched": {"type": "integer"}, "failed": {"type": "integer"},
                        "reason": {"type": "string", "description": "Why the last run failed (absent after a success)."},
                    }},
                },
            },
        },
    }
