from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from recsvc.data.events import Events
from recsvc.data.ids import IdMap
from recsvc.training.matrix import build_interactions, event_weights, sequences

TYPES = ("view", "add_to_cart", "purchase")
WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
DAY = 86_400


def test_weights_per_type_are_summed_per_pair(events_of: Callable[[list[str]], Events]) -> None:
    events = events_of(["u1,a,view,0", "u1,a,add_to_cart,1", "u1,a,purchase,2", "u2,b,view,3",
                        "u2,b,view,4"])  # fmt: skip
    built = build_interactions(events, WEIGHTS)
    assert built.users.ids.tolist() == ["u1", "u2"]
    assert built.items.ids.tolist() == ["a", "b"]
    assert built.matrix.toarray().tolist() == [[9.0, 0.0], [0.0, 2.0]]
    assert built.nnz == 2


def test_time_decay_halves_per_half_life(events_of: Callable[[list[str]], Events]) -> None:
    events = events_of([f"u,a,view,{10 * DAY}", f"u,b,view,{3 * DAY}", f"u,c,purchase,{6 * DAY}"])
    weights = event_weights(events, WEIGHTS, half_life_days=7)
    assert weights.tolist() == pytest.approx([1.0, 0.5, 5 * 2 ** (-4 / 7)])
    assert event_weights(events, WEIGHTS).tolist() == [1.0, 1.0, 5.0]
    later = event_weights(events, WEIGHTS, half_life_days=7, now=17 * DAY)
    assert later.tolist() == pytest.approx([0.5, 0.25, 5 * 2 ** (-11 / 7)])


def test_id_maps_are_sorted_and_stable(events_of: Callable[[list[str]], Events]) -> None:
    one = build_interactions(events_of(["zed,b,view,0", "amy,a,view,1", "bob,c,view,2"]), WEIGHTS)
    other = build_interactions(events_of(["bob,c,view,2", "amy,a,view,1", "zed,b,view,0"]), WEIGHTS)
    assert one.users.ids.tolist() == ["amy", "bob", "zed"] == other.users.ids.tolist()
    assert (one.matrix != other.matrix).nnz == 0
    assert one.users.index(["zed", "nobody", "amy"]).tolist() == [2, -1, 0]
    assert IdMap(np.array([], dtype=str)).index(["x"]).tolist() == [-1]


def test_given_maps_drop_unknown_ids(events_of: Callable[[list[str]], Events]) -> None:
    events = events_of(["u1,a,view,0", "u2,b,view,0", "u1,zz,view,0"])
    built = build_interactions(
        events, WEIGHTS, users=IdMap(np.array(["u1"])), items=IdMap(np.array(["a", "b", "c"]))
    )
    assert built.matrix.shape == (1, 3)
    assert built.matrix.toarray().tolist() == [[1.0, 0.0, 0.0]]


def test_too_little_data_is_left_out(events_of: Callable[[list[str]], Events]) -> None:
    events = events_of(["u1,a,view,0", "u1,b,view,0", "u2,a,view,0", "u2,c,view,0", "u3,a,view,0"])
    built = build_interactions(events, WEIGHTS, min_user_events=2, min_item_users=2)
    assert built.users.ids.tolist() == ["u1", "u2"]  # u3 has one event
    assert built.items.ids.tolist() == ["a", "b", "c"]  # items keep their column...
    assert built.matrix.toarray().tolist() == [[1, 0, 0], [1, 0, 0]]  # ...emptied below 2 users


def test_event_types_without_weight_count_for_nothing(
    events_of: Callable[[list[str]], Events],
) -> None:
    events = events_of(["u1,a,view,0", "u1,b,add_to_cart,0"])
    built = build_interactions(events, {"view": 1.0})
    assert built.matrix.toarray().tolist() == [[1.0, 0.0]]


def test_sequences_are_each_users_events_in_time_order(
    events_of: Callable[[list[str]], Events],
) -> None:
    events = events_of(["u2,b,view,5", "u1,c,view,9", "u1,a,view,1", "u2,a,purchase,5",
                        "u1,b,view,1", "u1,zz,view,3", "u3,a,view,0"])  # fmt: skip
    users = IdMap(np.array(["u1", "u2"]))  # u3 left out, as min_user_events would
    items = IdMap(np.array(["a", "b", "c"]))  # zz unknown
    rows, cols = sequences(events, users, items)
    # u1: a and b at 1 (file order), zz dropped, c at 9; u2: b and a at 5 (file order)
    assert rows.tolist() == [0, 0, 0, 1, 1]
    assert items.ids[cols].tolist() == ["a", "b", "c", "b", "a"]
