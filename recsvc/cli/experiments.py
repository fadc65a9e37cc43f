"""``recsvc experiments``: start, follow, stop and conclude experiments between model
versions and placement configurations."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from ..config import ServingConfig
from ..serving.experiments import start as start_experiment
from ..serving.placements import parse_placements
from ..store.comparison import METRICS, experiment_report, promote_winner
from ..store.experiments import ExperimentStore, Variant
from .options import database_option, domain_errors, open_shop, open_store, store_option, utc_minute


def parse_variant(text: str) -> Variant:
    """``NAME=VERSION[:WEIGHT]`` (weight 1 by default)."""
    name, equals, rest = text.partition("=")
    version, _, weight = rest.rpartition(":") if ":" in rest else (rest, "", "1")
    if not equals or not name or not version:
        raise click.BadParameter(f"{text!r}: expected NAME=VERSION[:WEIGHT]")
    try:
        return Variant(name=name, version=version, weight=int(weight))
    except ValueError:
        raise click.BadParameter(f"{text!r}: the weight must be a whole number") from None


def with_rules(variants: list[Variant], texts: tuple[str, ...]) -> list[Variant]:
    """The variants with the placement rules of ``--rules NAME=JSON``."""
    found = {v.name: v for v in variants}
    for text in texts:
        name, equals, rules = text.partition("=")
        if not equals or name not in found:
            raise click.BadParameter(f"{text!r}: expected NAME=JSON, NAME one of the variants"
                                     f" ({', '.join(found)})", param_hint="--rules")  # fmt: skip
        try:
            parsed = json.loads(rules)
        except ValueError as exc:
            raise click.BadParameter(f"{text!r}: not JSON: {exc}", param_hint="--rules") from None
        if not isinstance(parsed, dict):
            raise click.BadParameter(f"{text!r}: expected a JSON object of placement rules",
                                     param_hint="--rules")  # fmt: skip
        found[name] = dataclasses.replace(found[name], rules=parsed)
    return list(found.values())


def _rules(rules: dict[str, Any]) -> str:
    """A variant's placement rules as the command line shows them ("": none)."""
    return f" {json.dumps(rules, sort_keys=True)}" if rules else ""


def _described(variant: Variant) -> str:
    return f"{variant.name}={variant.version}{_rules(variant.rules)}"


def _experiments(database: str | None) -> ExperimentStore:
    return ExperimentStore(open_shop(database).engine)


@click.group("experiments")
def experiments_group() -> None:
    """Compare model versions (or placement rules) on live traffic: start an experiment on
    a placement, follow how its variants do, and promote the winner."""


@experiments_group.command("start")
@click.argument("name")
@click.option(
    "--variant",
    "variants",
    multiple=True,
    required=True,
    help="NAME=VERSION[:WEIGHT], twice or more (the first is the control); VERSION is a"
    " version's name, current or latest.",
)
@click.option(
    "--rules",
    "rules",
    multiple=True,
    help="NAME=JSON: placement rules variant NAME changes (a placement configuration),"
    " e.g. b='{\"taste_weight\": 0}'; see RECSVC_PLACEMENTS for the rules.",
)
@click.option(
    "--placement", default="home", show_default=True, help="The placement whose traffic is split."
)
@database_option
@store_option
@domain_errors
def start(name: str, variants: tuple[str, ...], rules: tuple[str, ...], placement: str,
          database: str | None, models: str | None) -> None:  # fmt: skip
    """Start experiment NAME: each shopper of the placement is served by one variant
    (a model version, and perhaps placement rules of its own), always the same (a hash
    of their id), in proportion to the weights.

    \b
    recsvc train --events ... --no-promote     # a candidate beside the current version
    recsvc experiments start candidate --variant a=current:50 --variant b=latest:50
    recsvc experiments start no-taste --placement product \\
        --variant a=current --variant b=current --rules 'b={"taste_weight": 0}'
    """
    placements = parse_placements(ServingConfig.from_env().placements)
    chosen = with_rules([parse_variant(v) for v in variants], rules)
    experiment = start_experiment(_experiments(database), open_store(models), placements,
                                  name, placement, chosen)  # fmt: skip
    click.echo(f"started {experiment.name} on {placement}: " + ", ".join(
        f"{_described(v)} ({v.weight})" for v in experiment.variants))  # fmt: skip


@experiments_group.command("stop")
@click.argument("name")
@database_option
@domain_errors
def stop(name: str, database: str | None) -> None:
    """Stop experiment NAME: its placement goes back to the current version."""
    experiment = _experiments(database).stop(name)
    click.echo(f"stopped {experiment.name}")


@experiments_group.command("list")
@database_option
@domain_errors
def list_(database: str | None) -> None:
    """Every experiment, the newest first."""
    found = _experiments(database).all()
    if not found:
        click.echo("no experiments")
    for e in found:
        state = "running" if e.running else f"stopped {utc_minute(e.stopped)}"
        promoted = f", promoted {e.promoted}" if e.promoted else ""
        variants = ", ".join(f"{_described(v)}:{v.weight}" for v in e.variants)
        click.echo(f"{e.name}  {e.placement}  started {utc_minute(e.started)}  {state}{promoted}"
                   f"  {variants}")  # fmt: skip


@experiments_group.command("show")
@click.argument("name")
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="purchases",
    show_default=True,
    help="What the verdict is on (per impression).",
)
@click.option(
    "--lift",
    type=float,
    default=0.1,
    show_default=True,
    help="The relative lift the sample size is for.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@database_option
@domain_errors
def show(name: str, metric: str, lift: float, as_json: bool, database: str | None) -> None:
    """How experiment NAME stands: each variant's impressions and rates (95% intervals),
    each against the control (difference, interval, p-value), and a verdict."""
    store = _experiments(database)
    report = experiment_report(store.engine, store.get(name), metric=metric, lift=lift)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(_text(report))


@experiments_group.command("promote")
@click.argument("name")
@click.option("--variant", default=None, help="Promote this variant. [default: the winner]")
@click.option("--metric", type=click.Choice(METRICS), default="purchases", show_default=True)
@database_option
@store_option
@domain_errors
def promote(name: str, variant: str | None, metric: str, database: str | None,
            models: str | None) -> None:  # fmt: skip
    """Make experiment NAME's winner the current version (every worker within
    RECSVC_RELOAD_INTERVAL) and stop the experiment; refused while there is no winner,
    unless --variant names one."""
    experiment, version = promote_winner(_experiments(database), open_store(models), name,
                                         variant=variant, metric=metric)  # fmt: skip
    click.echo(f"promoted {experiment.promoted} of {experiment.name}: {version} is current")
    rules = {v.name: v.rules for v in experiment.variants}.get(experiment.promoted or "")
    if rules:
        click.echo(f"its placement rules are yours to keep: set RECSVC_PLACEMENTS to include"
                   f" {json.dumps({experiment.placement: rules})} (merged with what it"
                   " holds) and restart the service")  # fmt: skip


def _text(report: dict[str, Any]) -> str:
    e = report["experiment"]
    lines = [f"{e['name']} on {e['placement']}, {'running' if e['running'] else 'stopped'}"
             f" since {utc_minute(e['started'])}"]  # fmt: skip
    for v in report["variants"]:
        rates = "  ".join(
            f"{m} {v[m]:,} ({100 * v[m + '_per_impression']['rate']:.2f}%"
            f" [{100 * v[m + '_per_impression']['low']:.2f}, "
            f"{100 * v[m + '_per_impression']['high']:.2f}])" for m in METRICS)  # fmt: skip
        lines.append(f"  {v['name']} ({v['version']}{_rules(v['rules'])}):"
                     f" {v['impressions']:,} impressions"
                     f"  {rates}"
                     f"  revenue {v['revenue']:,.2f}")  # fmt: skip
    for c in report["comparisons"]:
        lines.append(f"  {c['variant']} - {c['against']} on {c['metric']} per impression:"
                     f" {100 * c['difference']:+.2f} points [{100 * c['low']:+.2f},"
                     f" {100 * c['high']:+.2f}], p = {c['p_value']:.4f}")  # fmt: skip
    verdict = report["verdict"]
    if report["winner"] is None and report["impressions_needed"]:
        verdict += (f" (about {report['impressions_needed']:,} impressions per variant detect"
                    f" a {100 * report['lift']:g}% lift of {report['metric']})")  # fmt: skip
    lines.append(f"verdict on {report['metric']}: {verdict}")
    return "\n".join(lines)
