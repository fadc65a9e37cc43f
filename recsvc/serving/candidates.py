"""Candidate lists and how a request takes its items from them.

A candidate source offers a :data:`Stage`: a name (the ``strategy`` a response
reports) and a function from (how many are wanted, which items pass) to (items,
scores), best first. :func:`pick` walks a request's stages in order until it has
``n`` items that pass; :func:`scan` makes a stage that scores the whole catalog,
run only when the stages before it fell short.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .catalog import NO_SCORES, NONE
from .filters import Allowed

#: (how many are wanted, which items pass) -> (items, scores), best first
Candidates = Callable[[int, Allowed], tuple[np.ndarray, np.ndarray]]
Stage = tuple[str, Candidates]


def fixed(items: np.ndarray, scores: np.ndarray) -> Candidates:
    """A stage of a list known in advance (precomputed, or already ranked)."""
    return lambda *_: (items, scores)


def scan(
    trained: np.ndarray,
    score: Callable[[np.ndarray | None], np.ndarray],
    likely: Callable[[int], np.ndarray | None] | None = None,
) -> Candidates:
    """A stage scoring every ``trained`` item that passes the rules, best first:
    ``score(rows)`` scores some rows (sorted), or every trained item for None. With a
    category filter only the category's items are scored. ``likely(size)``, for a
    scan of ``size`` items, gives the rows a taste index says hold the best (None: no
    index, or a scan small enough to be exact); they are scored if enough of them
    pass, else the scan is exact."""

    def stage(wanted: int, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
        count = len(trained)  # the model's items
        if likely is not None:
            rows = likely(allowed.size(count))
            if rows is not None:
                passing = trained[rows] & allowed(rows)
                if np.count_nonzero(passing) >= wanted:
                    return _best(wanted, rows, passing, score(rows))
        rows, passing = allowed.scope(count)
        passing &= trained if rows is None else trained[rows]
        return _best(wanted, rows, passing, score(rows) if passing.any() else NO_SCORES)

    return stage


def _best(
    wanted: int, rows: np.ndarray | None, passing: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` best passing items of a scan, best first: (rows, scores)."""
    k = min(wanted, int(np.count_nonzero(passing)))
    if k <= 0:
        return NONE, NO_SCORES
    scores[~passing] = -np.inf
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return (top if rows is None else rows[top]), scores[top]


def pick(n: int, allowed: Allowed, stages: list[Stage]) -> tuple[np.ndarray, np.ndarray, str]:
    """Take allowed items from the stages in order until there are ``n``.

    Candidates are checked in growing windows, so a long list (the popular order of
    a large catalog) costs in proportion to what is taken, not to its length. A
    stage lists each item once; an item an earlier stage gave is not taken again.
    The strategy reported is the stage that gave the first item.
    """
    items: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    taken: set[int] = set()
    count = 0
    strategy = stages[-1][0]
    for name, stage in stages:
        before = count
        candidates, candidate_scores = stage(n + before, allowed)
        start, window = 0, max(64, 4 * (n + before))
        while start < len(candidates) and count < n:
            part = np.asarray(candidates[start : start + window], dtype=np.int64)
            keep = allowed(part)
            if before:
                keep &= [item not in taken for item in part.tolist()]
            chosen = keep.nonzero()[0][: n - count]
            items.append(part[chosen])
            scores.append(candidate_scores[start + chosen if start else chosen])
            count += len(chosen)
            start, window = start + window, window * 4
        if before == 0 and count:
            strategy = name
        if count == n:
            break
        taken.update(np.concatenate(items).tolist() if items else ())
    if len(items) == 1:
        return items[0], scores[0], strategy
    return np.concatenate([NONE, *items]), np.concatenate([NO_SCORES, *scores]), strategy
