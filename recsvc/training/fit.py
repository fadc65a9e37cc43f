"""Fitting a whole model version: from events to the arrays serving loads.

:func:`build_model` fits everything a version holds (ALS, the configured ranker of
each shopper's best items with next items blended in, the precomputed candidates,
similar items, bought together, popularity) over a dataset's items and catalog.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import scipy.sparse as sp

from ..artifact import Model
from ..config import TrainingConfig
from ..data.catalog import Catalog
from ..data.dataset import Dataset
from ..data.events import PURCHASES, Events
from ..data.ids import IdMap
from .matrix import Interactions, build_interactions, sequences
from .models import (
    AlsModel,
    BlendModel,
    BoughtTogetherModel,
    NextItemsModel,
    PopularityModel,
    Ranker,
    fit_als,
    follower_counts,
    model_named,
    warm_iterations,
)
from .nearest import Neighbours

Timer = Callable[[str], AbstractContextManager[None]]
T = TypeVar("T")


class Fits:
    """Fitted parts shared by models fitted on the same events with the same weights (a
    selection's candidates, which differ in how the parts are put together): each part
    is fitted once, under a key naming every setting it depends on. Fitting is
    deterministic (fixed seeds), so a shared part is the part each would have fitted.

    Each part's fitting time is kept (its own: less the parts it got while fitting), so
    :meth:`alone` can tell what a piece of work would have cost without the sharing.
    (Wall time: the process's CPU time counts the spinning of BLAS's idle threads
    towards whatever runs then, by seconds.)"""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._parts: dict[tuple[Any, ...], Any] = {}
        self._seconds: dict[tuple[Any, ...], float] = {}
        self._used: set[tuple[Any, ...]] = set()
        self._fitted = 0.0  # seconds of the parts fitted since :meth:`alone` began

    def get(self, key: tuple[Any, ...], fit: Callable[[], T]) -> T:
        """The part under ``key``, fitted by ``fit`` the first time."""
        if key not in self._parts:
            fitted_before, start = self._fitted, self._clock()
            self._parts[key] = fit()
            took = self._clock() - start
            # a part got inside ``fit`` counts as its own part, not twice
            self._seconds[key] = took - (self._fitted - fitted_before)
            self._fitted = fitted_before + took
        self._used.add(key)
        part: T = self._parts[key]
        return part

    def alone(self, work: Callable[[], T]) -> tuple[T, float]:
        """``work``'s result and the seconds it would have taken with nothing shared: its
        own time, less the parts it fitted, plus every part it got (fitted now or
        before)."""
        self._used, self._fitted = set(), 0.0
        start = self._clock()
        result = work()
        took = self._clock() - start
        return result, took - self._fitted + sum(self._seconds[key] for key in self._used)


@dataclass(frozen=True)
class Followers:
    """A fit's follower counts (:func:`~.models.next_items.follower_counts`, before
    next items normalize and cut them) and how many of each user's events they
    counted, by user id."""

    users: IdMap
    counted: np.ndarray
    counts: sp.csr_matrix
    window: int


@dataclass(frozen=True)
class Start:
    """What a version's fit starts from: the holdout's, fitted with the same settings on
    the events before its cut-off. ALS's factors by user and item id (the version's
    users are more; a new one starts from random factors, as every one does cold); and
    the holdout's follower counts, which the version's next items add the pairs after
    the cut-off to (each user's events before it are the beginning of their history)."""

    users: IdMap
    items: IdMap
    user_factors: np.ndarray
    item_factors: np.ndarray
    #: handed over once (:meth:`take_followers`): 1.3 GB at 50M events, not to be held
    #: through the rest of the version's fit
    _followers: list[Followers] = field(default_factory=list, repr=False)

    @classmethod
    def of(cls, model: Model, followers: Followers | None = None) -> Start:
        """The factors of a fitted model (its own arrays: nothing else is kept), and the
        follower counts its next items were fitted from."""
        kept = [followers] if followers is not None else []
        return cls(model.users, model.items, model.user_factors, model.item_factors, kept)

    def take_followers(self, config: TrainingConfig) -> Followers | None:
        """The holdout's follower counts, where the version's can add to them (the same
        window; no user left out of the holdout's for too few events had two), once."""
        followers = self._followers.pop() if self._followers else None
        if followers is None or followers.window != config.next_items_window:
            return None
        return followers if config.min_user_events <= 2 else None

    def aligned(self, users: IdMap, items: IdMap, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(user factors, item factors) with one row per id of ``users`` and ``items``:
        this start's where it has the id, small random ones (implicit's own start,
        seeded) where not."""
        rng = np.random.default_rng(seed)
        factors = self.item_factors.shape[1]
        aligned = []
        for ids, known, values in ((users, self.users, self.user_factors),
                                   (items, self.items, self.item_factors)):  # fmt: skip
            rows = known.index(ids.ids)
            part = rng.random((len(ids), factors), dtype=np.float32) * np.float32(0.01)
            part[rows >= 0] = values[rows[rows >= 0]]
            aligned.append(part)
        return aligned[0], aligned[1]


def _settings(config: TrainingConfig, *names: str) -> tuple[Any, ...]:
    values = config.as_dict()
    return tuple(repr(values[name]) for name in names)


_MATRIX = ("event_weights", "half_life_days", "min_user_events", "min_item_users",
           "bought_together_event_types")  # fmt: skip
_ALS = ("als_factors", "als_regularization", "als_alpha", "als_iterations", "seed")
_NEXT = ("next_items_window", "next_items_recent", "next_items_decay", "next_items_neighbours")


def build_model(
    events: Events,
    data: Dataset,
    config: TrainingConfig,
    *,
    show_progress: bool = False,
    timer: Timer = lambda _: nullcontext(),
    similar: bool = True,
    candidates_for: Sequence[str] | None = None,
    fits: Fits | None = None,
    start: Start | None = None,
    followers: Callable[[Followers], None] | None = None,
    interactions: Interactions | None = None,
) -> Model:
    """Everything a model version holds, fitted on ``events`` (all, or a holdout's training
    part) over the dataset's items and catalog.

    To score a holdout, ``similar=False`` skips the item neighbours (the home placement
    does not use them) and ``candidates_for`` limits the precomputed candidates to the
    users to be scored (the others get none). Models fitted on the same events may share
    their parts through ``fits``. With ``start`` (and ``als_warm_iterations`` > 0), ALS
    runs its warm iterations from those factors, and next items add to its follower
    counts. ``followers`` is called with the follower counts of the next items fitted
    here (a holdout's, for the version's :class:`Start`). ``interactions``: the events'
    matrix, where already built with the configuration's settings (a holdout's)."""
    fits = fits or Fits()
    matrix_key = ("matrices", *_settings(config, *_MATRIX))
    with timer("build matrix"):
        interactions, bought, purchased = fits.get(
            matrix_key, lambda: _matrices(events, data, config, interactions)
        )
    warm = None  # the version's fit from the holdout's factors, a holdout's from random
    if start is not None and warm_iterations(config) > 0:
        warm = start.aligned(interactions.users, interactions.items, config.seed)
    with timer("fit ALS"):
        if warm is not None:
            als = fit_als(interactions.matrix, config, start=warm, show_progress=show_progress)
        else:
            als = fits.get(
                (*matrix_key, "als", *_settings(config, *_ALS)),
                lambda: fit_als(interactions.matrix, config, show_progress=show_progress),
            )
    fitted_as = {"iterations": config.als_iterations, "from": "random factors"}
    if warm is not None:
        fitted_as = {"iterations": warm_iterations(config), "from": "the holdout's factors"}
    next_items = None
    if config.next_items_weight > 0:

        def fit_next() -> NextItemsModel:
            # the start's counts passed on, not held here: let go as soon as added to
            model, counted = fit_next_items(
                interactions, events, config, keep=followers is not None,
                earlier=start.take_followers(config) if start is not None else None,
            )  # fmt: skip
            if followers is not None and counted is not None:
                followers(counted)
            return model

        with timer("fit next items"):
            next_items = fits.get((*matrix_key, "next", *_settings(config, *_NEXT)), fit_next)
    with timer("precompute candidates"):
        ranker = fit_ranker(
            interactions, events, config, als, next_items, fits=fits, key=matrix_key
        )
        users = None
        if candidates_for is not None:
            users = interactions.users.index(np.asarray(candidates_for))
            users = users[users >= 0]
        user_top_items, user_top_scores = _candidates(ranker, interactions, config, users,
                                                      show_progress=show_progress)  # fmt: skip
        if similar:
            neighbours = als.similar_items(
                config.similar_items_per_item,
                exact_max_items=config.similar_items_exact_max_items,
                seed=config.seed,
                show_progress=show_progress,
            )
        else:
            none = np.zeros((len(data.items), 0), dtype=np.int32)
            neighbours = Neighbours(none, none.astype(np.float32), "none")
    with timer("fit bought-together"):
        together = fits.get(
            (*matrix_key, "together", config.bought_together_neighbours),
            lambda: BoughtTogetherModel.fit(
                bought, neighbours=config.bought_together_neighbours, show_progress=show_progress
            ),
        )
    catalog = Catalog.empty() if data.catalog is None else data.catalog
    return Model(
        users=interactions.users,
        items=interactions.items,
        user_factors=als.user_factors,
        item_factors=als.item_factors,
        user_items=interactions.matrix,
        purchased=purchased,
        bought_together=together.similarity,
        next_items=(next_items.following if next_items else sp.csr_matrix((len(data.items),) * 2)),
        popularity=_popularity(fits, matrix_key, interactions, events, config).counts,
        user_top_items=user_top_items,
        user_top_scores=user_top_scores,
        similar_items=neighbours.items,
        similar_scores=neighbours.scores,
        catalog=catalog.aligned_to(data.items.ids),
        manifest={
            "version": "unpublished",
            "data_window": data_window(events),
            "parameters": config.as_dict(),
            "similar_items": neighbours.summary(),
            "engine": {"name": "implicit", "als": fitted_as},
        },
    )


def _matrices(
    events: Events,
    data: Dataset,
    config: TrainingConfig,
    interactions: Interactions | None = None,
) -> tuple[Interactions, sp.csr_matrix, sp.csr_matrix]:
    """The weighted interactions (unless given), what each user bought or carted (bought
    together), and what each user bought (1 where bought), over the dataset's items."""
    if interactions is None:
        interactions = build_interactions(
            events,
            config.event_weights,
            half_life_days=config.half_life_days,
            min_user_events=config.min_user_events,
            min_item_users=config.min_item_users,
            items=data.items,
        )
    bought, purchased = (
        build_interactions(events.take(events.of_types(types)), config.event_weights,
                           users=interactions.users, items=data.items).matrix
        for types in (config.bought_together_event_types, PURCHASES)
    )  # fmt: skip
    purchased.data[:] = 1
    return interactions, bought, purchased


def _candidates(
    ranker: Ranker,
    interactions: Interactions,
    config: TrainingConfig,
    users: np.ndarray | None,
    *,
    show_progress: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's precomputed best items; with ``users``, only theirs (others get none)."""
    if users is None:
        return ranker.top_items(interactions.matrix, config.candidates_per_user,
                                show_progress=show_progress)  # fmt: skip
    some_items, some_scores = ranker.top_items(
        interactions.matrix, config.candidates_per_user, users=users
    )
    items = np.full((len(interactions.users), some_items.shape[1]), -1, dtype=np.int32)
    scores = np.zeros(items.shape, dtype=np.float32)
    items[users], scores[users] = some_items, some_scores
    return items, scores


def fit_ranker(
    train: Interactions,
    events: Events,
    config: TrainingConfig,
    als: AlsModel | None = None,
    next_items: NextItemsModel | None = None,
    *,
    fits: Fits | None = None,
    key: tuple[Any, ...] = (),
) -> Ranker:
    """The configured ranker of a user's best items (``config.model``, plus what users
    touch next when ``next_items_weight`` > 0, plus recent popularity when
    ``popularity_weight`` > 0), fitted on ``train`` and the ``events`` it was built from;
    ``als`` and ``next_items``, when given, are already fitted on the same data with the
    same settings, and ``fits`` (with the ``key`` of ``train``'s settings) shares the
    parts."""
    fits = fits or Fits()
    kind = model_named(config.model)
    ranker = fits.get(
        (*key, "ranker", config.model, *_settings(config, *kind.settings)),
        lambda: kind.fit(train, events, config, als),
    )
    if config.next_items_weight > 0:
        next_items = next_items or fit_next_items(train, events, config)[0]
    popularity = None
    if config.popularity_weight > 0:
        popularity = _popularity(fits, key, train, events, config)
    return blended(ranker, config, next_items, popularity)


def blended(
    ranker: Ranker,
    config: TrainingConfig,
    next_items: NextItemsModel | None = None,
    popularity: PopularityModel | None = None,
) -> Ranker:
    """The configuration's ranker of a user's best items, made of its parts: ``ranker``
    (the model), plus ``next_items`` weighted ``next_items_weight`` and ``popularity``
    weighted ``popularity_weight`` where those weights are above 0."""
    parts: list[tuple[Ranker, float]] = [(ranker, 1.0)]
    if config.next_items_weight > 0:
        assert next_items is not None
        parts.append((next_items, config.next_items_weight))
    if config.popularity_weight > 0:
        assert popularity is not None
        parts.append((popularity, config.popularity_weight))
    return ranker if len(parts) == 1 else BlendModel(parts)


def _popularity(
    fits: Fits, key: tuple[Any, ...], train: Interactions, events: Events, config: TrainingConfig
) -> PopularityModel:
    return fits.get(
        (*key, "popularity", config.popularity_half_life_days),
        lambda: fit_popularity(train, events, config),
    )


def fit_popularity(train: Interactions, events: Events, config: TrainingConfig) -> PopularityModel:
    """The configuration's popularity (``popularity_half_life_days``) of ``train``."""
    return PopularityModel.fit_recent(train, events, config.event_weights,
                                      half_life_days=config.popularity_half_life_days)  # fmt: skip


def fit_next_items(
    train: Interactions,
    events: Events,
    config: TrainingConfig,
    *,
    earlier: Followers | None = None,
    keep: bool = False,
) -> tuple[NextItemsModel, Followers | None]:
    """What the users of ``train`` touch after each item, from ``events``, and with
    ``keep`` the follower counts it was fitted from (kept apart: the model scales its
    own). With ``earlier`` (the counts of the beginning of these users' histories), only
    the pairs after it are counted and added."""
    rows, cols = sequences(events, train.users, train.items)
    window, items = config.next_items_window, len(train.items)
    if earlier is None:
        counts = follower_counts(rows, cols, items, window)
    else:
        known = earlier.users.index(train.users.ids)
        counted = np.zeros(len(train.users), dtype=np.int64)
        counted[known >= 0] = earlier.counted[known[known >= 0]]
        counts = earlier.counts + follower_counts(rows, cols, items, window, counted=counted)
        del earlier  # the caller's was its only other reference: let it go before fitting
    kept = None
    if keep:
        lengths = np.bincount(rows, minlength=len(train.users))
        kept = Followers(train.users, lengths, counts.copy(), window)
    model = NextItemsModel.fit(
        rows, cols, shape=train.matrix.shape, window=window, recent=config.next_items_recent,
        decay=config.next_items_decay, neighbours=config.next_items_neighbours, counts=counts,
    )  # fmt: skip
    return model, kept


def data_window(events: Events) -> dict[str, Any]:
    """The first and last event's times: where a model's data starts and ends (serving
    folds in what comes after)."""
    return data_window_of(int(events.timestamp.min()), int(events.timestamp.max()))


def data_window_of(first: int, last: int) -> dict[str, Any]:
    """The data window of events from ``first`` to ``last`` (epoch seconds)."""
    return {"first_event": _iso(first), "last_event": _iso(last)}


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat().replace("+00:00", "Z")
