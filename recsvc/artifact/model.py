"""What one model version holds: plain arrays and its manifest, nothing to fit with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..data.catalog import Catalog
from ..data.ids import IdMap


@dataclass(frozen=True, eq=False)
class Model:
    """Everything one model version holds, in memory or memory-mapped from disk.

    Rows of the user matrices follow ``users``; columns and every per-item array
    follow ``items``. The settings it was trained with (ALS's regularization and
    alpha, which folding in a taste needs, the next-items settings...) are the
    manifest's ``parameters``.
    """

    users: IdMap
    items: IdMap
    #: ALS's latent factors: one row per user, one per item
    user_factors: np.ndarray
    item_factors: np.ndarray
    #: weighted training interactions (user x item)
    user_items: sp.csr_matrix
    #: what each user bought (user x item, 1 where bought)
    purchased: sp.csr_matrix
    #: item x item cosine over what users bought or carted (the cart placement)
    bought_together: sp.csr_matrix
    #: what users touched after each item (item x item, rows summing to 1; empty when
    #: the next-items model is off, or in versions written before it existed)
    next_items: sp.csr_matrix
    #: summed event weight per item: the popularity ranking
    popularity: np.ndarray
    #: each user's best untouched items by the configured model, best first (user x K,
    #: -1 padded)
    user_top_items: np.ndarray
    user_top_scores: np.ndarray
    #: each item's nearest items by cosine of ALS factors (item x K, -1 padded)
    similar_items: np.ndarray
    similar_scores: np.ndarray
    catalog: Catalog
    manifest: Mapping[str, Any]

    @property
    def version(self) -> str:
        """The version name, e.g. ``20261125T173400Z``."""
        return str(self.manifest["version"])

    @property
    def parameters(self) -> Mapping[str, Any]:
        """The training settings (``TrainingConfig.as_dict()``)."""
        parameters: Mapping[str, Any] = self.manifest.get("parameters", {})
        return parameters


def with_manifest(model: Model, manifest: Mapping[str, Any]) -> Model:
    """The same model with another manifest."""
    return replace(model, manifest=manifest)


def with_version(model: Model, version: str) -> Model:
    """The same model, its manifest naming ``version``."""
    return with_manifest(model, dict(model.manifest, version=version))
