"""A child process that merges records into a LoggerBook (only what that needs is imported)."""
from __future__ import annotations

from pathlib import Path

from shared.queue.loggers import LastUpload, LoggerBook


def merge_many(queue_dir: str, writer: int, count: int) -> None:
    book = LoggerBook(Path(queue_dir))
    for n in range(count):
        book.merge([LastUpload("met", f"w{writer}-{n}", 1000.0 + n, n), LastUpload("met", "shared", 1000.0 + n, writer)])


def merge_around_a_forgetting(queue_dir: str, writer: int, count: int, ready, forgotten) -> None:
    """A gateway process: its own loggers, and records of `retired` it held from long ago."""
    book = LoggerBook(Path(queue_dir))
    stale = LastUpload("met", "retired", 1000.0 + writer, 1)
    book.merge([stale, LastUpload("met", f"w{writer}", 2000.0, 0)])
    ready.set()
    forgotten.wait(60)
    for n in range(count):
        book.merge([stale, LastUpload("met", f"w{writer}", 2000.0 + n, n)])
