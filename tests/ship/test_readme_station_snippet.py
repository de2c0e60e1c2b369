"""The README's selection of a composed station by lat/lon, run as written against a store that
the real gateway and worker built from the README's weather upload."""
from __future__ import annotations

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from e2e_stack import Stack  # noqa: E402

pytestmark = pytest.mark.slow
WEATHER = REPO / "test_data" / "weather" / "default.csv"
ROW = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+(-?\d+(?:\.\d+)?)$")


def readme_block(marker: str) -> str:
    """The README's sh code block that contains `marker`."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M)
    found = [block for block in blocks if marker in block]
    assert len(found) == 1, f"{len(found)} README sh blocks contain {marker!r}"
    return found[0]


def celsius_by_station() -> dict[tuple[float, float], list[tuple[str, float]]]:
    """The upload itself, in time order per (lat, lon), converted degF -> degC."""
    series: dict[tuple[float, float], list[tuple[str, float]]] = {}
    with WEATHER.open(newline="") as handle:
        for row in csv.DictReader(handle):
            when = row["timestamp"].replace("T", " ").rstrip("Z")
            series.setdefault((float(row["lat"]), float(row["lon"])), []).append(
                (when, (float(row["temp_f"]) - 32) * 5 / 9))
    return {key: sorted(values) for key, values in series.items()}


def printed_series(output: str) -> list[list[tuple[str, float]]]:
    """Each printed pandas series of the snippet's output: its (time, value) rows."""
    runs: list[list[tuple[str, float]]] = []
    previous_was_row = False
    for line in output.splitlines():
        match = ROW.match(line.strip())
        if match and not previous_was_row:
            runs.append([])
        if match:
            runs[-1].append((match.group(1), float(match.group(2))))
        previous_was_row = bool(match)
    return runs


def test_the_readme_selects_a_composed_station_by_lat_lon_exactly_and_nearest(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "stack", store_root=tmp_path / "data" / "stores")
    try:
        stack.start_worker()  # first: it loads while the gateway does
        stack.start_gateway(workers=1)
        stack.upload("weather", WEATHER.read_bytes())
        stack.wait_drained(1, endpoint="weather")
    finally:
        stack.close()
    # The README runs from the project folder: data/stores and .venv/bin/python are relative.
    venv = REPO / ".venv" if (REPO / ".venv" / "bin" / "python").exists() else Path(sys.prefix)
    (tmp_path / ".venv").symlink_to(venv)
    result = subprocess.run(["bash", "-c", readme_block("set_xindex")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    exact, nearest = printed_series(result.stdout)
    stations = celsius_by_station()
    for printed, station in ((exact, (50.7663, 15.0543)), (nearest, (50.7712, 15.0706))):
        expected = stations[station][:5]
        assert [when for when, _ in printed] == [when for when, _ in expected], result.stdout
        assert [value for _, value in printed] == pytest.approx([v for _, v in expected], abs=1e-5)
