"""``recsvc models``: list, inspect, verify, promote and roll back published versions."""

from __future__ import annotations

import json

import click

from ..artifact import iter_manifests
from .options import domain_errors, open_store, store_option


@click.group("models")
def models_group() -> None:
    """List, inspect, promote and roll back published model versions."""


@models_group.command("list")
@store_option
@domain_errors
def models_list(models: str | None) -> None:
    """Every version in the store, oldest first; * marks the current one."""
    store = open_store(models)
    current = store.current()
    rows = list(iter_manifests(store))
    if not rows:
        click.echo(f"no versions in {store.location}")
    for version, manifest in rows:
        mark = "*" if version == current else " "
        if isinstance(manifest, Exception):
            click.echo(f"{mark} {version}  unreadable: {manifest}")
            continue
        ndcg = manifest.get("metrics", {}).get("model", {}).get("ndcg@10")
        counts = manifest.get("counts", {})
        click.echo(
            f"{mark} {version}  created {manifest.get('created')}  "
            f"events {counts.get('events', 0):,}  items {counts.get('items', 0):,}  "
            f"NDCG@10 {ndcg if ndcg is None else f'{ndcg:.4f}'}"
        )


@models_group.command("show")
@click.argument("version", required=False)
@store_option
@domain_errors
def models_show(version: str | None, models: str | None) -> None:
    """Print a version's manifest (default: the current version)."""
    click.echo(json.dumps(open_store(models).manifest(version), indent=2, sort_keys=True))


@models_group.command("verify")
@click.argument("version", required=False)
@store_option
@domain_errors
def models_verify(version: str | None, models: str | None) -> None:
    """Check a version's files against its checksums (default: the current version)."""
    store = open_store(models)
    model = store.load(version)
    click.echo(f"{model.version}: {len(model.manifest['files'])} files verified")


@models_group.command("promote")
@click.argument("version")
@store_option
@domain_errors
def models_promote(version: str, models: str | None) -> None:
    """Make VERSION current (it is verified first)."""
    store = open_store(models)
    store.promote(version)
    click.echo(f"current version: {version}")


@models_group.command("rollback")
@store_option
@domain_errors
def models_rollback(models: str | None) -> None:
    """Make the previously current version current again."""
    click.echo(f"current version: {open_store(models).rollback()}")
