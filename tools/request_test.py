#!/usr/bin/env python3
"""A client example: upload a CSV and a JSON table, gzip-compressed, then ask for their state.

    python tools/request_test.py --url http://127.0.0.1:8000 --user test --password test
    python tools/request_test.py --endpoint /api/v1/weather --csv test_data/weather/default.csv --wait 60

Each upload is sent with `Content-Encoding: gzip` and an `Idempotency-Key`, so sending it again
after a lost answer cannot queue it twice. A 503 (queue full, disk low) is retried after the
`Retry-After` seconds the gateway asks for. For each upload the script prints the id, then its
state from GET /api/v1/uploads/<id> (with --wait, once it is merged or failed).
Exit status: 0 when every upload was accepted (and, with --wait, merged), 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import sys
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
MAX_ATTEMPTS = 5
MAX_RETRY_AFTER = 120  # seconds; never sleep longer than this whatever the server says


def upload(session: requests.Session, url: str, body: bytes, content_type: str) -> dict:
    """POST one table gzip-compressed; retry on 503 as told by Retry-After. Returns the 202 body."""
    headers = {
        "Content-Type": content_type,
        "Content-Encoding": "gzip",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    compressed = gzip.compress(body)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        response = session.post(url, data=compressed, headers=headers, timeout=30)
        if response.status_code == 202:
            return response.json()
        if response.status_code == 503 and attempt < MAX_ATTEMPTS:
            wait = min(int(response.headers.get("Retry-After", "5")), MAX_RETRY_AFTER)
            print(f"  503 ({_error(response)}); retrying in {wait}s", file=sys.stderr)
            time.sleep(wait)
            continue
        raise RuntimeError(f"POST {url}: {response.status_code} {_error(response)}")
    raise RuntimeError(f"POST {url}: still 503 after {MAX_ATTEMPTS} attempts")


def status(session: requests.Session, base_url: str, upload_id: str, wait: float) -> dict:
    """The upload's state; with `wait` > 0, polled until it is no longer queued or time is up."""
    deadline = time.monotonic() + wait
    while True:
        response = session.get(f"{base_url}/api/v1/uploads/{upload_id}", timeout=30)
        response.raise_for_status()
        state = response.json()
        if state["state"] != "queued" or time.monotonic() >= deadline:
            return state
        time.sleep(1)


def csv_as_json(csv_bytes: bytes) -> bytes:
    """The CSV's rows as a JSON list of records, numbers as numbers: the same table, other format."""
    records = []
    for row in csv.DictReader(io.StringIO(csv_bytes.decode("utf-8-sig"))):
        records.append({key: _number_or_text(value) for key, value in row.items()})
    return json.dumps(records).encode()


def _number_or_text(value: str) -> float | str | None:
    if value == "":
        return None
    try:
        return float(value)
    except ValueError:
        return value


def _error(response: requests.Response) -> str:
    try:
        return response.json().get("error", response.text[:200])
    except ValueError:
        return response.text[:200]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Upload a CSV and a JSON table to the gateway and show their state.")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="gateway base URL")
    parser.add_argument("--user", default="test")
    parser.add_argument("--password", default="test")
    parser.add_argument("--endpoint", default="/api/v1/tree", help="upload route (add /node/path for a node)")
    parser.add_argument("--csv", type=Path, default=ROOT / "test_data" / "tree" / "default.csv")
    parser.add_argument("--json", type=Path, default=None, help="JSON table (default: the CSV's rows as JSON)")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the merge (default: do not wait)")
    args = parser.parse_args(argv)

    base_url = args.url.rstrip("/")
    csv_bytes = args.csv.read_bytes()
    json_bytes = args.json.read_bytes() if args.json else csv_as_json(csv_bytes)
    session = requests.Session()
    session.auth = (args.user, args.password)

    ok = True
    for label, body, content_type in (("csv", csv_bytes, "text/csv"), ("json", json_bytes, "application/json")):
        try:
            accepted = upload(session, base_url + args.endpoint, body, content_type)
            print(f"{label}: id={accepted['id']}")
            state = status(session, base_url, accepted["id"], args.wait)
        except (RuntimeError, requests.RequestException) as error:
            print(f"{label}: {error}", file=sys.stderr)
            ok = False
            continue
        detail = {key: state.get(key) for key in ("rows", "merged_at", "error") if state.get(key) is not None}
        print(f"{label}: state={state['state']} " + " ".join(f"{k}={v}" for k, v in detail.items()))
        ok = ok and (state["state"] == "done" if args.wait else True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
