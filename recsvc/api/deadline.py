"""Bounding a request's wait on the event store.

A database that stops answering (packets dropped, or a proxy that stops forwarding)
must not hold a request, nor the worker, past the serving timeout: the call runs in a
small pool of threads and the request answers 503 when it has not finished in time.
The call itself goes on until the database answers or its connection gives up; a
write answered 503 may still complete later, which is why events carry an
``event_id`` (a retried batch counts once).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

from ..errors import StoreUnavailable
from .extension import settings

T = TypeVar("T")
#: calls waiting on the database at once, per process (beyond it they queue)
WORKERS = 8
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="recsvc-store")


def within_timeout(call: Callable[[], T]) -> T:
    """``call()``'s result, or :class:`StoreUnavailable` after ``RECSVC_DATABASE_TIMEOUT``."""
    future = _pool.submit(call)
    try:
        return future.result(timeout=settings().database_timeout)
    except FutureTimeout:
        raise StoreUnavailable(
            f"the event store did not answer within {settings().database_timeout:g} s"
        ) from None
