"""Turning an HTTP request into an upload: the bytes, their format, and the node path.

Everything here is bounded: the raw body, a multipart `file` field and a gzip inflate never
produce more than MAX_UPLOAD_BYTES, whatever the client claims or sends.
"""

from __future__ import annotations

import io
import re
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from flask import Request
from werkzeug.formparser import parse_form_data

from gateway.errors import BadUpload, TooLarge, UnsupportedType

CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values"})
JSON_TYPES = frozenset({"application/json", "text/json"})
EXTENSIONS = {".csv": "csv", ".json": "json"}
MULTIPART_OVERHEAD = 1024 * 1024  # room for boundaries and part headers around the file

NODE_SEGMENT = re.compile(r"[\w\-. ]+")
NODE_PATH_MAX_DEPTH = 32
NODE_PATH_MAX_LENGTH = 512
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    payload: bytes
    format: str  # "csv" | "json"
    content_type: str
    filename: str | None


def read_upload(request: Request, limit: int) -> Upload:
    """The upload in a request: multipart field `file`, or the raw body; gzip decoded."""
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedType(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    gzipped = encoding != "identity"
    multipart = request.mimetype == "multipart/form-data"
    allowance = limit + (MULTIPART_OVERHEAD if multipart else 0)
    if request.content_length is not None and request.content_length > allowance:
        raise TooLarge(f"body of {request.content_length} bytes is over the limit of {limit} bytes")

    if not multipart:
        fmt = _format_from_type(request.mimetype)
        if fmt is None:
            raise UnsupportedType(
                f"Content-Type {request.mimetype or '(none)'!r} is not supported: send text/csv or "
                "application/json, or multipart/form-data with a field 'file'"
            )
        body = _read_bounded(request.stream, allowance, limit)
        if gzipped:
            body = inflate(body, limit)
        if not body:
            raise BadUpload("the body is empty: send the CSV or JSON file as the request body")
        return Upload(body, fmt, request.mimetype, None)

    if gzipped:
        # The whole multipart body is compressed: inflate it (bounded), then parse the form.
        body = inflate(_read_bounded(request.stream, allowance, limit), limit + MULTIPART_OVERHEAD)
        environ = {
            "REQUEST_METHOD": "POST", "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        }
        _, _, files = parse_form_data(environ, max_content_length=limit + MULTIPART_OVERHEAD)
    else:
        files = request.files
    part = files.get("file")
    if part is None:
        present = ", ".join(sorted(files)) or "none"
        raise BadUpload(f"multipart upload without a field 'file' (file fields present: {present})")
    payload = _read_bounded(part.stream, limit, limit)
    filename = PurePosixPath((part.filename or "").replace("\\", "/")).name[:255] or None
    fmt = _format_from_type(part.mimetype) or _format_from_name(filename)
    if fmt is None:
        raise UnsupportedType(
            f"cannot tell the format of field 'file' (content type {part.mimetype or '(none)'!r}, "
            f"file name {filename!r}): use a .csv or .json file or a text/csv or application/json part"
        )
    if not payload:
        raise BadUpload("the field 'file' is empty")
    return Upload(payload, fmt, part.mimetype or "", filename)


def inflate(data: bytes, limit: int) -> bytes:
    """gzip-decode `data`, refusing (413) as soon as the output would pass `limit` bytes."""
    out = bytearray()
    rest = data
    while rest:
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = decoder.decompress(rest, limit + 1 - len(out))
            out += chunk
            while decoder.unconsumed_tail and len(out) <= limit:
                out += decoder.decompress(decoder.unconsumed_tail, limit + 1 - len(out))
        except zlib.error as error:
            raise BadUpload(f"the body is not valid gzip ({error})") from None
        if len(out) > limit:
            raise TooLarge(f"the gzip body inflates to more than the limit of {limit} bytes")
        if not decoder.eof:
            raise BadUpload("the gzip body is truncated")
        rest = decoder.unused_data  # a gzip file may hold several members one after another
    return bytes(out)


def check_node_path(raw: str) -> str:
    """The node path of the URL, refused (400) unless it is a plain relative path of names."""
    if raw == "":
        return ""
    shown = raw if len(raw) <= 80 else raw[:80] + "..."
    if len(raw) > NODE_PATH_MAX_LENGTH:
        raise BadUpload(f"node path is longer than {NODE_PATH_MAX_LENGTH} characters")
    if raw.startswith("/"):
        raise BadUpload(f"node path {shown!r} starts with '/': use a/b/c")
    segments = raw.split("/")
    if len(segments) > NODE_PATH_MAX_DEPTH:
        raise BadUpload(f"node path has {len(segments)} segments, more than {NODE_PATH_MAX_DEPTH}")
    for segment in segments:
        if segment == "":
            raise BadUpload(f"node path {shown!r} has an empty segment")
        if segment in (".", ".."):
            raise BadUpload(f"node path {shown!r} has a {segment!r} segment")
        if not NODE_SEGMENT.fullmatch(segment):
            bad = next(c for c in segment if not NODE_SEGMENT.fullmatch(c))
            raise BadUpload(
                f"node path segment {segment[:80]!r} has the character {bad!r}: "
                "use letters, digits, '_', '-', '.' and spaces"
            )
    return raw


def _format_from_type(mimetype: str | None) -> str | None:
    if mimetype in CSV_TYPES:
        return "csv"
    if mimetype in JSON_TYPES:
        return "json"
    return None


def _format_from_name(filename: str | None) -> str | None:
    if not filename:
        return None
    return EXTENSIONS.get(PurePosixPath(filename).suffix.lower())


def _read_bounded(stream, allowance: int, limit: int) -> bytes:
    """Read at most `allowance` bytes; more than that is a 413 (for bodies without a length)."""
    chunks = []
    total = 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, allowance + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > allowance:
            raise TooLarge(f"body is over the limit of {limit} bytes")
    return b"".join(chunks)
