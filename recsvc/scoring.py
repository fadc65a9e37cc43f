"""Putting two models' scores on one scale: the blend arithmetic, in one place.

Training blends rankers by standardizing each user's scores over the catalog and
summing them with weights (:func:`standardized`). Serving ranks one request at a
time, where a mean added to every item changes no ranking: ``z(a) + w z(b)`` ranks as
``a + w (spread(a) / spread(b)) b``, so it only needs the two spreads
(:func:`spread`, :func:`added_weight`), which it can get without scoring the catalog.
"""

from __future__ import annotations

from typing import overload

import numpy as np

#: the smallest spread a standardized score is divided by (scores all alike: all 0)
MIN_SPREAD = 1e-9


def standardized(scores: np.ndarray) -> np.ndarray:
    """Each row's scores less their mean, over their standard deviation (a float32
    copy, worked on in place: this runs over every user x item at training)."""
    z = np.array(scores, dtype=np.float32)
    z -= z.mean(axis=1, keepdims=True)
    deviation = np.sqrt(np.einsum("ij,ij->i", z, z) / max(z.shape[1], 1))
    z /= np.maximum(deviation, MIN_SPREAD)[:, None]
    return z


@overload
def spread(mean: float, mean_of_squares: float) -> np.float64: ...
@overload
def spread(mean: np.ndarray, mean_of_squares: np.ndarray) -> np.ndarray: ...
def spread(
    mean: float | np.ndarray, mean_of_squares: float | np.ndarray
) -> np.float64 | np.ndarray:
    """The standard deviation of scores from their mean and the mean of their squares
    (computed in the inputs' precision, returned as float64); of one set of scores, or
    elementwise of many (training's blends, one per user)."""
    return np.float64(np.sqrt(np.maximum(mean_of_squares - mean**2, 0.0)))


def added_weight(weight: float, base_spread: float, added_spread: float) -> np.float64:
    """What scores with ``added_spread`` are multiplied by before being added to scores
    with ``base_spread``, so that the sum ranks as ``z(base) + weight z(added)`` (0 when
    the added scores are all alike)."""
    if not added_spread > 0:
        return np.float64(0.0)
    return np.float64(weight) * base_spread / added_spread
