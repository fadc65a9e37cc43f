"""What recommendations earn, counted by the database on a hand-made log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from recsvc.proportions import wilson
from recsvc.store.database import connect
from recsvc.store.impressions import Impression, ImpressionStore
from recsvc.store.shop import ShopStore
from recsvc.store.stats import recommendation_stats

H = 3_600
T0 = 1_800_000_000  # within a day (UTC) starting at T0 - T0 % 86400


def impression(
    rid: str,
    *,
    at: int = T0,
    placement: str = "home",
    version: str = "v1",
    user: str | None = "u1",
    variant: str | None = None,
) -> Impression:
    return Impression(
        rid,
        at,
        placement,
        "personalized",
        version,
        json.dumps(["i1", "i2", "i3"]),
        user_id=user,
        experiment="exp" if variant else None,
        variant=variant,
    )


def event(n: int, kind: str, item: str, at: int, rid: str | None = None, user: str = "u1",
          quantity: int = 1) -> dict[str, object]:  # fmt: skip
    return {"event_id": f"e{n}", "user_id": user, "item_id": item, "event_type": kind,
            "timestamp": at, "quantity": quantity, "recommendation_id": rid}  # fmt: skip


@pytest.fixture
def shop(db_url: str) -> Iterator[ShopStore]:
    store = ShopStore(connect(db_url), attribution_hours=24)
    store.upsert_items([{"item_id": "i1", "price": 10.0}, {"item_id": "i2", "price": 2.5},
                        {"item_id": "i3", "price": None}])  # fmt: skip
    impressions = ImpressionStore(store.engine)
    assert impressions.add([impression("r1"), impression("r2", user="u2"),
                            impression("r3", placement="cart"),
                            impression("r4", version="v2", user="u3"),
                            impression("r5", at=T0 - 40 * 86_400)]) == 5  # fmt: skip
    assert impressions.add([impression("r1")]) == 0  # a retried batch counts once
    yield store
    store.engine.dispose()


def test_events_are_credited_by_id_and_by_window(shop: ShopStore) -> None:
    shop.add_events([
        event(1, "view", "i1", T0 + 10, "r1"),
        event(2, "add_to_cart", "i1", T0 + 20, "r1"),
        # the checkout lost the id: credited to u1's recommended view of i1 (r1)
        event(3, "purchase", "i1", T0 + 2 * H, quantity=2),
        # two views from r2 are one list that led to a view
        event(4, "view", "i2", T0 + 30, "r2", user="u2"),
        event(5, "view", "i1", T0 + 40, "r2", user="u2"),
        # more than 24 h after u2's view of i2: not credited
        event(6, "purchase", "i2", T0 + 30 + 25 * H, user="u2"),
        # an id no impression has: stored, counted as unattributed
        event(7, "view", "i3", T0 + 50, "unknown-id", user="u9"),
        # a purchase of an item u3 never opened from a list: not credited
        event(8, "purchase", "i3", T0 + 60, user="u3"),
    ])  # fmt: skip
    # in a later batch: the view is read back from the store
    shop.add_events([event(9, "purchase", "i2", T0 + 3 * H, user="u2")])
    found = recommendation_stats(shop.engine, start=T0 - 86_400, end=T0 + 86_400 * 3)
    groups = {(g["placement"], g["model_version"]): g for g in found.groups}
    assert set(groups) == {("home", "v1"), ("cart", "v1"), ("home", "v2")}
    home = groups[("home", "v1")]
    assert (home["impressions"], home["views"], home["add_to_carts"], home["purchases"]) == (
        2,
        2,
        1,
        2,
    )
    assert home["revenue"] == pytest.approx(2 * 10.0 + 2.5)
    low, high = wilson(2, 2)
    assert home["purchases_per_impression"] == {"rate": 1.0, "low": low, "high": high}
    cart = groups[("cart", "v1")]
    assert (cart["impressions"], cart["views"], cart["purchases"], cart["revenue"]) == (1, 0, 0, 0)
    assert groups[("home", "v2")]["purchases"] == 0
    assert found.unattributed == 1
    # the range: r5 (40 days before) is outside it, and inside a wider one
    wide = recommendation_stats(shop.engine, start=T0 - 50 * 86_400, end=T0 + 86_400)
    assert sum(g["impressions"] for g in wide.groups) == 5


def test_by_day_and_by_experiment(shop: ShopStore) -> None:
    from recsvc.store.impressions import ImpressionStore

    ImpressionStore(shop.engine).add([impression("a1", variant="a", at=T0 + 86_400),
                                      impression("b1", variant="b", at=T0 + 86_400)])  # fmt: skip
    shop.add_events([event(1, "view", "i1", T0 + 86_400 + 5, "b1")])
    daily = recommendation_stats(shop.engine, start=T0 - 86_400, end=T0 + 3 * 86_400,
                                 by_day=True)  # fmt: skip
    days = {g["day"] for g in daily.groups}
    assert days == {T0 - T0 % 86_400, T0 + 86_400 - (T0 + 86_400) % 86_400}
    only = recommendation_stats(shop.engine, start=T0 - 86_400, end=T0 + 3 * 86_400,
                                experiment="exp")  # fmt: skip
    assert [(g["variant"], g["impressions"], g["views"]) for g in only.groups] == [
        ("a", 1, 0),
        ("b", 1, 1),
    ]


def _figures(shop: ShopStore) -> tuple[list[dict[str, object]], int]:
    found = recommendation_stats(shop.engine, start=T0 - 60 * 86_400, end=T0 + 86_400 * 3)
    return found.groups, found.unattributed


def test_a_click_before_its_list_is_written_is_counted_once_when_it_is(shop: ShopStore) -> None:
    # the storefront's view arrives while the list is still in a worker's buffer
    shop.add_events([event(1, "view", "i1", T0 + 5, "late"),
                     event(2, "purchase", "i1", T0 + 6, "late", quantity=3)])  # fmt: skip
    groups, unattributed = _figures(shop)
    assert unattributed == 2  # credited to a list not recorded (yet)
    impressions = ImpressionStore(shop.engine)
    assert impressions.add([impression("late", placement="cart")]) == 1
    assert impressions.add([impression("late", placement="cart")]) == 0  # retried: once
    shop.add_events([event(3, "view", "i2", T0 + 7, "late")])  # a second item opened
    groups, unattributed = _figures(shop)
    cart = next(g for g in groups if g["placement"] == "cart")
    assert (cart["impressions"], cart["views"], cart["purchases"]) == (2, 1, 1)  # r3 and late
    assert cart["revenue"] == pytest.approx(3 * 10.0)
    assert unattributed == 0


def test_recount_rebuilds_the_same_counters(shop: ShopStore) -> None:
    from recsvc.store.comparison import shopper_sums
    from recsvc.store.credit import recount

    ImpressionStore(shop.engine).add([impression("x1", variant="a"), impression("x2", variant="b"),
                                      impression("x3", variant="a", user="u7")])  # fmt: skip
    shop.add_events([event(9, "view", "i1", T0 + 3, "x1"), event(8, "view", "i1", T0 + 4, "x1"),
                     event(7, "purchase", "i2", T0 + 5, "x3", user="u7")])  # fmt: skip
    arms = shopper_sums(shop.engine, "exp")
    assert arms[("a", "views")].s == 1
    assert arms[("a", "views")].clusters == 2
    shop.add_events([event(1, "view", "i1", T0 + 10, "r1"),
                     event(2, "purchase", "i1", T0 + 2 * H, quantity=2),
                     event(3, "view", "i3", T0 + 50, "unknown-id", user="u9"),
                     event(4, "add_to_cart", "i2", T0 + 60, "r4", user="u3")])  # fmt: skip
    counted = _figures(shop)
    with shop.engine.begin() as conn:
        assert recount(conn) == 6  # home/v1, cart/v1, home/v2, r5's month, exp's a and b
    assert _figures(shop) == counted
    assert shopper_sums(shop.engine, "exp") == arms


def test_ranges_are_whole_hours(shop: ShopStore) -> None:
    inside = recommendation_stats(shop.engine, start=T0 + 1, end=T0 + 2)  # T0's hour
    assert sum(g["impressions"] for g in inside.groups) == 4
    assert (inside.start, inside.end) == (T0 - T0 % H, T0 - T0 % H + H)
