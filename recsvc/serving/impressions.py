"""Recording what was shown: each served list becomes an impression, written in the
background so a request never waits on the database.

A process keeps the impressions of its requests in a bounded buffer; a background
thread writes them in batches every ``RECSVC_IMPRESSION_FLUSH_INTERVAL`` seconds (and
at once when the buffer is half full). What a write cannot store stays buffered for the
next attempt. When the buffer is full (the database down for a while, or slower than
the traffic), new impressions are dropped, counted and logged: never a failed or slow
request. ``RECSVC_IMPRESSION_SAMPLE_RATE`` records that share of the lists (chosen by
their recommendation_id, so a list is recorded or not whoever asks).
"""

from __future__ import annotations

import json
import logging
import operator
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .. import metrics
from ..store.impressions import Impression, ImpressionStore
from .background import repeat
from .recommender import Recommendations

log = logging.getLogger(__name__)
#: impressions written per transaction
WRITE_BATCH = 1_000
_ITEM_ID = operator.itemgetter("item_id")


#: text that a JSON string holds as it is (no quote, backslash or control character)
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')


def json_array(ids: tuple[str, ...]) -> str:
    """The ids as a JSON array, as ``json.dumps`` writes it (but for characters beyond
    ASCII, kept as they are): joined directly when no id needs escaping, a tenth of
    json.dumps' cost, which a worker pays for every list it records."""
    if not ids or not _PLAIN.fullmatch("".join(ids)):
        return json.dumps(ids)
    return '["' + '", "'.join(ids) + '"]'


class ImpressionRecorder:
    """A process's buffer of impressions and its background writer."""

    def __init__(
        self,
        store: ImpressionStore,
        *,
        sample_rate: float = 1.0,
        capacity: int = 10_000,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.sample_rate = sample_rate
        self.capacity = capacity
        self.interval = interval
        self.clock = clock
        self._buffer: deque[tuple[Any, ...]] = deque()
        #: held by writers (the background thread, and close at exit), never by record
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._started_in: int | None = None
        #: counters: recorded into the buffer, written to the database, dropped (buffer
        #: full), not sampled, and failed writes (each logged)
        self.recorded = self.written = self.dropped = self.unsampled = self.failures = 0
        self._reported: dict[str, int] = {}
        #: ids of buffered impressions whose write failed once (perhaps after storing them)
        self._retried: set[str] = set()

    def sampled(self, recommendation_id: str) -> bool:
        """Whether this list is recorded: a fixed share of ids, by their last 32 bits
        (random in a UUIDv7: see recsvc.serving.recommender.recommendation_id)."""
        if self.sample_rate >= 1:
            return True
        return int(recommendation_id[-8:], 16) < self.sample_rate * 0x1_0000_0000

    def record(
        self,
        result: Recommendations,
        *,
        user_id: str | None,
        session_id: str | None,
        experiment: str | None = None,
        variant: str | None = None,
    ) -> None:
        """Buffer the impression of a served list (a few microseconds: no I/O; encoding
        and the metrics wait for the background writer)."""
        if self.sample_rate < 1 and not self.sampled(result.recommendation_id):
            self.unsampled += 1
            return
        # a tuple of strings and numbers (Impression's fields, the items' ids as a tuple,
        # JSON when written): the garbage collector stops tracking such tuples at once,
        # so a buffer of thousands of them costs its collections nothing
        row = (result.recommendation_id, int(self.clock()), result.placement, result.strategy,
               result.model_version, tuple(map(_ITEM_ID, result.items)),
               user_id, session_id, experiment, variant)  # fmt: skip
        # no lock: a deque's append, popleft and len are atomic, and under gevent's
        # workers (the Procfile's) a threading.Lock is a semaphore in Python that cost
        # a microsecond or two of every request. The writer holds its own lock among
        # writers; a request may find the buffer a few rows over capacity after a
        # failed write put its batch back, which is harmless. (Under threaded workers
        # two requests may, rarely, lose one increment of these counters; never an
        # impression.)
        buffer = self._buffer
        if len(buffer) >= self.capacity:
            self.dropped += 1
            full = self.dropped
        else:
            buffer.append(row)
            self.recorded += 1
            full = 0
            if len(buffer) * 2 >= self.capacity:
                self._wake.set()
        if full and (full == 1 or full % 1000 == 0):
            log.warning("impression buffer full (%d impressions): %d dropped so far",
                        self.capacity, full)  # fmt: skip

    @property
    def buffered(self) -> int:
        """Impressions waiting to be written."""
        return len(self._buffer)

    def flush(self) -> int:
        """Write what is buffered, in batches; what fails stays buffered. How many were
        written (raises the database's error after putting the batch back)."""
        written = 0
        self._report()
        while True:
            with self._lock:
                batch = [self._buffer.popleft() for _ in range(min(WRITE_BATCH, len(self._buffer)))]
            if not batch:
                metrics.BUFFERED.set(len(self._buffer))
                return written
            retry = bool(self._retried) and any(row[0] in self._retried for row in batch)
            rows = [Impression._make((*row[:5], json_array(row[5]), *row[6:])) for row in batch]
            try:
                self.store.add(rows, retry=retry)
            except Exception:
                with self._lock:
                    self._requeue(batch)
                raise
            if retry:
                self._retried.difference_update(row[0] for row in batch)
            written += len(batch)
            self.written += len(batch)
            metrics.IMPRESSIONS.labels("written").inc(len(batch))
            metrics.BUFFERED.set(len(self._buffer))

    def _report(self) -> None:
        """Bring the Prometheus counters up to this recorder's own (counted per request
        in plain integers, reported here: a metric's increment costs a lock and a
        write to a shared file)."""
        for outcome in ("recorded", "dropped", "unsampled"):
            now = getattr(self, outcome)
            done = self._reported.get(outcome, 0)
            if now > done:
                metrics.IMPRESSIONS.labels(outcome).inc(now - done)
                self._reported[outcome] = now

    def close(self) -> None:
        """Write what is buffered, once, before the process exits (logged if it cannot)."""
        try:
            written = self.flush()
        except Exception as exc:
            log.warning("%d impressions not written at exit: %s", self.buffered, exc)
        else:
            if written:
                log.info("%d impressions written at exit", written)

    def _requeue(self, batch: Sequence[tuple[Any, ...]]) -> None:
        room = self.capacity - len(self._buffer)
        kept = list(batch[: max(room, 0)])
        self._retried.update(row[0] for row in kept)
        self.dropped += len(batch) - len(kept)
        self._buffer.extendleft(reversed(kept))
        metrics.BUFFERED.set(len(self._buffer))

    def start(self) -> None:
        """Write in the background, in this process (once per process)."""
        if self._started_in == os.getpid():
            return
        self._started_in = os.getpid()
        threading.Thread(target=self._run, name="recsvc-impressions", daemon=True).start()

    def status(self) -> dict[str, Any]:
        """The counters, for /v1/model's details."""
        return {"sample_rate": self.sample_rate, "buffered": self.buffered,
                "recorded": self.recorded, "written": self.written, "dropped": self.dropped,
                "write_failures": self.failures}  # fmt: skip

    def _run(self) -> None:
        def failed(exc: Exception) -> str:
            self.failures += 1
            return f"cannot write impressions (kept in memory, {self.buffered} buffered): {exc}"

        repeat(self.flush, interval=self.interval, log=log, failed=failed,
               recovered="impressions are written again", wake=self._wake)  # fmt: skip
