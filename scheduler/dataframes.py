"""The `source: dataframe` axes of the scrapers, re-read when their CSV file changed.

Like a schema file (shared/schema_file.py), a site list is edited while the scheduler runs: each
run looks at its files (one stat each) and reads only a file whose mtime or size moved. A new
version that is not valid (a column of `outputs:` gone, a short row, the file removed) is refused
with one log line naming the file and the key, and the rows in force stay, so a half-saved edit
never turns a run of 100 sites into a run of none.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading

from shared.config import ConfigError
from shared.config.scrapers import Iterate, Scraper, dataframe_steps
from shared.logs import log_event

log = logging.getLogger("scheduler")

Stamp = tuple[int, int] | None  # (mtime_ns, size), None when the file cannot be stat'ed


def _stamp(path: os.PathLike[str]) -> Stamp:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


class WatchedDataframes:
    """Each scraper as in force now: its dataframe axes with the rows of their current files."""

    def __init__(self, scrapers: dict[str, Scraper]) -> None:
        self._scrapers = dict(scrapers)
        self._lock = threading.Lock()
        # (scraper, axis index) -> the stamp of the version in force, or of the one last refused
        self._seen: dict[tuple[str, int], Stamp] = {
            (name, index): _stamp(axis.dataframe.path)
            for name, scraper in scrapers.items() for index, axis in enumerate(scraper.iterate) if axis.dataframe
        }

    def current(self, name: str) -> Scraper:
        """The scraper `name` with every changed dataframe re-read (invalid versions refused)."""
        with self._lock:
            scraper = self._scrapers[name]
            axes = list(scraper.iterate)
            for index, axis in enumerate(axes):
                if axis.dataframe is None:
                    continue
                stamp = _stamp(axis.dataframe.path)
                if stamp == self._seen[(name, index)]:
                    continue
                self._seen[(name, index)] = stamp
                axes[index] = self._reread(name, axis)
            if axes != list(scraper.iterate):
                scraper = self._scrapers[name] = dataclasses.replace(scraper, iterate=tuple(axes))
            return scraper

    @staticmethod
    def _reread(name: str, axis: Iterate) -> Iterate:
        assert axis.dataframe is not None
        try:
            steps = dataframe_steps(axis.dataframe, axis.name)
        except ConfigError as error:
            log_event(log, "dataframe_reload_refused", logging.ERROR, scraper=name, file=axis.dataframe.path,
                      reason=str(error), hint="the rows read before stay in force until the file is fixed")
            return axis
        if steps != axis.steps:
            log_event(log, "dataframe_reloaded", scraper=name, file=axis.dataframe.path, rows=len(steps))
        return dataclasses.replace(axis, steps=steps)
