"""The filesystem steps the queue's durability rests on: write-then-fsync, directory fsync, listings.

A rename is only durable once its directory is fsynced; a new directory only once its parent is.
Listings tolerate folders that do not exist yet (an endpoint that never got an upload).
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def write_synced(*files: tuple[Path | str, bytes]) -> None:
    """Write each (path, data) file, then fsync each one.

    All writes come before the first fsync: on journalling filesystems the first fsync's commit
    usually carries the other files' blocks too, so the later fsyncs find little left to do.
    """
    fds: list[int] = []
    try:
        for path, data in files:
            fds.append(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
            view = memoryview(data)
            while view:
                view = view[os.write(fds[-1], view):]
        for fd in fds:
            os.fsync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def fsync_dir(folder: Path | str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(folder: Path) -> None:
    if folder.is_dir():
        return
    ensure_dir(folder.parent)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    fsync_dir(folder.parent)  # a new folder must survive a crash like the files put in it


def listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def scandir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except FileNotFoundError:
        return []


def subdirs(folder: Path) -> list[Path]:
    return [Path(e.path) for e in scandir(folder) if e.is_dir(follow_symlinks=False)]


def mtime(entry: os.DirEntry[str]) -> float:
    try:
        return entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return float("inf")


def age(path: Path) -> float:
    """Seconds since the file was written or renamed (a rename updates ctime, not mtime)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return 0.0
    return time.time() - max(stat.st_mtime, stat.st_ctime)
