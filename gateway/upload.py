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
from werkzeug.http import parse_options_header

from gateway.errors import BadUpload, TooLarge, UnsupportedType
from shared.binary import GRIB, GRIB_BZ2, NETCDF
from shared.config import Endpoint

# text/plain: what Campbell loggers' HTTPPost declares for TOA5; the content tells TOA5 from CSV.
CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values", "text/plain"})
JSON_TYPES = frozenset({"application/json", "text/json"})
BINARY_TYPES = {
    "application/x-grib": GRIB, "application/grib": GRIB, "application/x-grib2": GRIB,
    "application/x-grib+bz2": GRIB_BZ2,
    "application/x-netcdf": NETCDF, "application/netcdf": NETCDF,
}
EXTENSIONS = {".csv": "csv", ".json": "json", ".nc": NETCDF, ".nc4": NETCDF,
              **{ext: GRIB for ext in (".grb", ".grib", ".grb2", ".grib2")}}
# The format of an extractor endpoint's upload: the extractor alone reads the bytes.
RAW = "raw"
ACCEPTED_TYPES = (
    "text/csv, application/json (also application/geo+json and application/vnd.*+json), "
    "application/x-grib, application/x-grib+bz2, application/x-netcdf, text/plain (read as CSV or Campbell TOA5)"
)
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


def read_upload(request: Request, limit: int, endpoint: Endpoint | None = None) -> Upload:
    """The upload in a request: multipart field `file`, or the raw body; gzip decoded.

    For an endpoint with an extractor, any content type it declares is taken as it is (RAW).
    """
    classify = _extractor_types(endpoint) if endpoint is not None and endpoint.extractor else None
    encoding = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise UnsupportedType(f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    gzipped = encoding != "identity"
    multipart = request.mimetype == "multipart/form-data"
    allowance = limit + (MULTIPART_OVERHEAD if multipart else 0)
    if request.content_length is not None and request.content_length > allowance:
        raise TooLarge(f"body of {request.content_length} bytes is over the limit of {limit} bytes")

    if not multipart:
        disposition = request.headers.get("Content-Disposition")
        filename = parse_options_header(disposition)[1].get("filename") if disposition else None
        name = PurePosixPath(filename.replace("\\", "/")).name[:255] or None if filename else None
        if classify is not None:
            fmt = classify(request.mimetype)
        else:
            fmt = _format_from_type(request.mimetype)
            if fmt is None and request.mimetype in ("", "application/octet-stream"):
                fmt = _format_from_name(name)
        if fmt is None:
            accepted = ", ".join(endpoint.content_types) if classify is not None else ACCEPTED_TYPES
            raise UnsupportedType(
                f"Content-Type {request.mimetype or '(none)'!r} is not supported: send {accepted}, "
                "or multipart/form-data with a field 'file'"
            )
        body = _read_bounded(request.stream, allowance, limit)
        if gzipped:
            body = inflate(body, limit)
        if not body:
            raise BadUpload("the body is empty: send the file as the request body (curl --data-binary @file)")
        return Upload(body, fmt, request.mimetype, name)

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
    if classify is not None:
        fmt = classify(part.mimetype or "")
    else:
        fmt = _format_from_type(part.mimetype) or _format_from_name(filename)
    if fmt is None:
        accepted = ", ".join(endpoint.content_types) if classify is not None else ACCEPTED_TYPES
        raise UnsupportedType(
            f"cannot tell the format of field 'file' (content type {part.mimetype or '(none)'!r}, "
            f"file name {filename!r}): use a .csv, .json, .grib2[.bz2] or .nc file or a part of type {accepted}"
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
    """The format of a media type (parameters already stripped), as the original server read them:
    any case, and JSON under its structured-syntax suffix (application/geo+json, vnd.*+json)."""
    mimetype = (mimetype or "").strip().lower()
    if mimetype in CSV_TYPES:
        return "csv"
    if mimetype in JSON_TYPES or (mimetype.startswith("application/") and mimetype.endswith("+json")):
        return "json"
    return BINARY_TYPES.get(mimetype)


def _format_from_name(filename: str | None) -> str | None:
    if not filename:
        return None
    path = PurePosixPath(filename.lower())
    if path.suffix == ".bz2":
        return GRIB_BZ2 if EXTENSIONS.get(PurePosixPath(path.stem).suffix) == GRIB else None
    return EXTENSIONS.get(path.suffix)


def _extractor_types(endpoint: Endpoint):
    """The classifier of an extractor endpoint: RAW for a declared type ('*/*' and 'type/*' too)."""
    declared = endpoint.content_types

    def classify(mimetype: str) -> str | None:
        mimetype = (mimetype or "").strip().lower()
        major = mimetype.split("/")[0]
        if mimetype and (mimetype in declared or "*/*" in declared or f"{major}/*" in declared):
            return RAW
        return None

    return classify


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
