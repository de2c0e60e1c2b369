"""Reading a lane's files ahead of the batch that needs them, in a few threads.

A read waits on the disk (on a busy journal, an open alone can take a millisecond), not on the
interpreter, so the lane's sidecars (``Queue.scan(pool=...)``) and the next batch's payloads are
read in threads while the lane converts and merges the batch before. Payloads read ahead are
bounded by bytes, from the sizes their sidecars state.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

READER_THREADS = 4
READ_AHEAD_BYTES = 64 * 2**20  # payloads read and not yet taken, at most


class ReadAhead:
    def __init__(self, endpoint: str, threads: int = READER_THREADS, most_bytes: int = READ_AHEAD_BYTES) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix=f"reads-{endpoint}")
        self.most_bytes = most_bytes
        self._reads: dict[str, tuple[Future[bytes], int]] = {}  # upload id -> (its read, its size)

    def start(self, items: list[Any]) -> None:
        """Start reading these items' payloads, in order, as far as the byte bound allows."""
        budget = self.most_bytes - sum(size for _, size in self._reads.values())
        for item in items:
            if item.id in self._reads:
                continue
            budget -= item.sidecar.size
            if budget < 0:
                break
            self._reads[item.id] = (self.pool.submit(item.payload_path.read_bytes), item.sidecar.size)

    def payload(self, item: Any) -> bytes:
        """The item's payload: read ahead if it was, else now (a read's error is raised here)."""
        read = self._reads.pop(item.id, None)
        return read[0].result() if read is not None else item.payload_path.read_bytes()

    def forget(self) -> None:
        """Drop what was read ahead (items may change state before the next scan)."""
        self._reads.clear()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
