"""Every format's parser, fed random bytes and mutated real samples, raises nothing but ParseError.

Bounded and derandomized by default; FORMATS_FUZZ_EXAMPLES=5000 for a longer run.
"""
from __future__ import annotations

import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.formats import MODULES, ParseError

from format_samples import sample

EXAMPLES = int(os.environ.get("FORMATS_FUZZ_EXAMPLES", "60"))
SAMPLES = {"toa5": "cr1000x_met10.dat", "csijson": "cr1000x_met10.json", "ttn": "tts_uplink.json",
           "chirpstack": "chirpstack_up.json", "csv": "cr1000x_met10.dat", "json": "cr1000x_met10.json"}
# What an error must point at: a line, record, field, key, column or offset to fix.
WHERE = re.compile(r"line \d|data\[\d|fields|head|vals|record|column|key|offset|webhook|event|"
                   r"empty|upload|TOA5|CSIJSON|JSON|CSV|uplink")
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """The sample with a few bytes replaced, deleted, duplicated or cut."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["replace", "delete", "insert", "cut"]))
        if action == "replace":
            data[at] = draw(st.sampled_from(b'",\r\n{}[]:0aN\\ \x00\xff'))
        elif action == "delete":
            del data[at: at + draw(st.integers(1, 20))]
        elif action == "insert":
            data[at:at] = draw(st.sampled_from([b'"', b",", b"\n", b'"NAN"', b"{", b"]", b"1e999", b"9" * 400]))
        else:
            del data[at:]
    return bytes(data)


def parse_both_ways(fmt: str, payload: bytes) -> None:
    module = MODULES[fmt]
    for step in (lambda: module.columns(payload, 2_000), lambda: module.read(payload)):
        try:
            step()
        except ParseError as error:
            assert WHERE.search(str(error)), f"{fmt}: error names no place: {error}"


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
@FUZZ
@given(data=st.data())
def test_mutated_samples_raise_only_parse_errors_naming_the_place(fmt, data):
    parse_both_ways(fmt, data.draw(mutated(sample(SAMPLES[fmt]))))


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
@FUZZ
@given(payload=st.binary(max_size=300))
def test_random_bytes_raise_only_parse_errors(fmt, payload):
    parse_both_ways(fmt, payload)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_a_byte_order_mark_alone_is_an_empty_upload(fmt):
    with pytest.raises(ParseError, match="the upload is empty"):
        MODULES[fmt].columns(b"\xef\xbb\xbf", 2_000)
