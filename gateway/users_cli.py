"""`zarr-ingress users new-key NAME`: a new API key for a logger and the line for USERS_FILE.

The key (`NAME.<secret>`) is printed once, to give to the logger; only its werkzeug hash goes
into the users file, so the file never holds a usable key.
"""

from __future__ import annotations

import argparse
import secrets
import sys

from werkzeug.security import generate_password_hash

from shared.config.users import USER_NAME


def new_key(name: str) -> tuple[str, str]:
    """(the API key, its werkzeug hash); the secret is url-safe base64, so it has no '.'."""
    key = f"{name}.{secrets.token_urlsafe(32)}"
    return key, generate_password_hash(key)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zarr-ingress users", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("new-key", help="print a new API key and its users-file entry")
    made.add_argument("name", help="the logger's user name (no ':' or whitespace)")
    args = parser.parse_args(argv)
    if not USER_NAME.fullmatch(args.name):
        print(f"zarr-ingress users: {args.name!r} is not a user name (1 to 128 characters, no ':' or whitespace)",
              file=sys.stderr)
        return 2
    key, key_hash = new_key(args.name)
    print(f"API key (give it to the logger; it is not stored anywhere): {key}")
    print("USERS_FILE entry:")
    print(f"  - name: {args.name}")
    print(f"    key_hash: \"{key_hash}\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
