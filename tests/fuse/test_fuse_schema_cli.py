"""`zarr-ingress schema check FILE...` as an operator runs it: one line per finding with file
and key path; exit 0 with warnings only, 1 with any error."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).parent / "schemas"


def schema_check(*files: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", "schema", "check", *map(str, files)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_schema_check_lists_warnings_and_exits_0_when_every_file_loads():
    done = schema_check(SCHEMAS / "boreholes.yaml", REPO / "schemas" / "weather_schema_v1.yaml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == (f"warning: {SCHEMAS / 'boreholes.yaml'}: COORDS/time/merge/allow_inserts: "
                        f"ignored: a new value is always inserted at its sorted place, also "
                        f"before the end (SCHEMA.md 4.3)")
    assert len(lines) == 6 and all(line.startswith("warning: ") for line in lines[:5])
    assert lines[5] == f"ok: {REPO / 'schemas' / 'weather_schema_v1.yaml'}"


def test_schema_check_exits_1_naming_each_fault_culprit_first(tmp_path):
    bad = tmp_path / "logger.yaml"
    bad.write_text("COORDS:\n  time: {unit: {tick: 15m}}\n"
                   "VARS:\n  temp: {coords: [time], dtype: float32, long_name: air}\n")
    done = schema_check(SCHEMAS / "tree_network.yaml", bad, tmp_path / "missing.yaml")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"warning: {SCHEMAS / 'tree_network.yaml'}: trees/VARS/tree: ")
    assert lines[1].startswith(f"error: {bad}: COORDS/time/unit/tick: unknown tick '15m'")
    assert lines[2] == f"error: {bad}: VARS/temp/dtype: unknown key, did you mean 'type'?"
    assert lines[3].startswith(f"error: {tmp_path / 'missing.yaml'}: (top): cannot read the schema")
    assert len(lines) == 4

