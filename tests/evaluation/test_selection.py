"""Choosing the model per shop on its own recent past."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsvc.artifact import ModelStore
from recsvc.config import TrainingConfig
from recsvc.data.dataset import Files
from recsvc.errors import ConfigError
from recsvc.evaluation.holdout import holdout_for
from recsvc.evaluation.selection import Candidate, candidates, select
from recsvc.evaluation.served import evaluate_served
from recsvc.pipeline import read_dataset, train


def test_the_better_candidate_on_validation_is_chosen_and_it_transfers(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    data = read_dataset(Files(*small_shop), fast_config)
    listed = [("popular (all time)", fast_config.replace(model="popular", next_items_weight=0.0)),
              ("als + next items", fast_config)]  # fmt: skip
    chosen, tried = select(data, fast_config, listed=listed)
    scores = {c.name: c.metrics["ndcg@10"] for c in tried}
    assert chosen.name == max(scores, key=lambda name: scores[name])
    assert [c.name for c in tried] == sorted(scores, key=lambda name: -scores[name])
    assert scores["als + next items"] > 1.2 * scores["popular (all time)"]  # a clear gap
    # the choice holds on the test part, which the selection never read
    test = holdout_for(data, fast_config, split="forward")
    before = data.with_events(test.train_events)
    again, _ = select(before, fast_config, listed=listed)
    on_test = {name: evaluate_served(data, test, config)["ndcg@10"] for name, config in listed}
    assert on_test[again.name] == max(on_test.values())
    # the same choice every time (fixed seeds)
    assert select(data, fast_config, listed=listed)[0].metrics == chosen.metrics


def test_the_budget_and_the_coverage_floor(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    data = read_dataset(Files(*small_shop), fast_config)
    listed = candidates(fast_config, items=len(data.items))
    assert listed[0][0] == "popular (7-day half-life)"  # the cheapest first
    assert len({name for name, _ in listed}) == len(listed)
    ticks = iter(range(0, 10_000, 100))
    _, tried = select(data, fast_config, budget=50, listed=listed,
                      clock=lambda: next(ticks))  # fmt: skip
    assert len(tried) == 1  # the second would have started after the budget
    with pytest.raises(ConfigError, match="no candidate reached catalog coverage 1"):
        select(data, fast_config, min_coverage=1.0, listed=listed[:2])


def test_train_with_model_auto_publishes_the_choice_and_keeps_the_table(
    tmp_path: Path, small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    store = ModelStore(tmp_path / "models")
    config = fast_config.replace(model="auto", selection_budget=3.0)
    report = train(Files(*small_shop), config=config, store=store)
    selection = store.manifest()["selection"]
    assert selection is not None
    assert report.selection == selection
    rows = selection["candidates"]
    assert rows[0]["ndcg@10"] == max(row["ndcg@10"] for row in rows)
    assert selection["best"]["name"] == rows[0]["name"]
    chosen = next(row for row in rows if row["name"] == selection["chosen"])
    # the best, or one as good within the noise that costs at most half as much and
    # 5 s less (the rows' seconds are rounded to 0.01)
    assert chosen is rows[0] or (
        chosen["cost_seconds"] * 2 <= rows[0]["cost_seconds"] + 0.02
        and chosen["cost_seconds"] + 4.98 <= rows[0]["cost_seconds"]
    )
    assert {"ndcg@10 low", "ndcg@10 high", "coverage", "seconds", "cost_seconds",
            "settings"} <= set(chosen)  # fmt: skip
    published = store.manifest()["parameters"]
    assert published["model"] == chosen["settings"]["model"] != "auto"


def test_train_says_and_keeps_which_best_a_cheaper_choice_stood_in_for(
    tmp_path: Path,
    small_shop: tuple[Path, Path],
    fast_config: TrainingConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recsvc.evaluation import selection

    # the small shop's candidates all cost about the same: stand in the worst eligible
    monkeypatch.setattr(selection, "chosen_of", lambda eligible: eligible[-1])
    said: list[str] = []
    config = fast_config.replace(model="auto", selection_budget=3.0)
    train(Files(*small_shop), config=config, store=ModelStore(tmp_path / "m"), say=said.append)
    record = ModelStore(tmp_path / "m").manifest()["selection"]
    rows = record["candidates"]
    assert record["best"]["name"] == rows[0]["name"] != record["chosen"]
    assert record["best"]["ndcg@10"] == rows[0]["ndcg@10"]
    chosen = next(row for row in rows if row["name"] == record["chosen"])
    assert record["best"]["cost_ratio"] == pytest.approx(
        rows[0]["cost_seconds"] / chosen["cost_seconds"], rel=0.1, abs=0.05
    )
    line = next(line for line in said if line.startswith("chose "))
    assert f"the best, {rows[0]['name']}, {rows[0]['ndcg@10']:.4f}, is not better" in line


def test_the_choice_in_train_never_reads_the_holdouts_future(
    tmp_path: Path,
    small_shop: tuple[Path, Path],
    fast_config: TrainingConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np
    import pyarrow as pa

    from recsvc.data.dataset import Dataset
    from recsvc.evaluation import selection
    from recsvc.evaluation.holdout import holdout_mask

    config = fast_config.replace(model="auto", selection_budget=3600.0)
    # the same winner refined in both (a cheaper one as good is taken by measured time)
    monkeypatch.setattr(selection, "COST_FLOOR", float("inf"))
    data = read_dataset(Files(*small_shop), config)
    future = holdout_mask(data.events, split="forward", fraction=config.holdout_fraction)
    items = data.events.item_id.to_numpy(zero_copy_only=False).astype(str)
    items[future] = np.random.default_rng(0).permutation(items[future])
    events = data.events
    scrambled = Dataset(type(events)(
        user_id=events.user_id, item_id=pa.chunked_array([pa.array(items)]),
        event_type=events.event_type, event_types=events.event_types,
        timestamp=events.timestamp, quantity=events.quantity,
    ), data.catalog, data.items)  # fmt: skip

    class Given:
        def __init__(self, dataset: Dataset) -> None:
            self.dataset = dataset

        def read(self, config: TrainingConfig) -> Dataset:
            return self.dataset

    tables = []
    for n, dataset in enumerate((data, scrambled)):
        report = train(Given(dataset), config=config, store=ModelStore(tmp_path / f"m{n}"))
        assert report.selection is not None
        tables.append([(row["name"], row["ndcg@10"]) for row in report.selection["candidates"]])
    assert tables[0] == tables[1]


def test_the_second_round_refines_the_winner_one_setting_at_a_time(
    fast_config: TrainingConfig,
) -> None:
    from recsvc.evaluation.selection import ALS_GRID, INTERACTION_HALF_LIVES, refinements

    als = refinements("als", fast_config.replace(model="als"))
    decayed = [c for _, c in als if c.half_life_days is not None]
    assert sorted(c.half_life_days for c in decayed) == sorted(INTERACTION_HALF_LIVES)
    assert all(c.als_factors == fast_config.als_factors for c in decayed)
    grid = {(c.als_factors, c.als_regularization) for _, c in als if c.half_life_days is None}
    assert grid == set(ALS_GRID) - {(fast_config.als_factors, fast_config.als_regularization)}
    # EASE reads only which items a shopper touched: decay would change nothing
    assert refinements("ease", fast_config.replace(model="ease")) == []
    assert refinements("popular", fast_config.replace(model="popular")) == []
    knn = refinements("itemknn", fast_config.replace(model="itemknn", half_life_days=30.0))
    assert [c.half_life_days for _, c in knn] == [90.0]


def test_select_scores_the_winners_refinements_and_keeps_the_best(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    from recsvc.evaluation.selection import refinements

    data = read_dataset(Files(*small_shop), fast_config)
    als = fast_config.replace(model="als", next_items_weight=0.0)
    # the best whatever it costs (a cheaper one as good within the noise: the next test)
    chosen, tried = select(data, als, listed=[("als", als)], refine=True,
                           cheaper_within_noise=False)  # fmt: skip
    assert [c.name for c in tried if c.name != "als"] != []
    assert {c.name for c in tried} == {"als", *(name for name, _ in refinements("als", als))}
    assert chosen is tried[0]
    assert chosen.metrics["ndcg@10"] == max(c.metrics["ndcg@10"] for c in tried)
    # the manifest's row shows the refined settings
    assert {"half_life_days", "als_factors", "als_regularization"} <= set(chosen.row()["settings"])
    # without refine, a given list is all that is tried
    assert [c.name for c in select(data, als, listed=[("als", als)])[1]] == ["als"]


def _candidate(name: str, ndcg: list[float], cost_seconds: float) -> Candidate:
    import numpy as np

    values = np.array(ndcg)
    return Candidate(name, TrainingConfig(), {"ndcg@10": float(values.mean()), "coverage": 0.5},
                     cost_seconds, "forward", cost_seconds, values)  # fmt: skip


def test_a_cheaper_candidate_as_good_within_the_noise_is_chosen_over_the_best() -> None:
    from recsvc.evaluation.selection import chosen_of, worse

    best = _candidate("ease", [0.5, 0.0, 1.0, 0.2, 0.6, 0.3], cost_seconds=16.0)
    # below the best by less than one standard error of the shoppers' differences
    close = _candidate("als", [0.4, 0.1, 1.0, 0.0, 0.6, 0.3], cost_seconds=3.0)
    # below it on every shopper it differs on: clearly worse, however cheap
    lower = _candidate("popular", [0.4, 0.0, 0.9, 0.1, 0.5, 0.2], cost_seconds=0.5)
    assert not worse(close, best)
    assert worse(lower, best)
    assert chosen_of([best, close, lower]) is close
    assert chosen_of([best, lower]) is best
    # a cheaper one that is not at most half the cost: the best
    assert chosen_of([best, _candidate("als", close.ndcg.tolist(), 9.0)]) is best
    # of those as good and at most half the cost, the best
    closer = _candidate("als + next items", [0.5, 0.05, 1.0, 0.1, 0.6, 0.3], cost_seconds=8.0)
    assert chosen_of([best, closer, close]) is closer
    assert chosen_of([best, _candidate("x", closer.ndcg.tolist(), 8.1), close]) is close
    # a saving of under 5 s is no saving (a small shop's candidates)
    tiny = [
        _candidate("ease", best.ndcg.tolist(), 1.5),
        _candidate("als", close.ndcg.tolist(), 0.6),
    ]
    assert chosen_of(tiny) is tiny[0]
    # one shopper: no error to take, any difference counts
    assert worse(_candidate("a", [0.4], 1.0), _candidate("b", [0.5], 2.0))
    assert not worse(_candidate("a", [0.5], 1.0), _candidate("b", [0.5], 2.0))


def test_a_small_window_is_joined_by_the_one_before_it(
    small_shop: tuple[Path, Path], fast_config: TrainingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from recsvc.evaluation import selection
    from recsvc.evaluation.selection import Validation

    data = read_dataset(Files(*small_shop), fast_config)
    validation = Validation(data, fast_config, split="forward")
    (latest, _), (earlier, _) = validation.windows  # a few hundred shoppers: two windows
    assert latest.users.size < selection.ENOUGH_SHOPPERS
    # the earlier window: the events just before the latest window, about as many
    latest_window = len(data.events) - len(latest.train_events)
    earlier_window = len(latest.train_events) - len(earlier.train_events)
    assert abs(earlier_window - latest_window) <= 0.01 * len(data.events)
    assert earlier.train_events.timestamp.max() < latest.train_events.timestamp.max()
    # a candidate's metrics are over both windows' shoppers together
    als = fast_config.replace(next_items_weight=0.0)
    both = validation.candidate("als", als).metrics
    alone = [evaluate_served(data, w, als) for w, _ in validation.windows]
    assert both["users"] == sum(a["users"] for a in alone) == latest.users.size + earlier.users.size
    weighted = sum(a["ndcg@10"] * a["users"] for a in alone) / both["users"]
    assert np.isclose(both["ndcg@10"], weighted)
    assert both["windows"] == 2
    # enough shoppers in the latest window: it alone
    monkeypatch.setattr(selection, "ENOUGH_SHOPPERS", latest.users.size)
    assert len(Validation(data, fast_config, split="forward").windows) == 1
    # a protocol that is not a forward split validates on its own split, once
    assert len(Validation(data, fast_config, split="user-time").windows) == 1
    # no window whose fit would keep less than half of the events
    wide = fast_config.replace(holdout_fraction=0.3)
    monkeypatch.setattr(selection, "ENOUGH_SHOPPERS", 10**9)
    assert len(Validation(data, wide, split="forward").windows) == 1


def test_a_large_shop_is_chosen_for_on_a_sample_of_its_shoppers(
    tmp_path: Path, small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    import re
    from collections import Counter

    from recsvc.evaluation.selection import Validation, shoppers_sample

    data = read_dataset(Files(*small_shop), fast_config)
    total = len(data.events)
    # at most the cap: the shop itself
    whole, sampled, shoppers = shoppers_sample(data, total, seed=fast_config.seed)
    assert whole is data
    assert sampled == shoppers == 0
    # beyond: every event of each sampled shopper, no other, within the cap
    cap = total // 3
    sample, sampled, shoppers = shoppers_sample(data, cap, seed=fast_config.seed)
    per_shopper = Counter(data.events.user_id.to_pylist())
    taken = Counter(sample.events.user_id.to_pylist())
    assert shoppers == len(per_shopper)
    assert sampled == len(taken) < shoppers
    assert all(per_shopper[user] == count for user, count in taken.items())
    assert cap - max(per_shopper.values()) < len(sample.events) <= cap
    assert sample.items is data.items
    assert sample.catalog is data.catalog
    # seeded: the same sample again, another with another seed
    again = shoppers_sample(data, cap, seed=fast_config.seed)[0]
    assert again.events.user_id.equals(sample.events.user_id)
    other = shoppers_sample(data, cap, seed=fast_config.seed + 1)[0]
    assert set(other.events.user_id.to_pylist()) != set(taken)
    # the choice reads the sample, and says so in the manifest
    config = fast_config.replace(model="auto", selection_budget=3.0, selection_max_events=cap)
    validation = Validation(data, config, split="forward")
    assert validation.data.events.user_id.equals(sample.events.user_id)
    store = ModelStore(tmp_path / "models")
    train(Files(*small_shop), config=config, store=store)
    described = store.manifest()["selection"]["validation"]
    assert described.startswith("forward, within the holdout's training part")
    # (of the holdout's training part: its shoppers and events)
    assert re.search(r", on a sample of [\d,]+ of its [\d,]+ shoppers \([\d,]+ events\)$",
                     described)  # fmt: skip


def test_a_retrain_reuses_a_recent_choice_while_the_other_settings_stay(
    tmp_path: Path, small_shop: tuple[Path, Path], fast_config: TrainingConfig
) -> None:
    store = ModelStore(tmp_path / "models")
    config = fast_config.replace(model="auto", selection_budget=3.0)
    first = train(Files(*small_shop), config=config, store=store)
    assert "choose the model" in first.steps
    assert first.selection is not None
    chosen = first.selection["settings"]
    # a retrain refits the same choice: no choice, and the gate needs no second evaluation
    again = train(Files(*small_shop), config=config, store=store)
    assert "choose the model" not in again.steps
    assert again.selection is not None
    assert again.selection["reused_from"] == first.version
    assert again.selection["chosen_at"] == first.selection["chosen_at"]
    assert again.selection["candidates"] == first.selection["candidates"]
    parameters = store.manifest(first.version)["parameters"]
    assert store.manifest(again.version)["parameters"] == parameters
    assert again.gate is not None
    assert again.gate["current_ndcg@10"] == again.gate["candidate_ndcg@10"]
    assert again.metrics["model"] == first.metrics["model"]  # the same settings, data, seeds
    # another setting the choice does not set: a new choice
    other = train(Files(*small_shop), config=config.replace(als_iterations=3), store=store)
    assert "choose the model" in other.steps
    assert other.selection is not None
    assert "reused_from" not in other.selection
    # --reuse-choice-days 0: a new choice every time
    fresh = config.replace(als_iterations=3, selection_reuse_days=0.0)
    assert "choose the model" in train(Files(*small_shop), config=fresh, store=store).steps
    assert {name: store.manifest()["parameters"][name] for name in chosen} == {
        name: other.selection["settings"][name] for name in chosen
    }


def test_a_choice_is_reused_for_its_days_and_a_fixed_model_never() -> None:
    import datetime as dt

    from recsvc.evaluation.selection import reused_choice

    config = TrainingConfig(selection_reuse_days=7.0)
    chosen = config.replace(model="ease", next_items_weight=0.0, popularity_weight=1.0,
                            popularity_half_life_days=30.0)  # fmt: skip
    when = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    manifest = {"created": "2026-11-02T00:00:00+00:00", "parameters": chosen.as_dict(),
                "selection": {"chosen": "ease + 1 x popularity (30-day)",
                              "chosen_at": when.isoformat()}}  # fmt: skip
    assert reused_choice(manifest, config, now=when + dt.timedelta(days=6.9)) == chosen
    assert reused_choice(manifest, config, now=when + dt.timedelta(days=7.1)) is None
    # a setting the choice sets that was None, or a version from before chosen_at
    decayed = chosen.replace(half_life_days=30.0)
    older = {**manifest, "parameters": decayed.as_dict(),
             "selection": {"chosen": "ease, events halving every 30 days"}}  # fmt: skip
    assert reused_choice(older, config, now=when + dt.timedelta(days=7.9)) == decayed
    assert reused_choice(older, config, now=when + dt.timedelta(days=8.1)) is None
    # other settings than the choice's, no choice made, or reuse turned off
    assert reused_choice(manifest, config.replace(seed=7), now=when) is None
    assert reused_choice({**manifest, "selection": None}, config, now=when) is None
    assert reused_choice(manifest, config.replace(selection_reuse_days=0.0), now=when) is None
    # the reuse window is the run's own setting, whatever the version's was
    longer = config.replace(selection_reuse_days=30.0)
    assert reused_choice(manifest, longer, now=when + dt.timedelta(days=20)) == chosen.replace(
        selection_reuse_days=30.0
    )
    # so is the version's warm start: it changes neither the choice nor the holdout
    cold = config.replace(als_warm_iterations=0)
    assert reused_choice(manifest, cold, now=when) == chosen.replace(als_warm_iterations=0)
