"""Write the synthetic sample shop (catalog and events), or a benchmark-sized one.

python scripts/sample_data.py --out var/sample                  # the demo shop
python scripts/sample_data.py --out var/bench-10m --events 10000000 --format parquet
python scripts/sample_data.py --out var/plain --trend-share 0 --follow-share 0  # plain
"""

from __future__ import annotations

from pathlib import Path

import click

from recsvc.data.sample import ShopShape, shoppers, write_shop


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write events.<format> and items.<format> into.",
)
@click.option(
    "--events",
    type=int,
    default=ShopShape.events,
    show_default=True,
    help="About how many events to write.",
)
@click.option("--users", type=int, default=None, help="Shoppers. [default: events / 40]")
@click.option(
    "--items",
    type=int,
    default=None,
    help="Products. [default: grows with the square root of events]",
)
@click.option(
    "--days",
    type=int,
    default=ShopShape.days,
    show_default=True,
    help="Days of history, ending at --end.",
)
@click.option("--end", default=ShopShape.end, show_default=True, help="Last day (UTC).")
@click.option("--seed", type=int, default=ShopShape.seed, show_default=True)
@click.option(
    "--trend-share",
    type=click.FloatRange(0, 1),
    default=ShopShape.trend_share,
    show_default=True,
    help="Share of views that go to this season's products (0: a shop without seasons).",
)
@click.option(
    "--trend-half-life-days",
    type=click.FloatRange(min=0, min_open=True),
    default=ShopShape.trend_half_life_days,
    show_default=True,
    help="Days after which a season's product has half its appeal at launch.",
)
@click.option(
    "--follow-share",
    type=click.FloatRange(0, 1),
    default=ShopShape.follow_share,
    show_default=True,
    help="Share of a shopper's views that follow up their previous one (series; 0: none).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True
)
def main(
    out: Path,
    events: int,
    users: int | None,
    items: int | None,
    days: int,
    end: str,
    seed: int,
    trend_share: float,
    trend_half_life_days: float,
    follow_share: float,
    fmt: str,
) -> None:
    """Write a synthetic shop: power-law popularity, category tastes, view/cart/buy funnels,
    seasons (products launched during the history, their appeal fading) and series (views
    that follow up the previous one)."""
    shape = ShopShape(events=events, users=users, items=items, days=days, end=end, seed=seed,
                      trend_share=trend_share, trend_half_life_days=trend_half_life_days,
                      follow_share=follow_share)  # fmt: skip
    events_path, items_path = write_shop(shape, out, fmt=fmt)
    click.echo(
        f"wrote {items_path} ({shape.item_count:,} items) and {events_path}"
        f" ({shoppers(events_path):,} shoppers)"
    )


if __name__ == "__main__":
    main()
