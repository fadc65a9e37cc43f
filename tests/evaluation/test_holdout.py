from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from recsvc.data.events import Events
from recsvc.evaluation.holdout import holdout_mask, make_holdout
from recsvc.evaluation.metrics import score

TYPES = ("view", "add_to_cart", "purchase")
WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 4.0}


def test_user_time_split_holds_out_each_users_latest_fifth(
    events_of: Callable[[list[str]], Events],
) -> None:
    # u1: 5 events -> 4 train, 1 test; u2: 3 events -> floor(2.4) = 2 train, 1 test;
    # u3: 1 event -> floor(0.8) = 0 train. Equal times keep file order (stable).
    rows = ["u1,a,view,50", "u2,a,view,1", "u1,b,view,10", "u1,c,view,10", "u1,d,view,30",
            "u2,b,view,2", "u1,e,view,40", "u2,c,view,3", "u3,a,view,9"]  # fmt: skip
    test = holdout_mask(events_of(rows))
    assert [rows[i] for i in np.flatnonzero(test)] == ["u1,a,view,50", "u2,c,view,3",
                                                         "u3,a,view,9"]  # fmt: skip


def test_global_time_split(events_of: Callable[[list[str]], Events]) -> None:
    rows = [f"u{i % 3},i{i},view,{100 - i}" for i in range(10)]
    test = holdout_mask(events_of(rows), split="global-time")
    assert sorted(np.flatnonzero(test).tolist()) == [0, 1]  # the two latest events (t=100, 99)


def test_ground_truth_is_new_purchases_only(events_of: Callable[[list[str]], Events]) -> None:
    rows = [
        "u1,a,view,1",
        "u1,b,view,2",
        "u1,c,view,3",
        "u1,d,view,4",  # train
        "u1,a,purchase,5",
        "u1,e,purchase,6",
        "u1,f,view,7",  # test: a was touched
        "u2,a,view,1",
        "u2,b,view,2",
        "u2,c,view,3",
        "u2,d,view,4",
        "u2,e,view,5",
    ]
    holdout = make_holdout(events_of(rows), WEIGHTS, fraction=0.3)
    users = holdout.train.users.ids[holdout.users].tolist()
    assert users == ["u1"]  # u2 bought nothing in its test part
    truth_items = holdout.train.items.ids[holdout.truth.indices].tolist()
    assert truth_items == ["e"]


def test_metrics_on_a_hand_computed_case() -> None:
    # user 0: relevant {1, 5}; hits at ranks 1 and 3
    # user 1: relevant {2}; no hit; one slot empty (-1)
    recommended = np.array([[1, 0, 5], [3, 4, -1]])
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0]], dtype=bool))
    metrics = score(recommended, truth, item_count=10)
    ndcg0 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert metrics["ndcg@10"] == pytest.approx(ndcg0 / 2)
    assert metrics["precision@10"] == pytest.approx((2 / 3) / 2)
    assert metrics["recall@10"] == pytest.approx(1 / 2)
    assert metrics["map@10"] == pytest.approx((1 + 2 / 3) / 2 / 2)
    assert metrics["coverage"] == pytest.approx(5 / 10)


def test_ideal_dcg_is_capped_at_k() -> None:
    # 12 relevant items, all 10 slots hit: a perfect list
    recommended = np.arange(10)[None, :]
    truth = sp.csr_matrix(np.ones((1, 12), dtype=bool))
    metrics = score(recommended, truth, item_count=12)
    assert metrics["ndcg@10"] == pytest.approx(1.0)
    assert metrics["map@10"] == pytest.approx(1.0)
    assert metrics["recall@10"] == pytest.approx(10 / 12)
