"""Random upload sequences through the real queue and the worker's lane, with kills of the
merge process at random moments, checked after every step against a plain-Python model:

* every item ends in done/ or failed/, and a failed one carries a reason naming row and column;
* the store holds exactly the model's cells (rule 4: upsert, missing is not a value, last wins,
  a bad upload writes nothing, a cut-off merge redone equals one merge);
* the store opens with plain ``xarray.open_zarr`` and its times decode.

Bounded by default (derandomized, few examples); ``PROPERTY_EXAMPLES=2000`` for a long run.
"""
from __future__ import annotations

import csv
import io
import math
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline import ENDPOINT, drain
from shared.queue import Queue

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "12"))
BASE = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOURS = [BASE + timedelta(hours=h) for h in range(6)]
SCHEMA = {"ATTRS": {"store_path": "bucket/prop.zarr"},
          "COORDS": {"time": {"unit": {"tick": "s", "tz": "UTC"}, "chunk_size": 4}},
          "VARS": {"a": {"coords": ["time"], "unit": "m", "range": {"interval": [-100, 100]}},
                   "b": {"coords": ["time"], "type": "float32"}}}


# --- what an upload is, and what the model makes of it ------------------------------------------

@dataclass(frozen=True)
class Cell:
    text: str
    good: bool              # False: the upload must fail
    value: float | None     # None: missing (the stored value stays)


def time_cell() -> st.SearchStrategy[tuple[str, datetime | None]]:
    def forms(moment: datetime) -> st.SearchStrategy[str]:
        return st.sampled_from([moment.strftime("%Y-%m-%dT%H:%M:%SZ"), moment.strftime("%Y%m%d%H%M%S"),
                                moment.strftime("%Y-%m-%d %H:%M"), moment.strftime("%Y%m%d%H%M")])
    good = st.sampled_from(HOURS).flatmap(lambda m: forms(m).map(lambda text: (text, m)))
    bad = st.sampled_from(["0001-01-01", "9999-12-31T00:00Z", "1850-06-01", "2250-01-01",
                           "1700000000123", "1772323200", "", "yesterday", "true"])
    return st.one_of(good, good, good, bad.map(lambda text: (text, None)))


def a_cell() -> st.SearchStrategy[Cell]:
    good = st.floats(-100, 100, allow_nan=False).map(lambda x: Cell(repr(x), True, x))
    missing = st.sampled_from(["", "nan", "NA"]).map(lambda t: Cell(t, True, None))
    bad = st.sampled_from(["n/a", "inf", "-Infinity", "1e400", "150", "true"]).map(
        lambda t: Cell(t, False, None))
    return st.one_of(good, good, missing, bad)


def b_cell() -> st.SearchStrategy[Cell]:
    good = st.floats(-1e30, 1e30, allow_nan=False).map(lambda x: float(np.float32(x))).map(
        lambda x: Cell(repr(x), True, x))
    missing = st.just(Cell("", True, None))
    bad = st.sampled_from(["1e39", "-1e39", "inf"]).map(lambda t: Cell(t, False, None))
    return st.one_of(good, good, missing, bad)


@dataclass
class Upload:
    columns: list[str]
    rows: list[dict]        # column -> Cell (or (text, datetime|None) for time)

    def payload(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([row["time"][0] if c == "time" else row[c].text for c in self.columns])
        return out.getvalue().encode()

    @property
    def good(self) -> bool:
        return all(row["time"][1] is not None and all(row[c].good for c in self.columns
                                                      if c in ("a", "b")) for row in self.rows)


@st.composite
def uploads(draw) -> Upload:
    columns = ["time"] + draw(st.sampled_from([["a", "b"], ["a"], ["b"], ["b", "a"]]))
    columns += draw(st.lists(st.sampled_from(["note", "rssi", "battery_v"]), max_size=2, unique=True))
    rows = []
    for _ in range(draw(st.integers(1, 4))):
        row = {"time": draw(time_cell()), "a": draw(a_cell()), "b": draw(b_cell())}
        row.update({c: Cell(draw(st.sampled_from(["x", "", "3.5"])), True, None)
                    for c in columns if c not in ("time", "a", "b")})
        rows.append(row)
    return Upload(columns, rows)


@dataclass
class Model:
    cells: dict[datetime, dict[str, float]] = field(default_factory=dict)

    def apply(self, upload: Upload) -> None:
        for row in upload.rows:
            cell = self.cells.setdefault(row["time"][1], {})
            for name in ("a", "b"):
                if name in upload.columns and row[name].value is not None:
                    cell[name] = row[name].value


# --- the checks ------------------------------------------------------------------------------

def check_queue(queue: Queue, expected: dict[str, bool]) -> None:
    counts = queue.counts()
    assert sum(counts["accepted"].values()) == 0 and sum(counts["active"].values()) == 0, counts
    done = {item.sidecar.id for item in queue.items("done")}
    failed = {item.sidecar.id: item.sidecar.error for item in queue.items("failed")}
    assert done == {i for i, good in expected.items() if good}
    assert set(failed) == {i for i, good in expected.items() if not good}
    for upload_id, error in failed.items():
        assert error and "row " in error and "column " in error, (upload_id, error)


def check_store(path: Path, model: Model) -> None:
    ds = xr.open_zarr(str(path), consolidated=False).load()     # plain xarray, times decoded
    assert np.issubdtype(ds["time"].dtype, np.datetime64)
    times = [int(t.timestamp()) for t in sorted(model.cells)]
    assert ds["time"].values.astype("datetime64[s]").astype(np.int64).tolist() == times
    for name in ("a", "b"):
        expected = [model.cells[t].get(name, math.nan) for t in sorted(model.cells)]
        stored = ds[name].values.astype(np.float64).tolist() if name in ds else []
        assert len(stored) == len(expected)
        for got, want in zip(stored, expected):
            assert (math.isnan(got) and math.isnan(want)) or got == want, (name, stored, expected)


# --- the property ----------------------------------------------------------------------------

steps = st.lists(st.tuples(st.lists(uploads(), min_size=1, max_size=4),
                           st.one_of(st.none(), st.floats(0.0, 1.2))),     # kill after s / no kill
                 min_size=1, max_size=3)


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_every_step_leaves_queue_and_store_as_the_model_says(steps, drain_server, tmp_path):
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    schema_path = work / "schema.yaml"
    schema_path.write_text(yaml.safe_dump(SCHEMA))
    environ = {"STORE_ROOT": str(work / "stores")}
    queue = Queue(work / "queue")
    model, expected = Model(), {}
    for batch, kill_after in steps:
        for upload in batch:
            sidecar = queue.enqueue(ENDPOINT, upload.payload(), format="csv")
            expected[sidecar.id] = upload.good
            if upload.good:
                model.apply(upload)
        if kill_after is not None:
            drain_server.drain_and_kill(work / "queue", schema_path, environ, kill_after)
        drain(work / "queue", str(schema_path), environ)        # the restarted worker
        check_queue(queue, expected)
        if any(expected.values()):
            check_store(work / "stores" / "bucket" / "prop.zarr", model)
