from __future__ import annotations

from recsvc.serving.live import LiveEvents


def test_live_events_newest_first_after_the_models_data() -> None:
    live = LiveEvents(per_user=3)
    live.record([("u1", "a", "view", 10), ("u1", "b", "purchase", 20), ("u2", "c", "view", 30)])
    got = live.of("u1", after=0)
    assert list(got.touched) == ["b", "a"]
    assert list(got.bought) == ["b"]
    assert list(live.of("u1", after=15).touched) == ["b"]  # older ones are in the model
    assert list(live.of("nobody", after=0).touched) == []
    assert list(live.of(None, after=0).touched) == []


def test_live_events_are_bounded() -> None:
    live = LiveEvents(per_user=2, max_users=2)
    live.record([("u1", item, "view", t) for t, item in enumerate("abc", start=1)])
    assert list(live.of("u1", after=0).touched) == ["c", "b"]  # the newest two
    live.record([("u2", "x", "view", 5), ("u1", "d", "view", 6), ("u3", "y", "view", 7)])
    assert list(live.of("u2", after=0).touched) == []  # least recently active, forgotten
    assert list(live.of("u1", after=0).touched) == ["d", "c"]
    assert list(live.of("u3", after=0).touched) == ["y"]


def test_no_live_events_when_turned_off() -> None:
    live = LiveEvents(per_user=0)
    live.record([("u1", "a", "view", 1)])
    assert list(live.of("u1", after=0).touched) == []
