"""ChirpStack (v4) HTTP integration `up` event: `deviceInfo.devEui` (and `deviceName`), `time`,
`object` (the codec's decoded fields).

ChirpStack posts every event kind to one URL and names it in the query (`?event=up`); other
events (`join`, `status`, `ack`, `txack`, `log`, `location`, `integration`) raise NotAnUplink,
also when the query is missing and the body has no frame counter.
"""

from __future__ import annotations

from typing import Any

from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed, decode
from shared.formats.json import check_object, load, top_level_object
from shared.formats.uplink import NotAnUplink, flatten, frame, row_columns
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

NAME = "chirpstack"
DEVICE_KEY = "deviceInfo"
UPLINK_EVENT = "up"


def detect(payload: bytes, content_type: str = "") -> bool:
    return top_level_object(payload, (DEVICE_KEY,)) is not None


def check_event(event: str | None) -> None:
    """The `?event=` of the request: anything but `up` is acknowledged, not stored."""
    if event is not None and event != UPLINK_EVENT:
        raise NotAnUplink(f"ChirpStack event {event!r} is not an uplink")


def sniff(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> Sniffed:
    row = _row(payload)
    return Sniffed(row_columns(row, max_columns), 1, device=row["device"])


def columns(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> list[str]:
    return sniff(payload, max_columns).columns


def read(payload: bytes) -> pd.DataFrame:
    return frame(_row(payload))


def _row(payload: bytes) -> dict[str, Any]:
    event = check_object(load(decode(payload)), "event")
    info = check_object(event.get(DEVICE_KEY), f"event {DEVICE_KEY}")
    device = info.get("devEui")
    if not isinstance(device, str) or not device:
        raise ParseError(f"event {DEVICE_KEY}.devEui: missing (the device EUI string is required)")
    if "fCnt" not in event and "object" not in event:
        raise NotAnUplink(f"ChirpStack event of device {device!r} is not an uplink (no fCnt)")
    received = event.get("time")
    if not isinstance(received, str) or not received:
        raise ParseError("event time: missing (the time of the uplink is required)")
    if "object" not in event:
        raise ParseError("event object: missing; configure a codec for the device profile in ChirpStack")
    fields = flatten(event["object"], "event object")
    return {"time": received, "device": device, **fields}
