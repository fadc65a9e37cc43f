"""The event-and-catalog database: its schema, and bulk loads from files."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import TrainingConfig
from ..data.catalog import read_catalog
from ..data.events import read_events
from ..store.credit import recount
from ..store.database import upgrade
from ..store.shop import EVENT_FIELDS
from .options import database_option, domain_errors, open_shop


@click.group("db")
def db_group() -> None:
    """The event-and-catalog database."""


@db_group.command("upgrade")
@database_option
@domain_errors
def db_upgrade(database: str | None) -> None:
    """Create or migrate the schema, keeping every stored event (idempotent: the Procfile's
    release process runs it before new web processes start)."""
    applied = upgrade(open_shop(database).engine)
    for message in applied:
        click.echo(f"applied: {message}")
    click.echo("schema up to date")


@db_group.command("recount")
@database_option
@domain_errors
def db_recount(database: str | None) -> None:
    """Rebuild what recommendations earn (the counters the stats read) from the stored
    impressions and events: after loading them in bulk, or to check the counters."""
    with open_shop(database).engine.begin() as conn:
        made = recount(conn)
    click.echo(f"counted {made:,} hour-and-group rows")


@click.command("import-events")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@database_option
@domain_errors
def import_events(path: Path, database: str | None) -> None:
    """Load an events file into the store (validated whole first; all or nothing)."""
    config = TrainingConfig.from_env()
    events = read_events(path, event_types=config.event_weights, bounds=config.time_bounds())
    types = list(events.event_types)
    rows = [
        dict(zip(EVENT_FIELDS[1:6], values, strict=True))
        for values in zip(
            events.user_id.to_pylist(), events.item_id.to_pylist(),
            [types[c] for c in events.event_type.tolist()], events.timestamp.tolist(),
            events.quantity.tolist(), strict=True,
        )
    ]  # fmt: skip
    stored = open_shop(database).add_events(rows)
    click.echo(f"imported {stored.stored:,} events from {path}")


@click.command("import-items")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--if-empty",
    is_flag=True,
    help="Only when the store has no catalog yet (a first run; changes made since stay).",
)
@database_option
@domain_errors
def import_items(path: Path, if_empty: bool, database: str | None) -> None:
    """Create or replace catalog entries from a catalog file (all or nothing)."""
    shop = open_shop(database)
    if if_empty and shop.read_catalog() is not None:
        click.echo("the store has a catalog already: nothing imported (--if-empty)")
        return
    catalog = read_catalog(path)
    rows = [
        {"item_id": i, "title": t or None, "category": c or None,
         "price": None if p != p else p, "available": a}
        for i, t, c, p, a in zip(catalog.item_id.tolist(), catalog.title.tolist(),
                                 catalog.category.tolist(), catalog.price.tolist(),
                                 catalog.available.tolist(), strict=True)
    ]  # fmt: skip
    click.echo(f"imported {shop.upsert_items(rows):,} items from {path}")
