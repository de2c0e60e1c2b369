"""`zarr-ingress queue loggers --forget ENDPOINT LOGGER`: a retired logger is no longer listed,
counted or alerted; only an upload of it after the forgetting brings it back."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import given, settings, strategies as st

sys.path.insert(0, str(Path(__file__).parent))

from book_writer import merge_around_a_forgetting  # noqa: E402
from test_silence_watch import watch  # noqa: E402

from shared.queue.loggers import LastUpload, LoggerBook, UnknownLogger  # noqa: E402

EXAMPLES = int(os.environ.get("LOGGER_EXAMPLES", "40"))
PROPERTY = settings(max_examples=EXAMPLES, derandomize="LOGGER_EXAMPLES" not in os.environ, deadline=None)


def queue_cli(queue_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "worker.queue_cli", "--queue-dir", str(queue_dir), "loggers", *args],
                          capture_output=True, text=True, timeout=60)


def listed(queue_dir: Path) -> set[tuple[str, str]]:
    run = queue_cli(queue_dir, "--json")
    assert run.returncode == 0, run.stderr
    return {(record["endpoint"], record["logger"]) for record in json.loads(run.stdout)}


def fleet(queue_dir: Path) -> LoggerBook:
    book = LoggerBook(queue_dir)
    book.merge([LastUpload("tree", "beech", 1000.0, 3), LastUpload("tree", "oak", 1001.0, None),
                LastUpload("met", "cr1000x", 1002.0, 5)])
    book.write_silences({"tree": {"beech": 1000.0, "oak": 1001.0}})
    return book


def test_forget_removes_the_record_and_the_silence_and_nothing_else(tmp_path):
    book = fleet(tmp_path)
    run = queue_cli(tmp_path, "--forget", "tree", "beech")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("forgot logger beech of endpoint tree (last upload 1970-01-01T00:16:40")
    assert listed(tmp_path) == {("tree", "oak"), ("met", "cr1000x")}
    assert book.read_silences() == {"tree": {"oak": 1001.0}}
    assert {(u.logger, u.at, u.rows) for u in book.read()} == {("oak", 1001.0, None), ("cr1000x", 1002.0, 5)}
    assert not [p.name for p in (tmp_path / "loggers").iterdir() if p.name.startswith(".")]  # no temporary left


def test_an_unknown_endpoint_or_logger_exits_1_naming_what_is_recorded(tmp_path):
    fleet(tmp_path)
    typo = queue_cli(tmp_path, "--forget", "tree", "beach")
    assert typo.returncode == 1 and typo.stdout == ""
    assert "no logger 'beach' recorded for endpoint tree (did you mean 'beech'? recorded: beech, oak)" in typo.stderr
    endpoint = queue_cli(tmp_path, "--forget", "tre", "beech")
    assert endpoint.returncode == 1
    assert "no endpoint 'tre' with loggers recorded (did you mean 'tree'? recorded: met, tree)" in endpoint.stderr
    assert queue_cli(tmp_path, "--forget", "tree", "beech").returncode == 0
    again = queue_cli(tmp_path, "--forget", "tree", "beech")
    assert again.returncode == 1 and "recorded: oak)" in again.stderr
    assert listed(tmp_path) == {("tree", "oak"), ("met", "cr1000x")}


def test_records_gateways_held_from_before_the_forgetting_do_not_bring_it_back_but_a_later_upload_does(tmp_path):
    context = multiprocessing.get_context("spawn")
    ready, forgotten = [context.Event() for _ in range(3)], context.Event()
    writers = [context.Process(target=merge_around_a_forgetting, args=(str(tmp_path), w, 40, ready[w], forgotten))
               for w in range(3)]
    for process in writers:
        process.start()
    for event in ready:
        assert event.wait(60), "a writer process did not start"
    assert ("met", "retired") in listed(tmp_path)
    run = queue_cli(tmp_path, "--forget", "met", "retired")
    assert run.returncode == 0, run.stderr
    forgotten.set()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    found = {(u.endpoint, u.logger): u.at for u in LoggerBook(tmp_path).read()}
    assert found == {("met", "w0"): 2039.0, ("met", "w1"): 2039.0, ("met", "w2"): 2039.0}
    LoggerBook(tmp_path).merge([LastUpload("met", "retired", time.time() + 1, 7)])  # it sends again
    assert ("met", "retired") in listed(tmp_path)


def test_a_forgotten_logger_is_not_alerted_again(tmp_path):
    book, silence, notifier, mailbox = watch(tmp_path)
    book.merge([LastUpload("met", "oak", 100.0, 1), LastUpload("met", "beech", 100.0, 1)])
    silence.check(now=110.0)
    notifier.flush()
    assert len(mailbox.lines("has sent nothing")) == 2
    book.forget("met", "oak", now=111.0)
    silence.check(now=200.0)
    notifier.flush()
    assert len(mailbox.lines("has sent nothing")) == 2 and not mailbox.lines("sends again")
    assert book.read_silences() == {"met": {"beech": 100.0}}


# A step: ("upload", logger, at) is a record a gateway writes (maybe one it held for a while);
# ("forget", logger, now) is an operator's `--forget` at time `now`.
LOGGERS = ("oak", "beech")
steps = st.lists(st.tuples(st.sampled_from(["upload", "forget"]), st.sampled_from(LOGGERS),
                           st.integers(0, 20).map(float)), max_size=25)


@PROPERTY
@given(steps)
def test_a_logger_is_listed_exactly_when_it_has_an_upload_later_than_its_last_forgetting(sequence):
    uploads: dict[str, list[float]] = {name: [] for name in LOGGERS}
    forgotten_at = {name: float("-inf") for name in LOGGERS}

    def model() -> dict[str, float]:
        return {name: max(ats) for name, ats in uploads.items() if any(at > forgotten_at[name] for at in ats)}

    with tempfile.TemporaryDirectory() as folder:
        book = LoggerBook(Path(folder))
        for kind, name, at in sequence:
            if kind == "upload":
                book.merge([LastUpload("met", name, at, 1)])
                uploads[name].append(at)
            elif name in model():
                book.forget("met", name, at)
                forgotten_at[name] = max(at, model()[name])
            else:
                try:
                    book.forget("met", name, at)
                except UnknownLogger:
                    pass
                else:
                    raise AssertionError(f"forgetting {name}, not listed, did not say so")
            assert {u.logger: u.at for u in book.read()} == model()
