"""The test suite collects the same whichever of its folders one pytest run is given.

pytest imports a test module of a folder without ``__init__.py`` under its bare file name, with
the folder put first on sys.path, and every folder's ``conftest.py`` under the one name
``conftest``. So two test files of one basename in two folders, or a test importing from
``conftest``, work alone and break when run next to another folder (``pytest tests/fuse
tests/property`` once found the property tests' conftest under the name the merge-engine tests
imported theirs by).
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
SHARED_NAMES = {"conftest.py", "__init__.py"}     # pytest and Python expect one per folder


def suite_modules() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def test_no_test_module_imports_from_a_conftest():
    importers = []
    for path in suite_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[-1] == "conftest" for name in names):
                importers.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not importers, ("move what these import into a helper module of a name of its own: "
                           + ", ".join(importers))


def test_no_two_test_folders_hold_a_module_of_the_same_name():
    folders_by_name: dict[str, list[str]] = defaultdict(list)
    for path in suite_modules():
        if path.name not in SHARED_NAMES:
            folders_by_name[path.name].append(str(path.parent.relative_to(REPO)))
    clashes = {name: folders for name, folders in folders_by_name.items() if len(folders) > 1}
    assert not clashes, f"rename one of each: {clashes}"


def collect(*folders: str) -> tuple[int, str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                          "-p", "no:cacheprovider", *folders],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


def test_all_test_folders_named_in_one_run_collect_in_either_order():
    # Named one by one, every folder's conftest is loaded before any test module is imported:
    # the order in which a clash shows. Both orders, so neither side of a pair is spared.
    folders = sorted(str(path.relative_to(REPO)) for path in TESTS.iterdir()
                     if path.is_dir() and any(path.glob("test_*.py")))
    counts = []
    for order in (folders, folders[::-1]):
        rc, output = collect(*order)
        assert rc == 0, "\n".join(line for line in output.splitlines() if "rror" in line)
        counts.append(int(re.search(r"(\d+) tests? collected", output).group(1)))
    assert counts[0] == counts[1] > 0
