"""The models recsvc fits, and the registry of those that rank a shopper's best items.

One module per model family, each a :class:`~.base.Ranker`:

- :mod:`.als`: implicit's ALS, for personalized lists, session fold-in, similar items.
- :mod:`.neighbours`: item-kNN (cosine or BM25), and "bought together" for the cart.
- :mod:`.ease`: EASE's closed form, for catalogs that fit an items x items matrix.
- :mod:`.popularity`: the baseline and the fallback for unknown shoppers.
- :mod:`.next_items`: what shoppers touch after each item, blended into the others.
- :mod:`.blend`: standardized scores summed with weights.

:data:`MODELS` is the only list of the models configuration can choose
(``RECSVC_MODEL``, ``--model``): it drives the configuration check, the command
line's choices, the tuner's space and fitting. Fitting uses every core; nothing here
is imported by serving, which reads a published version's arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...config import TrainingConfig
from ...data.events import Events
from ...errors import ConfigError
from ..matrix import Interactions
from .als import AlsModel
from .base import Ranker
from .blend import BlendModel
from .ease import EaseModel, SparseEaseModel
from .neighbours import WEIGHTINGS, BoughtTogetherModel, ItemKnnModel
from .next_items import NextItemsModel, follower_counts
from .popularity import PopularityModel

__all__ = [
    "AUTO",
    "MODELS",
    "WEIGHTINGS",
    "AlsModel",
    "BlendModel",
    "BoughtTogetherModel",
    "EaseModel",
    "ItemKnnModel",
    "ModelKind",
    "NextItemsModel",
    "PopularityModel",
    "Ranker",
    "SparseEaseModel",
    "check_model",
    "fit_als",
    "follower_counts",
    "model_named",
    "warm_iterations",
]


def fit_als(
    matrix: sp.csr_matrix,
    config: TrainingConfig,
    *,
    start: tuple[np.ndarray, np.ndarray] | None = None,
    show_progress: bool = False,
) -> AlsModel:
    """ALS with the configuration's hyperparameters; from ``start`` (user and item
    factors of the matrix's rows and columns, see :meth:`AlsModel.fit`), its
    ``als_warm_iterations`` (at most ``als_iterations``)."""
    return AlsModel.fit(
        matrix,
        factors=config.als_factors,
        regularization=config.als_regularization,
        alpha=config.als_alpha,
        iterations=warm_iterations(config) if start is not None else config.als_iterations,
        seed=config.seed,
        start=start,
        show_progress=show_progress,
    )


def warm_iterations(config: TrainingConfig) -> int:
    """The ALS iterations of a fit started from earlier factors."""
    return min(config.als_warm_iterations, config.als_iterations)


@dataclass(frozen=True)
class ModelKind:
    """A model that configuration can choose to rank each shopper's best items."""

    name: str
    description: str
    #: the settings of its own it reads (the tuner varies only these among the models')
    settings: tuple[str, ...]
    #: fit on the training interactions and the events they come from; ``als``, when
    #: given, is ALS already fitted on them
    fit: Callable[[Interactions, Events, TrainingConfig, AlsModel | None], Ranker]
    #: whether it learns from the interactions' weights (event types, time decay), or
    #: only from which items each shopper touched
    weighted: bool = True


Fit = Callable[[Interactions, Events, TrainingConfig, "AlsModel | None"], Ranker]


def _als(train: Interactions, events: Events, config: TrainingConfig, als: AlsModel | None
         ) -> Ranker:  # fmt: skip
    return als or fit_als(train.matrix, config)


def _knn(train: Interactions, events: Events, config: TrainingConfig, als: AlsModel | None
         ) -> Ranker:  # fmt: skip
    return ItemKnnModel.fit(train.matrix, neighbours=config.knn_neighbours,
                            weighting=config.knn_weighting)  # fmt: skip


def _ease(train: Interactions, events: Events, config: TrainingConfig, als: AlsModel | None
          ) -> Ranker:  # fmt: skip
    """The exact closed form up to RECSVC_EASE_MAX_ITEMS items (an items x items matrix),
    each item's strongest RECSVC_EASE_NEIGHBOURS weights above it."""
    if train.matrix.shape[1] <= config.ease_max_items:
        return EaseModel.fit(train.matrix, regularization=config.ease_regularization)
    return SparseEaseModel.fit(train.matrix, regularization=config.ease_regularization,
                               neighbours=config.ease_neighbours)  # fmt: skip


def _popular(train: Interactions, events: Events, config: TrainingConfig, als: AlsModel | None
             ) -> Ranker:  # fmt: skip
    return PopularityModel.fit_recent(train, events, config.event_weights,
                                      half_life_days=config.popularity_half_life_days)  # fmt: skip


def _blend(train: Interactions, events: Events, config: TrainingConfig, als: AlsModel | None
           ) -> Ranker:  # fmt: skip
    return BlendModel([(_als(train, events, config, als), 1.0),
                       (_knn(train, events, config, als), config.blend_weight)])  # fmt: skip


_ALS_SETTINGS = ("als_factors", "als_regularization", "als_alpha")
_KNN_SETTINGS = ("knn_neighbours", "knn_weighting")

#: every model configuration can choose, by name
MODELS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind("als", "implicit ALS's factor scores", _ALS_SETTINGS, _als),
        ModelKind("itemknn", "item-kNN: summed similarities of the shopper's items",
                  _KNN_SETTINGS, _knn),
        ModelKind("ease", "EASE's item-item weights (sparse above RECSVC_EASE_MAX_ITEMS)",
                  ("ease_regularization", "ease_neighbours"), _ease, weighted=False),
        ModelKind("blend", "ALS plus item-kNN, standardized and weighted",
                  (*_ALS_SETTINGS, *_KNN_SETTINGS, "blend_weight"), _blend),
        ModelKind("popular", "popularity alone (of this season: popularity_half_life_days)",
                  ("popularity_half_life_days",), _popular, weighted=False),
    )
}  # fmt: skip


#: the model setting that asks for one to be chosen per shop (recsvc.evaluation.selection)
AUTO = "auto"


def model_named(name: str) -> ModelKind:
    """The model of this name; :class:`ConfigError` naming the valid ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        if name == AUTO:
            raise ConfigError("model 'auto' is chosen before fitting (a selection)") from None
        raise ConfigError(
            f"unknown model {name!r} (RECSVC_MODEL or --model); valid models:"
            f" {', '.join([*MODELS, AUTO])}"
        ) from None


def check_model(config: TrainingConfig) -> TrainingConfig:
    """The configuration, once its model is one of :data:`MODELS`, or ``auto``."""
    if config.model != AUTO:
        model_named(config.model)
    return config
