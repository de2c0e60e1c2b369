"""A lane's committed batches whose moves to done/ are under way (``Queue.finish_batch``).

One completion thread finishes them one after another, in commit order (the order argument of
docs/internals.md, "The spool"); its sidecar fsyncs run in a pool of ``move_threads``. The lane
waits for them only to keep at most a few in flight, before it rescans the queue, and at the end
of a drain.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shared.queue import Queue
from shared.queue.batches import CommittedBatch

IN_FLIGHT = 2  # batches committed and not yet moved: the moves trail the merges by at most this


@dataclass
class Finish:
    """A committed batch on its way to done/, with what the lane logs once it is there."""

    moves: Future[Any]
    entries: list[Any]
    batch_id: str
    seconds: float


class Finishes:
    def __init__(self, endpoint: str, queue: Queue, move_threads: int) -> None:
        self.queue = queue
        self._moves = ThreadPoolExecutor(max(1, move_threads), thread_name_prefix=f"fsyncs-{endpoint}")
        self._finisher = ThreadPoolExecutor(1, thread_name_prefix=f"completion-{endpoint}")
        self._pending: list[Finish] = []

    def start(self, committed: CommittedBatch, entries: list[Any], batch_id: str, seconds: float) -> None:
        moves = self._finisher.submit(self.queue.finish_batch, committed, pool=self._moves)
        self._pending.append(Finish(moves, entries, batch_id, seconds))

    def settle(self, through: Callable[[Finish], None], keep: int = 0) -> None:
        """Wait until at most `keep` finishes are under way; `through(finish)` for each one done
        (those already through whatever `keep` is). A failed finish is raised once the later ones
        are through too: its record finishes it at the next drain, and roll_forward must not race
        them."""
        failure: BaseException | None = None
        while self._pending and (failure is not None or len(self._pending) > keep or self._pending[0].moves.done()):
            finish = self._pending.pop(0)
            try:
                finish.moves.result()
            except BaseException as error:
                failure = failure or error
                continue
            through(finish)
        if failure is not None:
            raise failure

    def shutdown(self) -> None:
        self._finisher.shutdown(wait=True)
        self._moves.shutdown(wait=True)
