"""Errors are told apart by class; transient trouble backs off exponentially up to a cap."""
from shared.fuse.errors import DataError, SchemaError, StoreError
from shared.parse import ParseError

from worker.policy import UNEXPECTED_ATTEMPTS, Backoff, Verdict, classify, gives_up


def test_bad_data_is_permanent_and_fails_at_once():
    for error in (DataError("row 1"), SchemaError("x.yaml: VARS"), ParseError("line 3")):
        assert classify(error) is Verdict.PERMANENT
        assert gives_up(classify(error), attempts_so_far=0)


def test_store_trouble_is_transient_and_never_fails_the_upload():
    assert classify(StoreError("timeout")) is Verdict.TRANSIENT
    assert not gives_up(Verdict.TRANSIENT, attempts_so_far=1000)


def test_an_unexpected_exception_is_retried_a_few_times_then_fails():
    assert classify(KeyError("x")) is Verdict.UNEXPECTED
    assert not gives_up(Verdict.UNEXPECTED, UNEXPECTED_ATTEMPTS - 2)
    assert gives_up(Verdict.UNEXPECTED, UNEXPECTED_ATTEMPTS - 1)


def test_backoff_doubles_up_to_the_cap_and_resets_after_success():
    backoff = Backoff(base=1.0, cap=10.0)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    backoff.reset()
    assert backoff.next_delay() == 1
