"""How an experiment stands: each variant's figures, each variant against the first
(the control) on views and on the chosen metric per impression, and a plain verdict.

Shoppers, not impressions, are assigned to variants, and one shopper's visits are
alike (a keen shopper opens many lists), so the impressions are not independent: the
test compares the rates with each one's variance by the delta method over shoppers
(recsvc.proportions.Clustered), a z-test at the 5% level with the difference's 95%
interval. A binomial test on impressions would call differences that are not there
far more often than 5% (docs/experiments.md measures it). "No difference yet" says how
many impressions per variant a test would need to detect a given relative lift of the
control's rate (80% power), the binomial figure times the design effect observed.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..artifact import VersionStore
from ..errors import InvalidRequest
from ..proportions import Clustered, compare_clustered, sample_size, wilson
from .database import experiment_shoppers
from .experiments import Experiment, ExperimentStore
from .stats import OUTCOMES, recommendation_stats

#: a difference is called when its p-value is below this
ALPHA = 0.05
#: the outcomes an experiment is judged on
METRICS = tuple(OUTCOMES)


def experiment_report(
    engine: Engine, experiment: Experiment, *, metric: str = "purchases", lift: float = 0.1
) -> dict[str, Any]:
    """The experiment, its variants' figures, the comparisons and the verdict."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    end = (experiment.stopped or int(time.time())) + 1
    found = recommendation_stats(engine, start=experiment.started, end=end,
                                 experiment=experiment.name)  # fmt: skip
    totals: dict[str, dict[str, Any]] = {
        v.name: {**v.as_dict(), "impressions": 0, **dict.fromkeys(OUTCOMES, 0), "revenue": 0.0}
        for v in experiment.variants
    }  # fmt: skip
    for group in found.groups:
        row = totals.get(group["variant"])
        if row is None:
            continue
        for name in ("impressions", *OUTCOMES):
            row[name] += group[name]
        row["revenue"] = round(row["revenue"] + group["revenue"], 2)
    for row in totals.values():
        for name in OUTCOMES:
            low, high = wilson(row[name], row["impressions"])
            rate = row[name] / row["impressions"] if row["impressions"] else 0.0
            row[f"{name}_per_impression"] = {"rate": rate, "low": low, "high": high}
    variants = list(totals.values())
    control = variants[0]
    sums = shopper_sums(engine, experiment.name)
    empty = Clustered(0, 0, 0, 0, 0, 0)
    comparisons = []
    for other in variants[1:]:
        for name in dict.fromkeys(("views", metric)):
            result = compare_clustered(sums.get((control["name"], name), empty),
                                       sums.get((other["name"], name), empty))  # fmt: skip
            comparisons.append({
                "variant": other["name"], "against": control["name"], "metric": name,
                "difference": result.difference, "low": result.low, "high": result.high,
                "p_value": result.p_value, "significant": result.p_value < ALPHA,
            })  # fmt: skip
    verdict, winner = _verdict(variants, comparisons, metric)
    rate = control[f"{metric}_per_impression"]["rate"]
    needed = None
    if 0 < rate < 1:
        clustered = sums.get((control["name"], metric), empty)
        binomial = rate * (1 - rate) / max(control["impressions"], 1)
        design_effect = max(1.0, clustered.variance / binomial) if binomial else 1.0
        needed = round(sample_size(rate, lift) * design_effect)
    return {
        "experiment": experiment.as_dict(), "metric": metric, "variants": variants,
        "comparisons": comparisons, "verdict": verdict, "winner": winner,
        "lift": lift, "impressions_needed": needed,
    }  # fmt: skip


def shopper_sums(engine: Engine, experiment: str) -> dict[tuple[str, str], Clustered]:
    """Per variant and outcome, the sums over the experiment's shoppers of their
    impressions and of those that led to the outcome, as the delta method needs
    (from the per-shopper counters kept as impressions and events are written)."""
    c = experiment_shoppers.c
    n = sa.cast(c.impressions, sa.Float)
    query = sa.select(
        c.variant, sa.func.count(), sa.func.sum(n), sa.func.sum(n * n),
        *(column for name in OUTCOMES for column in (
            sa.func.sum(sa.cast(c[name], sa.Float)),
            sa.func.sum(sa.cast(c[name], sa.Float) * sa.cast(c[name], sa.Float)),
            sa.func.sum(n * c[name]),
        )),
    ).where(c.experiment == experiment).group_by(c.variant)  # fmt: skip
    found = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            variant, clusters, total, squares = row[0], int(row[1]), row[2] or 0, row[3] or 0
            for k, name in enumerate(OUTCOMES):
                s, ss, ns = (float(x or 0) for x in row[4 + 3 * k : 7 + 3 * k])
                found[(variant, name)] = Clustered(clusters, float(total), s, float(squares),
                                                   ss, ns)  # fmt: skip
    return found


def _verdict(variants: list[dict[str, Any]], comparisons: list[dict[str, Any]], metric: str
             ) -> tuple[str, str | None]:  # fmt: skip
    """ "b better" (the best variant significantly above the control), "a better" (every
    other variant significantly below it), or "no difference yet"."""
    control = variants[0]["name"]
    on_metric = [c for c in comparisons if c["metric"] == metric]
    better = [c for c in on_metric if c["significant"] and c["difference"] > 0]
    if better:
        best = max(better, key=lambda c: c["difference"])
        return f"{best['variant']} better", best["variant"]
    if on_metric and all(c["significant"] and c["difference"] < 0 for c in on_metric):
        return f"{control} better", control
    return "no difference yet", None


def promote_winner(
    store: ExperimentStore, models: VersionStore, name: str, *, variant: str | None = None,
    metric: str = "purchases",
) -> tuple[Experiment, str]:  # fmt: skip
    """Make the experiment's winner (or ``variant``) the current version and stop the
    experiment; (the experiment, the version made current). :class:`InvalidRequest`
    when there is no winner yet and no variant is named. A variant's placement rules
    are the operator's to keep (RECSVC_PLACEMENTS: the service's configuration, which
    the database does not override); the command line says how."""
    experiment = store.get(name)
    if variant is None:
        report = experiment_report(store.engine, experiment, metric=metric)
        variant = report["winner"]
        if variant is None:
            raise InvalidRequest(f"experiment {name!r} has no winner yet on {metric}"
                                 f" ({report['verdict']}); name the variant to promote",
                                 field="variant")  # fmt: skip
    chosen = {v.name: v for v in experiment.variants}.get(variant)
    if chosen is None:
        raise InvalidRequest(f"experiment {name!r} has no variant {variant!r}", field="variant")
    models.promote(chosen.version)
    return store.stop(name, promoted=chosen.name), chosen.version
