"""``zarr-ingress store ...``: operator repairs of a store, with the engine's own store opening.

    repair --endpoint E | --schema PATH  --coord C  (--value V | --index N)  [--node P] [--dry-run]
        remove a coordinate entry (by its raw stored value, or its index) and the values of
        every array over that dimension; for stores an earlier version damaged

The store is found as the worker finds it: the schema's ATTRS, STORE_ROOT / STORE_URL / S3_*
from the environment and ``.env``. Stop the worker (or its lane) first: it keeps coordinate
values in memory between merges.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Sequence

from shared.config import ConfigError, load_settings, merged_environ
from shared.fuse import FuseError
from shared.fuse.repair import remove_entries


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="zarr-ingress store", description=__doc__.split("\n\n")[0])
    commands = main.add_subparsers(dest="command", required=True)
    repair = commands.add_parser("repair", help="remove a coordinate entry an operator names")
    which = repair.add_mutually_exclusive_group(required=True)
    which.add_argument("--endpoint", help="the endpoint whose schema names the store")
    which.add_argument("--schema", help="a schema YAML file naming the store")
    repair.add_argument("--node", default="", help="node path ('' is the root)")
    repair.add_argument("--coord", required=True, help="the coordinate, e.g. time")
    entry = repair.add_mutually_exclusive_group(required=True)
    entry.add_argument("--value", help="the raw stored value (int64 ticks for a time)")
    entry.add_argument("--index", type=int, help="the entry's position (negative: from the end)")
    repair.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    repair.add_argument("--json", action="store_true", help="print the plan as JSON")
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    environ = merged_environ()
    try:
        schema = args.schema
        if args.endpoint:
            settings = load_settings(environ, dotenv=None)
            try:
                schema = settings.endpoint(args.endpoint).schema_path
            except KeyError:
                names = ", ".join(e.name for e in settings.endpoints)
                print(f"zarr-ingress store: no endpoint {args.endpoint!r} (endpoints: {names})",
                      file=sys.stderr)
                return 2
        removal = remove_entries(schema, args.node, args.coord, value=args.value,
                                 index=args.index, dry_run=args.dry_run, environ=environ)
    except (ConfigError, FuseError) as exc:
        print(f"zarr-ingress store: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(dict(asdict(removal), dry_run=args.dry_run), default=str))
    else:
        print("\n".join(removal.lines()))
        print("dry run: nothing changed" if args.dry_run else "done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
