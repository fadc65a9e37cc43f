"""Experiments as stored, and how one stands: comparisons and verdicts on known numbers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from recsvc.errors import InvalidRequest, NotFound
from recsvc.store.comparison import experiment_report
from recsvc.store.database import connect
from recsvc.store.experiments import ExperimentStore, Variant
from recsvc.store.impressions import Impression, ImpressionStore
from recsvc.store.shop import ShopStore

VERSIONS = ("v1", "v2", "v3")
PLACEMENTS = ("home", "cart")
AB = [Variant("a", "v1", 50), Variant("b", "v2", 50)]


@pytest.fixture
def store(db_url: str) -> Iterator[ExperimentStore]:
    found = ExperimentStore(connect(db_url))
    yield found
    found.engine.dispose()


def start(store: ExperimentStore, name: str = "e1", placement: str = "home",
          variants: list[Variant] = AB):  # type: ignore[no-untyped-def]  # fmt: skip
    return store.start(name, placement, variants, versions=VERSIONS, placements=PLACEMENTS)


def test_start_stop_and_one_running_experiment_per_placement(store: ExperimentStore) -> None:
    first = start(store)
    assert first.running
    assert [v.version for v in first.variants] == ["v1", "v2"]
    with pytest.raises(InvalidRequest, match="placement 'home' runs experiment 'e1'"):
        start(store, "e2")
    assert start(store, "e3", placement="cart").running  # another placement: fine
    with pytest.raises(InvalidRequest, match="an experiment named 'e1' exists"):
        start(store, "e1", placement="cart")
    stopped = store.stop("e1")
    assert not stopped.running
    assert stopped.stopped is not None
    assert start(store, "e2").running  # the placement is free again
    assert {e.name for e in store.running()} == {"e2", "e3"}
    with pytest.raises(NotFound):
        store.get("nope")


@pytest.mark.parametrize(("variants", "message"), [
    ([Variant("a", "v1", 1)], "at least two variants"),
    ([Variant("a", "v1", 1), Variant("a", "v2", 1)], "variant names repeat"),
    ([Variant("a", "v1", 1), Variant("b", "v2", 0)], "weight must be >= 1"),
    ([Variant("a", "v1", 1), Variant("b", "v9", 1)], "no published version 'v9'"),
])  # fmt: skip
def test_bad_experiments_are_refused_with_the_reason(
    store: ExperimentStore, variants: list[Variant], message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message):
        start(store, variants=variants)
    with pytest.raises(InvalidRequest, match="unknown placement 'checkout'"):
        start(store, placement="checkout")
    assert store.all() == []


def _traffic(store: ExperimentStore, shown: dict[str, int], bought: dict[str, int],
             started: int) -> None:  # fmt: skip
    """``shown[v]`` impressions of variant v, ``bought[v]`` of them with a purchase."""
    impressions, events = [], []
    for variant, count in shown.items():
        for n in range(count):
            rid = f"{variant}-{n}"
            impressions.append(Impression(rid, started, "home", "personalized",
                                          {"a": "v1", "b": "v2"}[variant], "[]",
                                          experiment="e1", variant=variant))  # fmt: skip
            if n < bought[variant]:
                events.append({"event_id": rid, "user_id": rid, "item_id": "i",
                               "event_type": "purchase", "timestamp": started + 2,
                               "recommendation_id": rid})  # fmt: skip
    ImpressionStore(store.engine).add(impressions)
    ShopStore(store.engine).add_events(events)


def test_a_clear_difference_is_called_and_a_small_one_is_not(store: ExperimentStore) -> None:
    experiment = start(store)
    # 200/1000 against 250/1000, one impression per shopper: the delta method's variance
    # is the binomial one, se sqrt(.2 * .8 / 1000 + .25 * .75 / 1000) = 0.018641, z 2.6823
    _traffic(store, {"a": 1000, "b": 1000}, {"a": 200, "b": 250}, experiment.started)
    report = experiment_report(store.engine, experiment)
    assert [v["impressions"] for v in report["variants"]] == [1000, 1000]
    (views, purchases) = report["comparisons"]
    assert views["metric"] == "views"
    assert not views["significant"]
    assert purchases["difference"] == pytest.approx(0.05)
    assert purchases["p_value"] == pytest.approx(0.007314, abs=1e-6)
    assert report["verdict"] == "b better"
    assert report["winner"] == "b"


def test_no_difference_yet_says_how_many_impressions_it_takes(store: ExperimentStore) -> None:
    experiment = start(store)
    _traffic(store, {"a": 300, "b": 300}, {"a": 30, "b": 33}, experiment.started)
    report = experiment_report(store.engine, experiment, lift=0.2)
    assert report["verdict"] == "no difference yet"
    assert report["winner"] is None
    assert report["impressions_needed"] == 3_841  # 10% -> 12% (tests/test_proportions.py)


def test_a_keen_shopper_is_one_shopper_not_many_impressions(store: ExperimentStore) -> None:
    """The same counts as a clear difference, but made by few shoppers with many visits
    each: the test widens and no longer calls it."""
    experiment = start(store)
    impressions, events = [], []
    for variant, buyers in (("a", 2), ("b", 3)):
        for shopper in range(10):  # 10 shoppers per variant, 100 visits each
            for visit in range(100):
                rid = f"{variant}-{shopper}-{visit}"
                who, when = f"{variant}{shopper}", experiment.started
                impressions.append(
                    Impression(
                        rid,
                        when,
                        "home",
                        "personalized",
                        "v",
                        "[]",
                        user_id=who,
                        experiment="e1",
                        variant=variant,
                    )
                )
                if shopper < buyers:  # some shoppers always buy, the others never
                    events.append({"event_id": rid, "user_id": who, "item_id": "i",
                                   "event_type": "purchase", "timestamp": when,
                                   "recommendation_id": rid})  # fmt: skip
    ImpressionStore(store.engine).add(impressions)
    ShopStore(store.engine).add_events(events)
    report = experiment_report(store.engine, experiment)
    purchases = report["comparisons"][-1]
    assert purchases["difference"] == pytest.approx(0.1)  # 200/1000 against 300/1000
    assert purchases["p_value"] > 0.5  # 20 shoppers, not 2,000 independent impressions
    assert report["verdict"] == "no difference yet"
