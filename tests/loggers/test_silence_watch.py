"""SilenceWatch against a real LoggerBook folder: each silence said once, its end said once,
whenever the worker happens to look (its checks ride on the heartbeat and may come late)."""
from __future__ import annotations

from pathlib import Path

from shared.notify import Notifier
from shared.queue.loggers import LastUpload, LoggerBook
from worker.alerts import SilenceWatch


class Mailbox:
    """The far end of a notification channel: what a person would read."""

    name = "mailbox"

    def __init__(self) -> None:
        self.texts: list[str] = []

    def send(self, subject: str, text: str) -> None:
        self.texts.append(text)

    def lines(self, fragment: str) -> list[str]:
        return [line for text in self.texts for line in text.splitlines() if fragment in line]


def watch(tmp_path: Path) -> tuple[LoggerBook, SilenceWatch, Notifier, Mailbox]:
    book = LoggerBook(tmp_path)
    mailbox = Mailbox()
    notifier = Notifier([mailbox], process="worker", digest_seconds=3600)
    return book, SilenceWatch(book, {"met": 4.0}, notifier), notifier, mailbox


def test_an_upload_after_a_silence_ends_it_even_when_the_check_comes_after_the_next_silence_began(tmp_path):
    book, silence, notifier, mailbox = watch(tmp_path)
    book.merge([LastUpload("met", "oak", 1000.0, 3)])
    silence.check(now=1010.0)
    silence.check(now=1012.0)
    book.merge([LastUpload("met", "oak", 1020.0, 3)])
    silence.check(now=1030.0)  # 10 s after oak's upload: silent again by now
    notifier.flush()
    assert len(mailbox.lines("logger 'oak' of endpoint met sends again")) == 1
    assert len(mailbox.lines("logger 'oak' of endpoint met has sent nothing for")) == 2  # two silences


def test_a_logger_back_in_time_is_said_to_send_again_once(tmp_path):
    book, silence, notifier, mailbox = watch(tmp_path)
    book.merge([LastUpload("met", "oak", 1000.0, 3)])
    silence.check(now=1010.0)
    book.merge([LastUpload("met", "oak", 1020.0, 3)])
    for now in (1021.0, 1022.0, 1023.0):
        silence.check(now=now)
    notifier.flush()
    assert len(mailbox.lines("sends again")) == 1
    assert len(mailbox.lines("has sent nothing for")) == 1
