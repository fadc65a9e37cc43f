"""Experiments in a serving process: which version, under which placement rules,
answers a shopper on a placement.

Assignment is sticky and stateless: a shopper's variant is a hash of the experiment's
salt and their user id (or session id, for anonymous shoppers), so every worker, today
and tomorrow, puts them in the same variant without storing anything. Each process
follows the running experiments (with the event store, every RECSVC_CATALOG_INTERVAL
seconds) and loads the variants' versions in the background, memory-mapped (the
processes share their pages); a variant whose version is the current one uses the
current recommender. A request whose variant's version is not loaded (yet, or it
failed to load: logged) is served by the current version outside the experiment
(``variant`` null), and so is a request with neither a user nor a session id. A
variant that changes the placement's rules (say ``{"taste_weight": 0}``) answers with
the placement's rules so changed; rules that the process's placements no longer admit
(RECSVC_PLACEMENTS changed since the start: logged) send its shoppers outside too.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy.exc

from ..artifact import VersionStore
from ..errors import ConfigError, InvalidRequest, ModelStoreError
from ..store.experiments import Experiment, ExperimentStore, Variant
from .placements import Placement, changed
from .recommender import Recommender

log = logging.getLogger(__name__)


def assign(salt: str, key: str, variants: Sequence[Variant]) -> Variant:
    """The variant of a shopper (``key``: their user or session id), by weight."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    total = sum(v.weight for v in variants)
    point = int.from_bytes(digest[:8], "big") * total >> 64  # uniform in [0, total)
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    raise AssertionError("unreachable: point < total")


def start(
    store: ExperimentStore, models: VersionStore, placements: Mapping[str, Placement],
    name: str, placement: str, variants: list[Variant],
) -> Experiment:  # fmt: skip
    """Start experiment ``name`` on ``placement`` between ``variants`` (the command line's
    and the API's way in): each variant's rules must be ones the placement admits, its
    version one the model store holds; :class:`InvalidRequest` naming what is wrong."""
    base = placements.get(placement)
    if base is not None:  # an unknown placement: the store says so
        for variant in variants:
            try:
                rules = changed(base, variant.rules, where=f"variant {variant.name!r}")
            except ConfigError as exc:
                raise InvalidRequest(str(exc), field="variants") from None
            _asks_the_same(variant.name, placement, base, rules)
    return store.start(name, placement, variants, versions=models.versions(),
                       placements=list(placements), current=models.current())  # fmt: skip


def _asks_the_same(variant: str, placement: str, base: Placement, rules: Placement) -> None:
    """A variant's rules must not need what the placement's requests do not carry (its
    shoppers would get 422s): the item on the page (strategy ``similar``), a category."""
    needs_item = rules.strategy == "similar" and base.strategy != "similar"
    if needs_item or (rules.needs_category and not base.needs_category):
        need = "the item on the page (strategy similar)" if needs_item else "a category"
        message = (f"variant {variant!r}: its rules need {need}, which requests for placement"
                   f" {placement!r} need not carry")  # fmt: skip
        raise InvalidRequest(message, field="variants")


@dataclass(frozen=True)
class Routed:
    """Who answers a request, and within which experiment and variant (None: outside),
    under which placement rules (None: the placement's own)."""

    recommender: Recommender
    experiment: str | None = None
    variant: str | None = None
    rules: Placement | None = None


@dataclass(frozen=True)
class _Running:
    """A running experiment as this process follows it: the rules of each variant
    (None: the placement's own; a variant missing: its shoppers are served outside)."""

    experiment: Experiment
    rules: Mapping[str, Placement | None]


class ExperimentRouter:
    """The running experiments of this process, and the versions their variants need."""

    def __init__(
        self,
        store: ExperimentStore,
        models: VersionStore,
        placements: Mapping[str, Placement],
        *,
        current: Callable[[], Recommender | None],
        prepare: Callable[[Recommender], None],
    ) -> None:
        self.store = store
        self.models = models
        self.placements = placements
        self.current = current
        self.prepare = prepare
        self._by_placement: dict[str, _Running] = {}
        self._loaded: dict[str, Recommender] = {}
        self._failed: set[str] = set()
        self._refused: set[tuple[str, str]] = set()  # variants whose rules were logged
        self._lock = threading.Lock()

    def route(self, placement: str, user_id: str | None, session_id: str | None,
              current: Recommender) -> Routed:  # fmt: skip
        """The recommender for this request (``current`` unless an experiment says so)."""
        running = self._by_placement.get(placement)
        key = user_id or session_id
        if running is None or key is None:
            return Routed(current)
        experiment = running.experiment
        variant = assign(experiment.salt, key, experiment.variants)
        if variant.name not in running.rules:
            return Routed(current)
        rules = running.rules[variant.name]
        if variant.version == current.version:
            return Routed(current, experiment.name, variant.name, rules)
        recommender = self._loaded.get(variant.version)
        if recommender is None:
            return Routed(current)
        return Routed(recommender, experiment.name, variant.name, rules)

    def refresh(self) -> None:
        """Read the running experiments; load the versions they need that this process
        does not serve, and let go of those no experiment needs (background work)."""
        running = self.store.running()
        with self._lock:
            current = self.current()
            serving = current.version if current is not None else None
            needed = {v.version for e in running for v in e.variants} - {serving}
            loaded = {v: r for v, r in self._loaded.items() if v in needed}
            for version in sorted(needed - loaded.keys() - self._failed):
                try:
                    recommender = Recommender(self.models.load(version), self.placements)
                except (ModelStoreError, OSError, sqlalchemy.exc.SQLAlchemyError) as exc:
                    self._failed.add(version)
                    log.error("cannot load version %s of an experiment (its shoppers get the"
                              " current version): %s", version, exc)  # fmt: skip
                    continue
                self.prepare(recommender)
                loaded[version] = recommender
                log.info("loaded version %s for an experiment", version)
            self._failed &= needed
            self._loaded = loaded
            self._by_placement = {e.placement: self._follow(e) for e in running}

    def _follow(self, experiment: Experiment) -> _Running:
        """The experiment with each variant's rules as this process's placements make them."""
        rules: dict[str, Placement | None] = {}
        base = self.placements.get(experiment.placement)
        for variant in experiment.variants:
            if not variant.rules:
                rules[variant.name] = None
                continue
            try:
                if base is None:
                    raise ConfigError(f"unknown placement {experiment.placement!r}")
                rules[variant.name] = changed(base, variant.rules,
                                              where=f"variant {variant.name!r}")  # fmt: skip
            except ConfigError as exc:
                if (experiment.name, variant.name) not in self._refused:  # once, not each step
                    self._refused.add((experiment.name, variant.name))
                    log.error("experiment %s: %s (its shoppers are served outside the"
                              " experiment)", experiment.name, exc)  # fmt: skip
        return _Running(experiment, rules)

    def apply_catalog(self, entries: list[dict[str, object]]) -> None:
        """Stock and price changes reach the experiments' versions as the current one."""
        for recommender in list(self._loaded.values()):
            recommender.apply_catalog(entries)

    def status(self) -> dict[str, object]:
        """The running experiments and the versions loaded for them."""
        return {
            "experiments": sorted(r.experiment.name for r in self._by_placement.values()),
            "versions_loaded": sorted(self._loaded),
            "versions_failed": sorted(self._failed),
        }
