"""tools/request_test.py, the client example, against a real gateway and worker (stores on disk)."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_stack import PYTHON, Stack  # noqa: E402

from gateway.app import QUEUE_FULL_RETRY_AFTER  # noqa: E402

pytestmark = pytest.mark.slow
CLIENT = [PYTHON, str(REPO / "tools" / "request_test.py"), "--user", "test", "--password", "test"]


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    extra = getattr(request, "param", {})
    stack = Stack(tmp_path / "stack", store_root=tmp_path / "stores", extra_env=extra)
    yield stack
    stack.close()


def test_client_example_uploads_csv_and_json_gzipped_and_prints_ids_then_merged_state(stack: Stack) -> None:
    stack.start_gateway(workers=1)
    stack.start_worker()
    result = subprocess.run([*CLIENT, "--url", stack.gateway_url, "--wait", "60"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["csv", "csv", "json", "json"]
    assert lines[0].startswith("csv: id=") and lines[2].startswith("json: id=")
    assert "state=done rows=36" in lines[1] and "state=done rows=36" in lines[3]
    sidecars = [stack.sidecar("done", line.split("id=")[1]) for line in (lines[0], lines[2])]
    assert [s["format"] for s in sidecars] == ["csv", "json"]
    assert all(s["idempotency_key"] for s in sidecars)


@pytest.mark.parametrize("stack", [{"QUEUE_MAX_ITEMS": "1"}], indirect=True)
def test_client_example_waits_out_a_full_queue_as_retry_after_says(stack: Stack) -> None:
    stack.start_gateway(workers=1)
    stack.upload("tree", (REPO / "test_data" / "tree" / "default.csv").read_bytes())  # fills the queue
    started = time.monotonic()
    client = subprocess.Popen([*CLIENT, "--url", stack.gateway_url, "--wait", "60"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    stack.start_worker()  # drains the queue while the client sleeps for Retry-After
    out, err = client.communicate(timeout=150)
    assert client.returncode == 0, out + err
    assert "503" in err and f"retrying in {QUEUE_FULL_RETRY_AFTER}s" in err
    assert time.monotonic() - started >= QUEUE_FULL_RETRY_AFTER
    assert out.count("state=done") == 2
