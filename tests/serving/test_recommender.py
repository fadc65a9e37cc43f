from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsvc.artifact import ModelStore
from recsvc.errors import InvalidRequest, UnknownItem
from recsvc.serving.filters import Filters
from recsvc.serving.placements import Placement
from recsvc.serving.recommender import Recommendations, Recommender


@pytest.fixture(scope="module")
def recommender(trained_store: ModelStore) -> Recommender:
    return Recommender(trained_store.load())


def ids(result: Recommendations) -> list[str]:
    return [item["item_id"] for item in result.items]


def busy_user(r: Recommender) -> str:
    """A known user who bought something."""
    counts = np.diff(r.model.purchased.indptr)
    return str(r.model.users.ids[int(np.argmax(counts))])


def row_items(r: Recommender, matrix: sp.csr_matrix, user: str) -> set[str]:
    u = int(r.model.users.index([user])[0])
    return set(r.model.items.ids[matrix.indices[matrix.indptr[u] : matrix.indptr[u + 1]]])


def test_known_user_gets_personalized_unseen_in_stock_items(recommender: Recommender) -> None:
    user = busy_user(recommender)
    result = recommender.recommend(user_id=user, n=20)
    assert result.strategy == "personalized"
    assert result.placement == "home"
    assert result.model_version == recommender.version
    assert len(ids(result)) == len(set(ids(result))) == 20
    assert not set(ids(result)) & row_items(recommender, recommender.model.user_items, user)
    assert all(item["available"] for item in result.items)
    scores = [item["score"] for item in result.items]
    assert scores == sorted(scores, reverse=True)
    # the precomputed candidates are the ALS ranking itself
    u = int(recommender.model.users.index([user])[0])
    top = recommender.model.user_top_items[u]
    available = recommender.catalog.available
    expected = [str(recommender.model.items.ids[i]) for i in top if available[i]][:20]
    assert ids(result) == expected


def test_unknown_user_gets_popular_items(recommender: Recommender) -> None:
    result = recommender.recommend(user_id="never-seen", n=5)
    assert result.strategy == "popular"
    order = [str(recommender.model.items.ids[i]) for i in recommender.catalog.index.popular_order
             if recommender.catalog.available[i]]  # fmt: skip
    assert ids(result) == order[:5]


def test_filters_apply_to_every_item(recommender: Recommender) -> None:
    user = busy_user(recommender)
    filters = Filters(category="Shoes", min_price=10, max_price=40, exclude=("p0", "p1"))
    result = recommender.recommend(user_id=user, n=30, filters=filters)
    for item in result.items:
        assert item["category"] == "Shoes"
        assert item["price"] is not None
        assert 10 <= item["price"] <= 40
        assert item["available"]
    assert not {"p0", "p1"} & set(ids(result))


def test_short_lists_are_filled_then_exhausted_without_duplicates(recommender: Recommender) -> None:
    catalog = recommender.model.catalog
    passing = np.flatnonzero(
        (catalog.category == "Garden") & (catalog.price <= 30) & recommender.catalog.available
    )
    assert 0 < len(passing) < 100
    result = recommender.recommend(
        user_id="never-seen", n=100, filters=Filters(category="Garden", max_price=30)
    )
    # every item that passes, once: none left out, none repeated, none extra
    assert sorted(ids(result)) == sorted(str(catalog.item_id[i]) for i in passing)


def test_known_users_lists_are_filled_from_popular(recommender: Recommender) -> None:
    user = busy_user(recommender)
    seen = row_items(recommender, recommender.model.user_items, user)
    result = recommender.recommend(user_id=user, n=100, filters=Filters(category="Garden"))
    garden = {str(i) for i, c, a in zip(recommender.model.catalog.item_id,
              recommender.model.catalog.category, recommender.catalog.available, strict=True)
              if c == "Garden" and a}  # fmt: skip
    assert set(ids(result)) == garden - seen
    assert len(ids(result)) == len(set(ids(result)))


def test_purchased_items_are_excluded_unless_the_placement_allows(
    recommender: Recommender,
) -> None:
    user = busy_user(recommender)
    bought = row_items(recommender, recommender.model.purchased, user)
    placements = {"again": Placement(strategy="popular", exclude_purchased=False,
                                     exclude_seen=False, in_stock_only=False)}  # fmt: skip
    allowing = Recommender(recommender.model, placements)
    everything = len(recommender.model.items)
    assert bought <= set(ids(allowing.recommend(placement="again", user_id=user, n=everything)))
    result = recommender.recommend(placement="popular", user_id=user, n=100)
    assert not bought & set(ids(result))


def test_out_of_stock_items_only_when_asked(recommender: Recommender) -> None:
    out = np.flatnonzero(~recommender.catalog.available)
    popularity = recommender.catalog.popularity
    most_popular_out = str(recommender.model.items.ids[out[np.argmax(popularity[out])]])
    n = 100
    assert most_popular_out not in ids(recommender.recommend(placement="popular", n=n))
    with_out = recommender.recommend(placement="popular", n=n, filters=Filters(in_stock=False))
    rank = [str(recommender.model.items.ids[i]) for i in recommender.catalog.index.popular_order]
    if rank.index(most_popular_out) < n:
        assert most_popular_out in ids(with_out)


def test_cart_never_returns_the_cart(recommender: Recommender) -> None:
    bought = recommender.model.bought_together
    cart_item = int(np.argmax(np.diff(bought.indptr)))
    cart = [str(recommender.model.items.ids[cart_item]), "p2"]
    result = recommender.recommend(placement="cart", cart_items=cart, n=10)
    assert result.strategy == "cart"
    assert not set(cart) & set(ids(result))
    assert len(ids(result)) == 10
    together = set(recommender.model.items.ids[bought[cart_item].indices])
    assert ids(result)[0] in together


def test_similar_items_tilt_to_a_known_taste(recommender: Recommender) -> None:
    item = str(recommender.model.items.ids[recommender.catalog.index.popular_order[0]])
    plain = recommender.recommend(placement="product", item_id=item, n=10)
    assert plain.strategy == "similar"
    assert item not in ids(plain)
    user = busy_user(recommender)
    tilted = recommender.recommend(placement="product", item_id=item, user_id=user, n=10)
    assert tilted.strategy == "similar+taste"
    assert item not in ids(tilted)
    with pytest.raises(UnknownItem):
        recommender.recommend(placement="product", item_id="no-such-item")
    with pytest.raises(InvalidRequest, match="needs item_id"):
        recommender.recommend(placement="product")


def test_unknown_placement_and_missing_category(recommender: Recommender) -> None:
    with pytest.raises(InvalidRequest, match="unknown placement 'checkout'"):
        recommender.recommend(placement="checkout")
    with pytest.raises(InvalidRequest, match="needs a category"):
        recommender.recommend(placement="category", user_id="u1")


def test_new_catalog_items_fill_their_categorys_popular_list(trained_store: ModelStore) -> None:
    recommender = Recommender(trained_store.load())  # its own: the catalog grows
    catalog = recommender.catalog
    known_garden = {str(i) for i, c, a in zip(catalog.item_ids, catalog.categories,
                    catalog.available, strict=True) if c == "Garden" and a}  # fmt: skip
    recommender.apply_catalog([
        {"item_id": "brand-new", "title": "Rake", "category": "Garden", "price": 12.0,
         "available": True},
        {"item_id": "new-category", "title": "Bowl", "category": "Pets", "price": 3.0,
         "available": True},
        {"item_id": "new-but-out", "title": "Hoe", "category": "Garden", "price": None,
         "available": False},
    ])  # fmt: skip
    garden = recommender.recommend(placement="popular", n=100, filters=Filters(category="Garden"))
    assert ids(garden)[-1] == "brand-new"  # after every known Garden item
    assert set(ids(garden)[:-1]) == known_garden
    assert garden.items[-1]["title"] == "Rake"
    assert garden.items[-1]["price"] == 12.0
    assert "new-but-out" not in ids(garden)
    pets = recommender.recommend(placement="popular", n=5, filters=Filters(category="Pets"))
    assert ids(pets) == ["new-category"]
    excluded = recommender.recommend(
        placement="popular", n=100, filters=Filters(category="Garden", exclude=["brand-new"])
    )
    assert "brand-new" not in ids(excluded)
    home = recommender.recommend(user_id=busy_user(recommender), n=10)
    assert not {"brand-new", "new-category"} & set(ids(home))  # no taste knows them yet
    with pytest.raises(UnknownItem):
        recommender.recommend(placement="product", item_id="brand-new")
    recommender.apply_catalog([{"item_id": "brand-new", "available": False, "price": 12.0}])
    assert "brand-new" not in ids(recommender.recommend(
        placement="popular", n=100, filters=Filters(category="Garden")))  # fmt: skip


def test_a_sessions_own_items_are_not_recommended_back(recommender: Recommender) -> None:
    catalog = recommender.catalog
    session = [str(i) for i in catalog.item_ids[catalog.index.popular_order[:5]]]
    result = recommender.recommend(recent_items=session, n=20)
    assert not set(session) & set(ids(result))


def test_live_events_on_a_new_item_are_excluded_not_folded_in(trained_store: ModelStore) -> None:
    from recsvc.serving.recommender import Live

    recommender = Recommender(trained_store.load())
    recommender.apply_catalog([{"item_id": "fresh", "title": "New", "category": "Garden",
                                "price": 1.0, "available": True}])  # fmt: skip
    user = busy_user(recommender)
    result = recommender.recommend(user_id=user, n=100, filters=Filters(category="Garden"),
                                   live=Live(touched=["fresh", "p1"]))  # fmt: skip
    assert "fresh" not in ids(result)  # seen, so left out; and no factors were needed
    assert result.strategy == "session"


def test_a_session_is_scored_by_what_follows_its_items_too(trained_store: ModelStore) -> None:
    model = trained_store.load()
    assert model.next_items.nnz  # trained by default, and kept in the artifact
    recommender = Recommender(model)
    session = ["p3", "p5"]
    cols = model.items.index(session)
    trained = np.diff(model.user_items.tocsc().indptr) > 0
    ranked = [i for i in recommender.catalog.index.popular_order[::-1].tolist()
              if recommender.catalog.available[i] and trained[i] and i not in cols]  # fmt: skip
    target, other = ranked[0], ranked[1]  # two unpopular items in stock, seen in training
    shape = (len(model.items), len(model.items))
    # hand-made: after p5 (the newest) comes target, after p3 comes other
    recommender.taste.next_items = sp.csr_matrix(
        (np.ones(2, np.float32), ([cols[1], cols[0]], [target, other])), shape=shape
    )
    recommender.taste.next_weight = 100.0  # what follows decides
    result = recommender.recommend(recent_items=session, n=3)
    assert result.strategy == "session"
    assert ids(result)[:2] == [model.items.ids[target], model.items.ids[other]]
    # newest first, each step back weighing next_decay times less
    items, scores = recommender.taste.next_scores(cols[::-1])
    assert dict(zip(items.tolist(), scores.tolist(), strict=True)) == pytest.approx(
        {target: 1.0, other: recommender.taste.next_decay}
    )
    recommender.taste.next_weight = 0.0  # off: the fold-in alone
    assert ids(recommender.recommend(recent_items=session, n=3))[:2] != ids(result)[:2]


def test_recommendation_ids_are_uuid7_in_the_order_they_were_made() -> None:
    import time
    import uuid

    from recsvc.serving.recommender import recommendation_id

    before = time.time_ns() // 1_000_000
    made = []
    for _ in range(3):
        made.append(recommendation_id())
        deadline = time.monotonic() + 5
        while time.time_ns() // 1_000_000 <= int(made[-1][:12], 16):
            assert time.monotonic() < deadline  # the next millisecond comes
    after = time.time_ns() // 1_000_000
    assert made == sorted(made)  # the index over them grows at its end
    for rid in made:
        parsed = uuid.UUID(rid)
        assert (parsed.version, parsed.variant, len(rid)) == (7, uuid.RFC_4122, 32)
        assert before <= int(rid[:12], 16) <= after
    many = {recommendation_id() for _ in range(10_000)}
    assert len(many) == 10_000
    assert len({rid[-8:] for rid in many}) > 9_990  # the random part: what sampling reads


def test_a_shopper_id_longer_than_any_known_is_a_new_shopper(trained_store: ModelStore) -> None:
    recommender = Recommender(trained_store.load())
    known = str(recommender.model.users.ids[0])
    longer = known + "x" * (recommender.model.users.width - len(known) + 1)
    assert recommender.recommend(user_id=longer).strategy == "popular"
    assert recommender.recommend(user_id=known).strategy == "personalized"
