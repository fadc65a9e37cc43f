"""Which version answers a shopper when a placement runs an experiment."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from recsvc.artifact import ModelStore
from recsvc.errors import InvalidRequest
from recsvc.serving.experiments import assign, start
from recsvc.serving.placements import DEFAULT_PLACEMENTS
from recsvc.serving.service import Serving
from recsvc.store.database import connect, upgrade
from recsvc.store.experiments import ExperimentStore, Variant
from recsvc.store.shop import ShopStore


def test_assignment_is_sticky_stateless_and_follows_the_weights() -> None:
    variants = [Variant("a", "v1", 30), Variant("b", "v2", 70)]
    shoppers = [f"u{n}" for n in range(20_000)]
    first = [assign("salt", s, variants).name for s in shoppers]
    assert first == [assign("salt", s, variants).name for s in shoppers]  # sticky
    share = Counter(first)["b"] / len(shoppers)
    assert share == pytest.approx(0.7, abs=0.015)
    other = [assign("pepper", s, variants).name for s in shoppers]
    changed = sum(a != b for a, b in zip(first, other, strict=True)) / len(shoppers)
    assert 0.35 < changed < 0.49  # a new experiment reshuffles: 2 x 0.3 x 0.7 = 0.42


@pytest.fixture
def two_versions(tmp_path: Path, trained_store: ModelStore) -> ModelStore:
    """A copy of the trained store with a second version (the same arrays, republished)."""
    store = ModelStore(shutil.copytree(trained_store.root, tmp_path / "models"))
    store.publish(store.load(), promote=False)
    return store


def serving_with_experiments(tmp_path: Path, store: ModelStore) -> tuple[Serving, ExperimentStore]:
    """A serving process over ``store``'s current version that follows experiments (in a
    fresh SQLite shop), its background steps left to the test."""
    engine = connect(f"sqlite:///{tmp_path / 'shop.db'}")
    upgrade(engine)
    experiments = ExperimentStore(engine)
    serving = Serving(store, DEFAULT_PLACEMENTS, shop=ShopStore(engine),
                      check_interval=0, catalog_interval=0, experiments=experiments)  # fmt: skip
    serving.holder.refresh()
    return serving, experiments


def test_one_process_serves_both_versions_and_follows_the_experiment(
    tmp_path: Path, two_versions: ModelStore
) -> None:
    old, new = two_versions.versions()[:2]
    assert two_versions.current() == old
    serving, experiments = serving_with_experiments(tmp_path, two_versions)
    assert serving.route("home", "u1", None).variant is None  # no experiment yet
    experiments.start("ab", "home", [Variant("a", old, 1), Variant("b", new, 1)],
                      versions=[old, new], placements=list(DEFAULT_PLACEMENTS))  # fmt: skip
    serving.follower.step()  # what the background thread does every catalog interval
    routed = {u: serving.route("home", u, None) for u in (f"u{n}" for n in range(200))}
    versions = {r.variant: r.recommender.version for r in routed.values()}
    assert versions == {"a": old, "b": new}  # both versions, in this one process
    assert all(r.experiment == "ab" for r in routed.values())
    assert serving.route("cart", "u1", None).variant is None  # another placement
    assert serving.route("home", None, None).variant is None  # nobody to assign
    assert serving.route("home", None, "s-9").variant in {"a", "b"}  # a session is enough
    # the new version becomes current (hot reload): its variant uses the current one,
    # the old one is loaded for its variant
    two_versions.promote(new)
    serving.holder.refresh()
    serving.follower.step()
    again = {u: serving.route("home", u, None) for u in routed}
    assert {u: r.variant for u, r in again.items()} == {u: r.variant for u, r in routed.items()}
    assert {r.variant: r.recommender.version for r in again.values()} == {"a": old, "b": new}
    assert serving.experiments is not None
    assert serving.experiments.status()["versions_loaded"] == [old]
    experiments.stop("ab")
    serving.follower.step()
    assert serving.route("home", "u1", None).variant is None
    assert serving.experiments.status()["versions_loaded"] == []
    experiments.engine.dispose()


def test_a_variant_answers_under_its_own_placement_rules(
    tmp_path: Path, trained_store: ModelStore, caplog: pytest.LogCaptureFixture
) -> None:
    serving, experiments = serving_with_experiments(tmp_path, trained_store)
    current = trained_store.current()
    best_sellers = {"strategy": "popular", "exclude_seen": False}
    start(experiments, trained_store, DEFAULT_PLACEMENTS, "rules", "home",
          [Variant("a", "current", 1), Variant("b", "current", 1, best_sellers)])  # fmt: skip
    serving.follower.step()
    users = list(trained_store.load().users.ids[:60])
    routed = {u: serving.route("home", u, None) for u in users}
    assert {r.variant for r in routed.values()} == {"a", "b"}
    assert all(r.recommender.version == current for r in routed.values())
    for user, r in routed.items():
        answer = r.recommender.recommend(placement="home", user_id=user, rules=r.rules)
        assert answer.strategy.startswith("popular" if r.variant == "b" else "personalized")
    # rules the placements do not admit are refused at the start, naming the variant
    with pytest.raises(InvalidRequest, match="variant 'b': exclude_seen must be a bool"):
        start(
            experiments,
            trained_store,
            DEFAULT_PLACEMENTS,
            "bad",
            "cart",
            [Variant("a", "current", 1), Variant("b", "current", 1, {"exclude_seen": 1})],
        )
    # ... and a process whose placements no longer admit them serves its shoppers outside
    experiments.stop("rules")
    experiments.start("later", "category", [Variant("a", current, 1),
                                            Variant("b", current, 1, {"colour": "red"})],
                      versions=[current], placements=list(DEFAULT_PLACEMENTS))  # fmt: skip
    serving.follower.step()
    serving.follower.step()
    later = [serving.route("category", u, None) for u in users]
    assert {r.variant for r in later} == {"a", None}
    assert all(r.rules is None for r in later)
    refused = [m for m in caplog.messages if "unknown rules ['colour']" in m]
    assert len(refused) == 1  # logged once, not at every step
    experiments.engine.dispose()
