"""Binary uploads: GRIB, bzip2-compressed GRIB and NetCDF (classic CDF or HDF5-based).

The gateway only checks the magic bytes (`check_magic`): cheap, and enough to refuse a file
sent with the wrong type. The worker opens the payload with xarray (`open_dataset`): cfgrib
over the ecCodes wheels for GRIB, netCDF4 for both NetCDF forms. Both raise `ParseError`,
which names the format and what is wrong, so a corrupt file fails (permanently) with a reason.
"""
from __future__ import annotations

import bz2
import tempfile
from pathlib import Path

from shared.formats import ParseError
from shared.lazy import LazyModule

xr = LazyModule("xarray")  # imported at its first use: the gateway never needs it (shared/lazy.py)

GRIB, GRIB_BZ2, NETCDF = "grib", "gribbz2", "netcdf"
BINARY_FORMATS = (GRIB, GRIB_BZ2, NETCDF)
LABELS = {GRIB: "GRIB", GRIB_BZ2: "GRIB+bzip2", NETCDF: "NetCDF"}

GRIB_MAGIC = b"GRIB"
BZIP2_MAGIC = b"BZh"
NETCDF_MAGICS = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
# A bzip2 bomb must not fill the worker's disk: GRIB fields compress ~5-20x, never 100x.
MAX_INFLATED_BYTES = 2 * 1024**3
_CHUNK = 1024 * 1024


def check_magic(payload: bytes, fmt: str) -> None:
    """Refuse (ParseError) a payload whose first bytes are not those of `fmt`."""
    label = LABELS[fmt]
    head = payload[:8]
    if fmt == GRIB and not payload.startswith(GRIB_MAGIC):
        raise ParseError(f"{label} upload rejected: the file does not start with 'GRIB' (it starts with {head!r})")
    if fmt == NETCDF and not payload.startswith(NETCDF_MAGICS):
        raise ParseError(
            f"{label} upload rejected: the file starts with {head!r}, neither a classic NetCDF ('CDF') "
            "nor a NetCDF-4/HDF5 file"
        )
    if fmt == GRIB_BZ2:
        if not payload.startswith(BZIP2_MAGIC):
            raise ParseError(f"{label} upload rejected: the file does not start with 'BZh' (it starts with {head!r})")
        try:
            inner = bz2.BZ2Decompressor().decompress(payload[:64 * 1024], max_length=len(GRIB_MAGIC))
        except (OSError, ValueError) as error:
            raise ParseError(f"{label} upload rejected: not valid bzip2 ({error})") from None
        if len(inner) == len(GRIB_MAGIC) and inner != GRIB_MAGIC:
            raise ParseError(f"{label} upload rejected: the bzip2 data does not start with 'GRIB' (it starts with {inner!r})")


def open_dataset(payload: bytes, fmt: str) -> xr.Dataset:
    """The payload as an in-memory xarray.Dataset; ParseError when it cannot be read."""
    check_magic(payload, fmt)
    label = LABELS[fmt]
    if fmt == GRIB_BZ2:
        payload = _bunzip2(payload)
    engine, suffix = ("netcdf4", ".nc") if fmt == NETCDF else ("cfgrib", ".grib")
    # Both readers want a file name (cfgrib always, netCDF4 for HDF5): a private temporary file.
    with tempfile.TemporaryDirectory(prefix="zarr-ingress-") as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(payload)
        kwargs = {"backend_kwargs": {"indexpath": ""}} if engine == "cfgrib" else {}
        try:
            with xr.open_dataset(path, engine=engine, **kwargs) as dataset:
                return dataset.load()
        except ImportError as error:
            raise RuntimeError(f"cannot read {label}: {error} (install zarr-fuse-ingress[formats])") from error
        except Exception as error:  # the readers raise many kinds for a corrupt file; all mean the same
            text = " ".join(str(error).split())[:300] or type(error).__name__
            raise ParseError(f"{label} upload could not be read: {text}") from None


def _bunzip2(payload: bytes) -> bytes:
    decoder = bz2.BZ2Decompressor()
    out = bytearray()
    rest = payload
    try:
        while True:
            out += decoder.decompress(rest, max_length=_CHUNK)
            rest = b""
            if len(out) > MAX_INFLATED_BYTES:
                raise ParseError(f"GRIB+bzip2 upload rejected: inflates to more than {MAX_INFLATED_BYTES} bytes")
            if decoder.eof:
                if decoder.unused_data:  # concatenated bzip2 streams (pbzip2 writes those)
                    rest, decoder = decoder.unused_data, bz2.BZ2Decompressor()
                    continue
                return bytes(out)
            if decoder.needs_input:
                raise ParseError("GRIB+bzip2 upload could not be read: the bzip2 data is truncated")
    except ParseError:
        raise
    except (OSError, EOFError, ValueError) as error:
        raise ParseError(f"GRIB+bzip2 upload could not be read: not valid bzip2 ({error})") from None
