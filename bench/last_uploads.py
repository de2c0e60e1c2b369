"""What "who went silent" adds to an upload, against the upload's own durable write, in one run.

    .venv/bin/python bench/last_uploads.py [--uploads 2000] [--loggers 100,1000,10000]

Printed, per upload: `Queue.enqueue` of a 10-row CSV (the baseline every upload pays: two
fsyncs and renames), the gateway's `LastUploadRecorder.record` (what the request thread adds: a
dict update under a lock; the row count and device come from the structure check the gateway
made anyway, `sniff`, which only returns more of what it saw). Per write (at most one a second per gateway process): the
`LoggerBook.merge` of one process's pending records into a file that holds N loggers.
A benchmark, never a pass/fail test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gateway.last_uploads import LastUploadRecorder  # noqa: E402
from shared.queue import Queue  # noqa: E402
from shared.queue.loggers import LastUpload, LoggerBook  # noqa: E402

CSV = ("timestamp,tree_id,sap_flow\n" + "".join(f"2026-06-14 06:{m:02d}:00,oak-01,{m}.5\n" for m in range(10))).encode()


def per_call(function, count: int) -> float:
    """Median of five runs of `count` calls, in microseconds per call."""
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for n in range(count):
            function(n)
        runs.append((time.perf_counter() - started) / count * 1e6)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=2000)
    parser.add_argument("--loggers", default="100,1000,10000")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-loggers-") as folder:
        root = Path(folder)
        queue = Queue(root / "queue")
        enqueue = per_call(lambda n: queue.enqueue("tree", CSV, format="csv", node_path=""), max(1, args.uploads // 10))
        recorder = LastUploadRecorder(LoggerBook(root / "record"))
        record = per_call(lambda n: recorder.record("tree", f"logger-{n % 200}", 10), args.uploads)
        print(f"per upload: enqueue {enqueue:9.1f} us (baseline)")
        print(f"            record  {record:9.2f} us  ({record / enqueue:.2%} of enqueue)")
        for size in (int(s) for s in args.loggers.split(",")):
            book = LoggerBook(root / f"book-{size}")
            book.merge(LastUpload("tree", f"logger-{n}", 1.0, 10) for n in range(size))
            pending = [LastUpload("tree", f"logger-{n}", 2.0 + n, 10) for n in range(min(size, 200))]
            merge = per_call(lambda n: book.merge(pending), 20)
            print(f"per write ({size:>6} loggers in the file, {len(pending)} pending): merge {merge / 1000:7.2f} ms "
                  f"(at most one a second per gateway process: {merge / 1e6:.2%} of one core)")


if __name__ == "__main__":
    main()
