"""A git ref's code in a folder of its own, for a benchmark's "before" in the same run."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def export(ref: str, folder: Path, paths: tuple[str, ...]) -> Path:
    """`paths` of git `ref` (git archive), under `folder`/code-<ref>; that folder is returned."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, *paths], capture_output=True, check=True).stdout
    target = folder / f"code-{ref.replace('/', '_')}"
    target.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target
