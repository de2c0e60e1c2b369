"""A new, empty ext4 filesystem for a benchmark's files: the same disk state for every server.

Creating a file on ext4 costs what finding it a free inode costs, and on a filesystem that has
seen millions of files created and deleted (a test machine's /tmp) that depends on the block
group a directory lands in: measured here, 20 us in one folder and 800 us of CPU in its sibling,
for the same open(O_CREAT). Two servers of one benchmark, each with its own spool folder, then
differ by the luck of their folders, not by their code. On a fresh filesystem every folder is
alike. The image lives in a temporary file on a loop device; an fsync on it flushes the image
file to the disk below, so it still waits for the disk. (With the loop device's direct I/O the
figures here moved by 2x between repetitions; buffered, by a fifth.)

Needs root (losetup, mount); `fresh_filesystem()` says why it cannot when it cannot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class NoFreshFilesystem(Exception):
    """Why a fresh filesystem cannot be made here."""


@contextlib.contextmanager
def fresh_filesystem(size_mb: int = 4096) -> Iterator[Path]:
    """The mount point of a new ext4 filesystem of `size_mb` MB, removed again afterwards."""
    if os.geteuid() != 0:
        raise NoFreshFilesystem("a fresh filesystem needs root (losetup and mount)")
    for tool in ("mkfs.ext4", "losetup", "mount", "umount"):
        if shutil.which(tool) is None:
            raise NoFreshFilesystem(f"{tool} is not installed")
    home = Path(tempfile.mkdtemp(prefix="bench-fs-"))
    image, mountpoint = home / "fs.img", home / "mnt"
    mountpoint.mkdir()
    device = None
    try:
        with open(image, "wb") as handle:
            handle.truncate(size_mb * 1024 * 1024)
        _run("mkfs.ext4", "-q", "-F", str(image))
        device = _run("losetup", "--find", "--show", str(image)).strip()
        _run("mount", device, str(mountpoint))
        try:
            yield mountpoint
        finally:
            _run("umount", str(mountpoint))
    except subprocess.CalledProcessError as error:
        raise NoFreshFilesystem(f"{' '.join(error.cmd)} failed: {error.stderr.strip()}") from None
    finally:
        if device:
            subprocess.run(["losetup", "-d", device], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def describe(folder: Path) -> str:
    """The filesystem `folder` is on, for a benchmark's heading."""
    result = subprocess.run(["df", "--output=source,fstype", str(folder)], capture_output=True, text=True)
    lines = result.stdout.split("\n")
    return " ".join(lines[1].split()) if result.returncode == 0 and len(lines) > 1 else "unknown"


def _run(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout
