"""LoRaWAN webhooks: one row per uplink, other events recognised; endpoints file format: key."""
from __future__ import annotations

import pytest
import yaml

from shared.config.endpoints import load_endpoints
from shared.config.errors import ConfigError
from shared.formats import NotAnUplink, ParseError, check_event, read_table, resolve, sniff_columns
from shared.queue import ACCEPTED, Queue

from format_samples import sample


def test_a_tts_uplink_is_one_row_of_time_device_and_flattened_decoded_fields():
    payload = sample("tts_uplink.json")
    assert resolve(payload, "json") == "ttn"
    table = read_table(payload, "ttn")
    assert table.to_dict("records") == [{"time": "2026-12-01T09:15:42.518734211Z", "device": "soil-node-07",
                                         "soil_temperature": 4.62, "moisture": 31.5, "battery_voltage": 3.58}]


def test_a_chirpstack_up_event_uses_the_dev_eui_and_object():
    payload = sample("chirpstack_up.json")
    assert resolve(payload, "json") == "chirpstack"
    assert sniff_columns(payload, "chirpstack") == ["time", "device", "soil_temperature", "moisture",
                                                    "battery_voltage"]
    assert read_table(payload, "chirpstack").device[0] == "0004a30b001c6f52"


def test_events_that_are_not_uplinks_raise_not_an_uplink():
    with pytest.raises(NotAnUplink, match="'join_accept'"):
        sniff_columns(sample("tts_join_accept.json"), "ttn")
    with pytest.raises(NotAnUplink):
        sniff_columns(sample("chirpstack_join.json"), "chirpstack")
    with pytest.raises(NotAnUplink, match="'status'"):
        check_event("chirpstack", "status")
    check_event("chirpstack", "up")
    check_event("ttn", "anything")  # TTS names no event in the query


def test_decoded_fields_that_flatten_to_one_name_are_an_error_naming_both():
    body = (b'{"end_device_ids": {"device_id": "d"}, "received_at": "2026-12-01T00:00:00Z", '
            b'"uplink_message": {"decoded_payload": {"a_b": 1, "a": {"b": 2}}}}')
    with pytest.raises(ParseError, match="column 'a_b' is also"):
        sniff_columns(body, "ttn")
    listed = (b'{"end_device_ids": {"device_id": "d"}, "received_at": "2026-12-01T00:00:00Z", '
              b'"uplink_message": {"decoded_payload": {"t": [1.5, 2.5]}}}')
    assert sniff_columns(listed, "ttn") == ["time", "device", "t_0", "t_1"]


def test_the_endpoints_file_format_key_is_checked(tmp_path):
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({"COORDS": {"time": {"unit": {"tick": "s"}}},
                                                     "VARS": {"v": {"coords": ["time"], "unit": "V"}}}))
    config = tmp_path / "endpoints.yaml"
    config.write_text(yaml.safe_dump([{"name": "a", "endpoint": "/api/v1/a", "schema_path": "s.yaml",
                                       "format": "toa5"}]))
    assert load_endpoints(config)[0].format == "toa5"
    config.write_text(yaml.safe_dump([{"name": "a", "endpoint": "/api/v1/a", "schema_path": "s.yaml",
                                       "format": "TOA-5"}]))
    with pytest.raises(ConfigError, match=r"\(a\)\.format: 'TOA-5' is not one of csv, json, toa5"):
        load_endpoints(config)


@pytest.mark.parametrize("fmt", ["toa5", "csijson", "ttn", "chirpstack", "netcdf"])
def test_recovery_keeps_a_queued_payload_of_every_format(tmp_path, fmt):
    queue = Queue(tmp_path)
    sidecar = queue.enqueue("met", b"payload", format=fmt)
    queue.recover()
    assert [item.id for item in queue.items(ACCEPTED)] == [sidecar.id]
