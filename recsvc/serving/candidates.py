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
from .filters import Allowed, among
from .taste import Ordered

#: (how many are wanted, which items pass) -> (items, scores), best first
Candidates = Callable[[int, Allowed], tuple[np.ndarray, np.ndarray]]
Stage = tuple[str, Candidates]


def fixed(items: np.ndarray, scores: np.ndarray) -> Candidates:
    """A stage of a list known in advance (precomputed, or already ranked)."""
    return lambda *_: (items, scores)


def scan(
    trained: np.ndarray,
    score: Callable[[np.ndarray | None], np.ndarray],
    ordered: Callable[[str | None], Ordered | None] | None = None,
) -> Candidates:
    """A stage scoring every ``trained`` item that passes the rules, best first:
    ``score(rows)`` scores some rows (sorted), or every trained item for None. With a
    category filter only the category's items are scored. ``ordered(category)`` gives
    a norm order of the catalog or the category to go by (:func:`bounded`), or None to
    score every item."""

    def stage(wanted: int, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
        by_norm = ordered(allowed.filters.category) if ordered is not None else None
        if by_norm is not None:
            return bounded(wanted, allowed, trained, score, by_norm)
        rows, passing = allowed.scope(len(trained))  # the model's items
        passing &= trained if rows is None else trained[rows]
        return _best(wanted, rows, passing, score(rows) if passing.any() else NO_SCORES)

    return stage


#: the rows a norm-ordered scan scores first; each band after is twice the one before
FIRST_BAND = 2_048


def bounded(
    wanted: int,
    allowed: Allowed,
    trained: np.ndarray,
    score: Callable[[np.ndarray | None], np.ndarray],
    by_norm: Ordered,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``wanted`` best passing items of a scan through the norm order, best first:
    bands of rows in falling norm are scored until the ``wanted``-th best passing score
    is at least the bound of every row left, so the items are those of a scan of the
    whole catalog (up to ties)."""
    order, norms, bound, first = by_norm
    rows_found, scores_found = [NONE], [NO_SCORES]
    found, start, width = 0, 0, FIRST_BAND
    while start < len(order):
        rows = np.sort(order[start : start + width])
        if len(first):  # scored in the first band, whatever their norm
            rows = np.union1d(rows, first) if start == 0 else rows[~among(rows, first)]
        passing = trained[rows] & allowed(rows)
        rows_found.append(rows[passing])
        scores_found.append(score(rows)[passing])
        found += int(np.count_nonzero(passing))
        start, width = start + width, 2 * width
        if found >= wanted and start < len(order):
            scores = np.concatenate(scores_found)
            if np.partition(scores, found - wanted)[found - wanted] >= bound * norms[start]:
                break
    return _best(wanted, np.concatenate(rows_found), np.ones(found, dtype=bool),
                 np.concatenate(scores_found))  # fmt: skip


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
