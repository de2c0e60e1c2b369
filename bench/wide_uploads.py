"""How the gateway's syntax check scales with the number of columns (issue 10, item 8).

    python bench/wide_uploads.py [--columns 1000,10000,40000]

For each width it times `sniff_columns` on a CSV of one header and one row of that many columns,
against the baseline of the same number of cells laid out as one column of that many rows: a
linear check costs about the same for both (figures printed, nothing asserted). The widths are
above MAX_COLUMNS on purpose (the cap is lifted here), so the cost of the check itself shows.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.formats import sniff_columns  # noqa: E402


def best_of(payload: bytes, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        sniff_columns(payload, "csv", max_columns=10**9)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", default="1000,10000,40000")
    widths = [int(w) for w in parser.parse_args().columns.split(",")]
    print(f"{'cells':>8}  {'wide (1 row)':>14}  {'tall (baseline)':>16}  ratio")
    for width in widths:
        wide = ",".join(f"c{i}" for i in range(width)).encode() + b"\n" + b",".join([b"1"] * width) + b"\n"
        tall = b"value\n" + b"1\n" * width
        wide_s, tall_s = best_of(wide), best_of(tall)
        print(f"{width:>8}  {wide_s * 1000:>11.1f} ms  {tall_s * 1000:>13.1f} ms  {wide_s / tall_s:5.1f}x")


if __name__ == "__main__":
    main()
