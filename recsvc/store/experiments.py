"""Experiments in the database: started, read by every serving process, stopped.

An experiment splits one placement's traffic between variants, each a model version,
perhaps with changes to the placement's rules (a placement configuration), and a
weight; a shopper's variant is a hash of the experiment's salt and their id
(recsvc.serving.experiments), so no assignment is stored. The database holds at most
one running experiment per placement (a unique index over running ones).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import InvalidRequest, NotFound
from .database import experiments


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment: a model version, the placement rules it changes (none:
    the placement's own; see recsvc.serving.placements) and its share of the traffic."""

    name: str
    version: str
    weight: int
    rules: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The variant for the API, the command line and the database."""
        return {"name": self.name, "version": self.version, "weight": self.weight,
                "rules": dict(self.rules)}  # fmt: skip


@dataclass(frozen=True)
class Experiment:
    """An experiment as stored."""

    name: str
    placement: str
    salt: str
    variants: tuple[Variant, ...]
    started: int
    stopped: int | None = None
    promoted: str | None = None

    @property
    def running(self) -> bool:
        """Not stopped yet."""
        return self.stopped is None

    def as_dict(self) -> dict[str, Any]:
        """The experiment for the API and the command line."""
        return {"name": self.name, "placement": self.placement, "started": self.started,
                "stopped": self.stopped, "running": self.running, "promoted": self.promoted,
                "variants": [v.as_dict() for v in self.variants]}  # fmt: skip


#: version names a variant may give instead of a version: the current one, the newest
CURRENT, LATEST = "current", "latest"


def resolve(variant: Variant, versions: Collection[str], current: str | None) -> Variant:
    """The variant with ``current`` or ``latest`` replaced by that version's name (as
    stored: the experiment keeps what it started with); :class:`InvalidRequest` for a
    version the store does not hold."""
    version = variant.version
    if version == CURRENT and current is not None:
        version = current
    elif version == LATEST and versions:
        version = max(versions)  # version names sort by creation
    if version not in versions:
        raise InvalidRequest(f"variant {variant.name!r}: no published version {version!r}",
                             field="variants")  # fmt: skip
    return Variant(variant.name, version, variant.weight, variant.rules)


def check_variants(variants: list[Variant]) -> None:
    """Two or more variants, distinct names, positive weights; :class:`InvalidRequest`."""
    if len(variants) < 2:
        raise InvalidRequest("an experiment needs at least two variants", field="variants")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise InvalidRequest(f"variant names repeat: {', '.join(names)}", field="variants")
    for v in variants:
        if v.weight < 1:
            raise InvalidRequest(f"variant {v.name!r}: weight must be >= 1", field="variants")


class ExperimentStore:
    """Experiments, on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(
        self, name: str, placement: str, variants: list[Variant], *,
        versions: Collection[str], placements: Collection[str], current: str | None = None,
    ) -> Experiment:  # fmt: skip
        """Start an experiment (a fresh salt) on one of ``placements`` between published
        ``versions`` (``current`` and ``latest`` name the current and the newest);
        :class:`InvalidRequest` naming what is wrong otherwise (the name is taken, the
        placement runs another experiment, a version is unknown...)."""
        check_variants(variants)
        if placement not in placements:
            raise InvalidRequest(f"unknown placement {placement!r} (known: "
                                 f"{', '.join(placements)})", field="placement")  # fmt: skip
        variants = [resolve(v, versions, current) for v in variants]
        row = {"name": name, "placement": placement, "salt": os.urandom(8).hex(),
               "variants": json.dumps([v.as_dict() for v in variants]),
               "started": int(time.time())}  # fmt: skip
        with self.engine.begin() as conn:
            if conn.execute(
                sa.select(experiments.c.name).where(experiments.c.name == name)
            ).first():
                raise InvalidRequest(f"an experiment named {name!r} exists", field="name")
            running = conn.execute(
                sa.select(experiments.c.name).where(
                    experiments.c.placement == placement, experiments.c.stopped.is_(None)
                )
            ).first()
            if running:
                raise InvalidRequest(f"placement {placement!r} runs experiment {running[0]!r};"
                                     " stop it first", field="placement")  # fmt: skip
            try:
                conn.execute(experiments.insert().values(**row))
            except sa.exc.IntegrityError:  # started at the same moment by someone else
                raise InvalidRequest(f"placement {placement!r} runs another experiment",
                                     field="placement") from None  # fmt: skip
        return self.get(name)

    def get(self, name: str) -> Experiment:
        """The experiment of this name; :class:`NotFound` otherwise."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(experiments).where(experiments.c.name == name)).first()
        if row is None:
            raise NotFound(f"no experiment named {name!r}", field="name")
        return _experiment(row._mapping)

    def all(self) -> list[Experiment]:
        """Every experiment, the newest first."""
        with self.engine.connect() as conn:
            newest = experiments.c.started.desc(), experiments.c.name
            rows = conn.execute(sa.select(experiments).order_by(*newest)).all()
        return [_experiment(r._mapping) for r in rows]

    def running(self) -> list[Experiment]:
        """The running experiments (what serving processes follow)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(experiments).where(experiments.c.stopped.is_(None)))
            return [_experiment(r._mapping) for r in rows]

    def stop(self, name: str, *, promoted: str | None = None) -> Experiment:
        """Stop an experiment (its traffic goes back to the current version); stopping a
        stopped one changes nothing but the promoted variant, when given."""
        found = self.get(name)
        values: dict[str, Any] = {}
        if found.running:
            values["stopped"] = int(time.time())
        if promoted is not None:
            values["promoted"] = promoted
        if values:
            with self.engine.begin() as conn:
                conn.execute(
                    experiments.update().where(experiments.c.name == name).values(**values)
                )
        return self.get(name)


def _experiment(row: Any) -> Experiment:
    variants = tuple(Variant(**v) for v in json.loads(row["variants"]))
    return Experiment(name=row["name"], placement=row["placement"], salt=row["salt"],
                      variants=variants, started=int(row["started"]),
                      stopped=None if row["stopped"] is None else int(row["stopped"]),
                      promoted=row["promoted"])  # fmt: skip
