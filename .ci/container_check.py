"""Host-side helpers of .ci/container-check.sh (standard library, plus PyYAML for credentials).

    python container_check.py credentials ENV_FILE        user:password for Basic auth (CI_USER, default test)
    python container_check.py free-port                   a free TCP port on 127.0.0.1
    python container_check.py no-dotenv < image.tar       fail if any layer of a `podman save` archive has a .env
    python container_check.py wait URL USER:PASS SECONDS ID...   poll GET /api/v1/uploads/<id> until all are done
"""
import base64
import json
import os
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path

WERKZEUG_HASH_PREFIXES = ("pbkdf2:", "scrypt:")


def credentials(env_file: str) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from shared.config import read_dotenv  # the gateway's own reading of .env (needs only PyYAML)

    users = json.loads(read_dotenv(Path(env_file)).get("BASIC_AUTH_USERS_JSON") or "{}")
    user = os.environ.get("CI_USER", "test")
    if user not in users:
        raise SystemExit(f"{env_file}: BASIC_AUTH_USERS_JSON has no user {user!r} (set CI_USER)")
    password = users[user]
    if password.startswith(WERKZEUG_HASH_PREFIXES):
        password = os.environ.get("CI_PASSWORD") or sys.exit(
            f"{env_file}: the password of {user!r} is a hash: set CI_PASSWORD")
    return f"{user}:{password}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def no_dotenv(stream) -> int:
    """Scan every layer tar inside the image archive, streaming (no copy on disk)."""
    found, layers = [], 0
    with tarfile.open(fileobj=stream, mode="r|") as archive:
        for member in archive:
            if not member.isfile():
                continue
            layer = archive.extractfile(member)
            try:
                with tarfile.open(fileobj=layer, mode="r|*") as files:
                    layers += 1
                    found += [f"{member.name}: {f.name}" for f in files
                              if os.path.basename(f.name) in (".env", ".wh..env") or f.name.endswith("/.env")]
            except tarfile.ReadError:
                continue  # a JSON manifest or config, not a layer
    if layers == 0:
        print("no layers found in the image archive", file=sys.stderr)
        return 1
    for entry in found:
        print(f"found {entry}", file=sys.stderr)
    print(f"{layers} layers scanned, {len(found)} .env files")
    return 1 if found else 0


def wait(url: str, auth: str, seconds: float, ids: list[str]) -> int:
    header = "Basic " + base64.b64encode(auth.encode()).decode()
    deadline = time.monotonic() + seconds
    pending = list(ids)
    while pending:
        upload_id = pending[0]
        request = urllib.request.Request(f"{url}/api/v1/uploads/{upload_id}", headers={"Authorization": header})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                state = json.load(response)
        except (urllib.error.URLError, OSError) as error:
            state = {"state": f"unreachable ({error})"}
        if state["state"] == "done":
            pending.pop(0)
            continue
        if state["state"] == "failed":
            print(f"upload {upload_id} failed: {state.get('error')}", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"timed out after {seconds:.0f}s: {len(pending)} of {len(ids)} uploads not merged "
                  f"(first {upload_id}: {state['state']})", file=sys.stderr)
            return 1
        time.sleep(1)
    print(f"{len(ids)} uploads merged")
    return 0


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "credentials":
        print(credentials(args[0]))
        return 0
    if command == "free-port":
        print(free_port())
        return 0
    if command == "no-dotenv":
        return no_dotenv(sys.stdin.buffer)
    if command == "wait":
        return wait(args[0], args[1], float(args[2]), args[3:])
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
