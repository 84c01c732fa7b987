"""`prefetched`: every reader's batches are read ahead on a helper thread while the partition's
thread conforms and writes (dativo_workers/ingest.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dativo_workers.ingest import prefetched


def _prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dativo-prefetch"]


def _settle(read: list[int], seconds: float = 0.3) -> int:
    """How far the helper thread got once it stopped advancing."""
    last, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:
        now = len(read)
        if now == last:
            return now
        last = now
        time.sleep(seconds)
    raise AssertionError("the helper thread never stopped reading")


def test_every_item_in_order_and_the_thread_ends() -> None:
    assert list(prefetched(iter(range(1000)), depth=3)) == list(range(1000))
    assert list(prefetched(iter([]))) == []
    assert _prefetch_threads() == []


def test_reads_on_another_thread() -> None:
    threads: list[str] = []

    def source() -> Iterator[int]:
        for i in range(3):
            threads.append(threading.current_thread().name)
            yield i

    assert list(prefetched(source())) == [0, 1, 2]
    assert threads == ["dativo-prefetch"] * 3


def test_a_reader_error_reaches_the_consumer_after_the_items_before_it() -> None:
    class SourceFailed(Exception):
        pass

    def source() -> Iterator[int]:
        yield from range(5)
        raise SourceFailed("orders: row 5: connection reset by peer")

    got: list[int] = []
    with pytest.raises(SourceFailed, match=r"^orders: row 5: connection reset by peer$") as caught:
        for item in prefetched(source()):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
    # the original exception, raised where the reader raised it: its traceback names the reader
    assert any(frame.name == "source" for frame in caught.traceback)
    assert _prefetch_threads() == []


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_the_read_ahead_is_bounded(depth: int) -> None:
    read: list[int] = []

    def source() -> Iterator[int]:
        for i in range(10_000):
            read.append(i)
            yield i

    items = prefetched(source(), depth=depth)
    assert next(items) == 0  # the consumer holds one item and stops taking more
    ahead = _settle(read)
    # in the queue: `depth`; in the helper's hands, waiting for room: one; and the one consumed
    assert ahead <= depth + 2
    assert [next(items) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert _settle(read) <= 6 + depth + 1
    items.close()


def test_the_thread_stops_and_closes_the_reader_when_the_consumer_stops_early() -> None:
    closed = threading.Event()
    read: list[int] = []

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                read.append(i)
                yield i
                i += 1
        finally:
            closed.set()

    items = prefetched(endless(), depth=2)
    assert [next(items) for _ in range(3)] == [0, 1, 2]
    items.close()  # what a `for` loop's break or an exception in the loop body does
    assert closed.is_set()  # the reader's own cleanup ran (connections, cursors, files)
    assert _prefetch_threads() == []
    stopped_at = len(read)
    time.sleep(0.2)
    assert len(read) == stopped_at


def test_the_consumer_failing_stops_the_thread() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="write failed"):
        for _ in prefetched(endless()):
            raise RuntimeError("write failed")
    assert closed.is_set()
    assert _prefetch_threads() == []
