"""Entries of a composed coordinate, found by their component values (SCHEMA.md rule 4.8).

A composed coordinate (``station`` made of ``lat``, ``lon``) stores an int64 key per entry and
the components as variables over it. Keys may have been made by zarr-fuse (``hash()`` of the
tuple, randomised per process for text), by version 1 of this engine (blake2b) or by this one,
so an upload's rows are matched to stored entries by their component values: a row naming a
stored station takes that station's stored key, whatever made it; only a new station gets the
key ``convert.composed_keys`` computed, moved off any key already taken by another entry.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

INT64 = np.iinfo(np.int64)


@dataclass
class ComposedEntries:
    """The stored entries of one composed coordinate: component tuple -> stored key."""
    by_value: dict[tuple, int]
    taken: set[int]
    pending: list[tuple[tuple, int]] = field(default_factory=list)

    @classmethod
    def read(cls, keys: np.ndarray, components: list[np.ndarray]) -> "ComposedEntries":
        tuples = list(zip(*(np.asarray(c).tolist() for c in components)))
        stored = keys.tolist()
        return cls(dict(zip(tuples, stored)), set(stored))

    def resolve(self, keys: np.ndarray, components: list[np.ndarray]) -> np.ndarray:
        """The key of every row: the stored key of the entry with the row's component values,
        else the row's computed key. New entries are remembered until ``commit``."""
        self.pending = []
        if len(keys) == 0:
            return keys
        codes, uniques = pd.MultiIndex.from_arrays(components).factorize()
        first_row = np.zeros(len(uniques), dtype=np.int64)
        first_row[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
        unique_keys = keys[first_row].copy()
        given: set[int] = set()
        for i, values in enumerate(uniques):
            found = self.by_value.get(values)
            if found is None:
                found = int(unique_keys[i])
                while found in self.taken or found in given:   # another entry's key
                    found = found + 1 if found < INT64.max else INT64.min
                given.add(found)
                self.pending.append((values, found))
            unique_keys[i] = found
        return unique_keys[codes]

    def commit(self) -> None:
        """The merge that wrote the pending new entries completed."""
        for values, key in self.pending:
            self.by_value[values] = key
            self.taken.add(key)
        self.pending = []
