"""``recsvc stats``: what recommendations earned, from the event store."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import click

from ..store.stats import recommendation_stats
from .options import database_option, domain_errors, open_shop, utc_minute


def _moment(text: str | None) -> int | None:
    """Epoch seconds from ISO 8601 (no zone: UTC) or epoch seconds."""
    if text is None:
        return None
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither ISO 8601 nor epoch seconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@click.command("stats")
@click.option(
    "--start", default=None, help="From (ISO 8601 or epoch seconds). [default: --days before --end]"
)
@click.option("--end", default=None, help="Until, excluded. [default: now]")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="The range's length when --start is not given.",
)
@click.option("--by-day", is_flag=True, help="One row per day (UTC) too.")
@click.option("--experiment", default=None, help="Only this experiment's lists.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@database_option
@domain_errors
def stats_command(start: str | None, end: str | None, days: int, by_day: bool,
                  experiment: str | None, as_json: bool, database: str | None) -> None:  # fmt: skip
    """What recommendations earned: per placement, model version and experiment variant,
    the lists shown (impressions), the share that led to a view, an add-to-cart and a
    purchase (95% Wilson intervals), and the revenue of credited purchases."""
    until = _moment(end) or int(time.time()) + 1  # now included
    since = _moment(start) or until - days * 86_400
    if since >= until:
        raise click.BadParameter("must be before --end", param_hint="--start")
    found = recommendation_stats(open_shop(database).engine, start=since, end=until,
                                 by_day=by_day, experiment=experiment)  # fmt: skip
    if as_json:
        click.echo(json.dumps({"start": found.start, "end": found.end, "groups": found.groups,
                               "unattributed": found.unattributed}, indent=2))  # fmt: skip
        return
    click.echo(f"{utc_minute(found.start)} to {utc_minute(found.end)} UTC (whole hours):"
               f" {len(found.groups)} groups,"
               f" {found.unattributed:,} events credited to unknown lists")  # fmt: skip
    click.echo(_table(found.groups, by_day=by_day))


def _table(groups: list[dict[str, Any]], *, by_day: bool) -> str:
    head = ["placement", "model version", "variant", *(["day"] if by_day else []),
            "impressions", "views", "carts", "purchases", "revenue"]  # fmt: skip
    rows = [head]
    for g in groups:
        rates = [f"{g[name]:,} ({100 * g[name + '_per_impression']['rate']:.1f}%"
                 f" [{100 * g[name + '_per_impression']['low']:.1f}-"
                 f"{100 * g[name + '_per_impression']['high']:.1f}])"
                 for name in ("views", "add_to_carts", "purchases")]  # fmt: skip
        day = [utc_minute(g["day"])[:10]] if by_day else []
        variant = f"{g['experiment']}/{g['variant']}" if g["variant"] else "-"
        rows.append([g["placement"], g["model_version"], variant, *day,
                     f"{g['impressions']:,}", *rates, f"{g['revenue']:,.2f}"])  # fmt: skip
    widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)  # fmt: skip
