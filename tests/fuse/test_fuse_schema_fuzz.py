"""A fuzz of the schema loader: random mutations of valid field schemas (keys dropped, renamed
or duplicated, values replaced by junk) either load or raise SchemaError, never anything else.

Bounded and derandomized by default; SCHEMA_FUZZ_EXAMPLES=5000 for a longer run.
"""
from __future__ import annotations

import copy
import datetime
import os
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.fuse import Schema, SchemaError, load_schema

SCHEMAS = Path(__file__).parent / "schemas"
TREES = [yaml.safe_load(path.read_text()) for path in sorted(SCHEMAS.glob("*.yaml"))]
KEYS = ["ATTRS", "VARS", "COORDS", "coords", "unit", "type", "merge", "sorted", "composed",
        "step_limits", "allow_inserts", "chunk_size", "range", "interval", "discrete", "tick",
        "tz", "epoch", "window", "na_value", "df_col", "source_unit", "name", "dtype", "time", "station", "lat"]
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["bool", "str[8]", "str[0]", "15m", "degC", "m", "None", "no_new",
                       "datetime64[15m]", "nan", "max_int", "time", "lat", "a/b", "__x", "m/(",
                       "m**", "\\", "degC["])
    | st.dates().map(lambda d: d) | st.just(datetime.datetime(2024, 1, 1)) | st.binary(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(KEYS) | st.text(max_size=6) | st.integers(0, 3), inner, max_size=4),
    max_leaves=8)


def paths(tree, prefix=()):
    """Every (container, key) position of a parsed YAML tree."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield prefix + (key,)
            yield from paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield prefix + (i,)
            yield from paths(value, prefix + (i,))


def parent(tree, path):
    for key in path[:-1]:
        tree = tree[key]
    return tree


@st.composite
def mutated(draw):
    tree = copy.deepcopy(draw(st.sampled_from(TREES)))
    for _ in range(draw(st.integers(1, 4))):
        spots = list(paths(tree))
        if not spots:
            break
        spot = draw(st.sampled_from(spots))
        holder, key = parent(tree, spot), spot[-1]
        action = draw(st.sampled_from(["drop", "rename", "junk", "junk"]))
        if action == "drop":
            del holder[key]
        elif action == "rename" and isinstance(holder, dict):
            holder[draw(st.sampled_from(KEYS) | st.text(max_size=8))] = holder.pop(key)
        else:
            holder[key] = draw(JUNK)
    return tree


@settings(max_examples=int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "100")), derandomize=True,
          deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_field_schemas_load_or_raise_only_schema_errors(tree):
    try:
        schema = load_schema(tree)
    except SchemaError as error:
        assert str(error).startswith("<schema>: ")
        assert error.findings and error.findings[0].severity == "error"
        return
    assert isinstance(schema, Schema)
    for node in schema.nodes.values():      # what a store would be made of must be usable
        node.structure()
        for var in node.vars.values():
            assert all(n >= 1 for n in node.chunk_shape(var))
