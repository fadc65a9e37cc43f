"""What shoppers did after the model's data window, kept in each serving process.

A request must not wait on the database, so each process follows the event store
instead: it catches up on the latest events when it starts, then reads the new ones
every ``RECSVC_CATALOG_INTERVAL`` seconds (with the catalog changes), and a worker
that stores a batch itself (``POST /v1/events``) records it at once. A request then
reads a shopper's live events from memory: per shopper the newest ``per_user``, for
at most ``max_users`` shoppers (the least recently active are forgotten first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Iterable

from .recommender import Live

#: (item_id, event_type, timestamp)
Event = tuple[str, str, int]


class LiveEvents:
    """Recent events by shopper, bounded, safe to update from a background thread."""

    def __init__(self, *, per_user: int, max_users: int = 200_000) -> None:
        self.per_user = per_user
        self.max_users = max_users
        self._by_user: OrderedDict[str, deque[Event]] = OrderedDict()
        self._lock = threading.Lock()
        #: the id of the last stored event taken in (the follower's position)
        self.last_id = 0

    def record(self, events: Iterable[tuple[str, str, str, int]]) -> None:
        """Take in events: (user_id, item_id, event_type, timestamp)."""
        if self.per_user <= 0:
            return
        with self._lock:
            for user_id, item_id, event_type, timestamp in events:
                recent = self._by_user.get(user_id)
                if recent is None:
                    recent = self._by_user[user_id] = deque(maxlen=self.per_user)
                    while len(self._by_user) > self.max_users:
                        self._by_user.popitem(last=False)
                else:
                    self._by_user.move_to_end(user_id)
                recent.append((item_id, event_type, timestamp))

    def of(self, user_id: str | None, *, after: int) -> Live:
        """A shopper's events later than ``after`` (epoch seconds), newest first."""
        if user_id is None:
            return Live()
        recent = self._by_user.get(user_id)
        if not recent:
            return Live()
        with self._lock:
            events = [e for e in reversed(recent) if e[2] > after]
        return Live(
            touched=[item for item, _, _ in events],
            bought=[item for item, kind, _ in events if kind == "purchase"],
        )
