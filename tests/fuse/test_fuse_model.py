"""Random uploads checked against a plain-Python model of SCHEMA.md section 4 (rules 1-5):
one by one, as one batch, and on a store re-opened in between."""
from __future__ import annotations

import random

import numpy as np
import pytest

from fuse_helpers import table
from shared.fuse import open_store

VARS = ("a", "b")
COLS = ["t", "station", *VARS]


def schema(attrs):
    return {"ATTRS": attrs,
            "COORDS": {"t": {"type": "float64", "chunk_size": 3},
                       "station": {"type": "str", "sorted": False, "chunk_size": 2}},
            # float64 declared: untyped integer data would stay int64 (SCHEMA.md appendix)
            "VARS": {v: {"coords": ["t", "station"], "type": "float64"} for v in VARS}}


def random_uploads(seed: int, count: int) -> list[list[tuple]]:
    rng = random.Random(seed)
    uploads = []
    for _ in range(count):
        rows = []
        for _ in range(rng.randint(1, 6)):
            t = rng.choice([rng.randint(-20, 40) / 2, rng.randint(0, 10)])
            station = rng.choice(["n", "e", "s", "w", "c", "x"][: rng.randint(2, 6)])
            rows.append((t, station, *(rng.choice([None, rng.randint(0, 99)]) for _ in VARS)))
        uploads.append(rows)
    return uploads


def model(uploads: list[list[tuple]]) -> dict:
    """What the store must hold: sorted t, stations in order of first appearance, last value wins."""
    cells: dict = {}
    stations: list[str] = []
    times: set = set()
    for rows in uploads:
        for t, station, *values in rows:
            times.add(float(t))
            if station not in stations:
                stations.append(station)
            for var, value in zip(VARS, values):
                if value is not None:
                    cells[(float(t), station, var)] = float(value)
    t_sorted = sorted(times)
    out = {"t": t_sorted, "station": stations}
    for var in VARS:
        out[var] = np.array([[cells.get((t, s, var), np.nan) for s in stations] for t in t_sorted])
    return out


def check(node, expected: dict) -> None:
    ds = node.dataset.load()
    assert ds.t.values.tolist() == expected["t"]
    assert ds.station.values.tolist() == expected["station"]
    for var in VARS:
        np.testing.assert_array_equal(ds[var].values, expected[var], err_msg=var)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_uploads_one_by_one_match_the_model(local, seed):
    uploads = random_uploads(seed, 12)
    node = open_store(schema(local.attrs()), environ=local.environ)
    for i, rows in enumerate(uploads):
        node.update(table(rows, COLS))
        if i == 5:    # a re-opened store continues exactly where the last one stopped
            node = open_store(schema(local.attrs()), environ=local.environ)
    check(node, model(uploads))


@pytest.mark.parametrize("seed", [5, 6])
def test_random_uploads_as_one_batch_match_the_model(backend, seed):
    uploads = random_uploads(seed, 8)
    node = open_store(schema(backend.attrs()), environ=backend.environ)
    node.update(table(uploads[0], COLS))
    node.merge([node.prepare(table(rows, COLS)) for rows in uploads[1:]])
    check(node, model(uploads))
