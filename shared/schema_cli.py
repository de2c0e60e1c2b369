"""``zarr-ingress schema check FILE...``: what the gateway and worker would say about schemas.

One line per finding, ``error:`` or ``warning:``, each with the file and the key path, the real
culprit of a file's errors first. Exit status: 0 when every file loads (warnings or not), 1 when
any file has an error, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from shared.fuse import SchemaError, load_schema
from shared.fuse.errors import SchemaFinding


def check(path: str) -> list[SchemaFinding]:
    """Every finding of one schema file; a file that cannot be read is one error finding."""
    try:
        findings = list(load_schema(path).warnings)
    except SchemaError as error:
        findings = list(error.findings)
        if not findings:
            # unreadable file or not YAML: one error, its message already names the file
            return [SchemaFinding(path, "", str(error).split(": ", 1)[-1], "error")]
    # the loader names a file by its base name; with several files, say which one as given
    return [dataclasses.replace(finding, file=path) for finding in findings]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="zarr-ingress schema",
        description="Check zarr-fuse schema files as the gateway and worker load them.")
    commands = parser.add_subparsers(dest="command", required=True)
    checker = commands.add_parser("check", help="list the errors and warnings of schema files")
    checker.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)
    failed = False
    for path in args.files:
        findings = check(path)
        failed |= any(f.severity == "error" for f in findings)
        for finding in findings:
            print(f"{finding.severity}: {finding}")
        if not findings:
            print(f"ok: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
