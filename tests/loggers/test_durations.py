"""Durations as operators write them (`expect_every: 30m`, `--silent-for 2h`), against a plain model."""
from __future__ import annotations

import os

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from shared.config.durations import UNIT_SECONDS, format_duration, parse_duration
from shared.config.endpoints import load_endpoints
from shared.config.errors import ConfigError

EXAMPLES = int(os.environ.get("DURATION_EXAMPLES", "60"))
PROPERTY = settings(max_examples=EXAMPLES, derandomize="DURATION_EXAMPLES" not in os.environ, deadline=None)

parts = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(sorted(UNIT_SECONDS))), min_size=1, max_size=5)


@PROPERTY
@given(parts, st.booleans(), st.booleans())
def test_a_duration_is_the_sum_of_its_parts(pieces, upper, spaced):
    text = (" " if spaced else "").join(f"{number}{unit.upper() if upper else unit}" for number, unit in pieces)
    model = sum(number * UNIT_SECONDS[unit] for number, unit in pieces)
    if model == 0:
        with pytest.raises(ValueError, match="above zero"):
            parse_duration(text)
    else:
        assert parse_duration(text) == model


@PROPERTY
@given(st.integers(1, 10 * 365 * 86400))
def test_formatting_whole_seconds_reads_back_as_the_same_seconds(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@PROPERTY
@given(st.text(max_size=12))
def test_any_text_is_a_duration_or_an_error_saying_what_one_looks_like(text):
    try:
        seconds = parse_duration(text)
    except ValueError as error:
        assert "30m" in str(error) and repr(text) in str(error)
    else:
        assert seconds > 0


@pytest.mark.parametrize("text", ["30", "", "m", "30 minutes", "-5m", "1e3s", "30m!", "1.5"])
def test_a_number_without_a_unit_or_a_stray_character_is_refused(text):
    with pytest.raises(ValueError, match="not a duration like 30m"):
        parse_duration(text)


def test_fractions_and_compound_durations_are_understood():
    assert parse_duration("1.5h") == 5400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2w1d") == 15 * 86400
    assert format_duration(5400) == "1h30m"


def write_endpoints(tmp_path, expect_every):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"COORDS": {"time": {"unit": {"tick": "s"}}},
                                                     "VARS": {"v": {"coords": ["time"], "unit": "V"}}}))
    config = tmp_path / "endpoints.yaml"
    config.write_text(yaml.safe_dump([{"name": "met", "endpoint": "/api/v1/met", "schema_path": "s.yaml",
                                       "expect_every": expect_every}]))
    return config


def test_expect_every_in_the_endpoints_file_is_read_as_seconds(tmp_path):
    assert load_endpoints(write_endpoints(tmp_path, "30m"))[0].expect_every == 1800


@pytest.mark.parametrize("value, says", [(30, "needs a unit"), ("30", "not a duration like 30m"),
                                         ("half an hour", "not a duration like"), (True, "needs a unit")])
def test_a_bad_expect_every_is_an_error_naming_the_endpoint_and_key(tmp_path, value, says):
    with pytest.raises(ConfigError, match=r"\(met\)\.expect_every: .*" + says):
        load_endpoints(write_endpoints(tmp_path, value))
