"""A strict logfmt reader for the tests: `key=value` pairs separated by one space, nothing else.

A bare value is one or more printable characters other than space, `"`, `=` and `\\`; a quoted
value may hold any printable character, with `\\\\`, `\\"`, `\\n`, `\\r`, `\\t`, `\\uXXXX` and
`\\UXXXXXXXX` escapes and no other. Anything else (a raw control character, a stray quote, two
spaces, a key twice) is a `LogfmtError`: a line a log shipper would misread.
"""
from __future__ import annotations

import re

KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


class LogfmtError(ValueError):
    pass


def parse_logfmt(line: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    position = 0
    while True:
        match = KEY.match(line, position)
        if match is None or match.end() >= len(line) or line[match.end()] != "=":
            raise LogfmtError(f"expected key= at {position}: {line[position:position + 40]!r}")
        key = match.group()
        if key in fields:
            raise LogfmtError(f"key {key!r} twice")
        value, position = _value(line, match.end() + 1)
        fields[key] = value
        if position == len(line):
            return fields
        if line[position] != " " or position + 1 == len(line):
            raise LogfmtError(f"expected one space between pairs at {position}: {line[position:position + 40]!r}")
        position += 1


def _value(line: str, start: int) -> tuple[str, int]:
    if start < len(line) and line[start] == '"':
        return _quoted(line, start + 1)
    end = start
    while end < len(line) and line[end] != " ":
        if line[end] in '"=\\' or not line[end].isprintable():
            raise LogfmtError(f"{line[end]!r} in a bare value at {end}")
        end += 1
    if end == start:
        raise LogfmtError(f"empty bare value at {start}")
    return line[start:end], end


def _quoted(line: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    position = start
    while position < len(line):
        char = line[position]
        if char == '"':
            return "".join(out), position + 1
        if not char.isprintable():
            raise LogfmtError(f"raw {char!r} in a quoted value at {position}")
        if char != "\\":
            out.append(char)
            position += 1
            continue
        code = line[position + 1:position + 2]
        if code in SIMPLE_ESCAPES:
            out.append(SIMPLE_ESCAPES[code])
            position += 2
        elif code in ("u", "U"):
            width = 4 if code == "u" else 8
            digits = line[position + 2:position + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise LogfmtError(f"bad \\{code} escape at {position}")
            out.append(chr(int(digits, 16)))
            position += 2 + width
        else:
            raise LogfmtError(f"unknown escape \\{code} at {position}")
    raise LogfmtError("unterminated quoted value")
