"""Guessing passwords against a real gunicorn (two worker processes) is slow, a real logger is not.

1,000 wrong passwords from one address, eight at a time: exactly LOGIN_FAILURES_MAX of them are
checked (the count is shared by the worker processes), the rest are 429 with Retry-After,
all within a bounded time, while a logger with an API key behind the same address keeps getting
202. A key added to the users file logs in without a restart, whichever worker takes it.
The figures are printed (`pytest -s`); bench/logins.py measures the same with more detail.
"""

from __future__ import annotations

import collections
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from werkzeug.security import generate_password_hash

from gateway_helpers import TEST_DATA, Gunicorn

TREE_CSV = (TEST_DATA / "tree" / "default.csv").read_bytes()
KEY = "station-12.Zk3v9QpL0sTq1uWm8yXr2bNc5dFh7gJa"
NEW_KEY = "station-13.Pq8w7e6r5t4y3u2i1oAsDfGhJkLzXcVb"
PASSWORD = "C4rol-correct-horse"
GUESSES = 1_000
LIMIT = 10


def test_1000_wrong_passwords_are_mostly_429_while_a_logger_behind_the_same_address_gets_202(tmp_path: Path):
    users = tmp_path / "users.yaml"
    # Werkzeug's default hashes (scrypt): what an operator's file really holds.
    users.write_text(f"""\
users:
  - name: station-12
    key_hash: "{generate_password_hash(KEY)}"
  - name: carol
    password: "{generate_password_hash(PASSWORD)}"
""", encoding="utf-8")
    server = Gunicorn(tmp_path / "queue", tmp_path, USERS_FILE=str(users), LOGIN_FAILURES_MAX=str(LIMIT),
                      LOGIN_FAILURES_WINDOW="300")
    try:
        logger = requests.Session()
        logger.headers.update({"X-API-Key": KEY, "Content-Type": "text/csv"})
        before = [logger.post(server.url + "/api/v1/tree", data=TREE_CSV, timeout=30).status_code for _ in range(4)]
        assert before == [202] * 4

        # A new logger's key, added to the users file: in force without a restart, whichever worker answers.
        users.write_text(users.read_text() + f'  - name: station-13\n    key_hash: "{generate_password_hash(NEW_KEY)}"\n',
                         encoding="utf-8")
        time.sleep(1.5)  # each process looks at the file at most once a second
        new = [requests.post(server.url + "/api/v1/tree", data=TREE_CSV, timeout=30,
                             headers={"X-API-Key": NEW_KEY, "Content-Type": "text/csv"}).status_code for _ in range(6)]
        assert new == [202] * 6, new

        stop = threading.Event()
        logger_statuses: list[int] = []

        def keep_uploading() -> None:
            for _ in range(2_000):  # bounded; ends with the attack
                if stop.is_set():
                    return
                logger_statuses.append(logger.post(server.url + "/api/v1/tree", data=TREE_CSV, timeout=30).status_code)
                time.sleep(0.05)

        def guess(number: int) -> tuple[int, str | None]:
            name = "carol" if number % 2 else f"user{number}"
            response = requests.get(server.url + "/api/v1/uploads/x", auth=(name, f"guess-{number}"), timeout=30)
            return response.status_code, response.headers.get("Retry-After")

        uploader = threading.Thread(target=keep_uploading)
        uploader.start()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(guess, range(GUESSES)))
        seconds = time.monotonic() - started
        stop.set()
        uploader.join(timeout=60)

        statuses = collections.Counter(status for status, _ in answers)
        print(f"\n{GUESSES} wrong passwords in {seconds:.1f} s ({GUESSES / seconds:.0f}/s): {dict(statuses)}; "
              f"the logger meanwhile: {collections.Counter(logger_statuses)}")
        # Exactly LIMIT checked: each attempt is counted before its check, in the file both workers share.
        assert statuses[401] == LIMIT and statuses[429] == GUESSES - LIMIT, statuses
        assert all(int(retry) > 0 for status, retry in answers if status == 429)
        assert seconds < 120, seconds
        assert logger_statuses and set(logger_statuses) == {202}, collections.Counter(logger_statuses)

        # The right password, tried while blocked, is not checked: the guesser cannot tell it is right.
        assert requests.get(server.url + "/api/v1/uploads/x", auth=("carol", PASSWORD), timeout=30).status_code == 429
    finally:
        server.stop()
    log = server.log.read_text()
    secrets = [KEY.split(".")[1], NEW_KEY.split(".")[1], PASSWORD, "guess-1", "guess-999"]
    assert not [s for s in secrets if s in log], "a secret reached the gateway's log"
    sidecars = "".join(p.read_text() for p in (tmp_path / "queue").rglob("*.meta.json"))
    assert sidecars and not [s for s in secrets if s in sidecars]
