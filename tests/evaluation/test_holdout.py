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


DAY_S = 86_400


def test_the_forward_split_asks_what_known_shoppers_buy_that_they_never_bought(
    events_of: Callable[[list[str]], Events],
) -> None:
    from recsvc.evaluation.holdout import forward_cutoff, holdout_mask

    d = DAY_S
    events = events_of([
        f"u1,a,purchase,{0 * d}", f"u1,b,view,{1 * d}",       # u1's past: bought a, saw b
        f"u2,c,view,{2 * d}",                                   # u2's past
        f"u1,a,purchase,{10 * d}",  # u1 buys a again: not new, not truth
        f"u1,b,purchase,{11 * d}",  # u1 buys b, seen but never bought: truth
        f"u2,d,view,{12 * d}",      # a view is no purchase: no truth for u2
        f"u3,e,purchase,{13 * d}",  # u3 is new after the cut-off: counted apart
        f"u1,c,purchase,{25 * d}",  # u1 buys c, never bought: truth
    ])  # fmt: skip
    cutoff = forward_cutoff(events, test_days=16)  # the last 16 days: from day 9 on
    assert cutoff == 25 * d - 16 * d + 1
    assert holdout_mask(events, split="forward", test_days=16).tolist() == [
        False, False, False, True, True, True, True, True]  # fmt: skip
    holdout = make_holdout(events, {"view": 1, "purchase": 4}, split="forward", test_days=16)
    users = holdout.train.users.ids[holdout.users].tolist()
    assert users == ["u1"]  # u2 bought nothing after; u3 was not known before
    truth = holdout.train.items.ids[holdout.truth.indices].tolist()
    assert sorted(truth) == ["b", "c"]  # a repurchase is no new item; b was only seen
    assert holdout.new_shoppers == 1
    # by fraction: the cut-off leaves the latest quarter of the events (2 of 8) after it
    assert forward_cutoff(events, fraction=0.25) == 13 * d


def test_beyond_its_most_shoppers_a_holdout_scores_a_seeded_sample(
    events_of: Callable[[list[str]], Events],
) -> None:
    # 40 shoppers, each seen before the cut-off and buying a new item after it
    rows = [f"u{u},i{u % 7},view,{u}" for u in range(40)]
    rows += [f"u{u},j{u % 5},purchase,{1000 + u}" for u in range(40)]
    events = events_of(rows)
    whole = make_holdout(events, WEIGHTS, split="forward", fraction=0.5)
    assert len(whole.users) == 40
    assert whole.sampled_from == 0
    assert whole.scored == "40 shoppers scored"
    some = make_holdout(events, WEIGHTS, split="forward", fraction=0.5, max_users=15, seed=1)
    assert len(some.users) == 15
    assert some.sampled_from == 40
    assert some.scored == "15 shoppers scored (a sample of 40)"
    assert np.all(np.diff(some.users) > 0)
    assert set(some.users) <= set(whole.users)
    # each sampled shopper keeps their own truth
    rows_of = {int(u): r for r, u in enumerate(whole.users)}
    picked = [rows_of[int(u)] for u in some.users]
    assert (some.truth != whole.truth[picked]).nnz == 0
    again = make_holdout(events, WEIGHTS, split="forward", fraction=0.5, max_users=15, seed=1)
    other = make_holdout(events, WEIGHTS, split="forward", fraction=0.5, max_users=15, seed=2)
    assert again.users.tolist() == some.users.tolist() != other.users.tolist()
    at_most = make_holdout(events, WEIGHTS, split="forward", fraction=0.5, max_users=40)
    assert at_most.users.tolist() == whole.users.tolist()
    assert at_most.sampled_from == 0


def test_the_bootstrap_interval_of_a_mean() -> None:
    from recsvc.evaluation.metrics import bootstrap_interval

    assert bootstrap_interval(np.full(50, 0.3)) == pytest.approx((0.3, 0.3))
    # half the users at 1, half at 0: the mean's spread is 0.5 / sqrt(n)
    values = np.repeat([0.0, 1.0], 200)
    low, high = bootstrap_interval(values)
    assert low == pytest.approx(0.5 - 1.96 * 0.5 / 20, abs=0.015)
    assert high == pytest.approx(0.5 + 1.96 * 0.5 / 20, abs=0.015)
    assert bootstrap_interval(values) == (low, high)  # the same every time
    assert bootstrap_interval(np.array([])) == (0.0, 0.0)


def test_scores_carry_the_users_scored_and_an_interval() -> None:
    recommended = np.array([[1, 0, 5], [3, 4, -1]])
    truth = sp.csr_matrix(np.array([[0, 1, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0]], dtype=bool))
    metrics = score(recommended, truth, item_count=10)
    assert metrics["users"] == 2
    assert metrics["ndcg@10 low"] <= metrics["ndcg@10"] <= metrics["ndcg@10 high"]


def test_lists_held_to_the_stock_leave_out_what_is_not_in_stock() -> None:
    from recsvc.data.ids import IdMap
    from recsvc.evaluation.holdout import Holdout
    from recsvc.evaluation.metrics import lists
    from recsvc.training.matrix import Interactions
    from recsvc.training.models import PopularityModel

    matrix = sp.csr_matrix(np.array([[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]], dtype=np.float32))
    train = Interactions(users=IdMap(np.array(["a", "b"])),
                         items=IdMap(np.array(list("vwxyz"))), matrix=matrix)  # fmt: skip
    holdout = Holdout(
        train=train,
        users=np.array([0, 1]),
        truth=sp.csr_matrix((2, 5), dtype=bool),
        train_events=None,
    )  # type: ignore[arg-type]
    model = PopularityModel(np.array([5, 4, 3, 2, 1], dtype=np.float32))
    assert lists(model, holdout, k=2).tolist() == [[1, 2], [0, 2]]
    in_stock = np.array([True, True, False, True, True])
    assert lists(model, holdout, k=2, in_stock=in_stock).tolist() == [[1, 3], [0, 3]]
    assert lists(model, holdout, k=2, in_stock=np.ones(5, bool)).tolist() == [[1, 2], [0, 2]]
