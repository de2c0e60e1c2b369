"""The Things Stack (v3) uplink webhook: `end_device_ids.device_id`, `received_at`,
`uplink_message.decoded_payload` (and `rx_metadata`, not stored).

Messages other than uplinks (`join_accept`, `downlink_ack`, `location_solved`, ...) carry their
own key instead of `uplink_message`; they raise NotAnUplink.
"""

from __future__ import annotations

from typing import Any

from shared.formats.base import DEFAULT_MAX_COLUMNS, ParseError, Sniffed, decode
from shared.formats.json import check_object, load, top_level_object
from shared.formats.uplink import NotAnUplink, flatten, frame, row_columns
from shared.lazy import LazyModule

pd = LazyModule("pandas")  # imported at its first use: the gateway never needs it (shared/lazy.py)

NAME = "ttn"
DEVICE_KEY = "end_device_ids"


def detect(payload: bytes, content_type: str = "") -> bool:
    return top_level_object(payload, (DEVICE_KEY,)) is not None


def sniff(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> Sniffed:
    row = _row(payload)
    return Sniffed(row_columns(row, max_columns), 1, device=row["device"])


def columns(payload: bytes, max_columns: int | None = DEFAULT_MAX_COLUMNS) -> list[str]:
    return sniff(payload, max_columns).columns


def read(payload: bytes) -> pd.DataFrame:
    return frame(_row(payload))


def _row(payload: bytes) -> dict[str, Any]:
    message = check_object(load(decode(payload)), "webhook")
    ids = check_object(message.get(DEVICE_KEY), f"webhook {DEVICE_KEY}")
    device = ids.get("device_id")
    if not isinstance(device, str) or not device:
        raise ParseError(f"webhook {DEVICE_KEY}.device_id: missing (a device id string is required)")
    if "uplink_message" not in message:
        other = next((k for k in message if k not in (DEVICE_KEY, "correlation_ids", "received_at")), "none")
        raise NotAnUplink(f"The Things Stack message {other!r} of device {device!r} is not an uplink")
    uplink = check_object(message["uplink_message"], "webhook uplink_message")
    received = message.get("received_at", uplink.get("received_at"))
    if not isinstance(received, str) or not received:
        raise ParseError("webhook received_at: missing (the time of the uplink is required)")
    if "decoded_payload" not in uplink:
        raise ParseError("webhook uplink_message.decoded_payload: missing; configure a payload "
                         "formatter for the device or application in The Things Stack")
    fields = flatten(uplink["decoded_payload"], "webhook uplink_message.decoded_payload")
    return {"time": received, "device": device, **fields}
