"""Taking a request's items from its stages in order."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recsvc.serving.candidates import fixed, pick, scan


def everything(items: np.ndarray) -> np.ndarray:
    return items >= 0


class Only:
    """Which items pass, by a predicate over rows (no category: a scan looks at all)."""

    def __init__(self, predicate: Callable[[np.ndarray], np.ndarray]) -> None:
        self.predicate = predicate

    def __call__(self, items: np.ndarray) -> np.ndarray:
        return self.predicate(items)

    def scope(self, count: int) -> tuple[None, np.ndarray]:
        return None, self.predicate(np.arange(count))


def test_stages_are_walked_in_order_without_repeats() -> None:
    first = fixed(np.array([3, 1, -1]), np.array([0.9, 0.8, 0.0], np.float32))
    second = fixed(np.array([1, 4, 0]), np.array([5.0, 4.0, 3.0], np.float32))
    items, scores, strategy = pick(4, everything, [("a", first), ("b", second)])
    assert items.tolist() == [3, 1, 4, 0]  # 1 is not taken twice, the pad never
    assert scores.tolist() == [np.float32(0.9), np.float32(0.8), 4.0, 3.0]
    assert strategy == "a"


def test_the_strategy_is_the_stage_that_gave_the_first_item() -> None:
    empty = fixed(np.array([], np.int64), np.array([], np.float32))
    filled = fixed(np.array([2, 5]), np.array([1.0, 0.5], np.float32))
    assert pick(1, everything, [("a", empty), ("b", filled)])[2] == "b"
    assert pick(1, everything, [("a", empty), ("last", empty)])[2] == "last"


def test_fewer_than_n_only_when_fewer_pass() -> None:
    odd = fixed(np.arange(1000), np.zeros(1000, np.float32))

    def only_odd(items: np.ndarray) -> np.ndarray:
        return (items >= 0) & (items % 2 == 1)

    items, _, _ = pick(600, only_odd, [("odd", odd)])
    assert len(items) == 500  # checked in growing windows, to the end of the list
    assert set(items.tolist()) == set(range(1, 1000, 2))


def test_a_scan_ranks_the_trained_items_that_pass_and_runs_only_when_needed() -> None:
    trained = np.array([True, True, False, True])
    calls: list[int] = []

    def score_all(rows: np.ndarray | None) -> np.ndarray:
        calls.append(1)
        assert rows is None
        return np.array([1.0, 3.0, 9.0, 2.0])

    stage = scan(trained, score_all)
    items, scores = stage(2, Only(everything))
    assert items.tolist() == [1, 3]  # item 2 is untrained
    assert scores.tolist() == [3.0, 2.0]
    assert stage(2, Only(lambda items: np.zeros(len(items), bool)))[0].tolist() == []
    calls.clear()
    full = fixed(np.array([0, 1]), np.array([1.0, 1.0], np.float32))
    pick(2, Only(everything), [("fixed", full), ("scan", scan(trained, score_all))])
    assert calls == []  # the earlier stage gave enough
