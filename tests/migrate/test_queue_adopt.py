"""`zarr-ingress queue adopt`: the original server's waiting items come over in order, once."""
from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from e2e_stack import PYTHON
from migrate_stack import TREE_SCHEMA as SCHEMA, ConfigStack

pytestmark = pytest.mark.slow


def old_item(folder: Path, stamp: str, hexpart: str, ext: str, body: str, **meta) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    payload = folder / f"{stamp}_{hexpart}.{ext}"
    payload.write_text(body)
    (folder / f"{payload.name}.meta.json").write_text(json.dumps(meta))
    return payload


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_adopt_keeps_order_changes_nothing_old_and_adopts_once(tmp_path, stacks):
    config_dir = tmp_path / "config"
    (config_dir / "schemas").mkdir(parents=True)
    (config_dir / "schemas" / "tree.yaml").write_text(SCHEMA)
    config = config_dir / "endpoints_config.yaml"
    config.write_text(textwrap.dedent("""\
        endpoints:
          - {name: tree, endpoint: /api/v1/tree, schema_path: schemas/tree.yaml}
        """))
    old = tmp_path / "old-queue"
    row = "timestamp,tree_id,sap_flow\n2026-06-14T06:00:00Z,oak-01,{}\n"
    # Same cell three times: only acceptance order decides which value the store keeps. The
    # second-oldest sorts last by its random hex, so a name sort alone would get it wrong.
    old_item(old / "accepted", "20250101T100000", "ffffffffffff", "csv", row.format(1),
             endpoint_name="tree", received_at="2025-01-01T10:00:00.100Z", username="logger1")
    old_item(old / "accepted" / "tree", "20250101T100001", "000000000001", "csv", row.format(3),
             endpoint="/api/v1/tree", received_at="2025-01-01T10:00:01.500Z")
    old_item(old / "accepted", "20250101T100001", "aaaaaaaaaaaa", "csv", row.format(2),
             endpoint_name="tree", received_at="2025-01-01T10:00:01.200Z")
    old_item(old / "accepted", "20250101T100002", "bbbbbbbbbbbb", "csv", row.format(9), endpoint_name="gone")
    old_item(old / "success", "20241231T000000", "cccccccccccc", "csv", row.format(0), endpoint_name="tree")
    old_item(old / "failed", "20241231T000001", "dddddddddddd", "csv", row.format(0), endpoint_name="tree")
    before = snapshot(old)

    stack = ConfigStack(tmp_path, config, original_names=True)
    stacks.append(stack)
    cli = [PYTHON, "-m", "worker.queue_cli", "adopt", str(old)]

    dry = stack.run(*cli, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would adopt 3 upload(s)" in dry.stdout
    assert "skipped accepted/20250101T100002_bbbbbbbbbbbb.csv: endpoint 'gone' is not in the endpoints file" in dry.stdout
    assert "not adopted: 1 item(s) in success/ (merged already)" in dry.stdout
    assert "not adopted: 1 item(s) in failed/ (add --failed" in dry.stdout
    assert not any((stack.queue_dir / "accepted").rglob("*.csv")) if stack.queue_dir.exists() else True

    first = stack.run(*cli, "--json")
    assert first.returncode == 0, first.stderr
    adopted = json.loads(first.stdout)["adopted"]
    assert [Path(a["old"]).name for a in adopted] == [
        "20250101T100000_ffffffffffff.csv", "20250101T100001_aaaaaaaaaaaa.csv", "20250101T100001_000000000001.csv"]
    ids = [a["id"] for a in adopted]
    assert ids == sorted(ids)

    again = stack.run(*cli)
    assert again.returncode == 0 and "adopted 0 upload(s)" in again.stdout, again.stdout
    assert again.stdout.count("adopted before as") == 3
    assert snapshot(old) == before  # nothing in the old folder changed or went away

    stack.start_worker()
    stack.start_gateway()
    for upload_id in ids:
        assert stack.settled(upload_id)["state"] == "done"
    assert stack.status(ids[0])["node_path"] == ""
    tree = stack.dataset("b/tree.zarr")
    assert tree["sap_flow"].values.tolist() == [[3.0]]  # the last accepted wins
