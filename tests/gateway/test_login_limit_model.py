"""FailedLogins (gateway/login_limit.py) against a plain-Python model of its rule, under Hypothesis.

The rule: a login from `address` for `name` is refused unchecked while either has had
`max_failures` counted attempts in the window that began with its first; a checked login is
counted, and taken back when it succeeds; a credential that succeeded is always let in.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings, strategies as st

from gateway.login_limit import FailedLogins

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "40"))
MAX, WINDOW = 3, 10.0

step = st.tuples(
    st.sampled_from(["10.0.0.1", "192.0.2.9"]),  # address
    st.sampled_from(["carol", "nobody"]),  # name
    st.sampled_from([False, False, False, True]),  # the secret is right (mostly guesses)
    st.sampled_from([0.0, 0.0, 0.0, 0.5, 3.0, 11.0]),  # seconds before this login
)


class Model:
    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, float]] = {}
        self.known: set[tuple[str, bool]] = set()

    def login(self, now: float, address: str, name: str, right: bool) -> str:
        if right and (name, right) in self.known:
            return "in"
        keys = (f"a{address}", f"u{name}")
        live = {k: self.counts[k] for k in keys if k in self.counts and now - self.counts[k][1] < WINDOW}
        if any(count >= MAX for count, _ in live.values()):
            return "blocked"
        for key in keys:
            count, since = live.get(key, (0, now))
            self.counts[key] = (count + (0 if right else 1), since)
        if right:
            self.known.add((name, right))
            return "in"
        return "refused"


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None)
@given(st.lists(step, min_size=4, max_size=30))
def test_failed_logins_follow_the_model(tmp_path_factory, steps):
    state_dir: Path = tmp_path_factory.mktemp("logins")
    clock = [1_000.0]
    limit = FailedLogins("queue", max_failures=MAX, window=WINDOW, state_dir=state_dir, clock=lambda: clock[0])
    model = Model()
    for address, name, right, pause in steps:
        clock[0] += pause
        token = limit.token("password", name, "stored", "right") if right else None
        wait, known = limit.attempt(address, name, token)
        if known:
            got = "in"
        elif wait > 0:
            assert 0 < wait <= WINDOW
            got = "blocked"
        elif right:
            limit.succeeded(address, name, token)
            got = "in"
        else:
            got = "refused"
        assert got == model.login(clock[0], address, name, right), (address, name, right, clock[0])
